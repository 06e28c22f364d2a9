"""Published weights by name: downloaded once from a server on 127.0.0.1, hash-checked, cached, loaded.

The served files are written by torchvision's modules transcribed in plain torch (random weights) and by
keras.applications itself, named as their publishers name them; the registry entries point at them through
``KERASCNN_WEIGHTS_MIRROR``, which replaces the publisher's host as on an air-gapped machine.
"""

from __future__ import annotations

import hashlib
import sys

import keras
import numpy as np
import pytest

from kerascnn.errors import KerasCNNError
from kerascnn.models import WeightsError, build, register_weights, resolve_weights

torch = pytest.importorskip("torch")

PUBLISHER = "https://download.pytorch.org/models/"


def _serve(server, path, name=None):
    (server.folder / (name or path.name)).write_bytes(path.read_bytes())


def _register(path, digest_prefix, tag="kerascnn:TEST"):
    return register_weights("mobilenet_v2", tag, url=PUBLISHER + path.name, sha256=digest_prefix, source="kerascnn")


def _relative_error(model, reference, size=33):
    images = np.random.default_rng(0).normal(size=(2, size, size, 3)).astype("float32")
    with torch.no_grad():
        expected = reference(torch.from_numpy(images.transpose(0, 3, 1, 2))).numpy()
    return float(np.abs(np.asarray(model(images, training=False)) - expected).max() / np.abs(expected).max())


def _cache_files(home):
    folder = home / "weights"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_download_once_then_the_cache(kerascnn_home, weights_server, mobilenet_v2_file, monkeypatch):
    reference, path, digest = mobilenet_v2_file
    _serve(weights_server, path)
    _register(path, digest[:8])
    monkeypatch.setenv("KERASCNN_WEIGHTS_MIRROR", weights_server.url + "/mirror/")
    killed = kerascnn_home / "weights" / f".{path.name}.tmp-killed"  # what a download killed midway leaves
    killed.mkdir(parents=True)
    (killed / path.name).write_bytes(path.read_bytes()[:1000])
    model = build("mobilenet_v2", (33, 33, 3), 1000, weights="kerascnn:TEST")
    assert weights_server.requests[path.name] == 1
    assert _cache_files(kerascnn_home) == [path.name]  # under its published name; the killed download's gone
    assert _relative_error(model, reference) <= 1e-4
    report = model.load_report
    assert report.tag == "kerascnn:TEST" and report.sha256 == digest and report.reinitialized == []
    assert report.preprocessing["mean"] == [0.485, 0.456, 0.406]
    # Asked again: the cached file, no second request.
    assert resolve_weights("mobilenet_v2", "kerascnn:TEST").path == kerascnn_home / "weights" / path.name
    assert weights_server.requests[path.name] == 1


def test_a_local_mirror_folder_and_the_full_digest(kerascnn_home, mobilenet_v2_file, monkeypatch):
    _, path, digest = mobilenet_v2_file
    monkeypatch.setenv("KERASCNN_WEIGHTS_MIRROR", str(path.parent))
    _register(path, digest)
    resolved = resolve_weights("mobilenet_v2", "TEST")  # the name after the colon suffices
    assert resolved.path.read_bytes() == path.read_bytes() and resolved.entry.sha256 == digest
    assert _cache_files(kerascnn_home) == [path.name]


def _assert_one_line_error(match, home, **build_kwargs):
    with pytest.raises(WeightsError, match=match) as info:
        build("mobilenet_v2", (33, 33, 3), 1000, **build_kwargs)
    message = str(info.value)
    assert "\n" not in message and "KERASCNN_WEIGHTS_MIRROR" in message
    assert _cache_files(home) == []  # nothing kept, not even a partial download
    return message


def test_wrong_hash_truncated_file_and_server_down(kerascnn_home, weights_server, mobilenet_v2_file, monkeypatch):
    _, path, digest = mobilenet_v2_file
    monkeypatch.setenv("KERASCNN_WEIGHTS_MIRROR", weights_server.url)
    # A file that is not the published one: another hash.
    _serve(weights_server, path)
    _register(path, "0badc0de", tag="kerascnn:WRONG")
    message = _assert_one_line_error("not the published 0badc0de", kerascnn_home, weights="kerascnn:WRONG")
    assert f"{weights_server.url}/{path.name}" in message
    # Cut short: the server announces the whole file and sends half of it.
    _register(path, digest[:8])
    weights_server.truncate.add(path.name)
    _assert_one_line_error("Could not download", kerascnn_home, weights="kerascnn:TEST")
    # Missing on the server (404), then no server at all.
    (weights_server.folder / path.name).unlink()
    _assert_one_line_error("404", kerascnn_home, weights="kerascnn:TEST")
    weights_server.close()
    _assert_one_line_error(f"Could not download .* from {weights_server.url}", kerascnn_home, weights="kerascnn:TEST")


def test_a_pth_without_torch_is_refused_before_downloading(
    kerascnn_home, weights_server, mobilenet_v2_file, monkeypatch
):
    _, path, digest = mobilenet_v2_file
    _serve(weights_server, path)
    _register(path, digest[:8])
    monkeypatch.setenv("KERASCNN_WEIGHTS_MIRROR", weights_server.url)
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(WeightsError, match=r"needs PyTorch: pip install 'kerascnn\[torch\]'"):
        build("mobilenet_v2", (33, 33, 3), 1000, weights="kerascnn:TEST")
    assert weights_server.requests[path.name] == 0


