import keras
import numpy as np
import tensorflow as tf

from kerascnn.models.custom_layers import LocalResponseNormalization
from kerascnn_testing.tflite_graph import op_kinds


def test_lrn_matches_the_alexnet_formula(tmp_path):
    x = np.random.default_rng(1).normal(size=(1, 2, 2, 7)).astype("float32")
    layer = LocalResponseNormalization()
    out = np.asarray(layer(x))
    # b_c = a_c / (k + alpha * sum_{|j - c| <= 2} a_j^2)^beta with k=2, alpha=1e-4, beta=0.75.
    c = 3
    expected = x[..., c] / (2 + 1e-4 * np.sum(x[..., c - 2 : c + 3] ** 2, axis=-1)) ** 0.75
    np.testing.assert_allclose(out[..., c], expected, rtol=1e-5)


def test_lrn_round_trips_through_a_keras_file(tmp_path):
    inputs = keras.Input((4, 4, 6))
    model = keras.Model(inputs, LocalResponseNormalization(depth_radius=1, bias=1.0, name="lrn")(inputs))
    model.save(tmp_path / "lrn.keras")
    loaded = keras.saving.load_model(tmp_path / "lrn.keras")
    assert loaded.get_layer("lrn").get_config()["depth_radius"] == 1
    x = tf.random.normal((2, 4, 4, 6))
    np.testing.assert_allclose(model(x), loaded(x), rtol=1e-6)


def test_lrn_converts_to_a_tflite_builtin_and_runs_in_litert(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    inputs = keras.Input((4, 4, 6), name="images")
    model = keras.Model(inputs, LocalResponseNormalization(name="lrn")(inputs))
    path = tmp_path / "lrn.tflite"
    model.export(str(path), format="litert", verbose=False)
    interpreter = Interpreter(model_path=str(path))
    assert "LOCAL_RESPONSE_NORMALIZATION" in op_kinds(path.read_bytes())
    runner = interpreter.get_signature_runner()
    x = np.random.default_rng(2).normal(size=(1, 4, 4, 6)).astype("float32")
    (out,) = runner(images=x).values()
    np.testing.assert_allclose(out, model(x), rtol=1e-5, atol=1e-6)
