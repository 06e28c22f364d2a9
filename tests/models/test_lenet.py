from kerascnn.models import build
from kerascnn.summary import summarize


def test_lenet_flattens_400_features_at_28x28():
    # (The published parameter count is a registry fact: tests/models/test_zoo.py checks it.)
    model = build("lenet", input_shape=(28, 28, 1), num_classes=10)
    assert model.get_layer("flatten").output.shape[-1] == 400


def test_lenet_receptive_field_after_second_pooling_is_16():
    assert summarize(build("lenet")).layer("block2_pool").receptive_field == (16, 16)


def test_lenet_options():
    model = build("lenet", activation="relu", pooling="max")
    assert model.get_layer("block1_relu") and model.get_layer("block1_pool").__class__.__name__ == "MaxPooling2D"
    bn = build("lenet_bn")
    assert bn.get_layer("block1_bn") and bn.get_layer("fc2_bn")
