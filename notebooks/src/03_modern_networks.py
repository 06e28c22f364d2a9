# Source of notebooks/03_modern_networks.ipynb (build it with: python notebooks/_build.py).

# %% [markdown]
# # 03 · Modern convolutional networks, block by block
#
# From LeNet (1998) to ResNet (2015) the ingredients changed more than the idea. This lesson builds each
# classic network from kerascnn's model zoo and looks at what it added:
#
# | Network | What it brought | Section |
# |---|---|---|
# | AlexNet (2012) | ReLU, dropout, data augmentation, depth and width | 3 |
# | VGG (2014) | repeated blocks of 3x3 convolutions | 4 |
# | NiN (2013) | 1x1 convolutions as per-pixel MLPs, global average pooling instead of dense layers | 5 |
# | GoogLeNet (2014) | the Inception block: parallel paths of different kernel sizes | 6 |
# | BatchNorm (2015) | normalized activations, much faster training | 7 |
# | ResNet (2015) | residual connections: blocks that can be the identity | 8 |
# | ResNeXt, MobileNet (2017) | grouped and depthwise convolutions: the same layer for a fraction of the cost | 9 |
# | RegNet (2020) | designing design spaces: sample networks, compare error distributions, keep simple rules | 10 |
#
# For each, we print the output shape after every block the way *Dive into Deep Learning* (d2l.ai,
# chapter 8) does, and check the textbook's numbers. First, the activation functions and losses these
# networks use (sections 1 and 2). Everything runs on a laptop CPU.

# %%
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from keras import layers
from sklearn.datasets import load_digits, load_sample_image

import kerascnn
from kerascnn.models.googlenet import inception_block
from kerascnn.models.nin import nin_block
from kerascnn.models.resnet import basic_block
from kerascnn.models.vgg import vgg_block

SMALL = os.environ.get("KERASCNN_NOTEBOOK_SMALL") == "1"  # set by the tests: fewer epochs
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
print("models in the zoo:", ", ".join(kerascnn.list_models()))

# %% [markdown]
# ## 1. Activation functions
#
# Without a nonlinearity between them, stacked layers collapse into one linear map. LeNet used the
# **sigmoid**; AlexNet switched to the **ReLU**, `max(0, x)`. The plot shows why: the sigmoid's gradient
# is at most 0.25 and vanishes for large `|x|`, so multiplying many of them through a deep network
# starves the first layers of gradient; the ReLU's gradient is exactly 1 for every positive input.

# %%
x = tf.linspace(-6.0, 6.0, 241)
activations = {"relu": keras.activations.relu, "sigmoid": keras.activations.sigmoid, "tanh": keras.activations.tanh}
values, gradients = {}, {}
for name, fn in activations.items():
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    values[name], gradients[name] = y.numpy(), tape.gradient(y, x).numpy()

assert np.isclose(gradients["sigmoid"].max(), 0.25, atol=1e-3)  # sigmoid'(0) = 1/4
assert np.isclose(gradients["tanh"].max(), 1.0, atol=1e-3)  # tanh'(0) = 1
assert set(np.unique(gradients["relu"][x.numpy() != 0])) == {0.0, 1.0}

# %% tags=["plot"]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
for name in activations:
    axes[0].plot(x, values[name], label=name)
    axes[1].plot(x, gradients[name], label=name)
axes[0].set_title("activation")
axes[1].set_title("its gradient")
for ax in axes:
    ax.grid(alpha=0.3)
    ax.legend()
plt.show()

# %% [markdown]
# The **softmax** turns a vector of logits into probabilities: `exp(o_i) / sum_j exp(o_j)`. It is
# unchanged when the same constant is added to all logits (that is how it is computed stably). All zoo
# models output logits; the losses apply the softmax inside (`from_logits=True`), and exported models
# add it at the end.

# %%
logits = np.array([2.0, 1.0, 0.1, -1.0], dtype="float32")
probabilities = keras.ops.convert_to_numpy(keras.activations.softmax(logits[None]))[0]
from_scratch = np.exp(logits) / np.exp(logits).sum()
np.testing.assert_allclose(probabilities, from_scratch, rtol=1e-6)
np.testing.assert_allclose(keras.activations.softmax((logits + 100)[None])[0], probabilities, rtol=1e-5)
assert np.isclose(probabilities.sum(), 1.0)
print("logits", logits, "-> probabilities", probabilities.round(3))

