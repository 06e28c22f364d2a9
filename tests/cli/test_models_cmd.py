"""`kerascnn models` and `kerascnn summary` in-process (a fresh process's exit status: test_fit_cmd.py)."""

import json

import pytest

from kerascnn.cli.main import main
from kerascnn.models import list_models


def test_models_table_lists_every_model(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in list_models():
        assert f"\n{name} " in out
    lenet = next(line for line in out.splitlines() if line.startswith("lenet "))
    assert lenet.split()[:6] == ["lenet", "28x28x1", "12", "61.7K", "417K", "-"] and "LeCun" in lenet
    resnet18 = next(line for line in out.splitlines() if line.startswith("resnet18 "))
    assert resnet18.split()[2] == "1" and "torchvision" in resnet18.split()


def test_models_table_fits_the_terminal(capsys, monkeypatch):
    for columns in (80, 120):
        monkeypatch.setenv("COLUMNS", str(columns))
        assert main(["models"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert max(len(line) for line in lines) <= columns
        assert lines[0].split()[:6] == ["Model", "Input", "Min", "Params", "MACs", "Weights"]
    # at 120 columns the description is shortened, the reference left out
    assert lines[0].split()[6:] == ["Description"]
    assert any(line.startswith("alexnet ") and line.endswith("...") for line in lines)


def test_models_answers_without_tensorflow(kerascnn_cli):
    proc = kerascnn_cli("models", "--json")
    assert proc.returncode == 0 and proc.stderr == ""
    assert {row["name"] for row in json.loads(proc.stdout)} == set(list_models())


def test_the_catalog_is_what_building_the_models_gives():
    # Regenerate with `python -m kerascnn.zoo_catalog_build` after adding or changing a model.
    # (test_models_json checks the per-class scaling against published 1000-class counts.)
    from kerascnn.zoo_catalog_build import compute_rows
    from kerascnn.zoo_catalog_rows import ROWS

    assert compute_rows() == ROWS


def test_models_json(capsys):
    assert main(["models", "--json", "--num-classes", "1000"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["vgg16"]["params"] == 138_357_544
    assert rows["vgg16"]["default_input_shape"] == [224, 224, 3]


def test_summary_json_for_alexnet_at_224x224x1(capsys):
    assert main(["summary", "alexnet", "--input-shape", "224,224,1", "--num-classes", "10", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["params"] == 46_764_746
    pool3 = next(layer for layer in data["layers"] if layer["name"] == "pool3")
    assert pool3["receptive_field"] == [195, 195] and pool3["output_shape"] == [5, 5, 256]
    assert data["hyperparameters"]["dropout"] == 0.5


def test_summary_table_with_hparams(capsys):
    assert (
        main(
            [
                "summary",
                "vgg11",
                "--input-shape",
                "64x64",
                "--hparam",
                "width_divisor=4",
                "--hparam",
                "dense_units=[32, 32]",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "block1_conv1" in out and "64x64x16" in out and "width_divisor=4" in out
    assert "Tunable hyperparameters" in out


def test_summary_takes_an_hparams_file_like_fit(tmp_path, capsys):
    # A tuning's best_hyperparameters.json: builder hyperparameters plus training settings summary ignores.
    best = tmp_path / "best_hyperparameters.json"
    best.write_text(
        json.dumps({"width_divisor": 2, "dense_units": [64, 64], "learning_rate": 0.01, "optimizer": "adam"})
    )
    assert (
        main(["summary", "vgg11", "--input-shape", "64x64", "--hparams", str(best), "--hparam", "width_divisor=4"]) == 0
    )
    out = capsys.readouterr().out
    assert "64x64x16" in out  # --hparam wins over the file: 64 / 4 filters in the first block
    assert "width_divisor=4" in out and "dense_units=[64, 64]" in out and "learning_rate" not in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["summary", "alexnett"], "Unknown model 'alexnett'. Known models: alexnet,"),
        (["summary", "alexnet", "--input-shape", "32,32,1"], "smallest input that works is 67x67x1"),
        (["summary", "lenet", "--input-shape", "28,28,1,1"], "--input-shape takes H,W,C"),
        (["summary", "lenet", "--hparam", "dropout"], "--hparam takes KEY=VALUE"),
        (["summary", "lenet", "--hparam", "activation=swish"], "activation must be one of"),
        (["models", "--num-classes", "0"], "--num-classes must be at least 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(argv, fragment, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and err.startswith(f"kerascnn {argv[0]}: error:")


def test_help_teaches(capsys):
    for command in ("models", "summary"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert "examples:" in capsys.readouterr().out
