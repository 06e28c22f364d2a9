import json

import keras

from kerascnn.models import build
from kerascnn.summary import build_uninitialized, summarize, summarize_model, zoo_table


def test_lenet_macs_by_hand():
    summary = summarize(build("lenet"))
    # conv1 28*28*6*5*5*1, conv2 10*10*16*5*5*6, dense 400*120 + 120*84 + 84*10
    assert summary.layer("block1_conv").macs == 117_600
    assert summary.layer("block2_conv").macs == 240_000
    assert summary.total_macs == 117_600 + 240_000 + 48_000 + 10_080 + 840
    assert summary.layer("block1_pool").macs == 0


def test_alexnet_first_conv_macs_and_shapes():
    summary = summarize_model("alexnet", (224, 224, 1))
    conv1 = summary.layer("conv1")
    assert conv1.output_shape == (54, 54, 96)
    assert conv1.macs == 54 * 54 * 96 * 11 * 11 * 1
    assert conv1.params == 11 * 11 * 96 + 96
    assert summary.total_params == 46_764_746


def test_dilation_strides_and_grouped_convolutions():
    inputs = keras.Input((32, 32, 4), name="images")
    x = keras.layers.Conv2D(8, 3, dilation_rate=2, name="dilated")(inputs)  # rf 1 + 2*2*1 = 5
    x = keras.layers.Conv2D(8, 3, strides=2, groups=2, name="grouped")(x)  # rf 5 + 2 = 7, jump 2
    x = keras.layers.MaxPooling2D((2, 3), name="pool")(x)  # rf 7 + 2, 7 + 4; jump 4, 6
    summary = summarize(keras.Model(inputs, x))
    assert summary.layer("dilated").receptive_field == (5, 5)
    grouped = summary.layer("grouped")
    assert grouped.receptive_field == (7, 7) and grouped.jump == (2, 2)
    assert grouped.macs == 13 * 13 * 8 * 3 * 3 * 8 // 2  # 8 input channels in 2 groups
    assert summary.layer("pool").receptive_field == (9, 11) and summary.layer("pool").jump == (4, 6)


def test_flatten_sees_the_whole_map_and_drops_the_jump():
    summary = summarize(build("lenet"))
    # 5x5 map with rf 16 and jump 4 spans 16 + 4 * 4 input pixels.
    assert summary.layer("flatten").receptive_field == (32, 32)
    assert summary.layer("flatten").jump is None
    assert summary.layer("logits").receptive_field == (32, 32)


def test_multi_output_model_and_json():
    summary = summarize(build_uninitialized("googlenet", aux_classifiers=True))
    data = json.loads(json.dumps(summary.to_dict()))
    assert data["outputs"] == ["logits", "aux1_logits", "aux2_logits"]
    assert data["totals"]["params"] == summary.total_params == sum(layer["params"] for layer in data["layers"])
    concat = next(layer for layer in data["layers"] if layer["name"] == "inception3a_concat")
    assert len(concat["inputs"]) == 4


def test_table_lists_every_layer_and_the_totals():
    model = build("lenet_bn")
    text = summarize(model).format_table()
    for layer in model.layers:
        assert layer.name in text
    assert f"Total params: {model.count_params():,}" in text
    non_trainable = model.count_params() - sum(int(w.numpy().size) for w in model.trainable_weights)
    assert f"non-trainable {non_trainable:,}" in text and non_trainable > 0


def test_zoo_table_covers_the_registry():
    table = {row["name"]: row for row in zoo_table(num_classes=10)}
    assert table["lenet"]["params"] == table["lenet"]["trainable_params"] == 61_706
    assert table["resnet18"]["params"] - table["resnet18"]["trainable_params"] == 2 * 4_800  # BN statistics
    assert table["vgg16"]["macs"] > table["vgg11"]["macs"] > table["alexnet"]["macs"] > 0
