"""Small real datasets written to disk by the tests: IDX files and folders of PNG images."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def digit_like_images(n: int, size: int = 12, seed: int = 0):
    """``n`` uint8 images of two easily separable classes (a bright square left or right) + labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.integers(0, 40, size=(n, size, size), dtype=np.uint8)
    half = size // 2
    for i, label in enumerate(y):
        cols = slice(0, half) if label == 0 else slice(half, size)
        x[i, 2:-2, cols] = 220
    return x, y


def write_idx_folder(folder: Path, *, n_train=60, n_test=20, gz=True, single=False) -> Path:
    from kerascnn.data.idx import write_idx

    folder.mkdir(parents=True, exist_ok=True)
    x, y = digit_like_images(n_train + n_test)
    if single:
        write_idx(folder, "train", x, y, gz=gz)
    else:
        write_idx(folder, "train", x[:n_train], y[:n_train], gz=gz)
        write_idx(folder, "t10k", x[n_train:], y[n_train:], gz=gz)
    return folder


def write_image_folder(folder: Path, *, per_class=12, classes=("left", "right"), rgb=False) -> Path:
    from PIL import Image

    x, y = digit_like_images(per_class * len(classes))
    for i, (img, label) in enumerate(zip(x, y)):
        d = folder / classes[label % len(classes)]
        d.mkdir(parents=True, exist_ok=True)
        im = Image.fromarray(img)
        if rgb:
            im = im.convert("RGB")
        im.save(d / f"{i:03d}.png")
    return folder
