"""Data at scale: memory, start-up and input-pipeline speed of streamed image folders, in one script.

    python benchmarks/bench_data.py          # JPEG folders made once in the temporary directory
                                             # results: results/bench_data.json
    python benchmarks/bench_data.py --sizes 2000 60000 --skip-throughput

Data: MNIST's 60,000 real training digits (the ``mnist-full`` IDX folder, see record.find_data) written once as
224x224 RGB JPEGs in class folders by benchmarks/make_jpeg_folders.py (2,000 and 20,000 are seeded subsets, hard
links).

Prints:
  * per folder size, for ``kerascnn fit lenet --dataset FOLDER --input-shape 64,64 --epochs 1 --steps-per-epoch 20``
    in a fresh process: peak RSS (the process's own, from wait4) and the seconds from process start to the end
    of the first training step (targets: both within 15% / 1.5x from 2,000 to 60,000 images);
  * input-pipeline throughput alone (decode a JPEG, resize to 224x224, normalize, batch 64; no model), img/s,
    alternating rounds: kerascnn's stream vs ``keras.utils.image_dataset_from_directory`` vs a PyTorch
    ImageFolder-style ``DataLoader`` (PIL decode, 2 workers) when torch is installed (target: kerascnn >= the
    fastest). Each reads the same 60,000-image folder; the first batches (start-up) are not timed.
The machine's load (``os.getloadavg``) is printed with every number.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

FIT_DRIVER = r"""
import sys, time
start = float(sys.argv[1])
import keras
first = {}
class FirstStep(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        first.setdefault("t", time.time() - start)
import kerascnn
kerascnn.fit("lenet", dataset=sys.argv[2], input_shape=[64, 64], epochs=1, steps_per_epoch=20, out=sys.argv[3],
             overwrite=True, verbose=0, callbacks=[FirstStep()])
print("FIRST_STEP", first["t"])
"""


def load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def measure_fit(folder: Path, out: Path) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-c", FIT_DRIVER, repr(start), str(folder), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    # wait4 gives this child's own peak RSS (RUSAGE_CHILDREN would keep the largest of all children so far)
    stdout_chunks = []
    import threading

    def drain(stream, sink):
        sink.append(stream.read())

    errors: list = []
    threads = [
        threading.Thread(target=drain, args=(proc.stdout, stdout_chunks)),
        threading.Thread(target=drain, args=(proc.stderr, errors)),
    ]
    for t in threads:
        t.start()
    _, status, usage = os.wait4(proc.pid, 0)
    for t in threads:
        t.join()
    total = time.time() - start
    if status:
        raise SystemExit(f"fit failed on {folder}:\n{''.join(errors)[-3000:]}")
    stdout = "".join(stdout_chunks)
    first = float(next(line.split()[1] for line in stdout.splitlines() if line.startswith("FIRST_STEP")))
    return {
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "first_step_s": round(first, 2),
        "total_s": round(total, 1),
    }


# ---------------------------------------------------------------------------------------------- throughput


def kerascnn_stream(folder: Path, batch: int):
    from kerascnn.data.prepare import prepare_data

    data = prepare_data(str(folder), (224, 224, 3), cache_budget_bytes=0, val_split=0, stats_sample=200)
    return data.train.dataset(data.spec, batch_size=batch, training=True, repeat=True).as_numpy_iterator()


def keras_directory(folder: Path, batch: int):
    import keras
    import tensorflow as tf

    ds = keras.utils.image_dataset_from_directory(
        str(folder), image_size=(224, 224), batch_size=batch, shuffle=True, seed=0, verbose=False
    )
    mean, std = tf.constant([0.13] * 3), tf.constant([0.31] * 3)
    ds = ds.map(lambda x, y: ((x / 255.0 - mean) / std, y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.repeat().prefetch(tf.data.AUTOTUNE).as_numpy_iterator()


def torch_loader(folder: Path, batch: int):
    import numpy as np
    import torch
    from PIL import Image

    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    items = [(str(f), i) for i, c in enumerate(classes) for f in sorted((folder / c).iterdir())]
    mean, std = np.float32(0.13), np.float32(0.31)

    class ImageFolderPIL(torch.utils.data.Dataset):  # torchvision.datasets.ImageFolder + ToTensor + Normalize
        def __len__(self):
            return len(items)

        def __getitem__(self, i):
            path, label = items[i]
            with Image.open(path) as im:
                im = im.convert("RGB").resize((224, 224), Image.BILINEAR)
            x = (np.asarray(im, np.float32) / 255.0 - mean) / std
            return torch.from_numpy(x.transpose(2, 0, 1)), label

    loader = torch.utils.data.DataLoader(
        ImageFolderPIL(), batch_size=batch, shuffle=True, num_workers=2, persistent_workers=True
    )

    def forever():
        while True:
            for x, y in loader:
                yield x.numpy(), y.numpy()

    return forever()


def images_per_second(iterator, batches: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        next(iterator)
    start, n = time.perf_counter(), 0
    for _ in range(batches):
        x, _ = next(iterator)
        n += len(x)
    return n / (time.perf_counter() - start)


def throughput(folder: Path, *, batch: int = 64, batches: int = 40, rounds: int = 2) -> dict:
    makers = {"kerascnn stream": kerascnn_stream, "keras image_dataset_from_directory": keras_directory}
    try:
        import torch  # noqa: F401

        makers["PyTorch DataLoader (PIL, 2 workers)"] = torch_loader
    except ImportError:
        print("torch is not installed: the PyTorch DataLoader is skipped (pip install torch==2.13.0)")
    iterators = {name: make(folder, batch) for name, make in makers.items()}
    results: dict = {name: [] for name in makers}
    for r in range(rounds):
        for name, it in iterators.items():
            rate = images_per_second(it, batches)
            results[name].append(rate)
            print(f"  round {r + 1}: {name:40s} {rate:7.0f} img/s   ({load()})", flush=True)
    return {name: max(rates) for name, rates in results.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--folders",
        default=os.path.join(tempfile.gettempdir(), "kerascnn-jpeg"),
        help="where the JPEG folders are (made if missing)",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000, 60000])
    parser.add_argument("--skip-fit", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--batches", type=int, default=40, help="timed batches per throughput round")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from make_jpeg_folders import make

    from record import Result

    record = Result("bench_data", "Data at scale: memory, start-up and input-pipeline speed of streamed image folders")
    folders = make(args.folders)
    results: dict = {}
    if not args.skip_fit:
        print("kerascnn fit lenet --dataset FOLDER --input-shape 64,64 --epochs 1 --steps-per-epoch 20")
        fits = {}
        with tempfile.TemporaryDirectory() as tmp:
            for n in args.sizes:
                fits[n] = measure_fit(folders[n], Path(tmp) / f"run{n}")
                print(
                    f"  {n:6d} images: peak RSS {fits[n]['peak_rss_mb']:7.1f} MB, first step after "
                    f"{fits[n]['first_step_s']:5.2f} s, whole run {fits[n]['total_s']:6.1f} s   ({load()})",
                    flush=True,
                )
        lo, hi = min(args.sizes), max(args.sizes)
        rss = fits[hi]["peak_rss_mb"] / fits[lo]["peak_rss_mb"]
        first = fits[hi]["first_step_s"] / fits[lo]["first_step_s"]
        print(f"  {hi} vs {lo} images: peak RSS x{rss:.2f} (target <= 1.15), first step x{first:.2f} (target <= 1.5)")
        results["fit"] = fits
        record.table(
            "`kerascnn fit lenet --dataset FOLDER --input-shape 64,64 --epochs 1 --steps-per-epoch 20`, "
            "a fresh process per folder",
            ["images", "peak RSS MB", "first step s", "whole run s"],
            [
                (n, round(f["peak_rss_mb"], 1), round(f["first_step_s"], 2), round(f["total_s"], 1))
                for n, f in fits.items()
            ],
        )
        record.figure(f"peak RSS, {hi} vs {lo} images", round(rss, 2), "x (target <= 1.15)")
        record.figure(f"first step, {hi} vs {lo} images", round(first, 2), "x (target <= 1.5)")
    if not args.skip_throughput:
        print("Input pipeline alone: decode + resize to 224x224 + normalize + batch 64, img/s (best round)")
        rates = throughput(folders[max(folders)], batches=args.batches)
        fastest_other = max(v for k, v in rates.items() if k != "kerascnn stream")
        for name, rate in rates.items():
            print(f"  {name:40s} {rate:7.0f} img/s")
        print(f"  kerascnn / fastest other: x{rates['kerascnn stream'] / fastest_other:.2f} (target >= 1)")
        results["throughput"] = rates
        record.table(
            "Input pipeline alone: decode a 224x224 JPEG, resize, normalize, batch 64 (best round)",
            ["pipeline", "img/s"],
            [(name, round(rate)) for name, rate in rates.items()],
        )
        record.figure(
            "kerascnn stream / fastest other", round(rates["kerascnn stream"] / fastest_other, 2), "x (target >= 1)"
        )
    print(json.dumps(results, default=str))
    record.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
