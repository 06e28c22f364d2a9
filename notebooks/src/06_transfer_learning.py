# Source of notebooks/06_transfer_learning.ipynb (build it with: python notebooks/_build.py).

# %% [markdown]
# # 06 · Transfer learning: start from trained weights, freeze, fine-tune
#
# A network trained on many images has learned features (edges, strokes, textures) that are useful for
# other images too. **Transfer learning** (迁移学习) reuses them: load the trained weights, replace the
# head (the last layer, which names the old classes), train the new head with the rest **frozen**, then
# **fine-tune** everything at a lower learning rate. With few labelled images this beats training from
# scratch. This lesson:
#
# 1. trains a *source* network on the digits 0-4;
# 2. loads its weights into a new model for the digits 5-9 and reads the load report (what came from
#    the file, what was re-initialized);
# 3. shows what freezing does, and why a frozen BatchNorm must run in **inference mode**;
# 4. fine-tunes on a handful of images per class against the same model trained from scratch;
# 5. looks at learning rates, and at weights from other frameworks (torchvision, keras.applications):
#    the same function only if the padding is the same.
#
# From the shell: `kerascnn fit lenet_bn --init-from runs/source --epochs 10 --fine-tune-epochs 10`.

# %%
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np

import kerascnn
from kerascnn.data import load_dataset
from kerascnn.data.datasets import RawDataset
from kerascnn.models import WeightsError, build, load_weights

SMALL = os.environ.get("KERASCNN_NOTEBOOK_SMALL") == "1"  # set by the tests: fewer epochs
DATASET = os.environ.get("KERASCNN_NOTEBOOK_DATASET", "digits")
MODEL = "lenet_bn"  # LeNet with BatchNorm: small, fast, and it has BatchNorm layers to freeze
INPUT = [16, 16] if SMALL else [28, 28]
SOURCE_EPOCHS = 4 if SMALL else 15
HEAD_EPOCHS, TUNE_EPOCHS = 15, 15  # on 40 images an epoch costs next to nothing
PER_CLASS = 10  # labelled images per new class
WORK = Path("runs")

# %% [markdown]
# ## 1. A source network on the digits 0-4
#
# The data are split by class: the source task sees only the digits 0-4 (all their training images),
# the target task only 5-9. Labels of the target are renumbered 0-4, with class names "5".."9".

# %%
full = load_dataset(DATASET)
low, low_test = full.y_train < 5, full.y_test < 5
source_data = RawDataset("digits-0-4", ["0", "1", "2", "3", "4"], full.x_train[low], full.y_train[low],
                         full.x_test[low_test], full.y_test[low_test])
rng = np.random.default_rng(0)
high = full.y_train >= 5
pick = np.concatenate([rng.choice(np.flatnonzero(full.y_train == c), PER_CLASS, replace=False) for c in range(5, 10)])
target_data = RawDataset("digits-5-9-few", ["5", "6", "7", "8", "9"], full.x_train[pick], full.y_train[pick] - 5,
                         full.x_test[full.y_test >= 5], full.y_test[full.y_test >= 5] - 5)
print(f"source: {len(source_data.x_train)} training images of 0-4; target: {len(target_data.x_train)} of 5-9, "
      f"tested on {len(target_data.x_test)}")

# Batches of 16: many steps per epoch, so BatchNorm's moving statistics (an average over steps) settle.
source = kerascnn.fit(MODEL, source_data, epochs=SOURCE_EPOCHS, batch_size=16, input_shape=INPUT,
                      out=str(WORK / "06_source"), overwrite=True, verbose=0)
print(f"source test accuracy on 0-4: {source.metrics['test_accuracy']:.3f}")

# %% [markdown]
# ## 2. Loading weights, and what the report says
#
# `kerascnn.models.load_weights(model, PATH)` (or `build(..., weights=PATH)`) reads a run directory, a
# `.keras` file, a torchvision state dict (`.safetensors`, `.pth`) or a keras.applications `.h5` file.
# Every tensor is matched **by name and shape** before anything is written. The head is special: its
# classes are the source's. Here both tasks have five classes, so the shapes match, but the classes
# differ: `new_head=True` leaves the head freshly initialized (`kerascnn fit` does this by itself when the
# source run's class names differ from the data's; a different class count is always re-initialized).

