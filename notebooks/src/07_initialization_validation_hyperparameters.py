# Source of notebooks/07_initialization_validation_hyperparameters.ipynb (build it with: python notebooks/_build.py).

# %% [markdown]
# # 07 · Initialization, cross-validation, and how hyperparameters change training
#
# Three lessons about *how* a network is trained rather than what it is:
#
# 1. **Weight initialization.** A deep plain network (VGG-style, no BatchNorm) started from
#    `normal(0, 0.01)`, from Glorot's and from He's (Kaiming's) initialization: the signal through the
#    layers, and whether it trains at all.
# 2. **Validation and cross-validation.** On a small dataset one validation split's accuracy depends on
#    which images landed in it; k-fold cross-validation (`kerascnn fit --folds 5`) measures how much.
# 3. **Hyperparameters.** Batch size, SGD's learning rate and Adam's step size `alpha` on LeNet, and the
#    L2, L1 and smooth-L1 losses on one regression task, as curves side by side.
#
# The data are scikit-learn's bundled handwritten digits (1,797 real 8 x 8 images), so everything runs
# offline; the whole notebook takes a few minutes on a laptop CPU.

# %%
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import time
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from IPython.display import Image, display

import kerascnn
from kerascnn.data import RawDataset, load_dataset, make_spec, preprocess, split_validation

SMALL = os.environ.get("KERASCNN_NOTEBOOK_SMALL") == "1"  # set by the tests: less data, fewer epochs
DATASET = os.environ.get("KERASCNN_NOTEBOOK_DATASET", "digits")
WORK = Path("runs")  # everything this notebook writes goes here
keras.utils.set_random_seed(0)

raw = load_dataset(DATASET)
parts = split_validation(raw, val_split=0.1)
print(f"{raw.name}: {len(raw.x_train)} training images ({len(parts.x_train)} train + {len(parts.x_val)} "
      f"validation), {len(raw.x_test)} test images, {raw.num_classes} classes")

# %% [markdown]
# ## 1. Weight initialization
#
# A convolution computes `y = sum_i w_i x_i` over its `fan_in = k * k * c_in` inputs. With independent
# zero-mean weights of variance `Var(w)`, the output's variance is `fan_in * Var(w) * E[x^2]`. Stack many
# layers and these factors multiply: unless `fan_in * Var(w)` is just right, the signal shrinks (or
# grows) geometrically with depth, and so does the gradient that flows back.
#
# | initialization | `Var(w)` | idea |
# |---|---|---|
# | `normal(0, 0.01)` | `1e-4` | small random numbers (AlexNet's choice, with a few layers) |
# | Glorot / Xavier (2010) | `2 / (fan_in + fan_out)` | keep the variance for a *linear* (or tanh) layer, forwards and backwards; Keras' default |
# | He / Kaiming (2015) | `2 / fan_in` | a ReLU zeroes half of its inputs, halving `E[x^2]`: twice the variance makes up for it |
#
# Keras names them `RandomNormal(0, 0.01)`, `"glorot_uniform"` and `"he_normal"`. First, check that the
# weights Keras draws have the variances of the table:

# %%
conv = keras.layers.Conv2D(64, 3, kernel_initializer="he_normal")
conv.build((None, 16, 16, 32))
fan_in, fan_out = 3 * 3 * 32, 3 * 3 * 64
stds = {
    "he_normal": (float(np.std(conv.kernel.numpy())), np.sqrt(2 / fan_in)),
}
for name in ("glorot_uniform", "glorot_normal", "he_uniform"):
    layer = keras.layers.Conv2D(64, 3, kernel_initializer=name)
    layer.build((None, 16, 16, 32))
    expected = np.sqrt(2 / (fan_in + fan_out)) if name.startswith("glorot") else np.sqrt(2 / fan_in)
    stds[name] = (float(np.std(layer.kernel.numpy())), expected)
