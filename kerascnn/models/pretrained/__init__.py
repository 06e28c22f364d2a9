"""Pretrained weights: published weights by name, and torchvision, keras.applications and kerascnn weight files.

    from kerascnn.models import build, load_weights
    model = build("resnet50", num_classes=1000, weights="imagenet")      # downloaded once, hash-checked
    model = build("resnet18", (224, 224, 3), num_classes=10, weights="resnet18.safetensors")
    report = load_weights(model, "runs/resnet18")        # another kerascnn run
    print(report.summary())

``load.py`` matches and converts tensors, ``files.py`` reads the formats, ``resolve.py`` turns a registered
tag (:mod:`kerascnn.models.weights`, entries beside each family's facts) into a file that ``download.py``
fetches once into the cache, ``features.py`` cuts a model before its classifier (``include_top=False``),
``imagenet.py`` holds ImageNet's class names. Which torchvision tensor fills which layer, family by family,
is each family's ``torchvision_names`` in ``kerascnn/models/<family>.py``, part of its facts
(``facts.torchvision``, with torchvision's BatchNorm epsilon and input preprocessing).
"""

from kerascnn.models.pretrained.features import feature_extractor  # noqa: F401
from kerascnn.models.pretrained.files import WeightsError, WeightSource, read_weights  # noqa: F401
from kerascnn.models.pretrained.imagenet import imagenet_class_names, save_pretrained_run  # noqa: F401
from kerascnn.models.pretrained.load import LoadReport, load_weights  # noqa: F401
from kerascnn.models.pretrained.resolve import ResolvedWeights, resolve_weights  # noqa: F401