# %%
model = build(MODEL, (*INPUT, 1), num_classes=5)
report = load_weights(model, source.path, new_head=True)
print(report.summary())
print("loaded:", report.loaded)
print("re-initialized:", report.reinitialized)
assert "logits" not in report.loaded and report.reinitialized == ["logits (new classes)"]

# %% [markdown]
# A file for another architecture is refused in one line, and the model is left as it was (no half-loaded
# network that silently computes nonsense):

# %%
other = build("mnist_cnn", (28, 28, 1), num_classes=5)
before = [w.copy() for w in other.get_weights()]
try:
    load_weights(other, source.path)
except WeightsError as error:
    print("WeightsError:", error)
assert all(np.array_equal(a, b) for a, b in zip(before, other.get_weights()))

# %% [markdown]
# ## 3. Freezing, and BatchNorm in inference mode
#
# Freezing a layer (`layer.trainable = False`) removes its weights from what the optimizer updates. A
# BatchNorm layer also has *statistics* (moving mean and variance) that training updates without any
# gradient. Keras runs a frozen BatchNorm in **inference mode**: it normalizes with the stored statistics
# and does not update them, even inside `fit`. This matters: the batch statistics of a few new images
# would otherwise overwrite what was learned on many, and the frozen layers after it would see inputs
# they were never trained on. Below, one batch is passed in training mode through a trainable and a frozen
# copy of the same BatchNorm layer.

# %%
bn_name = next(layer.name for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
images = np.random.default_rng(1).normal(size=(32, *INPUT, 1)).astype("float32") * 3 + 1
for frozen in (False, True):
    layer = model.get_layer(bn_name)
    layer.trainable = not frozen
    mean_before = np.array(layer.moving_mean)
    probe = keras.Model(model.inputs[0], layer.output)
    training_out = np.asarray(probe(images, training=True))
    inference_out = np.asarray(probe(images, training=False))
    moved = float(np.abs(np.array(layer.moving_mean) - mean_before).max())
    same = np.allclose(training_out, inference_out, atol=1e-5)
    print(f"frozen={frozen!s:5}: moving mean moved by {moved:.4f}; training-mode output == inference output: {same}")
    if frozen:
        assert moved == 0.0 and same
layer.trainable = True

# %% [markdown]
# ## 4. Fine-tuning against training from scratch
#
# `kerascnn.fit(..., init_from=source_run)` does the two phases in one run directory:
#
# * **phase 1** (`epochs`): the backbone frozen (`freeze="backbone"`: everything but the head), the new
#   head trained at `lr`;
# * **phase 2** (`fine_tune_epochs`): everything unfrozen, a fresh optimizer at `fine_tune_lr` (by default
#   `lr / 10`): small steps, so the pretrained features are adjusted, not destroyed.
#
# The scratch model gets the same images, optimizer and total number of epochs.

# %%
common = dict(input_shape=INPUT, batch_size=8, val_split=0.2, optimizer="adam", verbose=0, overwrite=True)
fine_tuned = kerascnn.fit(MODEL, target_data, init_from=str(source.path), freeze="backbone", epochs=HEAD_EPOCHS,
                          lr=1e-2, fine_tune_epochs=TUNE_EPOCHS, fine_tune_lr=1e-3, out=str(WORK / "06_fine_tuned"),
                          **common)
scratch = kerascnn.fit(MODEL, target_data, epochs=HEAD_EPOCHS + TUNE_EPOCHS, lr=1e-2, out=str(WORK / "06_scratch"),
                       **common)
config = json.loads((fine_tuned.path / "config.json").read_text())
print("init_from recorded:", config["init_from"]["path"], config["init_from"]["sha256"][:16], "...")
print("phases:", [(p["number"], p["first_epoch"], p["end_epoch"], p["lr"], p["freeze"]) for p in config["phases"]])
print(f"test accuracy on 5-9 with {PER_CLASS} images per class: fine-tuned {fine_tuned.metrics['test_accuracy']:.3f}, "
      f"from scratch {scratch.metrics['test_accuracy']:.3f}")
if not SMALL:
    assert fine_tuned.metrics["test_accuracy"] > scratch.metrics["test_accuracy"]

# %% tags=["plot"]
import csv


def history(run):
    with open(run.path / "history.csv") as f:
        return list(csv.DictReader(f))


fig, ax = plt.subplots(figsize=(7, 3.5))
for run, label in ((fine_tuned, "fine-tuned from 0-4"), (scratch, "from scratch")):
    rows = history(run)
    ax.plot([int(r["epoch"]) + 1 for r in rows], [float(r["val_accuracy"]) for r in rows], marker="o", label=label)
ax.axvline(HEAD_EPOCHS + 0.5, color="gray", linestyle="--")
ax.text(HEAD_EPOCHS + 0.6, 0.05, "unfreeze, lr / 10", color="gray")
ax.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1), title=f"digits 5-9, {PER_CLASS} images per class")
ax.legend()
plt.show()

