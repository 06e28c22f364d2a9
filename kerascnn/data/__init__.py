"""Datasets and the tf.data input pipeline.

Public API:
    prepare_data(dataset, input_shape, *, val_split=0.1, test_split=0.2, ...) -> PreparedData
        the one entry every command uses (fit, folds, evaluate, tune, export): opens "digits", a TFDS name, a
        prepared TFRecord folder, a folder of IDX files or of class subfolders; checks the files; splits it
        (each file's side a function of its path); in memory or streamed; ``.pipelines(batch_size=...)``.
    load_dataset(name_or_path, *, data_dir=None, test_split=0.2) -> RawDataset
        raw uint8 arrays (x_train, y_train, x_test, y_test) + class_names, read through the same path.
    RawDataset.from_arrays(...)               wrap your own arrays
    split_validation(raw, val_split) -> Splits raw x/y of the train, validation and test parts
    make_spec(raw, input_shape, x_train) -> DataSpec
    DataSpec, preprocess                      the one preprocessing (train, evaluate, export, predict)
"""

from kerascnn.data.augmentation import AUGMENTATIONS, augmentation_layers  # noqa: F401
from kerascnn.data.datasets import DEFAULT_DATASET  # noqa: F401
from kerascnn.data.pipeline import Pipelines, build_dataset, channel_stats, make_spec  # noqa: F401
from kerascnn.data.prepare import PreparedData, load_dataset, prepare_data  # noqa: F401
from kerascnn.data.raw import (  # noqa: F401
    RawDataset,
    Splits,
    identity_scores,
    split_by_identity,
    split_indices,
    split_train_test,
    split_validation,
)
from kerascnn.data.spec import DataSpec, preprocess  # noqa: F401
