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


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A valid 8-bit grayscale PNG of ``width`` x ``height`` black pixels in a few hundred KB (a decompression bomb).

    Written chunk by chunk (no pixel array is ever made): 20000x20000 is 388,871 bytes that decode to 400 MB.
    """
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    rows_per_block = 500
    block = (b"\x00" * (width + 1)) * rows_per_block  # filter byte 0 + a row of zeros
    parts = [compressor.compress(block) for _ in range(height // rows_per_block)]
    parts.append(compressor.compress((b"\x00" * (width + 1)) * (height % rows_per_block)))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
