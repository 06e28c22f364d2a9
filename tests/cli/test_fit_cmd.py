"""`kerascnn fit` / `kerascnn evaluate` as a user runs them: real files in, run directory out, one-line errors."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from kerascnn.cli.main import main
from kerascnn.runs import partial_path
from kerascnn_testing import data_files


@pytest.fixture
def relu(tmp_path):
    path = tmp_path / "relu.json"
    path.write_text('{"activation": "relu", "pooling": "max"}')
    return str(path)


@pytest.mark.slow
def test_fit_and_evaluate_on_idx_files_in_mixed_precision(tmp_path, kerascnn_main, relu):
    import keras

    data = data_files.write_idx_folder(tmp_path / "idx", n_train=200, n_test=60, gz=True)
    out = tmp_path / "run"
    proc = kerascnn_main(
        "fit",
        "lenet",
        "--dataset",
        data,
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--hparams",
        relu,
        "--input-shape",
        "12,12",
        "--precision",
        "mixed_bfloat16",
        "--out",
        out,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / "config.json").read_text())["precision"] == "mixed_bfloat16"
    assert keras.saving.load_model(out / "best.keras").get_layer("block1_conv").dtype_policy.name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"  # the policy is Keras-global: main() left it as it was
    closing = proc.stdout.strip().splitlines()[-1]
    assert closing.startswith("Test accuracy") and str(out) in closing and "60 images" in closing
    assert "Epoch 2/2" in proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.9  # the two classes are easy
    proc = kerascnn_main("evaluate", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"test accuracy {metrics['test_accuracy']:.4f}" in proc.stdout


def test_fit_folds_on_an_rgb_image_folder_prints_the_fold_table(tmp_path, relu, capsys):
    data = data_files.write_image_folder(tmp_path / "images", per_class=12, rgb=True)
    out = tmp_path / "cv"
    assert (
        main(
            [
                "fit",
                "lenet",
                "--dataset",
                str(data),
                "--folds",
                "2",
                "--epochs",
                "1",
                "--batch-size",
                "8",
                "--hparams",
                relu,
                "--input-shape",
                "12,12",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2].startswith("2-fold validation accuracy: ") and "±" in lines[-2]
    assert lines[-1] == f"run saved to {out}"
    summary = json.loads((out / "folds.json").read_text())
    assert [r["run"] for r in summary["per_fold"]] == ["fold1", "fold2"]
    first = summary["per_fold"][0]
    assert sum(r["val_images"] for r in summary["per_fold"]) == first["train_images"] + first["val_images"]
    assert (out / "fold1" / "best.keras").is_file() and (out / "fold_curves.png").is_file()
    # The folder's class subfolders are the classes, and RGB files give the model three channels.
    spec = json.loads((out / "fold1" / "data_spec.json").read_text())
    assert spec["class_names"] == ["left", "right"] and spec["input_shape"] == [12, 12, 3]


def _corrupt_header(folder):
    data_files.write_idx_folder(folder)
    path = folder / "train-images-idx3-ubyte.gz"
    data = bytearray(gzip.decompress(path.read_bytes()))
    data[0:4] = b"\x00\x00\x08\x99"
    path.write_bytes(gzip.compress(bytes(data)))


def _count_mismatch(folder):
    from kerascnn.data.idx import write_idx

    x, y = data_files.digit_like_images(30)
    write_idx(folder, "train", x, y[:29])


def _one_class(folder):
    data_files.write_image_folder(folder, classes=("cats",), per_class=4)


def _non_image(folder):
    data_files.write_image_folder(folder, per_class=4)
    (folder / "left" / "readme.png").write_text("# not a picture")  # (readme.md would be skipped: not an image name)


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--hparam", "relu"], "--hparam takes KEY=VALUE"),
        (["--hparam", "lr=-1"], "lr must be positive. Received: lr=-1"),  # --hparam wins over the --hparams file
    ],
)
def test_hparam_pairs_combine_with_the_hparams_file(tmp_path, capsys, extra, expected):
    best = tmp_path / "best.json"
    best.write_text(json.dumps({"activation": "relu", "learning_rate": 0.01}))
    assert main(["fit", "lenet", "--hparams", str(best), *extra, "--out", str(tmp_path / "run")]) == 1
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "make, extra, expected",
    [
        (None, ["--dataset", "no_such_dataset_xyz"], "Unknown dataset 'no_such_dataset_xyz'"),
        (_corrupt_header, [], "magic number"),
        (_count_mismatch, [], "30 images but"),
        (_one_class, [], "only the class 'cats'"),
        (_non_image, [], "readme.png is not an image kerascnn can read"),
        (None, ["--input-shape", "3,3"], "too small for lenet"),
        (None, ["--lr", "1e9", "--optimizer", "sgd"], "loss became NaN"),
        (None, ["--dataset", "mnist", "--data-dir", "{tmp}/tfds"], "could not be downloaded"),
    ],
    ids=[
        "unknown-dataset",
        "corrupt-idx-header",
        "count-mismatch",
        "one-class",
        "non-image",
        "unresizable",
        "nan",
        "tfds-offline",
    ],
)
def test_bad_input_is_one_line_exit_1_and_no_run_dir(tmp_path, capsys, relu, make, extra, expected):
    args = ["fit", "lenet", "--epochs", "1", "--hparams", relu, "--out", str(tmp_path / "run")]
    if make is not None:
        data = tmp_path / "data"
        data.mkdir()
        make(data)
        args += ["--dataset", str(data)]
    assert main(args + [a.replace("{tmp}", str(tmp_path)) for a in extra]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("kerascnn fit: error: ") and expected in err[-1], err
    assert "Traceback" not in "\n".join(err)
    assert not (tmp_path / "run").exists() and not partial_path(tmp_path / "run").exists()


def test_unknown_model_in_a_fresh_process(tmp_path, kerascnn_cli):
    # The one fresh `kerascnn` process of the CLI tests: the real exit status, and TensorFlow's C++ start-up
    # lines (written to file descriptor 2, which no in-process test sees) kept off the one error line.
    proc = kerascnn_cli("fit", "resnet1000", "--out", tmp_path / "run")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip().splitlines()[-1]]
    assert "Unknown model 'resnet1000'" in proc.stderr and not (tmp_path / "run").exists()
    assert proc.stdout == "" and "Traceback" not in proc.stderr


def test_main_called_from_python_leaves_the_process_threads_alone(tmp_path, monkeypatch, capsys):
    # Only the `kerascnn` program (argv=None) may set TensorFlow's once-per-process threads for core split
    # (tests/training/test_core_split.py runs that in a fresh process); main([...]) in a caller's process,
    # as every in-process test here does, must not.
    from kerascnn.training import core_split

    calls = []
    monkeypatch.setattr(core_split, "prepare", lambda *args, **kwargs: calls.append(args))
    assert main(["fit", "resnet1000", "--out", str(tmp_path / "run")]) == 1
    assert calls == []
    monkeypatch.setattr("sys.argv", ["kerascnn", "fit", "resnet1000", "--out", str(tmp_path / "run")])
    assert main() == 1
    assert calls == [("auto", "resnet1000", {}, "auto")]
    assert "Unknown model 'resnet1000'" in capsys.readouterr().err


def _help(capsys, *command) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_help_teaches(capsys):
    for command, example in (
        ("fit", "kerascnn fit lenet --dataset mnist"),
        ("evaluate", "kerascnn evaluate runs/lenet"),
    ):
        out = _help(capsys, command)
        assert "examples:" in out and example in out
    # Each example is one line of its own (a line-continuation backslash once glued two together).
    fit_help = _help(capsys, "fit").splitlines()
    transfer = [line for line in fit_help if "--init-from resnet18.safetensors" in line]
    assert transfer == [
        "  kerascnn fit resnet18 --init-from resnet18.safetensors --input-shape 64,64 --epochs 3 --fine-tune-epochs 5"
    ]


def test_a_misspelled_or_abbreviated_flag_is_refused_by_its_command_naming_the_flag_meant(capsys):
    for argv, line in (
        (
            ["fit", "lenet", "--epoch", "3"],
            "kerascnn fit: error: unrecognized arguments: --epoch 3 (did you mean --epochs?)",
        ),
        (["fit", "lenet", "--fine-tune-epoch=1"], "(did you mean --fine-tune-epochs?)"),
        (["data", "check", "folder", "--decod"], "kerascnn data check: error: unrecognized arguments: --decod"),
        (["models", "--frobnicate"], "kerascnn models: error: unrecognized arguments: --frobnicate"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert line in err[-1] and err[0].startswith(f"usage: kerascnn {argv[0]}"), err
    assert "did you mean" not in line  # nothing close to --frobnicate


def test_no_help_shows_a_path_of_the_machine_it_was_made_on(capsys):
    from kerascnn.cli.main import build_parser

    commands = [name for action in build_parser()._subparsers._group_actions for name in action.choices]
    assert {"fit", "evaluate", "tune", "export", "serve", "predict", "models"} <= set(commands)
    for command in [[], *[[c] for c in commands], ["data", "prepare"]]:
        out = _help(capsys, *command)
        assert "../shared" not in out and ".venv" not in out, command
        assert not re.search(r"(?<![\w.~])/(work|home|tmp|usr|root|Users)\b", out), (command, out)


def test_every_setting_is_a_flag_that_reaches_fit_unchanged(tmp_path):
    # The flags are generated from TrainConfig: each command-line field has its flag, and parsed flags are
    # the values kerascnn.fit receives.
    import dataclasses

    from kerascnn.cli.main import build_parser
    from kerascnn.training import TrainConfig

    # Every setting is declared with kerascnn.settings.setting(): its help (and flag) live in one place.
    undeclared = [f.name for f in dataclasses.fields(TrainConfig) if not f.metadata.get("help")]
    assert not undeclared, f"declare these TrainConfig fields with setting(default, help, ...): {undeclared}"
    parser = build_parser()
    args = parser.parse_args(
        [
            "fit",
            "lenet",
            "--input-shape",
            "32x32",
            "--augment",
            "flip,crop",
            "--precision",
            "mixed_bfloat16",
            "--cache-budget-mb",
            "0",
            "--skip-bad-images",
            "--jit-compile",
            "--aux-loss-weight",
            "0.5",
            "--init-from",
            "runs/x",
            "--out",
            str(tmp_path),
        ]
    )
    flags = {f.name for f in dataclasses.fields(TrainConfig) if f.metadata["cli"]}
    assert set(args.setting_names) == flags
    settings = {name: getattr(args, name) for name in args.setting_names}
    assert settings["input_shape"] == [32, 32] and settings["augment"] == ["flip", "crop"]
    assert settings["cache_budget_mb"] == 0 and settings["skip_bad_images"] is True and settings["jit_compile"]
    assert TrainConfig(model="lenet", **settings) == TrainConfig(
        model="lenet",
        input_shape=[32, 32],
        augment=["flip", "crop"],
        precision="mixed_bfloat16",
        cache_budget_mb=0,
        skip_bad_images=True,
        jit_compile=True,
        aux_loss_weight=0.5,
        init_from="runs/x",
        out=str(tmp_path),
    )
    defaults = parser.parse_args(["fit", "lenet"])
    assert TrainConfig(model="lenet", **{n: getattr(defaults, n) for n in defaults.setting_names}) == TrainConfig()


def test_a_flag_error_on_the_command_line_names_the_flag(tmp_path, capsys):
    assert main(["fit", "lenet", "--freeze", "backbone", "--out", str(tmp_path / "run")]) == 1
    assert capsys.readouterr().err.strip() == (
        "kerascnn fit: error: --freeze and --fine-tune-epochs need --init-from (pretrained weights to start from)."
    )


def test_evaluate_errors(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 1
    assert "not a finished kerascnn run" in capsys.readouterr().err
