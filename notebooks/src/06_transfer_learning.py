# Source of notebooks/06_transfer_learning.ipynb (build it with: python notebooks/_build.py).

# %% [markdown]
# # 06 · Transfer learning: start from trained weights, freeze, fine-tune
#
# A network trained on many images has learned features (edges, strokes, textures) that are useful for
# other images too. **Transfer learning** (迁移学习) reuses them: load the trained weights, replace the
# head (the last layer, which names the old classes), train the new layers with the pretrained features
# **frozen**, then **fine-tune** everything at a lower learning rate. With few labelled images this beats
# training from scratch; with many, it stops paying. This lesson:
#
# 1. trains a *source* network on the digits 0-4;
# 2. loads its weights into a new model for the digits 5-9 and reads the load report (what came from
#    the file, what was re-initialized);
# 3. shows what freezing does, and why a frozen BatchNorm must run in **inference mode**;
# 4. fine-tunes on a handful of images per class against the same model trained from scratch, on three
#    seeds, then with more and more images per class: where does transfer stop paying?
# 5. looks at learning rates, and at weights from other frameworks (torchvision, keras.applications):
#    the same function only if the padding is the same.
#
# From the shell: `kerascnn fit mnist_cnn_wide --dataset digits-5-9/ --init-from runs/source --freeze flatten
# --val-split 0 --epochs 15 --fine-tune-epochs 15`.

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
# Two convolutions, then a wide Dense layer (500 units on 2,000 features at 28x28): wide enough to overfit a
# few images from scratch, which is where pretrained features pay.
MODEL = "mnist_cnn_wide"
INPUT = [16, 16] if SMALL else [28, 28]
SOURCE_EPOCHS = 2 if SMALL else 15
HEAD_EPOCHS, TUNE_EPOCHS = (2, 2) if SMALL else (15, 15)  # on 50 images an epoch costs next to nothing
PER_CLASS = 10  # labelled images per new class
SEEDS = (0,) if SMALL else (0, 1, 2)  # which images are drawn, and the initialization of what is new
MORE_PER_CLASS = () if SMALL else (30, 100)  # section 4's larger target sets
WORK = Path("runs")

# %% [markdown]
# ## 1. A source network on the digits 0-4
#
# The data are split by class: the source task sees only the digits 0-4 (all their training images),
# the target task only 5-9. Labels of the target are renumbered 0-4, with class names "5".."9". The source
# network trains with random translations (`augment=["translate"]`), so its convolutions learn strokes
# wherever they sit in the image.

# %%
full = load_dataset(DATASET)
low, low_test = full.y_train < 5, full.y_test < 5
source_data = RawDataset("digits-0-4", ["0", "1", "2", "3", "4"], full.x_train[low], full.y_train[low],
                         full.x_test[low_test], full.y_test[low_test])


def target_task(per_class: int, seed: int) -> RawDataset:
    """``per_class`` training images of each digit 5-9 (drawn with ``seed``); every other image of 5-9, from
    the training and the test part, is the test set: the more test images, the less luck in the comparison."""
    rng = np.random.default_rng(seed)
    pick = np.concatenate([rng.choice(np.flatnonzero(full.y_train == c), per_class, replace=False)
                           for c in range(5, 10)])
    rest = np.setdiff1d(np.flatnonzero(full.y_train >= 5), pick)
    x_test = np.concatenate([full.x_test[full.y_test >= 5], full.x_train[rest]])
    y_test = np.concatenate([full.y_test[full.y_test >= 5], full.y_train[rest]]) - 5
    return RawDataset(f"digits-5-9-{per_class}", ["5", "6", "7", "8", "9"], full.x_train[pick],
                      full.y_train[pick] - 5, x_test, y_test)


target_data = target_task(PER_CLASS, SEEDS[0])
print(f"source: {len(source_data.x_train)} training images of 0-4; target: {len(target_data.x_train)} of 5-9, "
      f"tested on {len(target_data.x_test)}")

source = kerascnn.fit(MODEL, source_data, epochs=SOURCE_EPOCHS, batch_size=32, lr=1e-3, optimizer="adam",
                      augment=["translate"], input_shape=INPUT, out=str(WORK / "06_source"), overwrite=True,
                      verbose=0)
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
# they were never trained on. `mnist_cnn_wide` has no BatchNorm; LeNet with BatchNorm (`lenet_bn`) has.
# Below, one batch is passed in training mode through a trainable and a frozen copy of the same BatchNorm
# layer.

