# Source of notebooks/02_lenet_end_to_end.ipynb (build it with: python notebooks/_build.py).

# %% [markdown]
# # 02 · LeNet end to end
#
# LeNet-5 (LeCun et al., 1998) read handwritten digits on bank cheques. This lesson trains it three ways,
# from the most explicit to the most automatic, on the same data:
#
# 1. the data: train, validation and test parts, and the normalization statistics;
# 2. a training loop written out with `tf.GradientTape`: batch, forward, loss, gradient, update, epoch;
# 3. the same training with Keras' `model.fit`;
# 4. the same with `kerascnn.fit`, which also writes a run directory (checkpoints, history, plots);
# 5. saving the whole model versus the weights only, and loading both back.
#
# The data are scikit-learn's bundled handwritten digits (1,797 real 8 x 8 images), so everything runs
# offline in a couple of minutes. To use MNIST instead, set `DATASET` below to `"mnist"` (downloaded by
# TensorFlow Datasets) or to a folder of MNIST's `.gz` files; nothing else changes.

# %%
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import re
import time
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from IPython.display import Image, display

import kerascnn
from kerascnn.data import build_dataset, load_dataset, make_spec, preprocess, split_validation

SMALL = os.environ.get("KERASCNN_NOTEBOOK_SMALL") == "1"  # set by the tests: fewer epochs
DATASET = os.environ.get("KERASCNN_NOTEBOOK_DATASET", "digits")
EPOCHS = 4 if SMALL else 15
WORK = Path("runs")  # everything this notebook writes goes here
keras.utils.set_random_seed(0)

# %% [markdown]
# ## 1. The data
#
# `load_dataset` returns raw `uint8` images `(N, h, w, c)` and integer labels, already split into a
# **training part** and a **test part**. The test part is never looked at during training or model
# selection: it estimates how the model does on images it has never seen. From the training part we
# hold out a **validation** part (10%, fixed seed) to watch training and to pick the best epoch.

# %%
raw = load_dataset(DATASET)
parts = split_validation(raw, val_split=0.1)
print(f"dataset {raw.name!r}: {raw.num_classes} classes {raw.class_names}, raw images {raw.image_shape} {raw.x_train.dtype}")
for part in ("train", "val", "test"):
    x, y = getattr(parts, f"x_{part}"), getattr(parts, f"y_{part}")
    print(f"  {part:5s} {x.shape}  labels per class: {np.bincount(y, minlength=raw.num_classes)}")
assert len(parts.x_train) + len(parts.x_val) == len(raw.x_train)

# %% tags=["plot"]
fig, axes = plt.subplots(2, 10, figsize=(12, 2.8))
for ax, image, label in zip(axes.flat, parts.x_train, parts.y_train):
    ax.imshow(image[:, :, 0], cmap="gray_r")
    ax.set_title(raw.class_names[label])
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 2. Normalization statistics
#
# Networks train better on inputs centred on 0 with unit spread. The mean and standard deviation come
# from the **training part only** (using the test part would leak information about it); the same two
# numbers are then applied to validation, test, and every image the deployed model will ever see. For
# MNIST they are the famous 0.1307 and 0.3081.
#
# kerascnn keeps them in a `DataSpec`, together with the model's input size: `preprocess(images, spec)`
# scales to [0, 1], resizes to the model's input (LeNet takes 28 x 28) and normalizes. The same function
# runs in the training pipeline, in evaluation, inside exported models, and in `kerascnn predict`.

# %%
x01 = parts.x_train.astype("float64") / 255.0
mean, std = x01.mean(), x01.std()
spec = make_spec(raw, (28, 28, 1), parts.x_train)
print(f"by hand: mean {mean:.4f}, std {std:.4f}   DataSpec: mean {spec.mean[0]:.4f}, std {spec.std[0]:.4f}")
np.testing.assert_allclose([spec.mean[0], spec.std[0]], [mean, std], rtol=1e-6)

x_train = preprocess(parts.x_train, spec).numpy()
print("preprocessed training images:", x_train.shape, x_train.dtype,
      f"mean {x_train.mean():+.3f}, std {x_train.std():.3f}")
assert abs(x_train.mean()) < 0.05  # centred; the std is a little under 1 because upsampling smooths

# %% [markdown]
# The `tf.data` pipeline feeds the model: preprocessed images, shuffled every epoch (training only),
# batched, prefetched while the model computes.

# %%
BATCH = 32


def make_train_ds():
    """The training pipeline; the same seed gives every way of training below the same batches."""
    return build_dataset(parts.x_train, parts.y_train, spec, batch_size=BATCH, training=True, seed=0)


train_ds = make_train_ds()
val_ds = build_dataset(parts.x_val, parts.y_val, spec, batch_size=256, training=False)
test_ds = build_dataset(parts.x_test, parts.y_test, spec, batch_size=256, training=False)
images, labels = next(iter(train_ds))
print("one batch:", images.shape, images.dtype, labels.shape, labels.dtype, "·", len(train_ds), "batches per epoch")