def test_unknown_tags_and_models_without_weights(kerascnn_home, kerascnn_main, tmp_path):
    with pytest.raises(WeightsError, match="Registered: torchvision:IMAGENET1K_V1, torchvision:IMAGENET1K_V2"):
        build("mobilenet_v2", weights="IMAGENET1K_V3")
    with pytest.raises(WeightsError, match="No published weights are registered for 'lenet'"):
        build("lenet", weights="imagenet")
    with pytest.raises(WeightsError, match="need batch_norm=True, not False"):
        build("vgg11", batch_norm=False, weights="torchvision:BN_IMAGENET1K_V1")
    # fit cannot add the hyperparameter itself: it says which flag to add, before downloading or writing.
    result = kerascnn_main("fit", "vgg11", "--init-from", "torchvision:BN_IMAGENET1K_V1", "--out", tmp_path / "run")
    assert result.returncode == 1 and "(kerascnn fit: --hparam batch_norm=true)" in result.stderr
    assert not (tmp_path / "run").exists() and not (kerascnn_home / "weights").exists()


def test_feature_extractor_is_torchvisions_features(kerascnn_home, weights_server, mobilenet_v2_file, monkeypatch):
    reference, path, digest = mobilenet_v2_file
    monkeypatch.setenv("KERASCNN_WEIGHTS_MIRROR", str(path.parent))
    _register(path, digest[:8])
    features = build("mobilenet_v2", (33, 33, 3), weights="kerascnn:TEST", include_top=False, pooling="avg")
    assert features.output.shape == (None, 1280) and not any(layer.name == "logits" for layer in features.layers)
    images = np.random.default_rng(1).normal(size=(2, 33, 33, 3)).astype("float32")
    with torch.no_grad():
        expected = reference.features(torch.from_numpy(images.transpose(0, 3, 1, 2))).mean(dim=(2, 3)).numpy()
    got = np.asarray(features(images, training=False))
    assert np.abs(got - expected).max() / np.abs(expected).max() <= 1e-4
    with pytest.raises(KerasCNNError, match="pooling applies to feature extractors"):
        build("mobilenet_v2", pooling="avg")
    # LeNet's own "pooling" (its subsampling) keeps its meaning; its features are the last 4-D map.
    lenet = build("lenet", include_top=False, pooling="max")
    assert lenet.output.shape == (None, 5, 5, 16)
    assert isinstance(lenet.get_layer("block1_pool"), keras.layers.MaxPooling2D)


def test_keras_applications_notop_files(kerascnn_home, weights_server, tmp_path, monkeypatch):
    # keras.applications' own MobileNet (alpha 0.25), with and without its classifier, saved as it publishes
    # them (a legacy HDF5 file by layer name); random weights.
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(0)
    kwargs = dict(input_shape=(32, 32, 3), alpha=0.25, weights=None)
    reference_top = keras.applications.MobileNet(**kwargs, classes=1000, classifier_activation=None)
    reference = keras.Model(reference_top.inputs, reference_top.get_layer("conv_pw_13_relu").output)
    files = {}
    for name, model in (("mobilenet_2_5_224_tf.h5", reference_top), ("mobilenet_2_5_224_tf_no_top.h5", reference)):
        with h5py.File(weights_server.folder / name, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
        files[name] = hashlib.sha256((weights_server.folder / name).read_bytes()).hexdigest()
    base = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
    register_weights(
        "mobilenet",
        "keras:alpha_0.25",
        source="keras",
        url=base + "mobilenet_2_5_224_tf.h5",
        sha256=files["mobilenet_2_5_224_tf.h5"],
        notop_url=base + "mobilenet_2_5_224_tf_no_top.h5",
        notop_sha256=files["mobilenet_2_5_224_tf_no_top.h5"],
        hyperparameters={"alpha": 0.25},
        preprocessing={"name": "tf", "mean": [0.5] * 3, "std": [0.5] * 3, "channel_order": "RGB"},
    )
    monkeypatch.setenv("KERASCNN_WEIGHTS_MIRROR", weights_server.url)
    images = np.random.default_rng(2).normal(size=(2, 32, 32, 3)).astype("float32")
    # The feature extractor downloads the notop file only.
    features = build("mobilenet", (32, 32, 3), weights="keras:alpha_0.25", include_top=False)
    assert weights_server.requests == {"mobilenet_2_5_224_tf_no_top.h5": 1}
    assert features.output.shape == (None, 1, 1, 256)  # no pooling: the last feature map
    np.testing.assert_allclose(features(images), reference(images), atol=1e-4, rtol=1e-3)
    # A notop file into a whole model: the backbone loads, the classifier starts fresh and is reported.
    model = build(
        "mobilenet", (32, 32, 3), 5, alpha=0.25, weights=kerascnn_home / "weights" / "mobilenet_2_5_224_tf_no_top.h5"
    )
    assert model.load_report.reinitialized == ["logits (not in the file: a backbone-only file)"]
    # The whole file: the same logits as keras.applications'.
    model = build("mobilenet", (32, 32, 3), 1000, weights="keras:alpha_0.25")
    np.testing.assert_allclose(model(images), reference_top(images), atol=1e-4, rtol=1e-3)
    assert model.load_report.preprocessing["name"] == "tf"