# %% tags=["plot"]
temperatures = (0.5, 1.0, 2.0, 5.0)
plt.figure(figsize=(6, 3.5))
width = 0.2
for i, t in enumerate(temperatures):
    p = keras.ops.convert_to_numpy(keras.activations.softmax((logits / t)[None]))[0]
    plt.bar(np.arange(4) + (i - 1.5) * width, p, width, label=f"softmax(logits / {t})")
plt.xticks(range(4), [f"class {i}\nlogit {v}" for i, v in enumerate(logits)])
plt.ylabel("probability")
plt.legend()
plt.show()

# %% [markdown]
# ## 2. Losses: L1, L2 and smooth L1
#
# For a residual `r = prediction - target`: **L1** `|r|` (constant gradient, robust to outliers),
# **L2** `r^2 / 2` (gradient proportional to the error, sensitive to outliers), and **smooth L1**, which is
# L2 near zero and L1 beyond `|r| = 1` (Fast R-CNN's box regression loss; Keras calls it `Huber` with
# `delta=1`). Note that Keras' `MeanSquaredError` has no `1/2`. Classification uses the cross-entropy of
# the softmax, as in every zoo model.

# %%
def l1(r):
    return np.abs(r)


def l2(r):
    return 0.5 * r**2


def smooth_l1(r, beta=1.0):
    return np.where(np.abs(r) < beta, 0.5 * r**2 / beta, np.abs(r) - 0.5 * beta)


y_true = rng.normal(size=(64, 1)).astype("float32")
y_pred = (y_true + rng.normal(scale=2.0, size=(64, 1))).astype("float32")
r = y_pred - y_true
checks = {
    "L1": (keras.losses.MeanAbsoluteError()(y_true, y_pred), l1(r).mean()),
    "L2": (keras.losses.MeanSquaredError()(y_true, y_pred), 2 * l2(r).mean()),  # Keras: no 1/2
    "smooth L1": (keras.losses.Huber(delta=1.0)(y_true, y_pred), smooth_l1(r).mean()),
}
for name, (keras_value, ours) in checks.items():
    print(f"{name:10s} Keras {float(keras_value):.5f}   from scratch {ours:.5f}")
    np.testing.assert_allclose(float(keras_value), ours, rtol=1e-5)

# %% tags=["plot"]
r = np.linspace(-3, 3, 301)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
for name, fn in (("L1  |r|", l1), ("L2  r²/2", l2), ("smooth L1", smooth_l1)):
    axes[0].plot(r, fn(r), label=name)
    axes[1].plot(r[1:], np.diff(fn(r)) / np.diff(r), label=name)
axes[0].set_title("loss")
axes[1].set_title("gradient")
for ax in axes:
    ax.set_xlabel("residual r = prediction - target")
    ax.grid(alpha=0.3)
    ax.legend()
plt.show()

# %% [markdown]
# ## Printing the shape after each block
#
# d2l feeds one random image through a network and prints each block's output shape. With Keras'
# functional models we can do the same for any set of layers: make a model whose outputs are those
# layers' outputs, and run it once.

# %%
def print_block_shapes(model, names=None):
    """Run one random image through ``model`` and print the output shape after each named layer."""
    names = names or [layer.name for layer in model.layers[1:]]
    probe = keras.Model(model.inputs, [model.get_layer(name).output for name in names])
    image = rng.normal(size=(1, *model.input_shape[1:])).astype("float32")
    shapes = {}
    for name, out in zip(names, probe(image)):
        layer = model.get_layer(name)
        shapes[name] = tuple(out.shape)
        print(f"{type(layer).__name__:22s} {name:22s} output shape: {shapes[name]}")
    print(f"{model.name}: {model.count_params():,} parameters")
    return shapes


# %% [markdown]
# ## 3. AlexNet: deeper, wider, ReLU, dropout, augmentation
#
# Five convolutions (the first `11 x 11` with stride 4), three max poolings, two 4096-unit dense layers.
# d2l trains it on Fashion-MNIST upsampled to `224 x 224`, one channel:

