"""Core split: each core trains on a slice of the batch; the update must be the whole batch's."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerascnn.models import build, default_hyperparameters, list_models
from kerascnn.summary import build_uninitialized
from kerascnn.training.compile import compile_model
from kerascnn.training.core_split import (
    cpu_cores,
    enable_core_split,
    has_batch_norm,
    model_has_batch_norm_config,
)
from kerascnn_testing.children import program, python_c, run_child

RELU = {"activation": "relu", "pooling": "max"}


def _twins(name="lenet", input_shape=(28, 28, 1), optimizer="sgd", **hp):
    """Two compiled copies of one model with the same weights."""
    a = build(name, input_shape, 10, **hp)
    b = build(name, input_shape, 10, **hp)
    b.set_weights(a.get_weights())
    for m in (a, b):
        compile_model(m, optimizer=optimizer, lr=0.1, steps_per_execution=1)
    return a, b


def _batch(n, shape=(28, 28, 1), seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *shape)).astype("float32"), rng.integers(0, 10, n).astype("int32")


@pytest.mark.parametrize("rows,parts", [(8, 2), (7, 2), (7, 3), (1, 2)])
def test_a_split_step_is_the_whole_batch_step(rows, parts):
    plain, split = _twins(**RELU)
    initial = split.get_weights()
    enable_core_split(split, parts)
    x, y = _batch(rows)
    for _ in range(2):  # the second step starts from the first step's (equal) weights
        expected = plain.train_on_batch(x, y, return_dict=True)
        got = split.train_on_batch(x, y, return_dict=True)
        assert got["loss"] == pytest.approx(expected["loss"], rel=1e-5)
        assert got["accuracy"] == pytest.approx(expected["accuracy"])
    for a, b in zip(plain.get_weights(), split.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    moved = [np.abs(w - w0).max() for w, w0 in zip(split.get_weights(), initial)]
    assert max(moved) > 1e-4  # the steps did train (equal weights above could be two untouched copies)


def test_evaluate_and_predict_are_the_whole_batchs():
    plain, split = _twins(**RELU)
    enable_core_split(split, 2)
    x, y = _batch(13, seed=1)
    np.testing.assert_allclose(
        split.predict(x, batch_size=5, verbose=0), plain.predict(x, batch_size=5, verbose=0), rtol=1e-5, atol=1e-5
    )
    got = split.evaluate(x, y, batch_size=5, verbose=0, return_dict=True)
    expected = plain.evaluate(x, y, batch_size=5, verbose=0, return_dict=True)
    assert got["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    assert got["accuracy"] == pytest.approx(expected["accuracy"])


@pytest.mark.slow
def test_a_model_with_auxiliary_heads_splits_too():
    # GoogLeNet (no BatchNorm) with its two auxiliary classifiers: three outputs, weighted losses.
    plain, split = _twins(
        "googlenet", (65, 65, 3), width_divisor=16, aux_classifiers=True, dropout=0.0, aux_dropout=0.0
    )
    enable_core_split(split, 2)
    x, y = _batch(7, (65, 65, 3))
    labels = (y, y, y)
    expected = plain.train_on_batch(x, labels, return_dict=True)
    got = split.train_on_batch(x, labels, return_dict=True)
    assert set(got) == set(expected) and "aux1_logits_loss" in got
    for key in expected:  # the weighted total and every output's own loss
        assert got[key] == pytest.approx(expected[key], rel=1e-4), key
    for a, b in zip(plain.get_weights(), split.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list_models())
def test_batch_norm_is_predicted_without_building(name):
    # prepare() must know before TensorFlow starts whether a model has BatchNorm (never split).
    # The models are built for real layer by layer, without drawing their weights (3-30x faster).
    variants = [{}] + (
        [{"batch_norm": True}, {"batch_norm": False}] if "batch_norm" in default_hyperparameters(name) else []
    )
    for hp in variants:
        model = build_uninitialized(name, (67, 67, 1), 10, **hp)
        assert model_has_batch_norm_config(name, hp) == has_batch_norm(model), (name, hp)


# prepare() for each argument list, in one new process whose TensorFlow has not started (its threads are
# chosen when it starts; kerascnn_testing.children); then TensorFlow's intra-op threads and whether core
# split applies to each model.
PROBE = """
import json, sys
from kerascnn.training import core_split
calls = json.loads(sys.argv[1])
ready = [core_split.prepare(*args) for args in calls]
import tensorflow as tf
from kerascnn.models import build
applies = [core_split.core_split_applies(build(args[1], None, 10)) for args in calls]
print(json.dumps([ready, tf.config.threading.get_intra_op_parallelism_threads(), applies]))
"""


def _probe(*calls):
    out = run_child(python_c, PROBE, json.dumps(calls), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(cpu_cores() < 2, reason="core split needs two cores")
def test_prepare_sets_one_thread_per_op_only_where_split_applies():
    # (The lenet case, [True, 1, cores], is test_kerascnn_fit_trains_with_core_split's.)
    # BatchNorm and "off" keep TensorFlow's default threads (0: its own choice) and do not split;
    # had either call set one thread per op, the threads would read 1 and lenet would split.
    assert _probe(["auto", "lenet_bn", {}, "auto"], ["off", "lenet", {}, "auto"]) == [[False, False], 0, [0, 0]]


@pytest.mark.slow
@pytest.mark.skipif(cpu_cores() < 2, reason="core split needs two cores")
def test_kerascnn_fit_trains_with_core_split(tmp_path):
    out = tmp_path / "run"  # `kerascnn fit` as the program runs it, in a process of its own
    proc = run_child(
        program,
        ["fit", "lenet", "--epochs", "2", "--batch-size", "64", "--hparams", _relu_file(tmp_path), "--out", out],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert config["core_split_parts"] == cpu_cores() and config["core_split"] == "auto"
    assert metrics["test_accuracy"] > 0.8


def _relu_file(tmp_path):
    path = tmp_path / "relu.json"
    path.write_text(json.dumps(RELU))
    return path
