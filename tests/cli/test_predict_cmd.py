"""``kerascnn predict`` end to end on PNG files the test writes, and its refusals."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="module")
def pngs(tmp_path_factory, digits):
    """Five test digits as PNG files: (paths, labels of the trained model's predictions computed later)."""
    folder = tmp_path_factory.mktemp("pngs")
    data = digits
    paths = []
    for i in range(5):
        path = folder / f"digit{i}.png"
        Image.fromarray(data["x_test"][i, ..., 0]).save(path)
        paths.append(path)
    return paths, data["x_test"][:5]


@pytest.fixture(scope="module")
def expected_top1(trained_run, pngs):
    from kerascnn.export.artifacts import reference_probabilities
    from kerascnn.runs import load_trained

    model, spec = load_trained(trained_run)
    return [str(c) for c in reference_probabilities(model, spec, pngs[1]).argmax(axis=1)]


def _top1(stdout: str, paths) -> list:
    result = []
    for path in paths:
        line = next(line for line in stdout.splitlines() if line.startswith(str(path)))
        result.append(line[len(str(path)) :].split()[0])
    return result


def test_predict_with_tflite_prints_top_k_and_benchmark(kerascnn_cli, exported, pngs, expected_top1):
    # A fresh process (LiteRT only, no TensorFlow import): its stderr is where C++ log lines would land.
    model = exported("tflite-none")
    paths, _ = pngs
    proc = kerascnn_cli("predict", model, *paths, "--top-k", "2", "--benchmark", "50")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == ""  # no TensorFlow or LiteRT log lines
    assert "lenet (TFLite, quantize=none), 10 classes" in proc.stdout
    assert _top1(proc.stdout, paths) == expected_top1
    line = next(line for line in proc.stdout.splitlines() if line.startswith(str(paths[0])))
    assert len(re.findall(r"\d+\.\d\d%", line)) == 2  # top-2
    assert re.search(
        r"benchmark \(tflite, 50 single-image runs\): p50 [\d.]+ (us|ms), p99 [\d.]+ (us|ms), [\d,]+ images/s",
        proc.stdout,
    )


def test_predict_reads_class_names_from_the_tflite_file_alone(kerascnn_main, exported, pngs, expected_top1, tmp_path):
    # A .tflite copied without its .json (to a phone, a colleague): its metadata holds the class names.
    alone = tmp_path / "digits.tflite"
    alone.write_bytes(exported("tflite-int8").read_bytes())
    paths, _ = pngs
    rgb = tmp_path / "rgb.png"
    Image.open(paths[0]).convert("RGB").save(rgb)  # a color file: the graph takes RGB frames
    proc = kerascnn_main("predict", alone, *paths, rgb, "--top-k", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{alone}: lenet (TFLite), 10 classes" in proc.stdout
    assert _top1(proc.stdout, [*paths, rgb]) == [*expected_top1, expected_top1[0]]


@pytest.mark.slow
def test_predict_with_saved_model_folder_and_npy(kerascnn_main, exported, pngs, expected_top1, tmp_path):
    model = exported("saved_model")
    paths, images = pngs
    np.save(tmp_path / "batch.npy", images[:2])
    proc = kerascnn_main("predict", model, paths[0], tmp_path / "batch.npy", "--top-k", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "(SavedModel version 1)" in proc.stdout
    assert (
        _top1(proc.stdout, [paths[0], f"{tmp_path / 'batch.npy'}[0]", f"{tmp_path / 'batch.npy'}[1]"])
        == expected_top1[:1] + expected_top1[:2]
    )


def test_bad_inputs_fail_with_one_line(kerascnn_main, exported, pngs, tmp_path):
    model = exported("tflite-none")
    paths, _ = pngs
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    rgba = tmp_path / "rgba.png"
    Image.fromarray(np.zeros((8, 8, 4), np.uint8), mode="RGBA").save(rgba)
    truncated = tmp_path / "cut.tflite"
    truncated.write_bytes(model.read_bytes()[:1000])
    truncated.with_suffix(".json").write_text(model.with_suffix(".json").read_text())
    cases = [
        (("predict", model, paths[0], text), "notes.png is not an image kerascnn can read"),
        (("predict", model, rgba), "rgba.png has 4 channels (RGBA)"),
        (("predict", truncated, paths[0]), "does not match its cut.json"),
        (("predict", tmp_path / "missing.tflite", paths[0]), "No such model"),
        (("predict", model, paths[0], "--top-k", "0"), "--top-k must be at least 1"),
    ]
    for args, message in cases:
        proc = kerascnn_main(*args)
        assert proc.returncode == 1, (args, proc.stdout)
        lines = proc.stderr.strip().splitlines()
        assert lines[-1].startswith("kerascnn predict: error: ") and message in lines[-1], (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert proc.stdout == ""  # nothing printed before the error


def test_predict_a_folder_takes_every_image_in_it(kerascnn_main, exported, pngs, expected_top1, tmp_path):
    paths, images = pngs
    folder = tmp_path / "photos"
    (folder / "more").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    Image.fromarray(images[0, ..., 0]).save(folder / "a.png")
    Image.fromarray(images[1, ..., 0]).resize((40, 40)).save(folder / "more" / "b.jpg")  # another size, in a subfolder
    Image.fromarray(images[2, ..., 0]).save(folder / ".hidden" / "c.png")
    (folder / "notes.txt").write_text("not an image, not looked at")
    proc = kerascnn_main("predict", exported("tflite-none"), folder, "--top-k", "1")
    assert proc.returncode == 0, proc.stderr
    assert _top1(proc.stdout, [folder / "a.png"]) == expected_top1[:1]
    assert str(folder / "more" / "b.jpg") in proc.stdout and "c.png" not in proc.stdout and "notes" not in proc.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = kerascnn_main("predict", exported("tflite-none"), empty)
    assert proc.returncode == 1 and f"No images in folder {empty}" in proc.stderr.strip().splitlines()[-1]