# %%
alexnet = kerascnn.build("alexnet", input_shape=(224, 224, 1), num_classes=10)
shapes = print_block_shapes(alexnet)
assert shapes["conv1"] == (1, 54, 54, 96)
assert shapes["pool3"] == (1, 5, 5, 256) and shapes["flatten"] == (1, 6400)
assert alexnet.count_params() == 46_764_746

# %% [markdown]
# Most of those 46.8 million parameters sit in the dense layers (`6400 x 4096` and `4096 x 4096`). To keep
# them from memorizing the training set, AlexNet uses **dropout**: during training each unit is zeroed
# with probability `p`, and the survivors are scaled by `1 / (1 - p)` so the expected value is unchanged.
# At inference dropout does nothing.

# %%
dropout = layers.Dropout(0.5, seed=0)
ones = np.ones((1, 100_000), dtype="float32")
train_out = keras.ops.convert_to_numpy(dropout(ones, training=True))
infer_out = keras.ops.convert_to_numpy(dropout(ones, training=False))
print("training: zeroed", (train_out == 0).mean().round(3), "· survivors =", np.unique(train_out[train_out > 0]),
      "· mean", train_out.mean().round(3))
assert abs((train_out == 0).mean() - 0.5) < 0.01 and abs(train_out.mean() - 1.0) < 0.02
assert np.array_equal(infer_out, ones)  # inference: the identity

# %% [markdown]
# **Data augmentation** makes every epoch show the network slightly different images: flipped, shifted,
# rotated, zoomed, with other contrast. Keras' preprocessing layers do it on the fly (they are only
# active in training). `kerascnn fit NAME --augment ...` adds such layers to the input pipeline.

# %%
augment = keras.Sequential(
    [
        layers.RandomFlip("horizontal"),
        layers.RandomTranslation(0.1, 0.1),
        layers.RandomRotation(0.05),
        layers.RandomZoom(0.15),
        layers.RandomContrast(0.4),
    ],
    name="augmentation",
)
photo = tf.image.resize(load_sample_image("china.jpg")[None], (160, 240)).numpy() / 255.0
augmented = [keras.ops.convert_to_numpy(augment(photo, training=True))[0] for _ in range(7)]

# %% tags=["plot"]
fig, axes = plt.subplots(2, 4, figsize=(14, 5))
for ax, image, title in zip(axes.flat, [photo[0], *augmented], ["original"] + [f"augmented {i}" for i in range(1, 8)]):
    ax.imshow(np.clip(image, 0, 1))
    ax.set_title(title)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 4. VGG: networks made of blocks
#
# A VGG block is a few `3 x 3` "same" convolutions (the size is kept) followed by a `2 x 2` max pool (the
# size is halved). Two stacked `3 x 3` convolutions see a `5 x 5` window (lesson 01) with fewer parameters
# than one `5 x 5`: `2 * 9 c^2` against `25 c^2`. Networks are then specified as lists of blocks:
# VGG-11 is `((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))`.

# %%
inputs = keras.Input((224, 224, 64))
block = keras.Model(inputs, vgg_block(inputs, num_convs=2, filters=128, name="demo"))
print("vgg_block(2 convs, 128 filters):", inputs.shape, "->", block.output.shape)

