"""Registry-driven: every zoo model with a torchvision counterpart computes torchvision's function.

A randomly initialized reference (torchvision's modules and parameter names, in plain torch: see
``kerascnn_testing.torch_reference``; BatchNorm statistics randomized) is saved as ``.safetensors`` (and
``.pth`` for one model), loaded by ``kerascnn.models.build(..., weights=PATH)``, and both run in eval mode
on the same input. Relative max |Δlogits| <= 1e-4, at 224x224x3 for two models and at small inputs for
all (where torchvision's adaptive pooling before the classifier is folded into the first Dense layer).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from safetensors.torch import save_file  # noqa: E402

from kerascnn.models import build, get_model_info, list_models  # noqa: E402
from kerascnn_testing.torch_reference import torchvision_model  # noqa: E402

# zoo name -> (torchvision name, zoo hyperparameters that make it so)
COUNTERPARTS = {
    "alexnet_tv": ("alexnet", {}),
    "vgg11": ("vgg11", {}),
    "vgg19": ("vgg19", {}),  # one conv per block in the first blocks / four per block
    "resnet18": ("resnet18", {}),
    "resnet50": ("resnet50", {}),  # basic blocks / bottlenecks
    "googlenet_tv": ("googlenet", {}),
    "resnext50_32x4d": ("resnext50_32x4d", {}),  # grouped convolutions
    "mobilenet_v2": ("mobilenet_v2", {}),
    "densenet121": ("densenet121", {}),
    "regnet_x_400mf": ("regnet_x_400mf", {}),
    "regnet_y_400mf": ("regnet_y_400mf", {}),  # grouped / + SE
    "efficientnet_b0": ("efficientnet_b0", {}),  # MBConv with SE and swish
}
# Other depths of a covered model: the same name mapping and blocks, another count of them (each VGG costs
# ~8 s of 130M-parameter weights written and read; densenet201 17 s): they add no line or case.
DEEPER_VARIANTS = {
    "densenet169": "densenet121",
    "densenet201": "densenet121",
    "vgg13": "vgg19",
    "vgg16": "vgg19",
    "resnet34": "resnet18",
}
# Wider and deeper EfficientNets: B0's blocks and names, more of them (their widths, rounded as torchvision
# rounds them, are checked by torchvision's parameter counts in tests/models/test_zoo.py).
DEEPER_VARIANTS.update(
    {"efficientnet_b1": "efficientnet_b0", "efficientnet_b2": "efficientnet_b0", "efficientnet_b3": "efficientnet_b0"}
)
VARIANT_COUNTERPARTS = {"vgg11_bn": ("vgg11", {"batch_norm": True})}  # torchvision's vgg*_bn: a hyperparameter here
# Zoo models whose family maps to torchvision but which are other networks (d2l's versions).
NOT_TORCHVISION = {
    "alexnet": "d2l's AlexNet (96-256-384-384-256)",
    "googlenet": "d2l's GoogLeNet (no BatchNorm)",
    "densenet_d2l": "d2l's DenseNet (no bottleneck)",
    "regnet_d2l": "d2l's RegNetX-32",
}
SMALL_INPUT = {"alexnet_tv": 63, "googlenet_tv": 40}  # the rest: 33 (odd: symmetric padding matters)
AT_224 = {"resnet18", "googlenet_tv"}


def test_every_model_of_a_torchvision_family_is_covered():
    for name in list_models():
        if get_model_info(name).facts.torchvision is not None:
            assert name in COUNTERPARTS or name in NOT_TORCHVISION or DEEPER_VARIANTS.get(name) in COUNTERPARTS, name


def _relative_error(model, reference, size):
    images = np.random.default_rng(0).normal(size=(2, size, size, 3)).astype("float32")
    with torch.no_grad():
        expected = reference(torch.from_numpy(images.transpose(0, 3, 1, 2))).numpy()
    logits = np.asarray(model(images, training=False))
    return float(np.abs(logits - expected).max() / np.abs(expected).max())


CASES = [(n, s) for n in COUNTERPARTS for s in (["small"] + (["224"] if n in AT_224 else []))]
CASES += [(n, "small") for n in VARIANT_COUNTERPARTS]


@pytest.mark.parametrize("name, size", CASES)
def test_same_logits_as_torchvision(name, size, tmp_path):
    tv_name, hp = {**COUNTERPARTS, **VARIANT_COUNTERPARTS}[name]
    zoo_name = name if name in COUNTERPARTS else tv_name
    reference = torchvision_model(tv_name + ("_bn" if hp.get("batch_norm") else ""), num_classes=1000)
    path = tmp_path / f"{tv_name}.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    pixels = 224 if size == "224" else SMALL_INPUT.get(name, 33)
    model = build(zoo_name, (pixels, pixels, 3), 1000, weights=path, **hp)
    assert model.load_report.reinitialized == []
    assert _relative_error(model, reference, pixels) <= 1e-4


def test_pth_files_through_torch_and_a_new_head(tmp_path):
    reference = torchvision_model("resnet18")
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    model = build("resnet18", (33, 33, 3), 1000, weights=path)
    assert _relative_error(model, reference, 33) <= 1e-4
    # Ten classes: everything but the head loads; the head is reported and fresh.
    model = build("resnet18", (33, 33, 3), 10, weights=path)
    report = model.load_report
    assert report.reinitialized == ["logits (file: 1000 classes, model: 10)"]
    assert "logits" not in report.loaded and len(report.loaded) == 40
    assert report.preprocessing["mean"] == [0.485, 0.456, 0.406]
    features = model.get_layer("avg_pool").output
    import keras

    backbone = keras.Model(model.inputs, features)
    images = np.random.default_rng(1).normal(size=(1, 33, 33, 3)).astype("float32")
    with torch.no_grad():
        x = torch.from_numpy(images.transpose(0, 3, 1, 2))
        trunk = torch.nn.Sequential(*list(reference.children())[:-1])
        expected = torch.flatten(trunk(x), 1).numpy()
    np.testing.assert_allclose(backbone(images), expected, rtol=1e-4, atol=1e-4)


def test_googlenet_auxiliary_heads_load_or_are_reported_skipped(tmp_path):
    reference = torchvision_model("googlenet_aux")
    path = tmp_path / "googlenet.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    reference.train(False)
    model = build("googlenet_tv", (40, 40, 3), 1000, weights=path, aux_classifiers=True)
    images = np.random.default_rng(0).normal(size=(2, 40, 40, 3)).astype("float32")
    with torch.no_grad():
        x = torch.from_numpy(images.transpose(0, 3, 1, 2))
        trunk = reference.inception4a(
            reference.maxpool3(
                reference.inception3b(
                    reference.inception3a(
                        reference.maxpool2(reference.conv3(reference.conv2(reference.maxpool1(reference.conv1(x)))))
                    )
                )
            )
        )
        expected = [reference(x)[0].numpy(), reference.aux1(trunk).numpy()]
    outputs = model(images, training=False)
    for got, want in zip(outputs[:2], expected):
        assert np.abs(np.asarray(got) - want).max() / np.abs(want).max() <= 1e-4
    # Without auxiliary heads the file's aux1.*/aux2.* are not an error, but they are reported.
    plain = build("googlenet_tv", (40, 40, 3), 1000, weights=path)
    assert plain.load_report.skipped == ["aux1.* (not built in this model)", "aux2.* (not built in this model)"]