for name, (measured, expected) in stds.items():
    print(f"{name:15s} std {measured:.4f}   formula {expected:.4f}")
    assert abs(measured / expected - 1) < 0.05  # 18,432 weights: the sample std is within a few percent

# %% [markdown]
# Now a deep **plain** network: VGG's blocks of 3x3 convolutions with ReLU (three blocks of four, twelve
# convolutions), max pooling after each block, global average pooling and a dense classifier. No
# BatchNorm and no residual connections, so nothing rescues a badly scaled signal. Digits are upsampled
# to 16 x 16 so that three poolings fit.

# %%
BLOCKS = ((4, 32), (4, 64), (4, 128))
INPUT_SHAPE = (16, 16, 1)
INITIALIZERS = {
    "normal(0, 0.01)": lambda: keras.initializers.RandomNormal(0.0, 0.01),
    "Glorot uniform": lambda: "glorot_uniform",
    "He normal": lambda: "he_normal",
}


def plain_vgg(initializer):
    """Twelve 3x3 ReLU convolutions in three VGG blocks, GAP, Dense: every kernel from ``initializer``."""
    keras.utils.set_random_seed(0)  # the same random draws for every initializer
    inputs = keras.Input(INPUT_SHAPE, name="images")
    x = inputs
    for b, (num_convs, filters) in enumerate(BLOCKS, start=1):
        for i in range(1, num_convs + 1):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer=initializer(),
                                    name=f"block{b}_conv{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(10, kernel_initializer=initializer(), name="logits")(x)
    return keras.Model(inputs, outputs, name="plain_vgg12")


spec16 = make_spec(raw, INPUT_SHAPE, parts.x_train)
n_deep = 256 if SMALL else len(parts.x_train)
x16, y16 = preprocess(parts.x_train[:n_deep], spec16).numpy(), parts.y_train[:n_deep]
x16_val, y16_val = preprocess(parts.x_val, spec16).numpy(), parts.y_val
plain_vgg(INITIALIZERS["He normal"]).summary(line_length=90)

# %% [markdown]
# **The signal at initialization.** Feed one batch of real digits through each untrained network and
# record every convolution's output (its standard deviation), and the gradient of the loss with respect
# to every convolution's kernel:

# %%
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
batch_x, batch_y = x16[:256], y16[:256]
activation_std, gradient_std = {}, {}
for name, initializer in INITIALIZERS.items():
    model = plain_vgg(initializer)
    convs = [layer for layer in model.layers if "_conv" in layer.name]
    probe = keras.Model(model.input, [layer.output for layer in convs] + [model.output])
    with tf.GradientTape() as tape:
        *activations, logits = probe(batch_x)
        loss = loss_fn(batch_y, logits)
    grads = tape.gradient(loss, [layer.kernel for layer in convs])
    activation_std[name] = [float(np.std(a)) for a in activations]
    gradient_std[name] = [float(np.std(g)) for g in grads]
    print(f"{name:16s} activation std: first conv {activation_std[name][0]:.2e}, last conv {activation_std[name][-1]:.2e};"
          f"  kernel-gradient std: first {gradient_std[name][0]:.2e}, last {gradient_std[name][-1]:.2e}")

layer_names = [layer.name for layer in plain_vgg(INITIALIZERS["He normal"]).layers if "_conv" in layer.name]
# He keeps the signal's scale through all twelve layers; the others shrink it geometrically.
he, glorot, small = activation_std["He normal"], activation_std["Glorot uniform"], activation_std["normal(0, 0.01)"]
assert 0.2 < he[-1] / he[0] < 5
assert glorot[-1] < glorot[0] / 20 and small[-1] < small[0] * 1e-6

# %% tags=["plot"]
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for name in INITIALIZERS:
    axes[0].semilogy(range(1, 13), activation_std[name], marker="o", label=name)
    axes[1].semilogy(range(1, 13), gradient_std[name], marker="o", label=name)