# d2l trains VGG-11 with 4x fewer channels in every block on a CPU-sized budget:
vgg11 = kerascnn.build("vgg11", input_shape=(224, 224, 1), num_classes=10, width_divisor=4)
shapes = print_block_shapes(vgg11, [f"block{i}_pool" for i in range(1, 6)] + ["flatten", "fc1", "fc2", "logits"])
assert [shapes[f"block{i}_pool"][1] for i in range(1, 6)] == [112, 56, 28, 14, 7]
assert shapes["flatten"] == (1, 7 * 7 * 512 // 4)

# %% [markdown]
# ## 5. NiN: 1x1 convolutions and global average pooling
#
# A NiN block follows its convolution with two `1 x 1` convolutions: a small MLP applied at every pixel
# (lesson 01 showed a 1x1 convolution *is* a dense layer per pixel). The last block has one channel per
# class, and **global average pooling** turns each class map into one logit: no dense layer at all.

# %%
inputs = keras.Input((54, 54, 96))
block = keras.Model(inputs, nin_block(inputs, 256, 5, name="demo"))
print("nin_block(256, 5x5):", [(layer.name, tuple(layer.output.shape[1:])) for layer in block.layers[1:]])

maps = rng.normal(size=(2, 5, 5, 10)).astype("float32")
np.testing.assert_allclose(layers.GlobalAveragePooling2D()(maps), maps.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
print("global average pooling == the mean over H and W: checked")

nin = kerascnn.build("nin", input_shape=(224, 224, 1), num_classes=10)
names = [n for i in (1, 2, 3) for n in (f"block{i}_mlp2", f"block{i}_pool")] + ["classes_mlp2", "logits"]
shapes = print_block_shapes(nin, names)
assert shapes["block3_pool"] == (1, 5, 5, 384) and shapes["classes_mlp2"] == (1, 5, 5, 10)
assert shapes["logits"] == (1, 10)
print(f"NiN has {alexnet.count_params() / nin.count_params():.0f}x fewer parameters than AlexNet")

# %% [markdown]
# ## 6. GoogLeNet: the Inception block
#
# Which kernel size is best? Inception does not choose: four parallel paths — `1 x 1`; `1 x 1` then
# `3 x 3`; `1 x 1` then `5 x 5`; `3 x 3` max pool then `1 x 1` — all "same"-padded, concatenated on the
# channel axis. The `1 x 1` convolutions in front *reduce* the channels first, which keeps the `3 x 3`
# and `5 x 5` paths cheap. Block 3a maps `28 x 28 x 192` to `28 x 28 x (64 + 128 + 32 + 32) = 256`:

# %%
inputs = keras.Input((28, 28, 192))
block = keras.Model(inputs, inception_block(inputs, 64, (96, 128), (16, 32), 32, name="inception3a"))
for name in ("inception3a_1x1", "inception3a_3x3", "inception3a_5x5", "inception3a_pool_proj", "inception3a_concat"):
    print(f"{name:24s} {tuple(block.get_layer(name).output.shape)}")
assert block.output.shape[-1] == 256

direct = layers.Conv2D(256, 5, padding="same")
direct.build((None, 28, 28, 192))
print(f"Inception 3a: {block.count_params():,} parameters; one 5x5 conv to 256 channels: {direct.count_params():,}")

googlenet = kerascnn.build("googlenet", input_shape=(96, 96, 1), num_classes=10)
names = ["pool1", "pool2", "inception3b_concat", "pool3", "inception4e_concat", "pool4", "inception5b_concat",
         "avg_pool", "logits"]
shapes = print_block_shapes(googlenet, names)
assert shapes["pool2"] == (1, 12, 12, 192) and shapes["pool3"] == (1, 6, 6, 480)
assert shapes["pool4"] == (1, 3, 3, 832) and shapes["avg_pool"] == (1, 1024)

# %% [markdown]
# ## 7. Batch normalization
#
# During training, batch normalization standardizes every channel with the mean and variance of the
# current batch (over N, H and W), then rescales with a learned `gamma` and shift `beta`:
# `y = gamma * (x - mean) / sqrt(var + eps) + beta`. It also keeps a moving average of the batch
# statistics, which it uses at inference instead. From scratch against `layers.BatchNormalization`:

# %%
x = rng.normal(loc=3.0, scale=2.0, size=(8, 5, 5, 4)).astype("float32")
bn = layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
bn.build(x.shape)
gamma = rng.uniform(0.5, 2.0, size=4).astype("float32")
beta = rng.normal(size=4).astype("float32")
bn.gamma.assign(gamma)
bn.beta.assign(beta)

mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))  # one statistic per channel
ours = gamma * (x - mean) / np.sqrt(var + 1e-5) + beta
keras_train = keras.ops.convert_to_numpy(bn(x, training=True))
np.testing.assert_allclose(keras_train, ours, rtol=1e-4, atol=1e-4)

# The moving statistics moved 10% of the way from their start (mean 0, variance 1) to the batch's:
np.testing.assert_allclose(bn.moving_mean.numpy(), 0.9 * 0 + 0.1 * mean, rtol=1e-5, atol=1e-6)
np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 * 1 + 0.1 * var, rtol=1e-3)
keras_infer = keras.ops.convert_to_numpy(bn(x, training=False))
ours_infer = gamma * (x - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + 1e-5) + beta
np.testing.assert_allclose(keras_infer, ours_infer, rtol=1e-4, atol=1e-4)
print("training-mode output per channel: mean", keras_train.mean(axis=(0, 1, 2)).round(3), "(= beta)", beta.round(3))

