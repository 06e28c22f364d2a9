"""Per-image latency of a predictor: p50/p99 over N single-image calls, and images per second."""

from __future__ import annotations

import time

import numpy as np


def benchmark(predictor, image, runs: int = 1000, warmup: int | None = None) -> dict:
    """Time ``predictor.predict`` on one image (uint8 ``[h, w, c]`` or ``[1, h, w, c]``) ``runs`` times.

    Returns:
        dict with runs, p50_us, p99_us, mean_us (microseconds per image, end to end through the
        predictor: input copy, invoke, output copy) and images_per_second (1 / mean).
    """
    runs = int(runs)
    if runs < 1:
        raise ValueError(f"runs must be at least 1. Received: {runs}")
    batch = np.asarray(image)
    if batch.ndim == 3:
        batch = batch[None]
    batch = batch[:1]
    for _ in range(warmup if warmup is not None else min(100, max(3, runs // 10))):
        predictor.predict(batch)  # the first calls plan memory / trace graphs
    clock = time.perf_counter_ns
    times = np.empty(runs, np.int64)
    for i in range(runs):
        start = clock()
        predictor.predict(batch)
        times[i] = clock() - start
    micros = times / 1e3
    return {
        "runs": runs,
        "p50_us": float(np.percentile(micros, 50)),
        "p99_us": float(np.percentile(micros, 99)),
        "mean_us": float(micros.mean()),
        "images_per_second": float(1e6 / micros.mean()),
    }
