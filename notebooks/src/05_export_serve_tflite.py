# Source of notebooks/05_export_serve_tflite.ipynb (build it with: python notebooks/_build.py).

# %% [markdown]
# # 05 · Exporting, serving, and running a `.tflite`
#
# A trained model is only useful once something can call it. This lesson takes a LeNet from a run
# directory to the two places models go:
#
# 1. a **SavedModel** in TF Serving's layout, loadable by plain TensorFlow with no kerascnn installed;
# 2. **TFLite** files for phones and small devices — float32, float16, dynamic-range and full-integer
#    (int8) quantization — with their parity with the Keras model measured on the test set;
# 3. running a `.tflite` with LiteRT, through kerascnn's predictor and by hand, and timing it;
# 4. **on a device**: the `.tflite` loaded unchanged by MediaPipe Tasks' `ImageClassifier`, the runtime
#    Android, iOS, web and Python apps share, which reads the class names from the file itself;
# 5. **serving** the SavedModel over TF Serving's REST API with `kerascnn serve`, and calling it like any
#    TF Serving client would; then publishing a new version without restarting the server.
#
# Every export takes **raw `uint8` pixels**: the resize and normalization of lesson 02 are inside the
# exported graph, so a client never has to know the training statistics.

# %%
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import atexit
import base64
import io
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from PIL import Image

import kerascnn
from kerascnn.data import load_dataset, preprocess
from kerascnn.export import ParityError, export, format_table
from kerascnn.inference import benchmark, load_predictor, top_k
from kerascnn.runs import load_trained

SMALL = os.environ.get("KERASCNN_NOTEBOOK_SMALL") == "1"  # set by the tests: fewer epochs
DATASET = os.environ.get("KERASCNN_NOTEBOOK_DATASET", "digits")
EPOCHS = 4 if SMALL else 20
WORK = Path("runs")
MODELS = WORK / "05_models"

# %% [markdown]
# ## 1. A trained model
#
# A LeNet with ReLU and max pooling (it trains faster than the sigmoid original), as in lesson 02. The run
# directory holds `best.keras` and `data_spec.json`: all that an export needs.

# %%
run = kerascnn.fit(
    "lenet", DATASET, hparams={"activation": "relu", "pooling": "max"}, epochs=EPOCHS,
    out=str(WORK / "05_lenet"), overwrite=True, verbose=0,
)
raw = load_dataset(DATASET)  # raw uint8 images: what clients will send
print(f"test accuracy {run.metrics['test_accuracy']:.4f}; raw images {raw.image_shape}, model input {run.spec.input_shape}")

# %% [markdown]
# ## 2. SavedModel, in TF Serving's layout
#
# TF Serving watches a *model base path* holding numbered **versions**: `lenet/1/`, `lenet/2/`, ... and
# serves the highest. `kerascnn.export` (the `kerascnn export` command) writes the next version, first
# under a temporary name and then renamed, so a watching server never sees half a model. Given the test
# images, it also measures **parity**: how often the export and the Keras model predict the same class,
# and the largest difference between their probabilities. An export that misses its bound is not written.

# %%
saved = export(run.path, MODELS / "lenet", format="saved_model", test_images=raw.x_test, test_labels=raw.y_test)
print("wrote", saved.path)
for path in sorted(saved.path.rglob("*")):
    print("  ", path.relative_to(saved.path.parent))
print(format_table({"saved_model": saved.parity}))

# %% [markdown]
# Deployment needs TensorFlow only: `tf.saved_model.load` gives the signatures, and `serving_default` takes
# a batch of raw `uint8` images and returns `probabilities` (softmax) and `classes`. A second signature,
# `serving_bytes`, takes encoded PNG or JPEG files.

# %%
loaded = tf.saved_model.load(str(saved.path))
print("signatures:", list(loaded.signatures))
serving_default = loaded.signatures["serving_default"]
print("inputs:", serving_default.structured_input_signature[1])
outputs = serving_default(images=tf.constant(raw.x_test[:8]))
print("classes:", outputs["classes"].numpy(), " true labels:", raw.y_test[:8])

keras_model, spec = load_trained(run.path)
keras_classes = keras_model.predict(preprocess(raw.x_test, spec), verbose=0).argmax(axis=1)
saved_classes = serving_default(images=tf.constant(raw.x_test))["classes"].numpy()
assert (keras_classes == saved_classes).mean() >= 0.999

