"""FusedAdam / FusedAdamW give keras.optimizers.Adam / AdamW's numbers, serialize, and work on 2 replicas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascnn.training.optimizers import FusedAdam, FusedAdamW

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
    ])


def _data(n=64):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 8, 8, 1)).astype("float32"), rng.integers(0, 10, n)


def _train(optimizer, steps=5, weights=None):
    model = _model()
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=False)
    x, y = _data()
    model.fit(x, y, batch_size=16, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
    return model


def _assert_same_training(fused, stock):
    start = _model().get_weights()
    a = _train(fused, weights=start).get_weights()
    b = _train(stock, weights=start).get_weights()
    assert any(not np.allclose(w0, w1) for w0, w1 in zip(start, a)), "training changed nothing"
    for wa, wb in zip(a, b):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
    for sa, sb in zip(fused.variables, stock.variables):  # iterations, moments
        np.testing.assert_allclose(np.asarray(sa), np.asarray(sb), rtol=1e-5, atol=1e-6)


def test_fused_adam_matches_keras_adam():
    schedule = dict(initial_learning_rate=3e-3, decay_steps=10)
    _assert_same_training(FusedAdam(keras.optimizers.schedules.CosineDecay(**schedule), beta_1=0.8, epsilon=1e-6),
                          keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(**schedule), beta_1=0.8,
                                                epsilon=1e-6))


def test_fused_adamw_and_adam_weight_decay_match_keras():
    _assert_same_training(FusedAdamW(1e-2, weight_decay=0.05), keras.optimizers.AdamW(1e-2, weight_decay=0.05))
    _assert_same_training(FusedAdam(1e-2, weight_decay=0.05, global_clipnorm=1.0),
                          keras.optimizers.Adam(1e-2, weight_decay=0.05, global_clipnorm=1.0))


def test_amsgrad_falls_back_to_the_stock_update():
    _assert_same_training(FusedAdam(1e-2, amsgrad=True), keras.optimizers.Adam(1e-2, amsgrad=True))


def test_update_step_is_one_fused_kernel():
    model = _model()
    opt = FusedAdam(1e-3)
    opt.build(model.trainable_variables)

    @tf.function
    def step(grads):
        opt.apply(grads, model.trainable_variables)

    graph = step.get_concrete_function([tf.TensorSpec(v.shape) for v in model.trainable_variables]).graph
    ops = [op.type for op in graph.get_operations()]
    assert ops.count("ResourceApplyAdam") == len(model.trainable_variables)


def test_checkpoint_with_the_optimizer_reloads_and_keeps_training(tmp_path):
    model = _train(FusedAdamW(1e-2, weight_decay=0.01))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is FusedAdamW and loaded.optimizer.weight_decay == pytest.approx(0.01)
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    x, y = _data()
    before = model.train_on_batch(x[:16], y[:16])
    after = loaded.train_on_batch(x[:16], y[:16])
    assert after == pytest.approx(before, rel=1e-5)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


TWO_REPLICAS = textwrap.dedent("""
    import json
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from kerascnn.training.optimizers import FusedAdam

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 6)).astype("float32"), rng.integers(0, 3, 64)
    keras.utils.set_random_seed(0)
    start = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3)]).get_weights()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    results = []
    for make in (FusedAdam, keras.optimizers.Adam):
        with strategy.scope():
            model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                                      keras.layers.Dense(3)])
            model.set_weights(start)
            model.compile(make(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        results.append([w.tolist() for w in model.get_weights()])
    print(json.dumps({"replicas": strategy.num_replicas_in_sync, "start": [w.tolist() for w in start],
                      "fused": results[0], "stock": results[1]}))
""")


@pytest.mark.slow
def test_two_replicas_match_keras_adam():
    proc = subprocess.run([sys.executable, "-c", TWO_REPLICAS], env=ENV, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert not np.allclose(result["start"][0], result["fused"][0])
    for a, b in zip(result["fused"], result["stock"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