# %% [markdown]
# Why bother? The textbook's experiment: the sigmoid LeNet and the same LeNet with batch normalization
# after every convolution and hidden dense layer (`lenet_bn` in the zoo), trained identically with plain
# SGD. Here on scikit-learn's real handwritten digits (1,797 images, upsampled to 28 x 28):

# %%
digits = load_digits()
images = tf.image.resize(digits.images[..., None].astype("float32") / 16.0, (28, 28)).numpy()
labels = digits.target
split = int(0.8 * len(images))
x_train, y_train, x_val, y_val = images[:split], labels[:split], images[split:], labels[split:]
epochs = 5 if SMALL else 15

histories = {}
for name, lr in (("lenet", 0.9), ("lenet_bn", 0.9)):
    keras.utils.set_random_seed(0)
    model = kerascnn.build(name, input_shape=(28, 28, 1), num_classes=10)
    model.compile(
        optimizer=keras.optimizers.SGD(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=False,  # XLA is slower than plain TensorFlow on small CPU models
    )
    history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=16, verbose=0)
    histories[name] = history.history
    print(f"{name:9s} lr {lr}: validation accuracy after each epoch",
          np.round(history.history["val_accuracy"], 2))
# The sigmoid LeNet is still guessing (10%) when the normalized one already reads most digits:
assert histories["lenet_bn"]["val_accuracy"][-1] > histories["lenet"]["val_accuracy"][-1] + 0.2

# %% tags=["plot"]
plt.figure(figsize=(6, 3.5))
for name, h in histories.items():
    plt.plot(range(1, epochs + 1), h["val_accuracy"], "o-", label=name)
plt.xlabel("epoch")
plt.ylabel("validation accuracy")
plt.title("same network, same SGD: with and without batch norm")
plt.legend()
plt.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## 8. ResNet: the residual block
#
# A residual block computes `relu(x + F(x))`: its layers `F` only learn the *difference* from the
# identity. If the identity is what is best, `F` just needs zero weights — deeper networks can then never
# be worse than shallower ones, which made 100+ layer networks trainable. When the block changes the
# shape (stride 2, more channels), the shortcut is a strided `1 x 1` convolution.

# %%
inputs = keras.Input((24, 24, 64))
same_shape = keras.Model(inputs, basic_block(inputs, 64, name="res_a"))
downsample = keras.Model(inputs, basic_block(inputs, 128, strides=2, name="res_b"))
print("basic_block(64):            ", inputs.shape, "->", same_shape.output.shape, "(identity shortcut)")
print("basic_block(128, strides=2):", inputs.shape, "->", downsample.output.shape,
      "(shortcut:", [layer.name for layer in downsample.layers if layer.name.startswith("res_b_0")], ")")

# Zero the last BatchNorm of the branch (gamma = beta = 0): F(x) = 0 and the block is relu(x).
bn_last = same_shape.get_layer("res_a_2_bn")
bn_last.gamma.assign(np.zeros(64, "float32"))
bn_last.beta.assign(np.zeros(64, "float32"))
x = rng.normal(size=(2, 24, 24, 64)).astype("float32")
np.testing.assert_allclose(same_shape(x, training=False), np.maximum(x, 0), atol=1e-6)
print("with the branch at zero the residual block computes relu(x): checked")

resnet18 = kerascnn.build("resnet18", input_shape=(96, 96, 1), num_classes=10)
names = ["pool1_pool"] + [f"conv{s}_block2_out" for s in (2, 3, 4, 5)] + ["avg_pool", "logits"]
shapes = print_block_shapes(resnet18, names)
assert [shapes[n][1] for n in names[:5]] == [24, 24, 12, 6, 3]
assert shapes["conv5_block2_out"] == (1, 3, 3, 512)

# %% [markdown]
# ## 9. Group convolution: ResNeXt and MobileNet
#
# A `3 x 3` convolution from `c_in` to `c_out` channels connects every output channel to every input
# channel: `9 * c_in * c_out` weights. A **grouped** convolution (`Conv2D(groups=g)`, AlexNet's two-GPU
# split made a design choice by ResNeXt) cuts the channels into `g` groups and convolves each group
# separately: every output sees only `c_in / g` inputs, so weights and multiply-adds fall to `1/g`. At
# `g = c_in` each channel is filtered alone: a **depthwise** convolution. We measure it with
# `kerascnn.summary` on one 64 -> 64 layer at 56x56.

