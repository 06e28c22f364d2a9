"""The streamed test pass: running counts equal what whole-set logits give, bounded by max_steps."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from kerascnn.data.prepare import prepare_data
from kerascnn.models import build
from kerascnn.training.compile import compile_model
from kerascnn.training.evaluate import evaluate_part
from kerascnn.training.predict import predict_logits


@pytest.fixture(scope="module")
def digits():
    return prepare_data("digits", (16, 16, 1), val_split=0.0)


def _full_logits(model, data):
    x = np.concatenate([x for x, _ in data.test.dataset(data.spec, batch_size=64).as_numpy_iterator()])
    return predict_logits(model, x)


def test_counts_equal_whole_set_predictions(digits):
    keras.utils.set_random_seed(0)
    model = build("lenet", input_shape=(16, 16, 1), num_classes=10)
    compile_model(model, label_smoothing=0.1)
    model.fit(digits.train.dataset(digits.spec, batch_size=64, training=True), epochs=1, verbose=0)
    counts = evaluate_part(model, digits.test, digits.spec, batch_size=64)
    logits, y = _full_logits(model, digits), digits.test.labels
    predicted = logits.argmax(axis=1)
    expected_cm = np.zeros((10, 10), np.int64)
    np.add.at(expected_cm, (y, predicted), 1)
    np.testing.assert_array_equal(counts.confusion, expected_cm)
    assert counts.images == len(y) and counts.accuracy == pytest.approx((predicted == y).mean())
    # the loss as compiled (label smoothing included), as model.evaluate reports it
    reported = model.evaluate(digits.test.dataset(digits.spec, batch_size=64), verbose=0, return_dict=True)
    assert counts.loss == pytest.approx(reported["loss"], rel=1e-5)
    assert counts.accuracy == pytest.approx(reported["accuracy"], abs=1e-7)
    wrong = np.flatnonzero(predicted != y)[:36]
    assert [w[0] for w in counts.wrong] == list(wrong)
    assert [w[2] for w in counts.wrong] == list(predicted[wrong])
    assert counts.top_k == 0 and "test_top5_accuracy" not in counts.metrics(digits.class_names)


def test_top5_beside_top1_above_ten_classes(digits):
    keras.utils.set_random_seed(1)
    model = build("lenet", input_shape=(16, 16, 1), num_classes=20)  # labels 0..9 of 20 logits
    compile_model(model)
    spec = dataclasses.replace(digits.spec, class_names=[str(i) for i in range(20)])
    counts = evaluate_part(model, digits.test, spec, batch_size=50)
    logits, y = _full_logits(model, digits), digits.test.labels
    top5 = np.argsort(-logits, axis=1)[:, :5]
    assert counts.top_k == 5
    assert counts.top_k_accuracy == pytest.approx((top5 == y[:, None]).any(axis=1).mean())
    metrics = counts.metrics([str(i) for i in range(20)])
    assert metrics["test_top5_accuracy"] >= metrics["test_accuracy"]
    assert metrics["per_class_accuracy"]["15"] is None  # a class with no test images


def test_max_steps_bounds_the_pass_and_says_so(digits):
    model = build("lenet", input_shape=(16, 16, 1), num_classes=10)
    compile_model(model)
    counts = evaluate_part(model, digits.test, digits.spec, batch_size=32, max_steps=3)
    assert counts.images == 96 and counts.total_images == len(digits.test)
    assert counts.metrics(digits.class_names)["test_images_in_part"] == len(digits.test)
