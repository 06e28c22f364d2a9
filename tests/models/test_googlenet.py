import numpy as np

from kerascnn.models import build
from kerascnn.models.googlenet import INCEPTION_BLOCKS
from kerascnn.summary import build_uninitialized, summarize


def test_nine_inception_blocks_and_one_output_by_default():
    model = build_uninitialized("googlenet", num_classes=10)
    concats = [layer.name for layer in model.layers if layer.name.endswith("_concat")]
    assert len(concats) == len(INCEPTION_BLOCKS) == 9
    assert model.output_names == ["logits"]
    assert model.get_layer("inception5b_concat").output.shape[1:] == (3, 3, 1024)


def test_works_at_224():
    model = build_uninitialized("googlenet", input_shape=(224, 224, 3), num_classes=1000)
    assert model.get_layer("inception5b_concat").output.shape[1:] == (7, 7, 1024)


def test_auxiliary_classifiers_come_after_the_main_logits():
    model = build("googlenet", input_shape=(65, 65, 1), num_classes=4, width_divisor=16, aux_classifiers=True)
    assert model.output_names == ["logits", "aux1_logits", "aux2_logits"]
    outputs = model(np.zeros((1, 65, 65, 1), "float32"))
    assert [tuple(o.shape) for o in outputs] == [(1, 4)] * 3


def test_inception_receptive_field_is_the_widest_path():
    summary = summarize(build_uninitialized("googlenet"))
    paths = ["inception3a_1x1", "inception3a_3x3", "inception3a_5x5", "inception3a_pool_proj"]
    widest = max(summary.layer(p).receptive_field for p in paths)
    assert summary.layer("inception3a_concat").receptive_field == widest == (59, 59)


def test_local_response_norm_option():
    model = build_uninitialized("googlenet", local_response_norm=True)
    assert {"pool1_lrn", "conv2_lrn"} <= {layer.name for layer in model.layers}


def test_googlenet_tv_aux_heads_leave_the_main_path_alone():
    # (torchvision's parameter counts, with and without aux heads, are registry facts: test_zoo.py.)
    with_aux = build_uninitialized("googlenet_tv", input_shape=(224, 224, 3), num_classes=1000, aux_classifiers=True)
    assert with_aux.get_layer("inception5b_concat").output.shape[1:] == (7, 7, 1024)
