"""Streaming sources: image folders forced to stream (budget 0) against the in-memory path, bad images
met mid-stream, and TFDS streaming on tfds.testing.mock_data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from kerascnn.cli.main import main
from kerascnn.data import load_dataset
from kerascnn.data.prepare import prepare_data


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory):
    """The 1,797 real scikit-learn digits as 16x16 PNG files in class folders (a few RGB, mixed sizes)."""
    raw = load_dataset("digits")
    root = tmp_path_factory.mktemp("digit_folder")
    x = np.concatenate([raw.x_train, raw.x_test])[..., 0]
    y = np.concatenate([raw.y_train, raw.y_test])
    for i, (image, label) in enumerate(zip(x, y)):
        (root / str(label)).mkdir(exist_ok=True)
        size = (16, 16) if i % 7 else (20, 24)  # mixed sizes: each is resized once, to the model input
        Image.fromarray(image).resize(size, Image.BILINEAR).save(root / str(label) / f"{i:04d}.png")
    return root


def test_streaming_gives_the_in_memory_splits_classes_and_images(digit_folder):
    memory = prepare_data(str(digit_folder), (16, 16, 1))
    stream = prepare_data(str(digit_folder), (16, 16, 1), cache_budget_bytes=0, stats_sample=2000)
    assert not memory.streaming and stream.streaming
    assert memory.class_names == stream.class_names == [str(i) for i in range(10)]
    for part in ("train", "val", "test"):
        assert np.array_equal(getattr(memory, part).labels, getattr(stream, part).labels), part
    # the same split as the array loader's (fixed seeds), and the same images
    assert len(memory.test) == len(load_dataset(str(digit_folder)).y_test)
    assert np.abs(stream.test.images(np.arange(50)).astype(int) - memory.test.x[:50].astype(int)).max() <= 1
    assert memory.spec.mean == pytest.approx(stream.spec.mean, abs=1e-6)
    assert stream.spec.statistics["images"] == len(stream.train) and stream.spec.streaming
    sampled = prepare_data(str(digit_folder), (16, 16, 1), cache_budget_bytes=0, stats_sample=300)
    assert sampled.spec.statistics == {"images": 300, "of": len(stream.train), "sample": True, "seed": 0}
    assert sampled.spec.mean[0] == pytest.approx(stream.spec.mean[0], abs=0.02)


def test_fit_streamed_trains_as_well_as_in_memory(digit_folder, tmp_path):
    import kerascnn

    common = dict(
        dataset=str(digit_folder),
        input_shape=[16, 16],
        epochs=3,
        verbose=0,
        batch_size=64,
        hparams={"activation": "relu", "pooling": "max"},
    )  # learns the digits in 2-3 epochs
    memory = kerascnn.fit("lenet", out=str(tmp_path / "memory"), **common)
    stream = kerascnn.fit("lenet", out=str(tmp_path / "stream"), cache_budget_mb=0, **common)
    assert not memory.metrics["streaming"] and stream.metrics["streaming"]
    assert memory.metrics["test_images"] == stream.metrics["test_images"]
    assert stream.metrics["test_accuracy"] > 0.7
    assert stream.metrics["test_accuracy"] > memory.metrics["test_accuracy"] - 0.1
    spec = json.loads((stream.path / "data_spec.json").read_text())
    assert spec["streaming"] and spec["statistics"]["of"] == len(
        prepare_data(str(digit_folder), (16, 16, 1), cache_budget_bytes=0).train
    )
    # evaluate reads the same streamed test part and gets the same answer
    assert kerascnn.evaluate(stream.path)["test_accuracy"] == pytest.approx(stream.metrics["test_accuracy"], abs=1e-6)
    # export's calibration and parity images: bounded reads of the streamed parts, at the spec's image shape
    from kerascnn.runs import load_run_dataset

    exported = load_run_dataset(stream.path)
    assert exported.x_test.shape == (stream.metrics["test_images"], 16, 16, 1)
    assert len(exported.x_train) == 1000 and exported.image_shape == tuple(spec["image_shape"])
    # bounded epochs: Keras' steps_per_epoch / validation_steps
    bounded = kerascnn.fit(
        "lenet",
        out=str(tmp_path / "bounded"),
        cache_budget_mb=0,
        steps_per_epoch=3,
        eval_steps=1,
        **{**common, "epochs": 2},
    )
    assert bounded.metrics["epochs"] == 2
    rows = (bounded.path / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 3


def test_workers_read_disjoint_shares_of_the_files(digit_folder):
    stream = prepare_data(str(digit_folder), (16, 16, 1), cache_budget_bytes=0)
    part = stream.train
    read = [
        sorted(
            p.decode()
            for p, _ in part._records(shuffle_seed=3, shard=(2, i), repeat=False, skip=0)
            .map(lambda path, contents, label: (path, label))
            .as_numpy_iterator()
        )
        for i in range(2)
    ]
    assert not set(read[0]) & set(read[1])
    assert sorted(read[0] + read[1]) == sorted(str(p) for p in part.paths)
    batches = list(part.dataset(stream.spec, batch_size=32, training=True, shard=(2, 1)).take(2))
    assert batches[0][0].shape == (32, 16, 16, 1)


def test_resuming_continues_the_data_where_the_saved_epoch_left_it(digit_folder):
    part = prepare_data(str(digit_folder), (16, 16, 1), cache_budget_bytes=0).train

    def names(skip, count):
        ds = part._records(shuffle_seed=5, shard=None, repeat=True, skip=skip).take(count)
        return [p.decode() for p, _, _ in ds.as_numpy_iterator()]

    whole = names(0, len(part) + 100)  # into the second pass, reshuffled
    assert names(len(part) - 50, 150) == whole[len(part) - 50 :]
    assert sorted(whole[: len(part)]) == sorted(map(str, part.paths)) and whole[len(part) :] != whole[:100]


@pytest.fixture()
def folder_with_a_bad_file(tmp_path, digit_folder):
    root = tmp_path / "bad"
    for c in ("3", "5"):
        (root / c).mkdir(parents=True)
        for f in sorted((digit_folder / c).iterdir())[:60]:
            (root / c / f.name).write_bytes(f.read_bytes())
    bad = root / "5" / "0500-truncated.png"
    bad.write_bytes((digit_folder / "5" / sorted(p.name for p in (digit_folder / "5").iterdir())[0]).read_bytes()[:40])
    return root, bad


def test_a_bad_image_is_named_before_training_and_skipped_on_request(folder_with_a_bad_file, tmp_path, capsys):
    root, bad = folder_with_a_bad_file
    out = tmp_path / "run"
    args = [
        "fit",
        "lenet",
        "--dataset",
        str(root),
        "--input-shape",
        "16,16",
        "--epochs",
        "1",
        "--val-split",
        "0",
        "--cache-budget-mb",
        "0",
        "--out",
        str(out),
    ]
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"error: {bad} is not an image" in err[0] and "--skip-bad-images" in err[0]
    assert not out.exists() and not out.with_name("run.partial").exists()
    assert main(args + ["--skip-bad-images"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["bad_images_skipped"] == 1 and metrics["streaming"]


def test_tfds_streams_from_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=120, data_dir=str(tmp_path)):
        memory = prepare_data("mnist", (28, 28, 1), data_dir=str(tmp_path))
        stream = prepare_data("mnist", (28, 28, 1), data_dir=str(tmp_path), cache_budget_bytes=0, val_split=0.25)
    assert not memory.streaming and stream.streaming
    assert stream.class_names == memory.class_names and len(stream.class_names) == 10
    # TFDS's sub-splits (train[:90], train[90:]); mock_data itself returns every example for any slice
    assert (len(stream.train), len(stream.val), len(stream.test)) == (90, 30, 120)
    assert stream.train.split == "train[0:90]" and stream.val.split == "train[90:120]"
    assert stream.spec.image_shape == (28, 28, 1) and stream.spec.statistics["sample"] is False
    with tfds.testing.mock_data(num_examples=120, data_dir=str(tmp_path)):
        train, val, test = stream.pipelines(batch_size=32, repeat_train=True)
        x, y = next(iter(train))
        assert x.shape == (32, 28, 28, 1) and y.dtype.name == "int64"
        assert sum(len(b) for _, b in test) == 120
        assert len(stream.test.labels) == 120


def test_data_prepare_writes_tfrecords_that_stream(digit_folder, tmp_path, capsys):
    out = tmp_path / "prepared"
    assert main(["data", "prepare", str(digit_folder), "--out", str(out), "--shard-images", "400"]) == 0
    assert len(list(out.rglob("*.tfrecord*"))) >= 4
    prepared = prepare_data(str(out), (16, 16, 1), cache_budget_bytes=0, val_split=0.1)
    folder = prepare_data(str(digit_folder), (16, 16, 1), cache_budget_bytes=0, val_split=0.1)
    assert prepared.streaming and prepared.class_names == folder.class_names
    assert len(prepared.train) + len(prepared.val) + len(prepared.test) == 1797
    x, y = next(iter(prepared.pipelines(batch_size=16)[0]))
    assert x.shape == (16, 16, 16, 1)
    # a finished folder is never overwritten
    assert main(["data", "prepare", str(digit_folder), "--out", str(out)]) == 1
    assert "exists" in capsys.readouterr().err
