"""The published-weights registry: every entry as its publisher publishes it, every torchvision model covered.

torchvision names its files ``<name>-<first 8 hex digits of the SHA-256>.pth`` and torch.hub checks that
prefix; keras.applications passes the MD5 (older files) or SHA-256 of each file to ``get_file``.
"""

from __future__ import annotations

import re

import pytest

from kerascnn.errors import WeightsError
from kerascnn.models import (
    get_model_info,
    get_weights,
    imagenet_class_names,
    list_models,
    list_weights,
    register_weights,
)
from kerascnn.models.hyperparameters import default_hyperparameters

# torchvision.models' classification builders with ImageNet weights that the zoo has (zoo name: torchvision's),
# each with the Weights enums torchvision publishes for it.
TORCHVISION_PUBLISHES = {
    "alexnet_tv": {"alexnet": ["IMAGENET1K_V1"]},
    "googlenet_tv": {"googlenet": ["IMAGENET1K_V1"]},
    "resnet18": {"resnet18": ["IMAGENET1K_V1"]},
    "resnet34": {"resnet34": ["IMAGENET1K_V1"]},
    "resnet50": {"resnet50": ["IMAGENET1K_V1", "IMAGENET1K_V2"]},
    "resnext50_32x4d": {"resnext50_32x4d": ["IMAGENET1K_V1", "IMAGENET1K_V2"]},
    "mobilenet_v2": {"mobilenet_v2": ["IMAGENET1K_V1", "IMAGENET1K_V2"]},
    "densenet121": {"densenet121": ["IMAGENET1K_V1"]},
    "densenet169": {"densenet169": ["IMAGENET1K_V1"]},
    "densenet201": {"densenet201": ["IMAGENET1K_V1"]},
    **{f"vgg{d}": {f"vgg{d}": ["IMAGENET1K_V1"], f"vgg{d}_bn": ["IMAGENET1K_V1"]} for d in (11, 13, 16, 19)},
    "regnet_x_400mf": {"regnet_x_400mf": ["IMAGENET1K_V1", "IMAGENET1K_V2"]},
    "regnet_y_400mf": {"regnet_y_400mf": ["IMAGENET1K_V1", "IMAGENET1K_V2"]},
    "efficientnet_b0": {"efficientnet_b0": ["IMAGENET1K_V1"]},
    "efficientnet_b1": {"efficientnet_b1": ["IMAGENET1K_V1", "IMAGENET1K_V2"]},
    "efficientnet_b2": {"efficientnet_b2": ["IMAGENET1K_V1"]},
    "efficientnet_b3": {"efficientnet_b3": ["IMAGENET1K_V1"]},
}
# The crop torchvision measured its accuracy at, where it is not 224 (EfficientNet's grow with the model).
PUBLISHED_CROP = {"efficientnet_b1": 240, "efficientnet_b2": 288, "efficientnet_b3": 300}
# keras.applications' EfficientNets were measured at the paper's resolutions (torchvision's B2 at 288).
KERAS_CROP = {"efficientnet_b0": 224, "efficientnet_b1": 240, "efficientnet_b2": 260, "efficientnet_b3": 300}
# Where keras.applications serves its files: most under tensorflow/, EfficientNet's at the bucket's root.
KERAS_BASES = (
    "https://storage.googleapis.com/tensorflow/keras-applications/",
    "https://storage.googleapis.com/keras-applications/",
)
# Zoo models of torchvision families that are other networks (d2l's versions): no torchvision weights fit them.
D2L_VERSIONS = {"alexnet", "googlenet", "densenet_d2l", "regnet_d2l"}
# keras.applications files whose hash keras.applications does not state (MobileNet v1's get_file has none).
KERAS_UNHASHED = {"mobilenet_1_0_224_tf.h5", "mobilenet_1_0_224_tf_no_top.h5"}


def test_every_model_torchvision_publishes_weights_for_has_an_entry():
    for zoo_name, published in TORCHVISION_PUBLISHES.items():
        tags = {e.tag for e in list_weights(zoo_name) if e.source == "torchvision"}
        for tv_name, members in published.items():
            for member in members:
                tag = f"torchvision:{'BN_' if tv_name.endswith('_bn') else ''}{member}"
                assert tag in tags, (zoo_name, tag)
    # And every zoo model with a torchvision counterpart (its facts say how to read torchvision's files).
    for name in list_models():
        if get_model_info(name).facts.torchvision is not None and name not in D2L_VERSIONS:
            assert any(e.source == "torchvision" for e in list_weights(name)), name