# %% [markdown]
# The fine-tuned model starts far above chance: the frozen features already separate the new digits, and
# only a 5-way linear head had to be learned. On the whole MNIST (30,596 images of 0-4 for the source,
# 20 and 100 images per class of 5-9), `benchmarks/transfer_mnist.py` measures the same effect over 3 seeds
# (see the README's "Transfer learning" table): the gain shrinks as the target set grows, and it lasts at
# 100 images per class only with a network big enough to overfit them from scratch (`mnist_cnn_wide`,
# not the 21k-parameter `mnist_cnn`).
#
# ## 5. Learning rates, and weights from other frameworks
#
# * The **new head** starts from random weights: it can take a normal learning rate (here 1e-2).
# * **Fine-tuning** moves pretrained weights: a rate 10-100x lower keeps them near what they learned.
#   A large rate in phase 2 erases the benefit (the loss spikes when the backbone is unfrozen).
# * Unfreezing **before** the head is trained sends the large gradients of a random head into the
#   backbone: that is why the phases come in this order.
#
# Weights trained in PyTorch (torchvision's ResNets, VGGs, AlexNet, GoogLeNet) load the same way, from
# `.safetensors` or `.pth` files. They give the *same* function only if every layer computes the same
# thing, padding included: Keras' `padding="same"` puts the odd pixel of padding after the input, PyTorch
# pads symmetrically. kerascnn's ResNets therefore pad explicitly, as keras.applications does:

# %%
resnet = build("resnet18", (224, 224, 3), num_classes=10)
for name in ("conv1_pad", "conv1_conv", "pool1_pad", "pool1_pool"):
    layer = resnet.get_layer(name)
    print(f"{name:11s} {type(layer).__name__:14s} -> {tuple(layer.output.shape[1:])}", getattr(layer, "padding", ""))

# The difference on a 7x7 stride-2 convolution of an 8x8 image of ones with a kernel of ones: each output
# counts the real (not padded) pixels under its window.
x = np.ones((1, 8, 8, 1), "float32")
kernel = np.ones((7, 7, 1, 1), "float32")
same = keras.layers.Conv2D(1, 7, strides=2, padding="same", use_bias=False)
same.build(x.shape)
same.set_weights([kernel])
symmetric = keras.Sequential([keras.layers.ZeroPadding2D(3), keras.layers.Conv2D(1, 7, strides=2, use_bias=False)])
symmetric.build(x.shape)
symmetric.layers[1].set_weights([kernel])
same_out, symmetric_out = np.asarray(same(x))[0, :, :, 0], np.asarray(symmetric(x))[0, :, :, 0]
print("'same' (pads 2 before, 3 after):\n", same_out)
print("symmetric (3 and 3, as PyTorch):\n", symmetric_out)
assert same_out[0, 0] == 25 and symmetric_out[0, 0] == 16  # 5x5 vs 4x4 real pixels in the first window

# %% [markdown]
# The two outputs differ: "same" shifts every window one pixel up and left (its first window sees 5x5 real
# pixels, PyTorch's 4x4; its last 4x4, PyTorch's 5x5). Weights trained with one rule and run with
# the other see every feature map shifted, layer after layer (torchvision's ResNet-18 with "same"
# padding: 6-12% error on the logits; with symmetric padding: below 1e-6, which `pytest tests/pretrained`
# checks for every model with a torchvision counterpart).
#
# The **preprocessing travels with the weights**: torchvision's weights expect RGB in [0, 1] normalized with
# ImageNet's mean and std, keras.applications' VGG weights BGR minus the "caffe" mean. `kerascnn fit
# --init-from` records it in the run's `data_spec.json`, so evaluation, export, serving and prediction
# feed the network what it was trained on:

# %%
spec = json.loads((fine_tuned.path / "data_spec.json").read_text())
print({k: spec[k] for k in ("normalization", "mean", "std", "channel_order")})
