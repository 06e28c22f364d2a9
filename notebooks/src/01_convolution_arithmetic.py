# Source of notebooks/01_convolution_arithmetic.ipynb (build it with: python notebooks/_build.py).

# %% [markdown]
# # 01 · Tensors and convolution arithmetic
#
# Every convolutional network in this project is built from a handful of operations. This lesson takes
# them apart with NumPy next to Keras, so that each number a layer computes can be recomputed by hand:
#
# 1. image batches as tensors: rank, axes, shape `(N, H, W, C)`;
# 2. cross-correlation written from scratch, and the same numbers from `keras.layers.Conv2D`;
# 3. learning an edge-detection kernel by gradient descent;
# 4. padding, stride and the output-size formula, checked against Keras;
# 5. several input and output channels; the 1x1 convolution, which is a dense layer applied per pixel;
# 6. max and average pooling;
# 7. parameters of a convolution against a dense layer on the same feature maps;
# 8. receptive fields growing through the layers.
#
# The `assert` statements are part of the lesson: the notebook is executed in the project's tests, so
# every claim they make is checked on every change. It runs in well under a minute on a laptop CPU.
# (Follows chapter 7 of *Dive into Deep Learning*, d2l.ai, in Keras.)

# %%
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up chatter

import keras
import matplotlib.pyplot as plt
import numpy as np
import scipy.signal
import tensorflow as tf
from keras import layers
from sklearn.datasets import load_digits, load_sample_image

# KERASCNN_NOTEBOOK_SMALL=1 (set by the tests) only shrinks the loops below; every check still runs.
SMALL = os.environ.get("KERASCNN_NOTEBOOK_SMALL") == "1"
keras.utils.set_random_seed(0)
print("TensorFlow", tf.__version__, "· Keras", keras.__version__, "· small mode" if SMALL else "")

# %% [markdown]
# ## 1. Images are rank-4 tensors: `(N, H, W, C)`
#
# One color photo is a rank-3 array: height, width, channels. Keras (like TensorFlow) stores a *batch*
# of images **channels last**: `(N, H, W, C)` — batch size, height, width, channels. PyTorch uses
# `(N, C, H, W)`; the same numbers, with the axes in another order.

# %%
photo = load_sample_image("china.jpg")  # a real photo bundled with scikit-learn
print("photo:", type(photo).__name__, photo.dtype, photo.shape, "rank", photo.ndim)

digits = load_digits()  # 1,797 real handwritten digits, 8x8 pixels, values 0..16
batch = digits.images[:32, :, :, None].astype("float32") / 16.0  # add the channel axis: (N, H, W, C)
print("digit batch:", batch.shape, "rank", tf.rank(batch).numpy())
print("axes: N =", batch.shape[0], "images; H =", batch.shape[1], "; W =", batch.shape[2], "; C =", batch.shape[3])

channels_first = tf.transpose(batch, perm=[0, 3, 1, 2])  # what PyTorch would expect
print("channels first:", tuple(channels_first.shape))

# Indexing follows the axes: image 5, row 3, all columns, channel 0.
print("one row of one image:", np.round(batch[5, 3, :, 0], 2))

# %% tags=["plot"]
fig, axes = plt.subplots(1, 5, figsize=(15, 3))
axes[0].imshow(photo)
axes[0].set_title(f"photo {photo.shape}")
for c, name in enumerate(("red", "green", "blue")):
    axes[c + 1].imshow(photo[:, :, c], cmap="gray")
    axes[c + 1].set_title(f"channel {c} ({name})")
grid = batch[:16, :, :, 0].reshape(4, 4, 8, 8).transpose(0, 2, 1, 3).reshape(32, 32)
axes[4].imshow(grid, cmap="gray_r")
axes[4].set_title("16 digits of the batch")
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 2. Cross-correlation from scratch, and `Conv2D`
#
# A "convolutional" layer computes a **cross-correlation**: slide a `kh x kw` kernel over the input and,
# at each position, sum the elementwise product of the kernel and the window under it. Without padding
# and with stride 1, an `nh x nw` input gives an `(nh - kh + 1) x (nw - kw + 1)` output.

