"""Pretrained weights: read torchvision, keras.applications and kerascnn weight files into zoo models.

    from kerascnn.models import build, load_weights
    model = build("resnet18", (224, 224, 3), num_classes=10, weights="resnet18.safetensors")
    report = load_weights(model, "runs/resnet18")        # another kerascnn run
    print(report.summary())

``load.py`` matches and converts tensors, ``files.py`` reads the formats. Which torchvision tensor fills
which layer, family by family, is each family's ``torchvision_names`` in ``kerascnn/models/<family>.py``,
part of its facts (``facts.torchvision``, with torchvision's BatchNorm epsilon and input preprocessing).
"""

from kerascnn.models.pretrained.files import WeightsError, WeightSource, read_weights  # noqa: F401
from kerascnn.models.pretrained.load import LoadReport, load_weights  # noqa: F401
