"""``kerascnn export`` end to end, in-process through ``kerascnn.cli.main.main``: output, files, exit codes."""

from __future__ import annotations

import json
import sys

import pytest


@pytest.fixture(scope="module")
def run_dir(trained_run):
    return trained_run


def test_help_teaches_formats_and_bounds(kerascnn_main):
    proc = kerascnn_main("export", "--help")
    assert proc.returncode == 0
    for text in (
        "--format",
        "--quantize",
        "int8",
        "models/lenet/1/",
        "99.9%",
        "examples:",
        "onnx",
        "MediaPipe",
        "--gray-input",
        "RGB frames",
        "--author",
        "--license",
    ):
        assert text in proc.stdout


@pytest.mark.slow
def test_saved_model_export_prints_parity_and_writes_version_1(kerascnn_main, run_dir, tmp_path):
    out = tmp_path / "models" / "lenet"
    proc = kerascnn_main("export", run_dir, "--format", "saved_model", "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Exported lenet to {out / '1'} (SavedModel" in proc.stdout
    assert "saved_model" in proc.stdout and "100.00%" in proc.stdout and "yes" in proc.stdout
    report = json.loads((out / "1" / "parity.json").read_text())
    assert report["passed"] and report["images"] > 300  # the run's test split of digits
    assert (out / "1" / "kerascnn_export.json").is_file()


@pytest.mark.slow
def test_int8_tflite_export_with_default_name(kerascnn_main, run_dir, tmp_path):
    proc = kerascnn_main(
        "export", run_dir, "--format", "tflite", "--quantize", "int8", "--parity-samples", "300", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    path = tmp_path / "models" / "lenet_int8.tflite"
    info = json.loads(path.with_suffix(".json").read_text())
    assert info["quantize"] == "int8" and info["parity"]["images"] == 300
    assert info["parity"]["size_ratio"] <= 0.30
    assert "tflite-int8" in proc.stdout and "Report:" in proc.stdout


def test_bad_targets_and_flags_fail_with_one_line_and_touch_nothing(kerascnn_main, run_dir, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("do not touch")
    proc = kerascnn_main("export", run_dir, "--out", mine)
    assert proc.returncode == 1
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("kerascnn export: error: ") and "is not a kerascnn export folder" in error
    assert [p.name for p in mine.iterdir()] == ["thesis.txt"]

    proc = kerascnn_main("export", run_dir, "--quantize", "int8", "--out", tmp_path / "x")
    assert proc.returncode == 1 and "--quantize is for --format tflite; a SavedModel is float32." in proc.stderr
    assert not (tmp_path / "x").exists()

    proc = kerascnn_main("export", tmp_path / "no_such_run", "--out", tmp_path / "y")
    assert proc.returncode == 1 and "kerascnn export: error:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_overwrite_is_refused_for_a_saved_model_before_anything_is_loaded(tmp_path, capsys):
    from kerascnn.cli.main import main

    assert main(["export", str(tmp_path / "no_such_run"), "--overwrite", "--out", str(tmp_path / "m")]) == 1
    assert "error: --overwrite is for --format tflite" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_onnx_export_with_default_name_then_an_existing_target_is_refused(kerascnn_main, run_dir, tmp_path):
    proc = kerascnn_main("export", run_dir, "--format", "onnx", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    path = tmp_path / "models" / "lenet.onnx"
    info = json.loads(path.with_name("lenet.onnx.json").read_text())
    assert info["format"] == "onnx" and info["parity"]["passed"] and info["parity"]["max_abs_prob_diff"] <= 1e-4
    assert "Exported lenet to models/lenet.onnx (ONNX" in proc.stdout and "onnx" in proc.stdout.splitlines()[-2]
    before = path.read_bytes()

    proc = kerascnn_main("export", run_dir, "--format", "onnx", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "kerascnn export: error: models/lenet.onnx exists: pass --overwrite to replace it, or choose another --out."
    ]
    assert path.read_bytes() == before
    # the TFLite export of the same run, default names too, keeps its own report beside the ONNX one
    proc = kerascnn_main("export", run_dir, "--format", "tflite", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "models" / "lenet.json").read_text())["format"] != "onnx"
    assert json.loads(path.with_name("lenet.onnx.json").read_text()) == info


def test_tflite_only_flags_and_a_missing_converter_fail_in_one_line(kerascnn_main, run_dir, tmp_path, monkeypatch):
    for flags, message in (
        (("--format", "onnx", "--quantize", "int8"), "--quantize is for --format tflite; an ONNX export is float32."),
        (("--format", "saved_model", "--gray-input"), "--gray-input is for --format tflite"),
        (("--format", "onnx", "--author", "Ada"), "--author is for --format tflite"),
    ):
        proc = kerascnn_main("export", run_dir, *flags, "--out", tmp_path / "m.onnx")
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # not installed
    proc = kerascnn_main("export", run_dir, "--format", "onnx", "--out", tmp_path / "m.onnx")
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert "ONNX export needs tf2onnx" in proc.stderr and "pip install 'kerascnn[onnx]'" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_tflite_export_with_metadata_flags_and_gray_input(kerascnn_main, run_dir, tmp_path):
    from kerascnn.export import read_metadata

    out = tmp_path / "gray.tflite"
    proc = kerascnn_main(
        "export",
        run_dir,
        "--format",
        "tflite",
        "--gray-input",
        "--author",
        "Ada Lovelace",
        "--license",
        "CC-BY-4.0",
        "--model-version",
        "3",
        "--out",
        out,
        "--parity-samples",
        "100",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Input: uint8 GRAYSCALE images 8x8; metadata: 10 class names, author 'Ada Lovelace'" in proc.stdout
    metadata = read_metadata(out.read_bytes())
    assert metadata["color_space"] == "GRAYSCALE" and metadata["class_names"] == [str(i) for i in range(10)]
    assert (metadata["author"], metadata["license"], metadata["version"]) == ("Ada Lovelace", "CC-BY-4.0", "3")