axes[0].set_title("std of each convolution's output (one batch, untrained)")
axes[1].set_title("std of the loss gradient w.r.t. each kernel")
for ax in axes:
    ax.set_xlabel("convolution (1 = first)")
    ax.set_xticks(range(1, 13))
    ax.grid(alpha=0.3, which="both")
    ax.legend()
plt.show()

# %% [markdown]
# With `normal(0, 0.01)`, `fan_in * Var(w) * 1/2` is about 0.03 for 576 inputs: each layer shrinks the signal's
# standard deviation about six-fold, and after twelve layers it is ~1e-10: the logits are the same for
# every image. Glorot's variance is about half of what a ReLU layer needs, so the signal halves in
# variance per layer, slower but still vanishing. He's stays at the same scale. The gradients follow:
# the first layers of the small-initialized network get essentially nothing.
#
# **Training** all three the same way (SGD with momentum 0.9, learning rate 0.01, batch 64):

# %%
DEEP_EPOCHS = 2 if SMALL else 10
deep_history = {}
for name, initializer in INITIALIZERS.items():
    model = plain_vgg(initializer)
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), loss_fn, metrics=["accuracy"])
    start = time.perf_counter()
    deep_history[name] = model.fit(x16, y16, batch_size=64, epochs=DEEP_EPOCHS, validation_data=(x16_val, y16_val),
                                   verbose=0).history
    h = deep_history[name]
    print(f"{name:16s} final training loss {h['loss'][-1]:.4f}, validation accuracy {h['val_accuracy'][-1]:.3f} "
          f"({time.perf_counter() - start:.1f} s)")
if not SMALL:  # the lesson's claim, in full mode: only He's network learns within these epochs
    assert deep_history["He normal"]["loss"][-1] < 0.5 < deep_history["Glorot uniform"]["loss"][-1]
    assert deep_history["normal(0, 0.01)"]["loss"][-1] > 2.2  # ln(10) = 2.303: guessing

# %% tags=["plot"]
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for name, h in deep_history.items():
    epochs = range(1, len(h["loss"]) + 1)
    axes[0].plot(epochs, h["loss"], marker="o", label=name)
    axes[1].plot(epochs, h["val_accuracy"], marker="o", label=name)
axes[0].axhline(np.log(10), color="gray", ls=":", label="ln 10 (uniform guess)")
axes[0].set_title("training loss")
axes[1].set_title("validation accuracy")
for ax in axes:
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    ax.legend()
plt.show()

# %% [markdown]
# The loss of the `normal(0, 0.01)` network sits at `ln 10 = 2.303`, a uniform guess over ten classes; the
# Glorot network crawls; the He network learns. BatchNorm (lesson 03) and residual connections are the
# other two cures: they make deep networks far less sensitive to the initial scale, which is why
# torchvision's ResNets can use Kaiming's initialization in `fan_out` mode and Keras' default Glorot works
# for the zoo's BatchNorm families.

# %% [markdown]
# **The same choice in the zoo.** Every kerascnn model takes `kernel_initializer` (and
# `bias_initializer`): any Keras initializer name or config. The default is what each family used so far
# (Keras' `glorot_uniform` and `zeros`). Here the plain network above as the zoo's VGG builder (the same
# blocks, then one hidden dense layer), with He's initialization; `kerascnn summary vgg11 --hparam
# kernel_initializer=he_normal` prints it, `kerascnn fit ... --hparams` and `kerascnn tune --space` take it
# like any other hyperparameter.

# %%
zoo_vgg = {
    init: kerascnn.build("vgg11", input_shape=INPUT_SHAPE, num_classes=10, blocks=BLOCKS, dense_units=(64,), dropout=0.0,
                         kernel_initializer=init)
    for init in ("glorot_uniform", "he_normal")
}
for layer in zoo_vgg["he_normal"].layers:
    if isinstance(layer, keras.layers.Conv2D):
        kernel = layer.kernel.numpy()
        assert type(layer.kernel_initializer).__name__ == "HeNormal"
        if kernel.size >= 2000:  # enough weights for the sample std to be within a few percent
            ratio = kernel.std() / np.sqrt(2 / np.prod(kernel.shape[:-1]))  # fan_in = k * k * c_in
            assert abs(ratio - 1) < 0.1, (layer.name, ratio)
