"""What reproducible augmentation costs: augmented batches mapped one at a time against the parallel map.

    python benchmarks/bench_augment.py                # ~5 minutes on 2 cores; results/bench_augment.json
    python benchmarks/bench_augment.py --rounds 5 --skip-fit

kerascnn maps its augmentation layers over training batches one at a time (kerascnn.data.augmentation: the
layers' seed generators must advance in batch order for ``seed`` to give the same run twice). The reference
is the map it replaced: the same layers with ``num_parallel_calls=AUTOTUNE`` (not reproducible). Alternating
rounds (each measures both, in turn first), medians and the per-round ratios; the machine's load
(``os.getloadavg``) is printed with every number.

Prints:
  * the input pipeline alone (``build_dataset`` with ``augment``, no model), img/s, at 28x28x1 (translate; all
    four augmentations), 64x64x3 and 224x224x3 (all four); random pixels: only the shape matters;
  * ``kerascnn.fit("mnist_cnn", "path/to/mnist", augment=["translate"], epochs=2)``, and LeNet (the
    fastest model) with all four augmentations: images_per_second of metrics.json, in-process, the
    reference by swapping the map in ``kerascnn.data.pipeline``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

CASES = [
    ((28, 28, 1), ["translate"], 128),
    ((28, 28, 1), ["flip", "translate", "crop", "color"], 128),
    ((64, 64, 3), ["flip", "translate", "crop", "color"], 64),
    ((224, 224, 3), ["flip", "translate", "crop", "color"], 32),
]


AUGMENTATIONS = ("flip", "translate", "crop", "color")


def load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def parallel_map(ds, augment):
    """The reference: the map kerascnn used before, every batch's call in flight at once."""
    import tensorflow as tf

    return ds.map(lambda images, labels: (augment(images, training=True), labels), num_parallel_calls=tf.data.AUTOTUNE)


def pipelines(shape, names, batch_size) -> dict:
    import numpy as np

    from kerascnn.data import RawDataset, build_dataset, make_spec
    from kerascnn.data.augmentation import augmentation_layers

    n = max(256, min(4096, 50_000_000 // int(np.prod(shape))))  # ~50 MB of pixels per set
    x = np.random.default_rng(0).integers(0, 256, (n, *shape), dtype=np.uint8)
    y = np.arange(n) % 10
    spec = make_spec(RawDataset.from_arrays(x, y, x[:10], y[:10]), shape, x)
    augment = augmentation_layers(names, spec, seed=0)
    kerascnn = build_dataset(x, y, spec, batch_size=batch_size, training=True, augment=augment)
    plain = build_dataset(x, y, spec, batch_size=batch_size, training=True)
    return {"kerascnn (one at a time)": kerascnn, "parallel map (reference)": parallel_map(plain, augment).prefetch(-1)}


def images_per_second(ds, seconds: float = 2.0) -> float:
    """Whole epochs of ``ds`` for at least ``seconds``."""
    start, count = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        for images, _ in ds:
            count += int(images.shape[0])
    return count / (time.perf_counter() - start)


ROWS: list = []  # (what, kerascnn img/s, reference img/s, median ratio, lowest ratio, highest ratio, load)


def report(label: str, results: dict) -> None:
    """Medians, and the median and range of the per-round ratios (rounds alternate the two)."""
    ours, reference = results.values()
    ratios = sorted(a / b for a, b in zip(ours, reference))
    ROWS.append(
        (
            label,
            round(statistics.median(ours)),
            round(statistics.median(reference)),
            round(statistics.median(ratios), 2),
            round(ratios[0], 2),
            round(ratios[-1], 2),
            round(os.getloadavg()[0], 1),
        )
    )
    print(
        f"{label}: "
        + ", ".join(f"{k} {statistics.median(v):,.0f} img/s" for k, v in results.items())
        + f"; ratio {statistics.median(ratios):.2f} (rounds {ratios[0]:.2f}-{ratios[-1]:.2f}; {load()})",
        flush=True,
    )


def bench_pipelines(rounds: int) -> None:
    for shape, names, batch_size in CASES:
        candidates = pipelines(shape, names, batch_size)
        for ds in candidates.values():  # warm-up: tracing, first batches
            for _ in ds.take(3):
                pass
        results = {name: [] for name in candidates}
        for r in range(rounds):
            for name in list(candidates)[:: 1 if r % 2 else -1]:  # alternate which goes first
                results[name].append(images_per_second(candidates[name]))
        report(f"pipeline {'x'.join(map(str, shape))} {','.join(names)} batch {batch_size}", results)


def bench_fit(rounds: int, model: str = "mnist_cnn", names=("translate",)) -> None:
    import kerascnn
    import kerascnn.data.pipeline as pipeline
    from record import find_data

    ours = pipeline.augment_batches
    results = {"kerascnn (one at a time)": [], "parallel map (reference)": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds + 1):  # round 0 warms up
            for name in list(results)[:: 1 if r % 2 else -1]:
                pipeline.augment_batches = ours if name.startswith("kerascnn") else parallel_map
                try:
                    run = kerascnn.fit(
                        model,
                        str(find_data("mnist")),
                        augment=list(names),
                        epochs=2,
                        verbose=0,
                        out=f"{tmp}/{r}-{len(results[name])}-{name[:3]}",
                    )
                finally:
                    pipeline.augment_batches = ours
                if r:
                    results[name].append(run.metrics["images_per_second"])
    report(f"fit {model} --augment {','.join(names)} (8,000 MNIST images, 2 epochs)", results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-fit", action="store_true")
    parser.add_argument("--skip-pipeline", action="store_true")
    args = parser.parse_args()
    from record import Result

    record = Result("bench_augment", "Reproducible augmentation: batches mapped one at a time against a parallel map")
    print(f"start ({load()})", flush=True)
    if not args.skip_pipeline:
        bench_pipelines(args.rounds)
    if not args.skip_fit:
        bench_fit(args.rounds)
        bench_fit(args.rounds, "lenet", AUGMENTATIONS)  # the fastest model: where the pipeline could show
    record.note(
        "Each round measures both, alternating which goes first; the ratio is kerascnn's img/s over the "
        "parallel map's in the same round."
    )
    record.table(
        "Images per second, median of rounds",
        [
            "what",
            "kerascnn (one batch at a time)",
            "parallel map (reference)",
            "ratio",
            "lowest round",
            "highest round",
            "load",
        ],
        ROWS,
    )
    record.save()


if __name__ == "__main__":
    main()
