"""Peak memory and time of `kerascnn fit` on an ImageNet-sized image folder, beside a 20,000-file one.

Writes two folders of 28x28 JPEG digits (real MNIST images, re-encoded) in ImageNet-1k's layout, one
class subfolder per class, then runs the same command on each in a fresh process and reads the process's
peak resident memory from the kernel (``wait4``):

    kerascnn fit lenet --dataset FOLDER --input-shape 32,32,3 --epochs 1 --steps-per-epoch 20 --eval-steps 5

and, for the fixed cost of listing and splitting, a tiny run (``--test-split 0.001 --val-split 0.001
--steps-per-epoch 1``) on the large folder and on a 10,000-image IDX set. The goal: the large folder's peak
memory within 1.25x the small folder's (held in memory by default, and forced to stream), and its tiny run
within 30 s of the IDX set's. Last, the memory of the large folder's file list alone (tracemalloc).

    python benchmarks/bench_large_folders.py   # 1,281,000 files in 1,000 classes (5 GB, written in a minute or two)
    python benchmarks/bench_large_folders.py --files 100000 --quick   # a smaller check
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from record import Result, find_data

FIT = ["fit", "lenet", "--input-shape", "32,32,3", "--epochs", "1", "--steps-per-epoch", "20", "--eval-steps", "5"]
TINY = [
    "fit",
    "lenet",
    "--input-shape",
    "32,32,3",
    "--epochs",
    "1",
    "--steps-per-epoch",
    "1",
    "--test-split",
    "0.001",
    "--val-split",
    "0.001",
]


def mnist_jpegs(count: int) -> list[bytes]:
    """``count`` distinct JPEG files of real MNIST digits (the folder repeats them)."""
    from PIL import Image

    raw = gzip.decompress((find_data("mnist") / "t10k-images-idx3-ubyte.gz").read_bytes())
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)[:count]
    out = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def write_folder(folder: Path, files: int, classes: int) -> bool:
    """``files`` JPEGs in ``classes`` subfolders, named as ImageNet's are (``n0000042/img_00000123.jpg``);
    False when a complete folder was there already."""
    if (folder / ".complete").is_file():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    payloads = mnist_jpegs(1000)
    per_class = -(-files // classes)
    written = 0
    for c in range(classes):
        class_dir = folder / f"n{c:07d}"
        class_dir.mkdir(parents=True)
        for i in range(min(per_class, files - written)):
            (class_dir / f"img_{written:08d}.jpg").write_bytes(payloads[written % len(payloads)])
            written += 1
    (folder / ".complete").write_text(str(written))
    return True


def run(args: list, cwd: Path) -> tuple[float, float, str]:
    """``kerascnn ARGS`` in a fresh process: (wall seconds, peak RSS in MB, last output line)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kerascnn.cli.main", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"kerascnn {' '.join(args)} failed:\n{output[-3000:]}")
    last = [line for line in output.splitlines() if line.strip()][-1]
    return seconds, usage.ru_maxrss / 1024, last


LISTING_COST = """
import json, sys, time, tracemalloc
from kerascnn.data.folders import list_image_folder
tracemalloc.start()
start = time.perf_counter()
listing = list_image_folder(sys.argv[1])
seconds = time.perf_counter() - start
retained, peak = tracemalloc.get_traced_memory()
print(json.dumps({"files": len(listing), "seconds": seconds, "retained": retained, "peak": peak}))
"""


def listing_cost(folder: Path) -> dict:
    """Python memory the file list of ``folder`` holds (and its peak while listing), in a fresh process."""
    out = subprocess.run([sys.executable, "-c", LISTING_COST, str(folder)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1_281_000, help="files in the large folder (ImageNet-1k's count)")
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--small-files", type=int, default=20_000)
    parser.add_argument("--small-classes", type=int, default=100)
    parser.add_argument("--work", type=Path, help="where the folders go (default: a temporary folder, removed)")
    parser.add_argument("--keep", action="store_true", help="keep the folders for another run")
    parser.add_argument("--quick", action="store_true", help="record as a quick run (a smaller --files)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="kerascnn-large-"))
    result = Result("bench_large_folders", "kerascnn fit on an ImageNet-sized folder", quick=args.quick, argv=argv)
    try:
        large, small = work / f"large-{args.files}", work / f"small-{args.small_files}"
        start = time.perf_counter()
        if write_folder(large, args.files, args.classes):
            result.figure("writing the large folder", round(time.perf_counter() - start, 1), "s")
        write_folder(small, args.small_files, args.small_classes)
        rows = []
        for label, folder, extra in (
            ("small folder, fit", small, FIT),
            ("small folder, fit, streamed", small, [*FIT, "--cache-budget-mb", "0"]),
            ("large folder, fit", large, FIT),
            ("IDX set, tiny run", find_data("mnist"), TINY),
            ("large folder, tiny run", large, TINY),
        ):
            out = work / "runs" / label.replace(" ", "-").replace(",", "")
            seconds, rss, last = run([*extra, "--dataset", str(folder), "--out", str(out)], work)
            shutil.rmtree(out, ignore_errors=True)
            print(f"{label}: {seconds:.1f} s, peak {rss:,.0f} MB  ({last})", flush=True)
            rows.append([label, round(seconds, 1), round(rss)])
        result.table("Peak memory and wall time", ["run", "seconds", "peak RSS (MB)"], rows)
        cost = listing_cost(large)
        print(f"listing the large folder: {cost}", flush=True)
        result.figure("file list of the large folder, held", round(cost["retained"] / 2**20, 1), "MB")
        result.figure("file list of the large folder, peak while listing", round(cost["peak"] / 2**20, 1), "MB")
        result.figure("file list, bytes per file", round(cost["retained"] / cost["files"], 1), "bytes")
        by = {r[0]: r for r in rows}
        result.figure(
            "peak RSS, large / small folder", round(by["large folder, fit"][2] / by["small folder, fit"][2], 3), "x"
        )
        result.figure(
            "peak RSS, large / small folder streamed",
            round(by["large folder, fit"][2] / by["small folder, fit, streamed"][2], 3),
            "x",
        )
        result.figure(
            "tiny run, large folder minus IDX set",
            round(by["large folder, tiny run"][1] - by["IDX set, tiny run"][1], 1),
            "s",
        )
        result.note(
            f"Large folder: {args.files:,} files in {args.classes:,} classes; small folder: "
            f"{args.small_files:,} files in {args.small_classes} classes; both 28x28 JPEG digits. Each run "
            "is a fresh process; peak RSS is the kernel's maximum resident set of that process. The small folder "
            "fits the default cache budget and is decoded into memory; the streamed row forces streaming "
            "(--cache-budget-mb 0), as the large folder streams. The file list's memory is traced by tracemalloc "
            "in a process that only lists the large folder."
        )
        result.save()
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