for init, model in zoo_vgg.items():
    convs = [layer.output for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    stds = [float(np.std(a)) for a in keras.Model(model.input, convs)(batch_x)]
    print(f"zoo vgg, {init:14s}: activation std after conv 1: {stds[0]:.2e}, after conv 12: {stds[-1]:.2e}")
from kerascnn.summary import summarize

print(next(line for line in summarize(zoo_vgg["he_normal"]).format_table().splitlines() if line.startswith("Initializers")))

# %% [markdown]
# ## 2. Validation and cross-validation
#
# `kerascnn fit` holds out one fixed 10% of the training part for validation. On a small dataset that is
# few images, and one image more or less wrong moves the accuracy visibly (the next cell prints by how
# much). Which images end up in the validation part is luck, so **how much does one split's accuracy
# depend on the split?**
#
# First, five *single* splits: the same LeNet, the same seed, each time a different random 20% held out
# for validation (we shuffle the training part before `fit` takes its fixed split):

# %%
FOLDS = 2 if SMALL else 5
FIT_SETTINGS = dict(epochs=1, batch_size=128, hparams={"activation": "relu", "pooling": "max"}) if SMALL else {}
print(f"{len(parts.x_train) + len(parts.x_val)} training images, {len(parts.x_val)} held out for validation: "
      f"one image is {100 / len(parts.x_val):.2f} points of validation accuracy")
single = []
for seed in range(FOLDS):
    order = np.random.default_rng(100 + seed).permutation(len(raw.x_train))
    shuffled = RawDataset(raw.name, raw.class_names, raw.x_train[order], raw.y_train[order], raw.x_test, raw.y_test)
    run = kerascnn.fit("lenet", shuffled, val_split=1 / FOLDS, out=str(WORK / f"07_single_split_{seed}"),
                       overwrite=True, verbose=0, **FIT_SETTINGS)
    single.append(run.history["val_accuracy"][-1])
    print(f"split {seed}: validation accuracy {single[-1]:.4f} on {round(len(raw.x_train) / FOLDS)} images, "
          f"test accuracy {run.metrics['test_accuracy']:.4f}")
print(f"single splits: from {min(single):.4f} to {max(single):.4f} (spread {max(single) - min(single):.4f})")

# %% [markdown]
# **k-fold cross-validation** uses every training image for validation exactly once: split the training
# part into `k` slices (*stratified*: each slice has the class proportions of the whole), train `k`
# models, each validating on one slice and training on the other `k - 1`, and report the mean and the
# standard deviation of the `k` validation accuracies. `kerascnn.fit(..., folds=k)` (on the command line
# `kerascnn fit lenet --folds 5`) does this: each fold is an ordinary run in the run directory, the test
# part stays untouched, and an interrupted cross-validation resumes where it stopped.

# %%
cv = kerascnn.fit("lenet", DATASET, folds=FOLDS, out=str(WORK / "07_lenet_folds"), overwrite=True, verbose=0,
                  **FIT_SETTINGS)
from kerascnn.training.folds import format_summary

print(format_summary(cv.metrics))
folds_val = [row["val_accuracy"] for row in cv.metrics["per_fold"]]
assert sum(row["val_images"] for row in cv.metrics["per_fold"]) == len(raw.x_train)  # every image validated once
assert np.isclose(cv.metrics["val_accuracy_mean"], np.mean(folds_val), atol=1e-5)
print("\nrun directory:", cv.path, sorted(p.name for p in cv.path.iterdir()))

# %% tags=["plot"]
display(Image(filename=str(cv.path / "fold_curves.png"), width=850))

# %% tags=["plot"]
fig, ax = plt.subplots(figsize=(7, 3.2))
ax.scatter(single, np.zeros(len(single)), s=60, label="single 80/20 splits" if not SMALL else "single splits")
ax.scatter(folds_val, np.ones(len(folds_val)), s=60, label=f"{FOLDS} folds")
mean, std = cv.metrics["val_accuracy_mean"], cv.metrics["val_accuracy_std"]
ax.errorbar([mean], [1.3], xerr=[std], fmt="D", color="black", capsize=6, label="fold mean ± std")
ax.set_yticks([0, 1], ["one split each", f"{FOLDS}-fold"])
ax.set_ylim(-0.6, 1.8)
ax.set_xlabel("validation accuracy")
ax.grid(alpha=0.3)
ax.legend(loc="lower left", fontsize=8)
plt.show()

# %% [markdown]
# %%
print(f"single splits: {min(single):.3f} to {max(single):.3f}; "
      f"folds: {min(folds_val):.3f} to {max(folds_val):.3f}, mean {mean:.3f} ± {std:.3f}")

# %% [markdown]
# The single splits of LeNet spread over about as wide a range of validation accuracy as the folds do
# (printed above): any one split's number could be that much too high or too low. Two settings whose
# single-split accuracies differ by less than that spread are not shown to differ. Cross-validation gives the mean over all the data *and* the spread, at `k`
# times the cost; it is worth it on small datasets, while on large ones one held-out part is big
# enough. Model selection on the folds still leaves the test part for the one final, unbiased number.

# %% [markdown]
# ## 3. How hyperparameters change training
#
# The same LeNet (the ReLU/max-pooling variant, which trains in a few epochs), the same data, the same
# number of epochs; one setting varies per panel:
#
# * **batch size** (Adam, `alpha = 0.001`): small batches take many noisy steps per epoch, large ones few
#   precise steps;
# * **SGD's learning rate** at batch 32: too small crawls, too large diverges (the loss becomes NaN and
#   the curve stops);
# * **Adam's step size** `alpha` (Keras' `learning_rate`) at batch 32.

# %%
spec28 = make_spec(raw, (28, 28, 1), parts.x_train)
n_grid = 256 if SMALL else len(parts.x_train)
x28, y28 = preprocess(parts.x_train[:n_grid], spec28).numpy(), parts.y_train[:n_grid]
x28_val, y28_val = preprocess(parts.x_val, spec28).numpy(), parts.y_val
GRID_EPOCHS = 2 if SMALL else 10
GRIDS = {
    "batch size (Adam, alpha 0.001)": [(f"batch {b}", lambda: keras.optimizers.Adam(1e-3), b)
                                       for b in ((8, 128) if SMALL else (8, 32, 128, 512))],
    "SGD learning rate (batch 32)": [(f"lr {lr}", lambda lr=lr: keras.optimizers.SGD(lr), 32)
                                     for lr in ((0.01, 0.1) if SMALL else (0.003, 0.03, 0.1, 0.9))],
    "Adam alpha (batch 32)": [(f"alpha {a}", lambda a=a: keras.optimizers.Adam(a), 32)
                              for a in ((1e-4, 1e-2) if SMALL else (1e-4, 1e-3, 1e-2, 1e-1))],
}


def train_lenet(make_optimizer, batch_size):
    keras.utils.set_random_seed(0)
    model = kerascnn.build("lenet", input_shape=(28, 28, 1), num_classes=raw.num_classes, activation="relu", pooling="max")
    model.compile(make_optimizer(), loss_fn, metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x28, y28, batch_size=batch_size, epochs=GRID_EPOCHS, validation_data=(x28_val, y28_val),
                        verbose=0).history
    history["seconds"] = time.perf_counter() - start
    return history


grid_history = {}
for title, settings in GRIDS.items():
    for label, make_optimizer, batch_size in settings:
        h = grid_history[title, label] = train_lenet(make_optimizer, batch_size)
        print(f"{title:32s} {label:12s} final loss {h['loss'][-1]:8.4f}  validation accuracy "
              f"{h['val_accuracy'][-1]:.3f}  ({h['seconds']:.1f} s)")

# %% tags=["plot"]
fig, axes = plt.subplots(2, 3, figsize=(15, 7), sharex=True)
for col, (title, settings) in enumerate(GRIDS.items()):
    for label, _, _ in settings:
        h = grid_history[title, label]
        epochs = range(1, len(h["loss"]) + 1)
        axes[0, col].plot(epochs, h["loss"], marker="o", ms=3, label=label)
        axes[1, col].plot(epochs, h["val_accuracy"], marker="o", ms=3, label=label)
    axes[0, col].set_title(title)
    axes[0, col].set_yscale("log")
    axes[1, col].set_xlabel("epoch")
    for row in (0, 1):
        axes[row, col].grid(alpha=0.3)
        axes[row, col].legend(fontsize=8)
axes[0, 0].set_ylabel("training loss (log)")
axes[1, 0].set_ylabel("validation accuracy")
plt.show()

# %%
def final(title, label, key="loss"):
    return grid_history[title, label][key][-1]


batches, sgd, adam = GRIDS
small_batch, large_batch = "batch 8", "batch 128"  # in both modes' grids
print(f"{small_batch} vs {large_batch}: first-epoch loss {grid_history[batches, small_batch]['loss'][0]:.3f} vs "
      f"{grid_history[batches, large_batch]['loss'][0]:.3f}; seconds per epoch "
      f"{grid_history[batches, small_batch]['seconds'] / GRID_EPOCHS:.1f} vs "
      f"{grid_history[batches, large_batch]['seconds'] / GRID_EPOCHS:.1f}")
for title in (sgd, adam):
    print(title + ":", ", ".join(f"{label} loss {final(title, label):.3g} / accuracy "
                                 f"{final(title, label, 'val_accuracy'):.3f}" for label, _, _ in GRIDS[title]))
if not SMALL:
    assert grid_history[batches, small_batch]["loss"][0] < grid_history[batches, large_batch]["loss"][0]
    assert grid_history[batches, small_batch]["seconds"] > grid_history[batches, large_batch]["seconds"]
    best_sgd = np.nanmin([final(sgd, label) for label, _, _ in GRIDS[sgd]])  # a diverged run: NaN
    assert final(sgd, "lr 0.003") > 2 * best_sgd  # too small: far behind
    assert not final(sgd, "lr 0.9") < final(sgd, "lr 0.003")  # too large: diverged (NaN) or worse still
    best_alpha = max(final(adam, label, "val_accuracy") for label, _, _ in GRIDS[adam])
    assert final(adam, "alpha 0.1", "val_accuracy") < best_alpha
    assert final(adam, "alpha 0.0001", "val_accuracy") < best_alpha

# %% [markdown]
# Reading the panels and the numbers above: per epoch, batch 8 makes 16 times as many updates as batch 128
# and gets ahead, though each epoch costs more time (the steps are small and many). SGD's learning rate has
# a window: at 0.003 the loss is still far behind after the last epoch, at 0.9 it diverges. Adam adapts each
# weight's step to its gradient's recent size, so it tolerates a wider range of `alpha`, but 0.1 is still
# too large for this network and 0.0001 too slow. None of these is "the" right value in general: they interact (a larger batch
# tolerates a larger learning rate), which is why `kerascnn tune` (lesson 04) searches them together.

# %% [markdown]
# ### Losses: L2, L1 and smooth L1 on the same task
#
# Lesson 03 plotted the three regression losses and their gradients. Here they train the same model on
# the same data: fit a line `y = 2x + 1` to 200 noisy points, 10% of which are gross outliers (a
# mislabelled measurement, a wrong box in a detection dataset). The L2 loss's gradient grows with the
# residual, so the outliers pull hard; L1's gradient has the same size for every point; smooth L1
# (Keras' `Huber(delta=1)`, Fast R-CNN's box loss) is L2 for small residuals and L1 for large ones.

# %%
rng = np.random.default_rng(0)
x_line = rng.uniform(-3, 3, size=(200, 1)).astype("float32")
y_line = (2 * x_line + 1 + rng.normal(0, 0.3, size=(200, 1))).astype("float32")
outliers = rng.choice(200, size=20, replace=False)
y_line[outliers] += rng.uniform(15, 25, size=(20, 1)).astype("float32")  # all pushed upwards
LOSSES = {"L2 (MSE)": keras.losses.MeanSquaredError(), "L1 (MAE)": keras.losses.MeanAbsoluteError(),
          "smooth L1 (Huber, delta 1)": keras.losses.Huber(delta=1.0)}
line_fits, line_history = {}, {}
for name, loss in LOSSES.items():
    w, b = tf.Variable(0.0), tf.Variable(0.0)  # the model: y = w x + b
    optimizer = keras.optimizers.Adam(0.05)

    @tf.function
    def step():  # one full-batch gradient step
        with tf.GradientTape() as tape:
            value = loss(y_line, w * x_line + b)
        optimizer.apply_gradients(zip(tape.gradient(value, [w, b]), [w, b]))
        return value

    history = [float(step()) for _ in range(300)]
    line_fits[name], line_history[name] = (float(w.numpy()), float(b.numpy())), history
    print(f"{name:28s} fitted y = {w.numpy():.3f} x + {b.numpy():.3f}   (true: y = 2x + 1)")
w2, b2 = line_fits["L2 (MSE)"]
w1, b1 = line_fits["L1 (MAE)"]
wh, bh = line_fits["smooth L1 (Huber, delta 1)"]
assert b2 > 2.0  # the mean is dragged up by the outliers: 10% of points * ~20 = +2
assert abs(b1 - 1) < 0.3 and abs(bh - 1) < 0.5 and abs(w1 - 2) < 0.2  # the robust losses ignore them

# %% tags=["plot"]
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
inliers = np.setdiff1d(np.arange(200), outliers)
axes[0].scatter(x_line[inliers], y_line[inliers], s=8, color="gray", label="data")
axes[0].scatter(x_line[outliers], y_line[outliers], s=14, color="crimson", label="outliers")
grid = np.linspace(-3, 3, 2)
for name, (w, b) in line_fits.items():
    axes[0].plot(grid, w * grid + b, lw=2, label=f"{name}: {w:.2f}x + {b:.2f}")
axes[0].plot(grid, 2 * grid + 1, "k:", label="true 2x + 1")
axes[0].set_title("fitted lines")
axes[0].legend(fontsize=8, loc="lower right")
for name, h in line_history.items():
    axes[1].plot(np.array(h) / h[0], label=name)
axes[1].set_title("each loss during training (relative to its start)")
axes[1].set_xlabel("step")
axes[1].legend(fontsize=8)
for ax in axes:
    ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# L2 estimates the *mean* of the targets at each `x`, so the outliers shift the line up by about
# 10% x 20 = 2 (and tilt it: most of them happen to lie at negative `x`); L1 estimates the *median* and ignores them; smooth L1 lands in between, close to L1, while
# keeping L2's smooth, shrinking gradient near the optimum (L1's constant gradient makes it hop around the
# minimum with a fixed step size). Classification in kerascnn uses the cross-entropy of the softmax;
# these losses are for regression heads.
#
# ## Summary
#
# * Initialize for the activation: He's `Var(w) = 2 / fan_in` keeps a deep ReLU network's signal at
#   scale; small fixed-scale initialization makes it vanish, and the network does not train.
# * One validation split's accuracy on a small dataset is uncertain by a point or two; `--folds k`
#   measures the mean and the spread.
# * Batch size and learning rate interact; plot the curves before trusting one setting.
# * L2 chases outliers, L1 and smooth L1 resist them.