# %%
def corr2d(X, K):
    """2-D cross-correlation of an (h, w) array with a (kh, kw) kernel: no padding, stride 1."""
    kh, kw = K.shape
    Y = np.zeros((X.shape[0] - kh + 1, X.shape[1] - kw + 1), dtype=np.float32)
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + kh, j:j + kw] * K).sum()
    return Y


X = np.arange(9.0).reshape(3, 3)
K = np.arange(4.0).reshape(2, 2)
print(corr2d(X, K))  # 0*0 + 1*1 + 3*2 + 4*3 = 19 in the top-left corner
assert np.array_equal(corr2d(X, K), [[19, 25], [37, 43]])

# %% [markdown]
# `Conv2D` holds its kernel as `(kh, kw, in_channels, out_channels)`. Give it our kernel and compare, on
# a random input this time:

# %%
def conv2d_with_kernel(K, **kwargs):
    """A Conv2D layer whose weights are the given (kh, kw, c_in, c_out) kernel and no bias."""
    conv = layers.Conv2D(K.shape[-1], K.shape[:2], use_bias=False, **kwargs)
    conv.build((None, None, None, K.shape[2]))
    conv.set_weights([K.astype("float32")])
    return conv


rng = np.random.default_rng(0)
X = rng.normal(size=(20, 30)).astype("float32")
K = rng.normal(size=(3, 5)).astype("float32")

ours = corr2d(X, K)
keras_out = conv2d_with_kernel(K[:, :, None, None])(X[None, :, :, None])  # add the N and C axes
keras_out = keras.ops.convert_to_numpy(keras_out)[0, :, :, 0]
print("ours:", ours.shape, " Conv2D:", keras_out.shape, " max |difference|:", np.abs(ours - keras_out).max())
assert ours.shape == keras_out.shape == (18, 26)
np.testing.assert_allclose(ours, keras_out, rtol=1e-5, atol=1e-5)

# %% [markdown]
# Mathematicians' *convolution* flips the kernel first. Learned kernels do not care (the network learns
# the flipped kernel instead), which is why deep-learning libraries skip the flip:

# %%
true_convolution = scipy.signal.convolve2d(X, K, mode="valid")
np.testing.assert_allclose(true_convolution, corr2d(X, np.flip(K)), rtol=1e-4, atol=1e-4)
print("convolution(X, K) == cross-correlation(X, flipped K): checked")

# %% [markdown]
# ## 3. Edges, and learning a kernel by gradient descent
#
# An image that is white (1) with a black (0) band in the middle. The kernel `[1, -1]` answers `1` where
# white turns black, `-1` where black turns white, and `0` elsewhere: a vertical-edge detector. Turned
# sideways the image has only horizontal edges, and the same kernel sees nothing.

# %%
X = np.ones((6, 8), dtype="float32")
X[:, 2:6] = 0
K = np.array([[1.0, -1.0]], dtype="float32")
Y = corr2d(X, K)
print(X, "\n\n", Y)
assert not corr2d(X.T, K).any()

# %% [markdown]
# Now forget `K` and learn it from `(X, Y)` alone: a `Conv2D` with one `1 x 2` kernel, the squared error
# as loss, and plain gradient descent written out with `tf.GradientTape`.

# %%
conv = layers.Conv2D(1, kernel_size=(1, 2), use_bias=False)
X_batch, Y_batch = X[None, :, :, None], Y[None, :, :, None]  # (N, H, W, C)
learning_rate = 3e-2
losses = []
for epoch in range(30):
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum((conv(X_batch) - Y_batch) ** 2)
    gradient = tape.gradient(loss, conv.kernel)
    conv.kernel.assign_sub(learning_rate * gradient)  # the update: w <- w - lr * dL/dw
    losses.append(float(loss))
    if (epoch + 1) % 5 == 0:
        print(f"epoch {epoch + 1:2d}, loss {float(loss):.5f}")

learned = keras.ops.convert_to_numpy(conv.kernel).reshape(1, 2)
print("learned kernel:", np.round(learned, 4))
np.testing.assert_allclose(learned, K, atol=0.02)

# %% tags=["plot"]
plt.figure(figsize=(5, 3))
plt.semilogy(range(1, len(losses) + 1), losses)
plt.xlabel("epoch")
plt.ylabel("squared error (log scale)")
plt.title("learning the edge detector [1, -1]")
plt.show()