# %%
from kerascnn.summary import summarize

print(f"{'groups':>7s} {'weights':>8s} {'multiply-adds':>14s}")
group_counts, group_params, group_macs = [1, 2, 4, 8, 16, 32, 64], [], []
for g in group_counts:
    inputs = keras.Input((56, 56, 64))
    conv = (layers.DepthwiseConv2D(3, padding="same", use_bias=False) if g == 64 else
            layers.Conv2D(64, 3, padding="same", groups=g, use_bias=False))
    row = summarize(keras.Model(inputs, conv(inputs))).layers[-1]
    group_params.append(row.params)
    group_macs.append(row.macs)
    print(f"{g:7d} {row.params:8,d} {row.macs:14,d}" + ("   (depthwise)" if g == 64 else ""))
assert [group_params[0] // p for p in group_params] == group_counts  # exactly 1/g

# %% tags=["plot"]
plt.figure(figsize=(5, 3.5))
plt.loglog(group_counts, group_macs, "o-", base=2)
plt.xlabel("groups (64 = depthwise)")
plt.ylabel("multiply-adds per image")
plt.title("3x3 conv, 64 -> 64 channels at 56x56")
plt.grid(alpha=0.3, which="both")
plt.show()

# %% [markdown]
# **The channel-shuffle problem.** Stack two grouped convolutions and information never crosses groups:
# output group 0 depends on input group 0 only, as if the network were `g` thin networks side by side.
# ResNeXt avoids it by putting its grouped `3 x 3` between two ordinary `1 x 1` convolutions (a
# bottleneck), MobileNet follows every depthwise conv by a `1 x 1` "pointwise" one, and ShuffleNet
# permutes the channels between grouped layers. We change one input channel and see which outputs move.

# %%
inputs = keras.Input((8, 8, 16))
stacked = layers.Conv2D(16, 3, padding="same", groups=4)(layers.Conv2D(16, 3, padding="same", groups=4)(inputs))
two_grouped = keras.Model(inputs, stacked)


def shuffle(x, groups=4):  # (..., groups * n) -> (..., n * groups): channel i of every group side by side
    h, w, c = x.shape[1:]
    return layers.Reshape((h, w, c))(layers.Permute((1, 2, 4, 3))(layers.Reshape((h, w, groups, c // groups))(x)))


shuffled = layers.Conv2D(16, 3, padding="same", groups=4)(shuffle(layers.Conv2D(16, 3, padding="same", groups=4)(inputs)))
with_shuffle = keras.Model(inputs, shuffled)
x = rng.normal(size=(1, 8, 8, 16)).astype("float32")
x_changed = x.copy()
x_changed[..., 0] += 1.0  # a channel of group 0
for name, model in [("two grouped convs", two_grouped), ("with a channel shuffle between", with_shuffle)]:
    moved = np.abs(np.asarray(model(x_changed)) - np.asarray(model(x))).max(axis=(0, 1, 2)) > 1e-6
    print(f"{name:32s} output groups that changed: {sorted({int(i) // 4 for i in np.flatnonzero(moved)})}")

# %% [markdown]
# **Why a depthwise-separable block costs about 1/8 of a 3x3 conv.** Per output pixel a full `3 x 3`
# conv costs `9 * c_in * c_out` multiply-adds; MobileNet's depthwise `3 x 3` (`9 * c_in`) plus pointwise
# `1 x 1` (`c_in * c_out`) costs `9 c_in + c_in c_out`, a ratio of `1/c_out + 1/9`: 0.115 for 256
# channels, about 1/8.7. Measured on MobileNet's block 4 (128 -> 256 channels at 28x28):

# %%
mobilenet = summarize(kerascnn.build("mobilenet", input_shape=(224, 224, 3), num_classes=1000))
separable = mobilenet.layer("conv_dw_4").macs + mobilenet.layer("conv_pw_4").macs
h, w, c_out = mobilenet.layer("conv_pw_4").output_shape
c_in = mobilenet.layer("conv_dw_4").output_shape[-1]
full = h * w * c_out * 9 * c_in
print(f"depthwise {mobilenet.layer('conv_dw_4').macs:,} + pointwise {mobilenet.layer('conv_pw_4').macs:,} "
      f"= {separable:,} multiply-adds; a full 3x3 conv: {full:,}; ratio {separable / full:.3f} "
      f"(1/c_out + 1/9 = {1 / c_out + 1 / 9:.3f})")
assert abs(separable / full - (1 / c_out + 1 / 9)) < 1e-9
print(f"MobileNet v1 in all: {mobilenet.total_macs / 1e6:.0f}M multiply-adds, {mobilenet.total_params:,} parameters")

# %% [markdown]
# ## 10. RegNet: designing the design space
#
# The networks so far were designed one at a time. Radosavovic et al. (2020; d2l.ai 8.8) instead study a
# whole **design space**, AnyNet: a stem, stages of ResNeXt bottleneck blocks, a head, where each stage
# has its own depth `d_i` and width `w_i`, and the network a group width `g` and a bottleneck ratio `b`.
# They sample many networks from the space, train each briefly, and compare spaces by the *distribution*
# of the errors (the empirical distribution function, EDF: which fraction of sampled networks reach an
# error below x) rather than by one network. Constraining the space, e.g. widths that grow from stage to
# stage, turned out to make good networks *more likely*, not less. We repeat the experiment at the scale
# that runs here: two-stage AnyNets (`kerascnn.build("regnet_d2l", depths=..., widths=...)`) on the
# digits, half of them with growing widths, half with shrinking ones.

# %%
design_rng = np.random.default_rng(1)
samples_per_space = 3 if SMALL else 6
design_epochs = 1 if SMALL else 3


def sample_anynet(growing):
    widths = sorted(design_rng.choice([16, 32, 48, 64], size=2, replace=False))
    return {"depths": tuple(int(d) for d in design_rng.integers(1, 4, size=2)),
            "widths": tuple(int(w) for w in (widths if growing else widths[::-1])),
            "group_width": 8, "bottleneck_ratio": float(design_rng.choice([1.0, 0.5])), "stem_filters": 16}


design_errors = {"widths grow (w1 < w2)": [], "widths shrink (w1 > w2)": []}
for space, errors in design_errors.items():
    for _ in range(samples_per_space):
        hp = sample_anynet(growing=space.startswith("widths grow"))
        keras.utils.set_random_seed(0)
        anynet = kerascnn.build("regnet_d2l", input_shape=(28, 28, 1), num_classes=10, **hp)
        anynet.compile(optimizer=keras.optimizers.Adam(3e-3), metrics=["accuracy"], jit_compile=False,
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        anynet.fit(x_train, y_train, epochs=design_epochs, batch_size=32, verbose=0)
        error = 1 - anynet.evaluate(x_val, y_val, verbose=0)[1]
        errors.append(error)
        print(f"{space:24s} depths {hp['depths']}, widths {hp['widths']}, b {hp['bottleneck_ratio']}: "
              f"{anynet.count_params():7,d} parameters, validation error {error:.3f}")
assert all(0.0 <= e <= 1.0 for errors in design_errors.values() for e in errors)

# %% tags=["plot"]
plt.figure(figsize=(5.5, 3.5))
for space, errors in design_errors.items():
    sorted_errors = np.sort(errors)
    plt.step(sorted_errors, np.arange(1, len(errors) + 1) / len(errors), where="post", label=space)
plt.xlabel("validation error")
plt.ylabel("fraction of sampled networks")
plt.title(f"EDF of {samples_per_space} AnyNets per space, {design_epochs} epoch(s) each")
plt.legend()
plt.grid(alpha=0.3)
plt.show()

# %% [markdown]
# What the paper found on ImageNet, over hundreds of networks per space: good networks share one
# bottleneck ratio and group width across stages, and have widths and depths that grow. Its final rule
# makes the widths *linear* in the block index, `u_j = w_0 + w_a * j`, then snaps them to a geometric
# ladder `w_0 * w_m^k` and to multiples of 8, so that consecutive blocks of one width form a stage: four
# numbers (depth, `w_0`, `w_a`, `w_m`) describe a whole network. That is how torchvision's RegNetX and
# RegNetY (RegNetX plus squeeze-and-excitation) sizes are defined; `kerascnn.models.regnet` computes them:

# %%
from kerascnn.models.regnet import PUBLISHED_DESIGNS, published_design

depth, w_0, w_a, w_m, group_width, _ = PUBLISHED_DESIGNS["regnet_x_400mf"]
linear = w_0 + w_a * np.arange(depth)
quantized = np.round(w_0 * w_m ** np.round(np.log(linear / w_0) / np.log(w_m)) / 8) * 8
for name in ("regnet_x_400mf", "regnet_x_800mf", "regnet_y_400mf", "regnet_y_1_6gf"):
    design = published_design(name)
    print(f"{name:15s} depths {design['depths']}, widths {design['widths']}, group width {design['group_width']}, "
          f"SE {design['se_ratio']}")
assert published_design("regnet_x_400mf")["depths"] == (1, 2, 7, 12)

# %% tags=["plot"]
plt.figure(figsize=(5.5, 3.5))
plt.plot(linear, "--", label="linear widths u_j = w_0 + w_a j")
plt.step(np.arange(depth), quantized, where="mid", label="quantized (stages)")
plt.xlabel("block j")
plt.ylabel("width (channels)")
plt.title("RegNetX-400MF: d=22, w_0=24, w_a=24.48, w_m=2.54")
plt.legend()
plt.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## The networks side by side
#
# Parameters, multiply-adds per image and the receptive field of the last convolutional stage, at the
# textbook's input sizes (one channel, ten classes), from `kerascnn.summary.summarize_model` (the
# `kerascnn summary NAME` command). NiN, GoogLeNet and ResNet end in global average pooling instead of big
# dense layers: they are several times smaller than AlexNet (the parameters column), and yet were more
# accurate on ImageNet.

# %%
from kerascnn.summary import summarize_model

table = [  # (name, model, input size, hyperparameters)
    ("LeNet", "lenet", 28, {}), ("AlexNet", "alexnet", 224, {}), ("VGG-11 (channels / 4)", "vgg11", 224, {"width_divisor": 4}),
    ("NiN", "nin", 224, {}), ("GoogLeNet", "googlenet", 96, {}), ("ResNet-18", "resnet18", 96, {}),
    ("DenseNet (d2l)", "densenet_d2l", 96, {}), ("MobileNetV2", "mobilenet_v2", 224, {}),
    ("RegNetX-32 (d2l)", "regnet_d2l", 96, {}),
]
print(f"{'network':22s} {'input':>8s} {'layers':>7s} {'parameters':>12s} {'multiply-adds':>14s} {'receptive field':>16s}")
for name, model_name, size, hp in table:
    s = summarize_model(model_name, input_shape=(size, size, 1), num_classes=10, **hp)
    last_spatial = [row for row in s.layers if row.jump is not None][-1]  # the last layer before flattening
    print(f"{name:22s} {f'{size}x{size}':>8s} {len(s.layers):7d} {s.total_params:12,d} {s.total_macs:14,d} "
          f"{last_spatial.receptive_field[0]:16d}")
assert summarize_model("alexnet", input_shape=(224, 224, 1)).total_params == alexnet.count_params()

# %% [markdown]
# ## Summary
#
# * ReLU keeps gradients alive; dropout and augmentation fight overfitting (AlexNet).
# * Networks are assembled from blocks: VGG's `3 x 3` stacks, NiN's per-pixel MLPs, Inception's parallel
#   paths, ResNet's residual blocks — each available as a helper in `kerascnn.models`.
# * Global average pooling replaces the huge dense layers (NiN, GoogLeNet, ResNet).
# * Batch normalization standardizes each channel per batch and makes training far faster.
# * Grouped convolutions divide weights and multiply-adds by the number of groups; depthwise-separable
#   blocks (MobileNet) cost about 1/8 of a `3 x 3` conv, and need `1 x 1` convs (or a shuffle) to mix groups.
# * Design spaces, not single networks, can be designed: sample, train briefly, compare error distributions
#   (RegNet); four numbers then describe a good network's widths and depths.
#
# Train any of them on real data with `kerascnn fit NAME` (lesson 02), and search their hyperparameters
# with `kerascnn tune NAME` (lesson 04).