# %% [markdown]
# ## 3. TFLite: four sizes of the same model
#
# * `none`: float32 weights, the same numbers as the Keras model;
# * `float16`: weights stored in half precision (half the size), computed in float32;
# * `dynamic`: weights in int8, activations quantized on the fly;
# * `int8`: everything in 8-bit integers, input included; a few hundred **calibration** images from the
#   training part tell the converter the range of every activation. The smallest and, on most phones'
#   accelerators, the fastest.
#
# Each export is checked against its bound (float: 99.9% agreement; quantized: 99% and at most 0.5 points
# of accuracy lost; int8 at most 30% of the float32 size).

# %%
reports = {"saved_model": saved.parity}
tflite_files = {}
for quantize in ("none", "float16", "dynamic", "int8"):
    target = MODELS / f"lenet_{quantize}.tflite"
    try:
        result = export(
            run.path, target, format="tflite", quantize=quantize, overwrite=True,
            calibration_images=raw.x_train, test_images=raw.x_test, test_labels=raw.y_test,
        )
    except ParityError as error:  # the export is refused and nothing is written: say why
        print(f"{quantize}: {error}")
        continue
    reports[f"tflite {quantize}"] = result.parity
    tflite_files[quantize] = result.path
print(format_table(reports))
assert "none" in tflite_files and "float16" in tflite_files

# %% tags=["plot"]
names = list(tflite_files)
sizes_kb = [tflite_files[q].stat().st_size / 1024 for q in names]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
axes[0].bar(names, sizes_kb, color="tab:blue")
axes[0].set_ylabel("file size (KB)")
axes[0].set_title(".tflite size by quantization")
axes[1].bar(names, [reports[f"tflite {q}"]["max_abs_prob_diff"] for q in names], color="tab:orange")
axes[1].set_yscale("log")
axes[1].set_ylabel("max |p_tflite - p_keras|")
axes[1].set_title("largest probability difference on the test set")
plt.show()

# %% [markdown]
# Beside every `.tflite` file is a `.json` with the input it expects and the parity report. The digits are
# grayscale, but cameras and image decoders give RGB: the graph takes **RGB frames** and converts them to
# gray inside, with the same luma weights the training pipeline uses (`--gray-input` keeps the 1-channel
# input instead).

# %%
smallest = tflite_files.get("int8", tflite_files["none"])
print(json.dumps(json.loads(smallest.with_suffix(".json").read_text())["input"], indent=1))

# %% [markdown]
# ## 4. Running a `.tflite` with LiteRT
#
# `kerascnn.inference.load_predictor` opens a `.tflite` file (or a SavedModel, or a run directory) and
# returns class probabilities for raw images; `top_k` names the classes. This is what `kerascnn predict
# MODEL IMAGE...` prints.

# %%
predictor = load_predictor(smallest)
print(predictor.description)
probabilities = predictor.predict(raw.x_test[:12])
for row, label in zip(top_k(probabilities, predictor.class_names, k=2)[:4], raw.y_test[:4]):
    print(f"true {label}:", ", ".join(f"{name} {p:.2f}" for name, p in row))