# %% [markdown]
# On a real photo: one `Conv2D` layer with **two output channels** holding Sobel kernels (vertical and
# horizontal edges). The layer maps a `(1, H, W, 1)` gray image to `(1, H-2, W-2, 2)`.

# %%
gray = photo.mean(axis=-1, dtype="float32")[None, :, :, None] / 255.0  # (1, H, W, 1)
sobel_x = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype="float32")
edge_kernels = np.stack([sobel_x, sobel_x.T], axis=-1)[:, :, None, :]  # (3, 3, 1, 2)
edges = keras.ops.convert_to_numpy(conv2d_with_kernel(edge_kernels)(gray))
print("input", gray.shape, "-> edges", edges.shape)

# %% tags=["plot"]
fig, axes = plt.subplots(1, 3, figsize=(15, 3.5))
axes[0].imshow(gray[0, :, :, 0], cmap="gray")
axes[0].set_title("input (gray)")
axes[1].imshow(np.abs(edges[0, :, :, 0]), cmap="magma")
axes[1].set_title("output channel 0: vertical edges")
axes[2].imshow(np.abs(edges[0, :, :, 1]), cmap="magma")
axes[2].set_title("output channel 1: horizontal edges")
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 4. Padding, stride and the output size
#
# With `p` rows of zeros added on each side and the kernel moved `s` pixels at a time, an input of size
# `n` and a kernel of size `k` give an output of size
#
# $$\left\lfloor \frac{n - k + 2p}{s} \right\rfloor + 1$$
#
# along each axis. Keras' `padding="valid"` is `p = 0`; explicit padding is a `ZeroPadding2D` layer in
# front of the convolution. The formula also holds for pooling windows. We check it against Keras on
# many cases, with non-square inputs, kernels, paddings and strides mixed:

# %%
def output_size(n, k, p, s):
    """Output length of a convolution or pooling window: input n, kernel k, padding p per side, stride s."""
    return (n - k + 2 * p) // s + 1


def keras_output_hw(input_hw, kernel, padding, stride, layer="conv"):
    """(H, W) that Keras actually produces, by running a zero tensor through the layers."""
    window = (
        layers.Conv2D(1, kernel, strides=stride)
        if layer == "conv"
        else layers.MaxPooling2D(kernel, strides=stride)
    )
    x = np.zeros((1, *input_hw, 1), dtype="float32")
    y = window(layers.ZeroPadding2D(padding)(x))
    return tuple(y.shape[1:3])


sizes = (5, 8, 13) if SMALL else (5, 8, 13, 28)
cases = 0
for layer in ("conv", "pool"):
    for n_h, n_w in [(n, n) for n in sizes] + [(sizes[0], sizes[-1])]:
        for k in [(1, 1), (2, 2), (3, 3), (5, 3), (3, 5)]:
            for p in [(0, 0), (1, 1), (2, 1)]:
                for s in [(1, 1), (2, 2), (3, 4)]:
                    if n_h + 2 * p[0] < k[0] or n_w + 2 * p[1] < k[1]:
                        continue  # the window would not fit even once
                    expected = (output_size(n_h, k[0], p[0], s[0]), output_size(n_w, k[1], p[1], s[1]))
                    actual = keras_output_hw((n_h, n_w), k, p, s, layer)
                    assert actual == expected, (layer, (n_h, n_w), k, p, s, actual, expected)
                    cases += 1
print(f"the formula matches Keras in all {cases} cases")

# %% [markdown]
# The textbook's examples (an 8 x 8 input):

# %%
examples = [
    ("3x3 kernel, padding 1", (3, 3), (1, 1), (1, 1)),
    ("5x3 kernel, padding (2, 1)", (5, 3), (2, 1), (1, 1)),
    ("3x3 kernel, padding 1, stride 2", (3, 3), (1, 1), (2, 2)),
    ("3x5 kernel, padding (0, 1), stride (3, 4)", (3, 5), (0, 1), (3, 4)),
]
for text, k, p, s in examples:
    print(f"{text:45s} -> {keras_output_hw((8, 8), k, p, s)}")

# %% [markdown]
# Keras' `padding="same"` pads just enough for the output to be `ceil(n / s)`: with stride 1 the output
# keeps the input's size (for odd kernels that is `p = (k - 1) / 2` on each side):

