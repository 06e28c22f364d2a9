"""The latency benchmark reports consistent statistics (speed targets live in benchmarks/)."""

from __future__ import annotations

import pytest

from kerascnn.inference import benchmark, load_predictor


def test_benchmark_statistics(exported, digits):
    predictor = load_predictor(exported("tflite-none"))
    stats = benchmark(predictor, digits["x_test"][0], runs=200)
    assert stats["runs"] == 200
    assert 0 < stats["p50_us"] <= stats["p99_us"]
    assert stats["images_per_second"] == pytest.approx(1e6 / stats["mean_us"])
    with pytest.raises(ValueError, match="runs must be at least 1"):
        benchmark(predictor, digits["x_test"][0], runs=0)
