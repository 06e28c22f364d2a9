"""The plots of a run: learning curves, confusion matrix, a grid of misclassified test images.

Figures are bare ``matplotlib.figure.Figure`` objects, never pyplot: drawing needs no display and leaves
the caller's backend alone (a notebook's inline plots keep working after ``kerascnn.fit``). Every
figure is written through a temporary file and a rename so a plot is never half-written.
"""

from __future__ import annotations

import io

import numpy as np


def _figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def _save(fig, path) -> None:
    from kerascnn.fsutil import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def plot_learning_curves(history: dict, path, *, accuracy_key: str = "accuracy") -> None:
    """Loss and accuracy per epoch, training and validation. ``history``: key -> list per epoch."""
    fig = _figure((10, 3.8))
    axes = fig.subplots(1, 2)
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    for ax, key, title in ((axes[0], "loss", "loss"), (axes[1], accuracy_key, "accuracy")):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = history.get(prefix + key)
            if values:
                ax.plot(
                    epochs[: len(values)],
                    values,
                    style,
                    marker="o",
                    ms=3,
                    label=("validation " if prefix else "training ") + title,
                )
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, path)


# Above this many classes a label per row and column is unreadable (and costs seconds per thousand
# labels to draw): the axes show class indices at readable intervals instead.
NAMED_TICKS_MAX_CLASSES = 40


def _blues(counts: np.ndarray) -> np.ndarray:
    """uint8 RGBA of ``counts`` in matplotlib's "Blues", through a 256-entry table: a 1,000-class matrix colored
    by the colormap itself goes through float64 RGBA copies of the whole image (over 100 MB)."""
    from matplotlib import colormaps

    table = colormaps["Blues"](np.linspace(0.0, 1.0, 256), bytes=True)
    top = max(int(counts.max()), 1) if counts.size else 1
    return table[np.rint(counts * (255.0 / top)).astype(np.uint8)]


def plot_confusion_matrix(cm: np.ndarray, class_names, path) -> None:
    """``cm[i, j]``: test images of class i predicted as class j (``sklearn.metrics.confusion_matrix``)."""
    from matplotlib.ticker import MaxNLocator

    k = len(class_names)
    size = min(14, 2.5 + 0.45 * k)
    fig = _figure((size, size))
    ax = fig.subplots()
    ax.imshow(_blues(cm), interpolation="nearest")
    if k <= NAMED_TICKS_MAX_CLASSES:
        ax.set_xticks(range(k), class_names, rotation=90 if k > 10 else 0)
        ax.set_yticks(range(k), class_names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    else:
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(MaxNLocator(nbins=10, integer=True))
        ax.set_xlabel("predicted (class index)")
        ax.set_ylabel("true (class index)")
    ax.set_title(f"confusion matrix ({cm.sum()} test images)")
    if k <= 20:
        threshold = cm.max() / 2 if cm.size else 0
        for i in range(k):
            for j in range(k):
                ax.text(
                    j,
                    i,
                    int(cm[i, j]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if cm[i, j] > threshold else "black",
                )
    _save(fig, path)


def plot_misclassified(images, y_true, y_pred, class_names, path, *, max_images: int = 36) -> None:
    """A grid of up to ``max_images`` raw test images the model got wrong, labelled "true -> predicted".

    Drawn as one mosaic image with text labels (one Axes instead of 36 keeps this well under a second).
    """
    wrong = np.flatnonzero(np.asarray(y_true) != np.asarray(y_pred))[:max_images]
    cols = 6
    rows = max(1, -(-len(wrong) // cols))
    h, w, c = images.shape[1:]
    pad_top, pad = max(4, h // 3), 2  # room for the label above each image
    cell_h, cell_w = h + pad_top + pad, w + 2 * pad
    mosaic = np.full((rows * cell_h, cols * cell_w, 3), 255, np.uint8)
    for k, i in enumerate(wrong):
        r, q = divmod(k, cols)
        img = images[i] if c == 3 else np.repeat(images[i], 3, axis=-1)
        mosaic[r * cell_h + pad_top : r * cell_h + pad_top + h, q * cell_w + pad : q * cell_w + pad + w] = img
    fig = _figure((cols * 1.5, rows * 1.6 + 0.4))
    ax = fig.subplots()
    ax.imshow(mosaic, interpolation="nearest")
    ax.axis("off")
    for k, i in enumerate(wrong):
        r, q = divmod(k, cols)
        ax.text(
            q * cell_w + cell_w / 2,
            r * cell_h + pad_top / 2,
            f"{class_names[y_true[i]]} -> {class_names[y_pred[i]]}",
            ha="center",
            va="center",
            fontsize=7,
            color="crimson",
        )
    ax.set_title("misclassified test images (true -> predicted)" if len(wrong) else "no misclassified test images")
    _save(fig, path)


def plot_fold_curves(histories: list, path, *, folds_summary: dict | None = None) -> None:
    """Cross-validation: each fold's validation accuracy (left) and losses (right) per epoch, and their mean.

    ``histories``: one ``{"loss": [...], "val_loss": [...], "val_accuracy": [...]}`` per fold.
    """
    fig = _figure((11, 4))
    axes = fig.subplots(1, 2)
    colors = [f"C{i % 10}" for i in range(len(histories))]
    for fold, (history, color) in enumerate(zip(histories, colors), start=1):
        acc = history.get("val_accuracy") or []
        axes[0].plot(np.arange(1, len(acc) + 1), acc, color=color, alpha=0.8, label=f"fold {fold}")
        for key, style in (("loss", ":"), ("val_loss", "-")):
            values = history.get(key) or []
            axes[1].plot(np.arange(1, len(values) + 1), values, style, color=color, alpha=0.8)
    lengths = {len(h.get("val_accuracy") or []) for h in histories}
    if len(lengths) == 1 and 0 not in lengths:  # same epochs in every fold (no early stopping): draw the mean
        mean = np.mean([h["val_accuracy"] for h in histories], axis=0)
        axes[0].plot(np.arange(1, len(mean) + 1), mean, color="black", lw=2.5, label="mean")
    title = "validation accuracy per fold"
    if folds_summary and "val_accuracy_mean" in folds_summary:
        title += f" (last epoch: {folds_summary['val_accuracy_mean']:.4f} ± {folds_summary['val_accuracy_std']:.4f})"
    axes[0].set_title(title)
    axes[1].set_title("loss per fold (dotted: training, solid: validation)")
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    _save(fig, path)