# %% tags=["plot"]
fig, axes = plt.subplots(1, 12, figsize=(14, 1.8))
for ax, image, p, label in zip(axes, raw.x_test[:12], probabilities, raw.y_test[:12]):
    ax.imshow(image[:, :, 0], cmap="gray_r")
    guess = int(p.argmax())
    ax.set_title(f"{guess} ({p.max():.0%})", color="green" if guess == label else "red", fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# Underneath is LiteRT's `Interpreter` (the successor of `tf.lite.Interpreter`, which TensorFlow is
# removing): allocate tensors, copy the input in, `invoke`, copy the output out. An int8 model's output is
# quantized: `real = scale * (q - zero_point)`.

# %%
from ai_edge_litert.interpreter import Interpreter

interpreter = Interpreter(model_path=str(smallest))
interpreter.allocate_tensors()
inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
print("input:", inp["dtype"].__name__, inp["shape"], "· output:", out["dtype"].__name__, out["shape"])
frames = np.repeat(raw.x_test[:4], 3, axis=-1)  # gray digits as RGB frames: three equal channels
interpreter.resize_tensor_input(inp["index"], frames.shape)
interpreter.allocate_tensors()
interpreter.set_tensor(inp["index"], frames)
interpreter.invoke()
q = interpreter.get_tensor(out["index"]).astype("float32")
scale, zero_point = out["quantization"]
by_hand = scale * (q - zero_point) if scale else q
np.testing.assert_allclose(by_hand, probabilities[:4], atol=1e-6)
print("by hand == predictor:", by_hand.argmax(axis=1))

# %% [markdown]
# How fast? One image at a time, as an app would call it (`kerascnn predict --benchmark N` does the same):

# %%
timings = {}
for quantize, path in tflite_files.items():
    timings[f"tflite {quantize}"] = benchmark(load_predictor(path), raw.x_test[0], runs=200 if SMALL else 2000)
timings["keras (model call)"] = benchmark(load_predictor(run.path), raw.x_test[0], runs=10 if SMALL else 50)
print(f"{'':20s} {'p50 µs':>10s} {'p99 µs':>10s} {'images/s':>10s}")
for name, t in timings.items():
    print(f"{name:20s} {t['p50_us']:10.0f} {t['p99_us']:10.0f} {t['images_per_second']:10.0f}")

# %% [markdown]
# ## 5. On a device: MediaPipe's `ImageClassifier`
#
# On a phone, the model is loaded by an app runtime, not by kerascnn. MediaPipe Tasks' `ImageClassifier`
# is the standard one for image classification (the same API on Android, iOS, the web and Python:
# `pip install mediapipe`). It needs to know what the model takes and what its outputs mean, and reads
# that from the **TFLite model metadata** every kerascnn `.tflite` carries: name, description, version,
# author, license, the input's color space, and the class names as a label file packed inside.

# %%
from kerascnn.export import read_metadata

metadata = read_metadata(tflite_files["none"].read_bytes())
for field in ("name", "description", "version", "author", "license", "color_space"):
    print(f"{field:12s} {metadata[field]}")
print("labels      ", metadata["class_names"])

# %% [markdown]
# The file goes to MediaPipe as it is. An app hands it camera frames; here, the test digits as RGB images.
# The categories come back **named**, with their scores:

# %%
import mediapipe as mp
from mediapipe.tasks.python import BaseOptions, vision

on_device = {}
for quantize in ("none", "int8"):
    if quantize not in tflite_files:
        continue
    options = vision.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_path=str(tflite_files[quantize])), max_results=3)
    with vision.ImageClassifier.create_from_options(options) as classifier:
        results = [
            classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB,
                                         data=np.ascontiguousarray(np.repeat(image, 3, axis=-1))))
            for image in raw.x_test[:100]
        ]
    on_device[quantize] = [r.classifications[0].categories for r in results]
for categories, label in zip(on_device["none"][:4], raw.y_test[:4]):
    print(f"true {label}:", ", ".join(f"{c.category_name} {c.score:.2f}" for c in categories))

# %% [markdown]
# Does the app see what `kerascnn predict` sees? Same file, same kernels: the top-1 classes agree.

# %%
for quantize, categories in on_device.items():
    expected = load_predictor(tflite_files[quantize]).predict(raw.x_test[:100]).argmax(axis=1)
    names = [c[0].category_name for c in categories]
    agreement = np.mean([name == str(e) for name, e in zip(names, expected)])
    print(f"tflite {quantize}: MediaPipe agrees with kerascnn predict on {agreement:.0%} of {len(names)} images")
    assert agreement >= 0.99

# %% [markdown]
# Other runtimes take ONNX (ONNX Runtime, OpenVINO, TensorRT, Windows ML): `kerascnn export RUN --format
# onnx` writes `models/NAME.onnx`, checked the same way on ONNX Runtime (`pip install 'kerascnn[onnx]'`).
#
# ## 6. Serving over REST with `kerascnn serve`
#
# `kerascnn serve MODEL_BASE_PATH` answers TF Serving's REST API, so a client written for TF Serving works
# unchanged, and the same folder works in the real TF Serving (`docker run -p 8501:8501 -v
# $PWD/runs/05_models/lenet:/models/lenet -e MODEL_NAME=lenet tensorflow/serving`). We start it as a
# separate process, as you would from a shell, on a free port:

# %%
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
log = open(WORK / "05_server.log", "w")
server = subprocess.Popen(
    [sys.executable, "-m", "kerascnn.cli.main", "serve", str(MODELS / "lenet"), "--port", str(port),
     "--grpc-port", "0", "--poll-seconds", "0.5"],  # gRPC on any free port: 8500 may be taken
    stdout=log, stderr=subprocess.STDOUT,
)
atexit.register(server.terminate)  # never leave a server behind, even if a cell below fails
url = f"http://127.0.0.1:{port}/v1/models/lenet"


