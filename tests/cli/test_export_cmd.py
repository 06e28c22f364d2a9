"""``kerascnn export`` end to end, in-process through ``kerascnn.cli.main.main``: output, files, exit codes."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def run_dir(trained_run):
    return trained_run


def test_help_teaches_formats_and_bounds(kerascnn_main):
    proc = kerascnn_main("export", "--help")
    assert proc.returncode == 0
    for text in ("--format", "--quantize", "int8", "models/lenet/1/", "99.9%", "examples:"):
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
    proc = kerascnn_main("export", run_dir, "--format", "tflite", "--quantize", "int8", "--parity-samples", "300", cwd=tmp_path)
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
    assert proc.returncode == 1 and "--quantize is for --format tflite" in proc.stderr
    assert not (tmp_path / "x").exists()

    proc = kerascnn_main("export", tmp_path / "no_such_run", "--out", tmp_path / "y")
    assert proc.returncode == 1 and "kerascnn export: error:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_overwrite_is_refused_for_a_saved_model_before_anything_is_loaded(tmp_path, capsys):
    from kerascnn.cli.main import main

    assert main(["export", str(tmp_path / "no_such_run"), "--overwrite", "--out", str(tmp_path / "m")]) == 1
    assert "error: --overwrite is for --format tflite" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