# %% [markdown]
# ## 3. The model
#
# The textbook's LeNet: two `5 x 5` convolutions with sigmoid activations and average pooling, then three
# dense layers. It outputs **logits** (no softmax): the loss applies the softmax itself, which is
# numerically safer.

# %%
def new_lenet():
    keras.utils.set_random_seed(0)  # the same initial weights for every way of training below
    return kerascnn.build("lenet", input_shape=spec.input_shape, num_classes=raw.num_classes)


new_lenet().summary()

# %% [markdown]
# ## 4. A training loop, written out
#
# One **step**: take a batch, run the model forward, compute the loss, let `tf.GradientTape` compute the
# gradient of the loss with respect to every weight, and let the optimizer update the weights. One
# **epoch**: one step per batch, until every training image was seen once; then measure on the
# validation part. `tf.function` compiles the step into a graph, which is much faster than running it
# op by op. (Adam at 0.003: plain SGD needs many more epochs to get the sigmoid LeNet off its starting
# plateau, and much larger learning rates can leave it stuck there.)

# %%
model = new_lenet()
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
LEARNING_RATE = 0.003
optimizer = keras.optimizers.Adam(learning_rate=LEARNING_RATE)
train_loss = keras.metrics.Mean()
train_accuracy = keras.metrics.SparseCategoricalAccuracy()
val_accuracy = keras.metrics.SparseCategoricalAccuracy()


@tf.function
def train_step(images, labels):
    with tf.GradientTape() as tape:
        logits = model(images, training=True)  # forward
        loss = loss_fn(labels, logits)  # mean cross-entropy of the batch
    gradients = tape.gradient(loss, model.trainable_variables)  # backward
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))  # update
    train_loss.update_state(loss)
    train_accuracy.update_state(labels, logits)


@tf.function
def val_step(images, labels):
    val_accuracy.update_state(labels, model(images, training=False))


loop_history = {"loss": [], "accuracy": [], "val_accuracy": []}
train_ds = make_train_ds()
start = time.perf_counter()
for epoch in range(EPOCHS):
    for metric in (train_loss, train_accuracy, val_accuracy):
        metric.reset_state()
    for images, labels in train_ds:  # one epoch = one pass over the (reshuffled) training part
        train_step(images, labels)
    for images, labels in val_ds:
        val_step(images, labels)
    for key, metric in (("loss", train_loss), ("accuracy", train_accuracy), ("val_accuracy", val_accuracy)):
        loop_history[key].append(float(metric.result()))
    print(f"epoch {epoch + 1:2d}: loss {loop_history['loss'][-1]:.4f}, accuracy {loop_history['accuracy'][-1]:.3f}, "
          f"validation accuracy {loop_history['val_accuracy'][-1]:.3f}")
print(f"{time.perf_counter() - start:.1f} s")
loop_model = model

# %% [markdown]
# ## 5. The same with `model.fit`
#
# `compile` names the optimizer, the loss and the metrics; `fit` runs exactly the loop above (plus
# progress, callbacks, distribution). `jit_compile=False`: XLA compilation is slower than plain TensorFlow
# for these small models on a CPU.

# %%
fit_model = new_lenet()
fit_model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
    jit_compile=False,
)
start = time.perf_counter()
fit_history = fit_model.fit(make_train_ds(), validation_data=val_ds, epochs=EPOCHS, verbose=2).history
print(f"{time.perf_counter() - start:.1f} s")

# %% tags=["plot"]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
epochs_axis = range(1, EPOCHS + 1)
axes[0].plot(epochs_axis, loop_history["loss"], "o-", label="GradientTape loop")
axes[0].plot(epochs_axis, fit_history["loss"], "s--", label="model.fit")
axes[0].set_title("training loss")
axes[1].plot(epochs_axis, loop_history["val_accuracy"], "o-", label="GradientTape loop")
axes[1].plot(epochs_axis, fit_history["val_accuracy"], "s--", label="model.fit")
axes[1].set_title("validation accuracy")
for ax in axes:
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    ax.legend()
plt.show()

# %% [markdown]
# Only now, once, the test part: the number to report. (The two started from the same weights and saw the
# same batches; `fit` only adds bookkeeping, so they end close.)

# %%
loop_model.compile(loss=loss_fn, metrics=["accuracy"], jit_compile=False)
for name, m in (("GradientTape loop", loop_model), ("model.fit", fit_model)):
    result = m.evaluate(test_ds, verbose=0, return_dict=True)
    print(f"{name:18s} test accuracy {result['accuracy']:.3f}")
    assert result["accuracy"] > 0.5  # far above the 10% of guessing

# %% [markdown]
# ## 6. `kerascnn.fit`: the same, plus everything around it
#
# `kerascnn.fit` (the library call behind `kerascnn fit lenet`) loads the data, computes the statistics,
# builds the pipeline and the model, trains under a `tf.distribute` strategy (all GPUs when there are
# some), keeps the checkpoint with the best validation accuracy, evaluates it on the test part and
# writes everything into a **run directory**. Killed half-way, the same call resumes from the last
# finished epoch. The settings are those of the loop above (without them, kerascnn uses its per-model
# defaults: `kerascnn.training.get_training_defaults("lenet")`).