@pytest.mark.parametrize("entry", list_weights(), ids=lambda e: f"{e.model}-{e.tag}")
def test_each_entry_follows_its_publishers_scheme(entry):
    get_model_info(entry.model)  # a zoo model
    assert entry.num_classes == 1000 and entry.categories == "imagenet"
    assert 0 < entry.top1 < entry.top5 < 100
    crops = KERAS_CROP if entry.source == "keras" and entry.model in KERAS_CROP else PUBLISHED_CROP
    assert entry.input_size == crops.get(entry.model, 224)
    assert set(entry.hyperparameters) <= set(default_hyperparameters(entry.model))
    assert {"name", "mean", "std", "channel_order"} <= set(entry.preprocessing)
    if entry.source == "torchvision":
        match = re.fullmatch(
            r"https://download\.pytorch\.org/models/([a-z0-9_]+(?:-owt)?)-([0-9a-f]{8})\.pth", entry.url
        )
        assert match, entry.url
        assert entry.sha256 == match[2] and entry.hash_algorithm == "sha256" and entry.file_format == "pth"
        assert match[1].startswith(entry.model.removesuffix("_tv"))  # "alexnet-owt", "vgg11_bn", "..._rwightman"
        assert match[1].endswith("_bn") == bool(entry.hyperparameters.get("batch_norm"))
        assert "BSD-3-Clause" in entry.licence and entry.notop_url is None
    else:
        assert entry.source == "keras"
        assert entry.url.startswith(KERAS_BASES)
        assert entry.file_format == "h5" and entry.notop_url and re.search("no_?top", entry.notop_url)
        for url, digest in ((entry.url, entry.sha256), (entry.notop_url, entry.notop_sha256)):
            name = url.rsplit("/", 1)[-1]
            if name in KERAS_UNHASHED:
                assert digest is None
            else:
                assert len(digest) == {"md5": 32, "sha256": 64}[entry.hash_algorithm] and int(digest, 16) >= 0
        assert "MIT" in entry.licence


def test_one_default_per_model_and_tag_resolution():
    for name in {e.model for e in list_weights()}:
        assert sum(e.default for e in list_weights(name)) == 1, name
    assert get_weights("resnet50").tag == "torchvision:IMAGENET1K_V2"  # torchvision's DEFAULT
    assert get_weights("resnet50", "IMAGENET1K_V1").url.endswith("resnet50-0676ba61.pth")
    assert get_weights("vgg16").tag == "keras:imagenet"  # an .h5 file: no PyTorch needed
    assert get_weights("vgg16", "torchvision").tag == "torchvision:IMAGENET1K_V1"
    assert get_weights("densenet121", "keras").preprocessing["mean"] == [0.485, 0.456, 0.406]
    assert get_weights("googlenet_tv").preprocessing["mean"] == [0.5] * 3  # torchvision's transform_input
    with pytest.raises(WeightsError, match="resnet18 has no weights 'IMAGENET1K_V2'. Registered: torchvision:IM"):
        get_weights("resnet18", "IMAGENET1K_V2")


def test_register_weights_checks_what_it_is_given(monkeypatch):
    from kerascnn.models import weights

    monkeypatch.setattr(weights, "_WEIGHTS", {})
    with pytest.raises(WeightsError, match="source must be one of torchvision, keras, kerascnn"):
        register_weights("resnet18", "ours", url="https://x/resnet18.pth", sha256="0" * 64, source="timm")
    with pytest.raises(WeightsError, match="sha256 must be hex digits"):
        register_weights("resnet18", "ours", url="https://x/resnet18.pth", sha256="xyz", source="kerascnn")
    entry = register_weights(
        "resnet18", "ours", url="https://x/r18.safetensors?v=2", sha256="ab" * 32, source="kerascnn", default=True
    )
    assert entry.tag == "kerascnn:ours" and entry.file_format == "safetensors" and entry.file_name == "r18.safetensors"
    assert get_weights("resnet18") is entry


def test_imagenet_class_names_in_torchvisions_order():
    names = imagenet_class_names()
    assert len(names) == 1000
    assert names[:3] == ["tench", "goldfish", "great white shark"] and names[-1] == "toilet tissue"
    assert names[207] == "golden retriever" and names[281] == "tabby"
    assert names[134] == names[517] == "crane"  # the bird and the machine: ImageNet has both
    assert len(set(names)) == 998