# %%
model = build("lenet_bn", (*INPUT, 1), num_classes=5)
bn_name = next(layer.name for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
images = np.random.default_rng(1).normal(size=(32, *INPUT, 1)).astype("float32") * 3 + 1
for frozen in (False, True):
    layer = model.get_layer(bn_name)
    layer.trainable = not frozen
    mean_before = keras.ops.convert_to_numpy(layer.moving_mean)
    probe = keras.Model(model.inputs[0], layer.output)
    training_out = np.asarray(probe(images, training=True))
    inference_out = np.asarray(probe(images, training=False))
    moved = float(np.abs(keras.ops.convert_to_numpy(layer.moving_mean) - mean_before).max())
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
# * **phase 1** (`epochs`): the convolutions frozen (`freeze="flatten"`: every layer up to and including
#   `flatten`), the wide Dense layer and the new head trained at `lr`. Freezing everything but the head
#   (`freeze="backbone"`) would keep a Dense layer that learned to separate 0-4, not 5-9;
# * **phase 2** (`fine_tune_epochs`): everything unfrozen, a fresh optimizer at `fine_tune_lr` (by default
#   `lr / 10`): small steps, so the pretrained features are adjusted, not destroyed.
#
# The scratch model gets the same images, optimizer, learning rate and total number of epochs. With ten
# images per class every image trains (`val_split=0`): a validation part of two images per class would
# score 100% after an epoch or two and could not tell the epochs apart. So both models are tested after
# their last epoch (`last.keras`), on every image of 5-9 they did not train on. One draw of ten images
# can be lucky, so the comparison runs on several seeds.

# %%
common = dict(input_shape=INPUT, batch_size=8, val_split=0, optimizer="adam", lr=1e-3, verbose=0, overwrite=True)


def last_epoch_accuracy(run, data: RawDataset) -> float:
    return kerascnn.evaluate(run.path / "last.keras", dataset=data)["test_accuracy"]


def compare(per_class: int, seed: int):
    """(fine-tuned run, scratch run, their test accuracies) on ``per_class`` images of each of 5-9."""
    data = target_task(per_class, seed)
    tuned = kerascnn.fit(MODEL, data, init_from=str(source.path), freeze="flatten", epochs=HEAD_EPOCHS,
                         fine_tune_epochs=TUNE_EPOCHS, seed=seed, out=str(WORK / f"06_fine_tuned_{per_class}_{seed}"),
                         **common)
    scratch = kerascnn.fit(MODEL, data, epochs=HEAD_EPOCHS + TUNE_EPOCHS, seed=seed,
                           out=str(WORK / f"06_scratch_{per_class}_{seed}"), **common)
    return tuned, scratch, last_epoch_accuracy(tuned, data), last_epoch_accuracy(scratch, data)


results = {seed: compare(PER_CLASS, seed) for seed in SEEDS}
fine_tuned, scratch = results[SEEDS[0]][:2]
config = json.loads((fine_tuned.path / "config.json").read_text())
print("init_from recorded:", config["init_from"]["path"], config["init_from"]["sha256"][:16], "...")
print("phases:", [(p["number"], p["first_epoch"], p["end_epoch"], p["lr"], p["freeze"]) for p in config["phases"]])
print(f"test accuracy on 5-9 with {PER_CLASS} images per class ({len(target_data.x_test)} test images):")
for seed, (_, _, tuned_accuracy, scratch_accuracy) in results.items():
    print(f"  seed {seed}: fine-tuned {tuned_accuracy:.3f}, from scratch {scratch_accuracy:.3f}")
gains = [tuned_accuracy - scratch_accuracy for _, _, tuned_accuracy, scratch_accuracy in results.values()]
print(f"  gain from transfer: {np.mean(gains):+.3f} on average, {min(gains):+.3f} on the worst seed")
if not SMALL:
    assert min(gains) > 0, "fine-tuning must beat training from scratch on every seed"

# %% [markdown]
# **Where transfer stops paying.** The same comparison with more images per class (one seed each): the
# scratch model has more to learn from, the pretrained features less to add.

# %%
accuracy_by_size = {PER_CLASS: results[SEEDS[0]][2:]}  # (fine-tuned, scratch) on the first seed
for per_class in MORE_PER_CLASS:
    accuracy_by_size[per_class] = compare(per_class, SEEDS[0])[2:]
    tuned_accuracy, scratch_accuracy = accuracy_by_size[per_class]
    print(f"{per_class:3d} images per class: fine-tuned {tuned_accuracy:.3f}, from scratch {scratch_accuracy:.3f}, "
          f"gain {tuned_accuracy - scratch_accuracy:+.3f}")
if not SMALL:
    largest = max(accuracy_by_size)
    assert accuracy_by_size[largest][0] - accuracy_by_size[largest][1] < np.mean(gains), "the gain shrinks"

# %% tags=["plot"]
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8))
positions = np.arange(len(SEEDS))
for offset, index, label in ((-0.2, 2, "fine-tuned from 0-4"), (0.2, 3, "from scratch")):
    left.bar(positions + offset, [results[seed][index] for seed in SEEDS], width=0.4, label=label)