def get(address):
    with urllib.request.urlopen(address, timeout=10) as response:
        return json.load(response)


def post(address, body):
    """POST JSON; returns (HTTP status, decoded JSON answer), for errors too."""
    request = urllib.request.Request(address, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


for _ in range(240):  # loading TensorFlow and the model takes a few seconds
    try:
        status = get(url)
        break
    except (urllib.error.URLError, ConnectionError):
        assert server.poll() is None, (WORK / "05_server.log").read_text()
        time.sleep(0.5)
print(json.dumps(status))

# %% [markdown]
# **Row format** (`instances`): a list with one entry per image; the answer has one `predictions` entry per
# image. In a shell: `curl -d '{"instances": [...]}' http://127.0.0.1:8501/v1/models/lenet:predict`.

# %%
code, answer = post(url + ":predict", {"instances": raw.x_test[:3].tolist()})
print(code, [p["classes"] for p in answer["predictions"]], "true:", raw.y_test[:3])
assert code == 200 and [p["classes"] for p in answer["predictions"]] == saved_classes[:3].tolist()

# %% [markdown]
# **Columnar format** (`inputs`): one tensor for the whole batch; the answer has `outputs`, one tensor per
# output name. And **encoded images**: a PNG sent as `{"b64": ...}` to the `serving_bytes` signature.

# %%
code, answer = post(url + ":predict", {"inputs": raw.x_test[:3].tolist()})
print(code, "classes", answer["outputs"]["classes"], "· probabilities", np.array(answer["outputs"]["probabilities"]).shape)

png = io.BytesIO()
Image.fromarray(raw.x_test[0][:, :, 0]).save(png, format="PNG")
code, answer = post(url + ":predict", {
    "signature_name": "serving_bytes",
    "instances": [{"b64": base64.b64encode(png.getvalue()).decode()}],
})
print(code, "PNG ->", answer["predictions"][0]["classes"])
assert code == 200 and answer["predictions"][0]["classes"] == int(saved_classes[0])

# %% [markdown]
# Mistakes get TF Serving's errors: a JSON `{"error": ...}` with a 4xx status, and the server stays up.

# %%
for address, body in (
    (url + ":predict", {"instances": [[1, 2, 3]]}),
    (f"http://127.0.0.1:{port}/v1/models/resnet:predict", {"instances": raw.x_test[:1].tolist()}),
):
    code, answer = post(address, body)
    print(code, answer["error"])
    assert 400 <= code < 500

# %% [markdown]
# **A new version without a restart**: export again into the same base path. The server notices version 2,
# loads it, and from then on serves it; requests never see a half-written model.

# %%
second = export(run.path, MODELS / "lenet", format="saved_model", test_images=raw.x_test, test_labels=raw.y_test)
print("exported", second.path)
for _ in range(240):
    versions = {v["version"]: v["state"] for v in get(url)["model_version_status"]}
    if versions.get("2") == "AVAILABLE":
        break
    time.sleep(0.5)
print("versions:", versions)
code, answer = post(url + "/versions/2:predict", {"instances": raw.x_test[:1].tolist()})
print(code, "version 2 predicts", answer["predictions"][0]["classes"])
assert versions.get("2") == "AVAILABLE" and code == 200

# %%
server.terminate()  # SIGTERM: stop accepting, finish requests in flight, exit
print("server exit code:", server.wait(timeout=60))
log.close()
print("last lines of its access log:")
print("".join((WORK / "05_server.log").read_text().splitlines(keepends=True)[-6:]))

# %% [markdown]
# ## Summary
#
# * `kerascnn export RUN --format saved_model --out models/NAME` writes the next version of a TF Serving
#   model base path; the graph takes raw `uint8` pixels and returns probabilities and classes.
# * `--format tflite --quantize none|float16|dynamic|int8` trades size for exactness; the parity report
#   says by how much, and an export that misses its bound is refused.
# * `kerascnn predict MODEL IMAGE...` runs any of them; `.tflite` files run on LiteRT in microseconds.
# * Every `.tflite` carries its metadata and class names: MediaPipe's `ImageClassifier` loads it unchanged
#   and names what it sees; a grayscale model takes RGB frames. `--format onnx` is for ONNX runtimes.
# * `kerascnn serve models/NAME` speaks TF Serving's REST API: the same clients, the same folders.
