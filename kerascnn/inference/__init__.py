"""Prediction from exported or trained models: decode images, run them, rank classes, time it.

from kerascnn.inference import load_predictor, load_images, top_k
predictor = load_predictor("models/lenet.tflite")       # .tflite, SavedModel folder, .keras, run dir
images = load_images(["seven.png"], predictor.image_shape)
for row in top_k(predictor.predict(images), predictor.class_names, k=3):
    print(row)                                          # [("7", 0.98), ("1", 0.01), ...]
"""

from kerascnn.inference.benchmark import benchmark  # noqa: F401
from kerascnn.inference.images import fit_to_shape, load_image, load_images  # noqa: F401
from kerascnn.inference.predictions import Predictions, predict  # noqa: F401
from kerascnn.inference.predictors import (  # noqa: F401
    KerasPredictor,
    Predictor,
    SavedModelPredictor,
    TFLitePredictor,
    load_predictor,
    top_k,
)