low_accuracy = min(min(r[2:]) for r in results.values())
left.set(xticks=positions, xticklabels=[f"seed {seed}" for seed in SEEDS], ylim=(low_accuracy - 0.03, 1),
         ylabel="test accuracy", title=f"digits 5-9, {PER_CLASS} images per class")
left.legend(loc="lower right")
sizes = sorted(accuracy_by_size)
for index, label in ((0, "fine-tuned from 0-4"), (1, "from scratch")):
    right.plot(sizes, [accuracy_by_size[n][index] for n in sizes], marker="o", label=label)
right.set(xscale="log", xlabel="training images per class", ylabel="test accuracy",
          title=f"more images per class (seed {SEEDS[0]})")
right.set_xticks(sizes, [str(n) for n in sizes])
right.legend(loc="lower right")
plt.show()

# %% [markdown]
# With ten images per class the fine-tuned model beats the one trained from scratch on every seed (left),
# though not by much: scikit-learn's digits are easy enough that fifty images teach even a randomly
# initialized network most of what it needs. With more images per class the two meet (right): the scratch
# model learns features of its own from the images it is given, and the pretrained ones stop paying. On
# the whole MNIST, with more varied handwriting, `benchmarks/transfer_mnist.py` measures the same protocol
# still winning at 100 images per class (`benchmarks/results/transfer_mnist.json`): the harder the task,
# the longer pretrained features pay.
#
# ## 5. Learning rates, and weights from other frameworks
#
# * The **new layers** start from random weights: they take a normal learning rate (here Adam's 1e-3).
# * **Fine-tuning** moves pretrained weights: a rate 10-100x lower keeps them near what they learned.
#   A large rate in phase 2 can erase the benefit: the first large steps through a freshly unfrozen
#   backbone undo what it learned.
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
# The two outputs differ: with "same" every window sits one pixel lower and further right (its first
# window sees 5x5 real pixels, PyTorch's 4x4; its last 4x4, PyTorch's 5x5). Weights trained with one rule
# and run with the other see every feature map shifted, layer after layer. Four stride-2 convolutions with
# the same random weights, padded both ways, show how far apart the outputs drift:

# %%
rng = np.random.default_rng(0)
image = rng.normal(size=(1, 64, 64, 3)).astype("float32")
x_same, x_symmetric = image, image
for depth in range(1, 5):
    conv = keras.layers.Conv2D(16, 3, strides=2, padding="valid", use_bias=False)
    conv.build(x_same.shape)
    conv.set_weights([rng.normal(scale=0.2, size=(3, 3, x_same.shape[-1], 16)).astype("float32")])
    same = keras.layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False)
    same.build(x_same.shape)
    same.set_weights(conv.get_weights())
    x_same = keras.ops.relu(same(x_same))
    x_symmetric = keras.ops.relu(conv(keras.layers.ZeroPadding2D(1)(x_symmetric)))
    error = float(np.linalg.norm(np.asarray(x_same) - np.asarray(x_symmetric))
                  / np.linalg.norm(np.asarray(x_symmetric)))
    print(f"after {depth} stride-2 convolutions ({tuple(x_same.shape[1:])}): relative difference {error:.2f}")
    assert error > 0.1

# %% [markdown]
# The difference is not a rounding error: it is a different function. kerascnn's tests build torchvision's
# modules with random weights, load them into every zoo model with a torchvision counterpart and compare
# the logits with PyTorch's.
#
# The **preprocessing travels with the weights**: torchvision's weights expect RGB in [0, 1] normalized with
# ImageNet's mean and std, keras.applications' VGG weights BGR minus the "caffe" mean. `kerascnn fit
# --init-from` records it in the run's `data_spec.json`, so evaluation, export, serving and prediction
# feed the network what it was trained on:

# %%
spec = json.loads((fine_tuned.path / "data_spec.json").read_text())
print({k: spec[k] for k in ("normalization", "mean", "std", "channel_order")})