# %%
result = kerascnn.fit(
    "lenet", DATASET, epochs=EPOCHS, batch_size=BATCH, optimizer="adam", lr=LEARNING_RATE,
    out=str(WORK / "02_lenet"), overwrite=True, verbose=2,
)
print("\nrun directory:", result.path)
for path in sorted(result.path.iterdir()):
    print(f"  {path.name:22s} {'(folder)' if path.is_dir() else f'{path.stat().st_size:,} bytes'}")
print({k: result.metrics[k] for k in ("test_accuracy", "test_loss", "epochs", "images_per_second")})

# %% tags=["plot"]
display(Image(filename=str(result.path / "learning_curves.png"), width=700))
display(Image(filename=str(result.path / "confusion_matrix.png"), width=450))

# %% [markdown]
# `kerascnn.evaluate` measures a run again on its test part (or on another dataset with the same
# classes), from the files alone:

# %%
evaluation = kerascnn.evaluate(result.path)
print(f"test accuracy {evaluation['test_accuracy']:.4f} on {evaluation['test_images']} images")
print("per class:", evaluation["per_class_accuracy"])
assert abs(evaluation["test_accuracy"] - result.metrics["test_accuracy"]) < 1e-6

# %% [markdown]
# ## 7. Saving and loading: the whole model, or the weights only
#
# * **The whole model** (`model.save("x.keras")`): architecture, weights, and the optimizer state in one
#   file. `keras.saving.load_model` needs nothing else — no Python code that built it.
# * **Weights only** (`model.save_weights("x.weights.h5")`): just the numbers. To load them you must first
#   build the very same architecture in code, then `load_weights`.

# %%
save_dir = WORK / "02_saved"
save_dir.mkdir(parents=True, exist_ok=True)
fit_model.save(save_dir / "lenet.keras")
fit_model.save_weights(save_dir / "lenet.weights.h5")
for path in sorted(save_dir.iterdir()):
    print(f"{path.name:20s} {path.stat().st_size:,} bytes")

probe = preprocess(parts.x_test, spec).numpy()
expected = fit_model.predict(probe, verbose=0)

whole = keras.saving.load_model(save_dir / "lenet.keras")  # no builder code needed
np.testing.assert_allclose(whole.predict(probe, verbose=0), expected, rtol=1e-5, atol=1e-5)

rebuilt = new_lenet()  # weights only: build the same architecture first...
rebuilt.load_weights(save_dir / "lenet.weights.h5")  # ...then fill in the numbers
np.testing.assert_allclose(rebuilt.predict(probe, verbose=0), expected, rtol=1e-5, atol=1e-5)
print("both reloaded models predict exactly what the trained model predicts")

# %% [markdown]
# A weights file does not know which architecture it belongs to. Load it into a LeNet with ReLU instead of
# sigmoid: every weight has the right shape, so it loads without complaint — and computes something else.
# This is why kerascnn's run directories store whole models (`best.keras`, `last.keras`) and the
# `DataSpec` next to them.

# %%
wrong = kerascnn.build("lenet", input_shape=spec.input_shape, num_classes=raw.num_classes, activation="relu")
wrong.load_weights(save_dir / "lenet.weights.h5")  # no error...
wrong_probabilities = wrong.predict(probe, verbose=0)
agree = (wrong_probabilities.argmax(1) == expected.argmax(1)).mean()
print(f"the ReLU LeNet with the sigmoid LeNet's weights agrees with it on {agree:.0%} of the test images")
assert not np.allclose(wrong_probabilities, expected, atol=1e-3)  # ...but other numbers

# Only when a shape differs does loading fail:
try:
    kerascnn.build("lenet", input_shape=spec.input_shape, num_classes=raw.num_classes, kernel_sizes=(3, 3)).load_weights(
        save_dir / "lenet.weights.h5")
except ValueError as error:
    mismatch = re.search(r"variable\.shape=\([^)]*\), Received: value\.shape=\([^)]*\)", str(error))
    print("3x3 kernels -> ValueError:", mismatch.group(0) if mismatch else str(error)[:200])

from kerascnn.runs import load_trained

model, run_spec = load_trained(result.path)  # best.keras + data_spec.json
print("loaded from the run:", model.name, "· expects", run_spec.input_shape, "· normalizes with", run_spec.mean, run_spec.std)

# %% [markdown]
# ## Summary
#
# * Statistics come from the training part; the test part is touched once, at the end.
# * A training step is forward, loss, gradient, update; `model.fit` is that loop, `kerascnn.fit` adds data,
#   distribution, checkpoints, resumption, evaluation and plots around it.
# * Save whole models to reload them anywhere; weights-only files need the exact same code to rebuild.
#
# From the shell, all of section 6 is `kerascnn fit lenet` and `kerascnn evaluate runs/lenet`.
# Next: `03_modern_networks.ipynb`.