# %%
for n in (7, 8, 28):
    for s in (1, 2, 3):
        y = layers.Conv2D(1, 3, strides=s, padding="same")(np.zeros((1, n, n, 1), "float32"))
        assert y.shape[1] == -(-n // s), (n, s, y.shape)
print('"same" padding gives ceil(n / s): checked')

# %% [markdown]
# ## 5. Several input and output channels
#
# With `c_in` input channels the kernel has `c_in` slices; each slice is cross-correlated with its
# channel and the results are **summed** into one output channel. With `c_out` output channels there are
# `c_out` such kernels, stacked on the last axis: Keras' kernel shape `(kh, kw, c_in, c_out)`.

# %%
def corr2d_multi_in(X, K):
    """X: (h, w, c_in), K: (kh, kw, c_in) -> one (h', w') output channel (a sum over input channels)."""
    return sum(corr2d(X[:, :, c], K[:, :, c]) for c in range(X.shape[-1]))


def corr2d_multi_in_out(X, K):
    """X: (h, w, c_in), K: (kh, kw, c_in, c_out) -> (h', w', c_out)."""
    return np.stack([corr2d_multi_in(X, K[..., o]) for o in range(K.shape[-1])], axis=-1)


X = rng.normal(size=(9, 11, 3)).astype("float32")  # an RGB-like input
K = rng.normal(size=(2, 3, 3, 4)).astype("float32")  # 2x3 kernels, 3 channels in, 4 out
ours = corr2d_multi_in_out(X, K)
keras_out = keras.ops.convert_to_numpy(conv2d_with_kernel(K)(X[None]))[0]
print("input", X.shape, "kernel", K.shape, "-> output", ours.shape)
np.testing.assert_allclose(ours, keras_out, rtol=1e-4, atol=1e-4)

# %% [markdown]
# ## 6. A 1x1 convolution is a dense layer applied to every pixel
#
# A `1 x 1` kernel looks at one pixel at a time: at every position it maps the `c_in` channel values to
# `c_out` values with the same `(c_in, c_out)` matrix. That is exactly a `Dense(c_out)` layer applied to
# each pixel's channel vector, or one matrix product on the `(H*W, c_in)` matrix of pixels. NiN and
# GoogLeNet use 1x1 convolutions to mix channels cheaply.

# %%
X = rng.normal(size=(2, 6, 7, 5)).astype("float32")  # (N, H, W, c_in)
conv1x1 = layers.Conv2D(3, kernel_size=1)
conv_out = keras.ops.convert_to_numpy(conv1x1(X))
kernel, bias = conv1x1.get_weights()  # kernel (1, 1, 5, 3), bias (3,)

dense = layers.Dense(3)
dense.build((None, 5))
dense.set_weights([kernel.reshape(5, 3), bias])
dense_out = keras.ops.convert_to_numpy(dense(X))  # Dense acts on the last axis of every pixel

matmul_out = (X.reshape(-1, 5) @ kernel.reshape(5, 3) + bias).reshape(2, 6, 7, 3)

print("Conv2D 1x1:", conv_out.shape, " Dense per pixel:", dense_out.shape, " matmul:", matmul_out.shape)
np.testing.assert_allclose(conv_out, dense_out, rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(conv_out, matmul_out, rtol=1e-5, atol=1e-5)

# %% [markdown]
# ## 7. Pooling
#
# Pooling slides a window like a convolution but has no weights: it outputs the **maximum** or the
# **average** of each window, channel by channel (the number of channels does not change). Keras'
# pooling layers use `strides = pool_size` by default, so windows do not overlap.

# %%
def pool2d(X, pool_size, mode="max"):
    """Max or average pooling of an (h, w) array, stride 1, no padding."""
    ph, pw = pool_size
    Y = np.zeros((X.shape[0] - ph + 1, X.shape[1] - pw + 1), dtype=np.float32)
    reduce = np.max if mode == "max" else np.mean
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = reduce(X[i:i + ph, j:j + pw])
    return Y


X = np.arange(9.0, dtype="float32").reshape(3, 3)
print("max:\n", pool2d(X, (2, 2)), "\navg:\n", pool2d(X, (2, 2), "avg"))

X = rng.normal(size=(10, 12)).astype("float32")
for mode, Layer in (("max", layers.MaxPooling2D), ("avg", layers.AveragePooling2D)):
    keras_out = keras.ops.convert_to_numpy(Layer((3, 2), strides=1)(X[None, :, :, None]))[0, :, :, 0]
    np.testing.assert_allclose(pool2d(X, (3, 2), mode), keras_out, rtol=1e-5, atol=1e-6)
print("from-scratch pooling == Keras pooling: checked")

# Several channels: pooled one by one, so the channel count is unchanged.
X = rng.normal(size=(1, 4, 4, 2)).astype("float32")
print("pooling keeps channels:", X.shape, "->", tuple(layers.MaxPooling2D(2)(X).shape))

# %% tags=["plot"]
small = photo[None].astype("float32") / 255.0  # (1, 427, 640, 3)
fig, axes = plt.subplots(1, 3, figsize=(15, 3.5))
axes[0].imshow(small[0])
axes[0].set_title(f"input {small.shape[1:3]}")
for ax, Layer, name in ((axes[1], layers.MaxPooling2D, "max"), (axes[2], layers.AveragePooling2D, "average")):
    pooled = keras.ops.convert_to_numpy(Layer(pool_size=16)(small))[0]
    ax.imshow(np.clip(pooled, 0, 1), interpolation="nearest")
    ax.set_title(f"{name} pooling 16x16 -> {pooled.shape[:2]}")
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 8. Parameters: a convolution against a dense layer on the same feature maps
#
# LeNet's second convolution maps `14 x 14 x 6` feature maps to `10 x 10 x 16` with sixteen `5 x 5 x 6`
# kernels. A dense layer producing the same output from the same input needs one weight per
# (input value, output value) pair. Convolutions share one small kernel across all positions:

# %%
def conv_params(k, c_in, c_out):
    return k * k * c_in * c_out + c_out  # kernels + one bias per output channel


def dense_params(n_in, n_out):
    return n_in * n_out + n_out


rows = []
for h, c_in, k, c_out in [(14, 6, 5, 16), (28, 1, 5, 6), (56, 64, 3, 64), (224, 3, 11, 96)]:
    out = h - k + 1
    conv = layers.Conv2D(c_out, k)
    conv.build((None, h, h, c_in))
    n_in, n_out = h * h * c_in, out * out * c_out
    assert conv.count_params() == conv_params(k, c_in, c_out)
    if n_in * n_out < 5e7:  # small enough to build: let Keras confirm the dense count too
        dense = layers.Dense(n_out)
        dense.build((None, n_in))
        assert dense.count_params() == dense_params(n_in, n_out)
    rows.append((f"{h}x{h}x{c_in} -> {out}x{out}x{c_out} ({k}x{k})", conv_params(k, c_in, c_out), dense_params(n_in, n_out)))

print(f"{'feature maps':38s} {'Conv2D params':>14s} {'Dense params':>18s} {'ratio':>10s}")
for text, c, d in rows:
    print(f"{text:38s} {c:14,d} {d:18,d} {d / c:10,.0f}x")

# %% [markdown]
# ## 9. Receptive fields grow through the layers
#
# The **receptive field** of a unit is the input region that can influence it. Walking through the
# layers with kernel size `k` and stride `s`, the receptive field `r` and the *jump* `j` (the distance in
# input pixels between neighbouring units, the product of the strides so far) grow as
#
# $$r_l = r_{l-1} + (k_l - 1)\, j_{l-1}, \qquad j_l = j_{l-1}\, s_l, \qquad r_0 = j_0 = 1.$$
#
# We compute it for the LeNet of the model zoo (`kerascnn.build("lenet")`), then measure it: the gradient
# of one unit in the middle of a feature map with respect to the input is non-zero exactly on its
# receptive field.

# %%
import kerascnn

lenet = kerascnn.build("lenet", input_shape=(28, 28, 1))
r, j = 1, 1
predicted = {}
for layer in lenet.layers:
    if isinstance(layer, layers.Conv2D):
        k, s, d = layer.kernel_size[0], layer.strides[0], layer.dilation_rate[0]
        k = d * (k - 1) + 1  # a dilated kernel spans this many pixels
    elif isinstance(layer, (layers.MaxPooling2D, layers.AveragePooling2D)):
        k, s = layer.pool_size[0], layer.strides[0]
    else:
        continue
    r, j = r + (k - 1) * j, j * s
    predicted[layer.name] = (r, j)
    print(f"{layer.name:14s} output {str(layer.output.shape):18s} receptive field {r:2d} x {r:<2d} jump {j}")


def measured_receptive_field(model, layer_name, image_hw=(28, 28)):
    """Side of the input region whose pixels change the middle unit of a layer's output (via gradients)."""
    probe = keras.Model(model.inputs, model.get_layer(layer_name).output)
    x = tf.convert_to_tensor(np.random.default_rng(1).normal(size=(1, *image_hw, 1)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = probe(x)
        unit = y[0, y.shape[1] // 2, y.shape[2] // 2, 0]
    grad = np.abs(tape.gradient(unit, x).numpy()[0, :, :, 0])
    rows_, cols_ = np.nonzero(grad)
    return rows_.max() - rows_.min() + 1, cols_.max() - cols_.min() + 1, grad


gradients = {}
for name, (r, _) in predicted.items():
    h, w, grad = measured_receptive_field(lenet, name)
    gradients[name] = grad
    assert (h, w) == (r, r), (name, (h, w), r)
print("measured receptive fields == the formula, for every LeNet layer")

# %% [markdown]
# `kerascnn summary lenet` (or `kerascnn.summary.summarize_model` in Python) computes the same numbers from
# the layer configurations, for any zoo model, through Inception and residual branches too:

# %%
from kerascnn.summary import summarize_model

summary = summarize_model("lenet", input_shape=(28, 28, 1))
print(summary.format_table())
for name, (r, j) in predicted.items():
    assert summary.layer(name).receptive_field == (r, r) and summary.layer(name).jump == (j, j), name

# %% tags=["plot"]
fig, axes = plt.subplots(1, len(gradients), figsize=(4 * len(gradients), 3.5))
for ax, (name, grad) in zip(axes, gradients.items()):
    ax.imshow(grad > 0, cmap="Blues")
    ax.set_title(f"{name}: {predicted[name][0]}x{predicted[name][0]}")
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("input pixels that reach the middle unit of each layer (28 x 28 input)", y=1.04)
plt.show()

# %% [markdown]
# Stacking `3 x 3` convolutions grows the receptive field by 2 per layer; a stride-2 pooling layer doubles
# the jump, so every layer after it grows the field twice as fast. That is why VGG alternates blocks of
# `3 x 3` convolutions with pooling:

# %%
def receptive_fields(plan):
    """plan: a list of (kernel, stride); returns the receptive field after each layer."""
    r, j, out = 1, 1, []
    for k, s in plan:
        r, j = r + (k - 1) * j, j * s
        out.append(r)
    return out


depth = 12
plain = receptive_fields([(3, 1)] * depth)
vgg_like = receptive_fields([(3, 1), (3, 1), (2, 2)] * (depth // 3))  # two convs, then a 2/2 pool
assert plain == [3 + 2 * i for i in range(depth)]

# %% tags=["plot"]
plt.figure(figsize=(6, 3.5))
plt.plot(range(1, depth + 1), plain, "o-", label="3x3 convs, stride 1")
plt.plot(range(1, depth + 1), vgg_like, "s-", label="(3x3 conv, 3x3 conv, 2x2 pool) blocks")
plt.xlabel("layer")
plt.ylabel("receptive field (pixels)")
plt.legend()
plt.show()

# %% [markdown]
# ## Summary
#
# * An image batch is an `(N, H, W, C)` tensor; a `Conv2D` kernel is `(kh, kw, c_in, c_out)`.
# * A convolutional layer computes a cross-correlation; its numbers are the four nested loops above.
# * Kernels are learned by gradient descent like any other weight.
# * Output size: `floor((n - k + 2p) / s) + 1`; `padding="same"` gives `ceil(n / s)`.
# * A 1x1 convolution is a dense layer shared across pixels; pooling has no weights.
# * Weight sharing makes convolutions orders of magnitude smaller than dense layers on the same maps.
# * Receptive fields grow by `(k - 1) * jump` per layer, and strides multiply the jump.
#
# Next: `02_lenet_end_to_end.ipynb` trains the LeNet we just measured.
