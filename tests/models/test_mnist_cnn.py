from kerascnn.models import build


def test_mnist_cnn_flattens_320_then_dense_50():
    model = build("mnist_cnn", num_classes=10)
    assert model.get_layer("flatten").output.shape[-1] == 320
    assert model.get_layer("fc1").units == 50


def test_mnist_cnn_wide_flattens_2000_then_dense_500():
    model = build("mnist_cnn_wide", num_classes=10)
    assert model.get_layer("flatten").output.shape[-1] == 2000
    assert model.get_layer("fc1").units == 500
    assert model.get_layer("fc1_relu")
    assert model.get_layer("logits").get_config()["activation"] == "linear"


def test_hidden_activation_none_gives_the_literal_notes_version():
    model = build("mnist_cnn", hidden_activation=None)
    assert "fc1_relu" not in [layer.name for layer in model.layers]
