import keras

from kerascnn.models import build


def test_nin_ends_in_class_maps_and_global_average_pooling_without_dense():
    model = build("nin", input_shape=(224, 224, 1), num_classes=10)
    assert not any(isinstance(layer, keras.layers.Dense) for layer in model.layers)
    assert model.get_layer("classes_mlp2").output.shape[1:] == (5, 5, 10)
    assert isinstance(model.get_layer("logits"), keras.layers.GlobalAveragePooling2D)
    assert model.get_layer("dropout").rate == 0.5


def test_final_relu_is_optional():
    relu = build("nin", input_shape=(67, 67, 1), filters=(4, 4, 4))
    linear = build("nin", input_shape=(67, 67, 1), filters=(4, 4, 4), final_relu=False)
    assert relu.get_layer("classes_mlp2").get_config()["activation"] == "relu"
    assert linear.get_layer("classes_mlp2").get_config()["activation"] == "linear"
