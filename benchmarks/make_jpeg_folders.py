"""Write MNIST's 60,000 real training digits as 224x224 RGB JPEGs in class folders, plus 2,000/20,000 subsets.

    python benchmarks/make_jpeg_folders.py OUT     # -> OUT/mnist_jpeg_{2000,20000,60000}/<digit>/*.jpg

MNIST comes from the ``mnist-full`` IDX folder that ``record.find_data`` finds (``$KERASCNN_DATA/mnist-full``).

Subsets are hard links to the 60,000 set's files (seeded choice), so they cost no space; files written once are
kept (rerunning only fills in what is missing). Two processes write in parallel.
"""

from __future__ import annotations

import os
import sys
import tempfile
from multiprocessing import Pool
from pathlib import Path

import numpy as np

SIZES = (2000, 20000, 60000)


def _write(args):
    start, images, labels, root = args
    from PIL import Image

    for i, (image, label) in enumerate(zip(images, labels)):
        path = root / str(label) / f"{start + i:05d}.jpg"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            Image.fromarray(image).convert("RGB").resize((224, 224), Image.BILINEAR).save(tmp, "JPEG", quality=90)
            tmp.rename(path)
    return len(images)


def make(out) -> dict:
    from kerascnn.data.idx import load_idx_folder
    from record import find_data

    out = Path(out)
    raw = load_idx_folder(find_data("mnist-full"))
    x, y = raw.x_train[..., 0], raw.y_train
    full = out / "mnist_jpeg_60000"
    for c in range(10):
        (full / str(c)).mkdir(parents=True, exist_ok=True)
    chunks = [(s, x[s : s + 2000], y[s : s + 2000], full) for s in range(0, len(x), 2000)]
    with Pool(2) as pool:
        for _ in pool.imap_unordered(_write, chunks):
            pass
    folders = {len(x): full}
    for n in SIZES[:-1]:
        sub = out / f"mnist_jpeg_{n}"
        chosen = np.sort(np.random.default_rng(0).permutation(len(x))[:n])
        for i in chosen:
            target = sub / str(y[i]) / f"{i:05d}.jpg"
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.hardlink_to(full / str(y[i]) / f"{i:05d}.jpg")
        folders[n] = sub
    return folders


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    print(make(sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.gettempdir(), "kerascnn-jpeg")))
