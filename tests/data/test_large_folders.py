"""Folders too large to check file by file before training: the compact listing, a seeded sample of headers
checked first and the rest as they stream, ``kerascnn data check`` for all of them, and streamed passes that
shuffle without a buffer. Sizes are small here; the 1.28-million-file measurement is a benchmark's."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from kerascnn.cli.main import main
from kerascnn.data import load_dataset
from kerascnn.data import prepare as prepare_module
from kerascnn.data.folders import NO_PART, TEST_PART, TRAIN_PART, list_image_folder
from kerascnn.data.prepare import prepare_data
from kerascnn.data.raw import TEST_SEED, split_by_identity
from kerascnn.data.streaming import BadImageError, reporting_bad_images


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory):
    """200 real scikit-learn digits as 8x8 PNG files in three class folders, one class with a subfolder."""
    raw = load_dataset("digits")
    root = tmp_path_factory.mktemp("digits_folder")
    keep = np.flatnonzero(raw.y_train < 3)[:200]
    for i in keep:
        label = int(raw.y_train[i])
        folder = root / f"digit{label}" / ("more" if label == 2 and i % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(raw.x_train[i, ..., 0]).save(folder / f"{i:04d}.png")
    (root / "digit0" / "notes.txt").write_text("not an example")
    (root / "digit1" / ".hidden.png").write_bytes(b"ignored")
    return root


def test_the_listing_is_compact_arrays_sorted_by_part_class_and_path(digits_folder, tmp_path):
    listing = list_image_folder(digits_folder)
    assert listing.class_names == ["digit0", "digit1", "digit2"]
    assert listing.names.dtype.kind == "S" and listing.labels.dtype == np.int64 and listing.parts.dtype == np.int8
    assert len(listing) == 200 and set(listing.parts.tolist()) == {NO_PART} and not listing.has_test
    names = [n.decode() for n in listing.names]
    on_disk = sorted(
        (p.parent.relative_to(digits_folder).parts[0], p.relative_to(digits_folder).as_posix())
        for p in digits_folder.rglob("*.png")
        if not p.name.startswith(".")
    )
    assert names == [name for _, name in on_disk]  # by class, then path; subfolders included
    assert [listing.class_names[y] for y in listing.labels] == [cls for cls, _ in on_disk]
    assert any("/more/" in n for n in names) and len(listing.skipped) == 1
    assert listing.paths([0])[0] == str(digits_folder / names[0])

    # train/ and test/: the training part first, then the test part
    for part, count in (("train", 3), ("test", 2)):
        for cls in ("a", "b"):
            (tmp_path / part / cls).mkdir(parents=True)
            for i in range(count):
                (tmp_path / part / cls / f"{i}.png").write_bytes((digits_folder / names[i]).read_bytes())
    split = list_image_folder(tmp_path)
    assert split.has_test and split.parts.tolist() == [TRAIN_PART] * 6 + [TEST_PART] * 4
    assert split.names[0] == b"train/a/0.png" and split.labels.tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 1, 1]


def test_the_fingerprint_of_a_listing_is_the_digest_of_its_paths_as_text(digits_folder):
    """Runs saved before the listing held bytes resume: the same rows give the same digest."""
    listing = list_image_folder(digits_folder)
    text = [n.decode() for n in listing.names]
    assert prepare_module._names_digest(listing.names, listing.labels) == prepare_module._digest(
        zip(text, listing.labels)
    )
    sides = np.array(["train", "test"] * 100, dtype="S")
    assert prepare_module._names_digest(listing.names, sides) == prepare_module._digest(
        zip(text, [s.decode() for s in sides])
    )


def held_out(root) -> np.ndarray:
    """Indices of the files the default split holds out for testing."""
    return split_by_identity(list_image_folder(root).names, 0.2, TEST_SEED)[1]


@pytest.fixture()
def large_folder(tmp_path, digits_folder, monkeypatch):
    """The digits folder counted as large (over the full-check limit), with one test file outside the checked
    sample that is not an image (the statistics' sample is drawn from the training part)."""
    monkeypatch.setattr(prepare_module, "FULL_HEADER_CHECK", 30)
    monkeypatch.setattr(prepare_module, "HEADER_SAMPLE", 20)
    root = tmp_path / "large"
    for path in digits_folder.rglob("*.png"):
        target = root / path.relative_to(digits_folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    listing = list_image_folder(root)
    sampled = set(prepare_module._header_check(listing, seed=0).tolist())
    test = held_out(root)
    assert len(sampled) == 20 and len(test) > 30  # the test part is not checked again before evaluating
    outside = next(i for i in test if i not in sampled)
    bad = listing.paths([outside])[0]
    with open(bad, "w") as f:
        f.write("this is a text file with an image's name")
    return root, bad


def test_a_large_folder_has_a_sample_of_headers_checked_first_and_the_rest_as_they_stream(large_folder):
    root, bad = large_folder
    data = prepare_data(str(root), (8, 8, 1), val_split=0, cache_budget_bytes=0)  # the bad file is not sampled
    assert any("Checked the headers of 20 of the 200 files" in note for note in data.notes)
    part = data.test
    assert bad in part.paths
    with pytest.raises(BadImageError, match=f"{bad} is not an image"), reporting_bad_images():
        for _ in part.dataset(data.spec, batch_size=16).as_numpy_iterator():
            pass

    skipping = prepare_data(str(root), (8, 8, 1), val_split=0, cache_budget_bytes=0, skip_bad_images=True)
    part = skipping.test
    seen = sum(len(y) for _, y in part.dataset(skipping.spec, batch_size=16).as_numpy_iterator())
    assert seen == len(part) - 1 and skipping.bad_images.names == {bad}

    # held in memory, every image is decoded before training: the bad one is named at once
    with pytest.raises(Exception, match=f"{bad} is not an image"):
        prepare_data(str(root), (8, 8, 1), val_split=0)


def test_a_large_folder_streams_through_fit_naming_the_bad_file_or_skipping_it(large_folder, tmp_path, capsys):
    root, bad = large_folder
    out = tmp_path / "run"
    args = ["fit", "lenet", "--dataset", str(root), "--input-shape", "12,12", "--epochs", "1", "--val-split", "0"]
    args += ["--cache-budget-mb", "0", "--batch-size", "16", "--out", str(out)]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "Checked the headers of 20 of the 200 files" in captured.out + captured.err
    err = captured.err.strip().splitlines()
    assert f"{bad} is not an image" in err[-1] and "--skip-bad-images" in err[-1]
    assert main(args + ["--skip-bad-images"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["bad_images_skipped"] == 1 and metrics["test_images"] == len(held_out(root)) - 1
    assert "test_images_in_part" not in metrics


def test_data_check_names_every_bad_file_and_decode_finds_truncated_ones(large_folder, capsys):
    root, bad = large_folder
    assert main(["data", "check", str(root)]) == 1  # every file, not a sample: the bad one is found
    assert f"{bad} is not an image" in capsys.readouterr().out

    truncated = next(p for p in sorted(root.rglob("*.png")) if str(p) != bad)
    truncated.write_bytes(truncated.read_bytes()[:-20])  # a valid header, pixel data cut short
    os.unlink(bad)
    assert main(["data", "check", str(root)]) == 0
    assert "All 199 images in 3 classes can be used (every header checked): grayscale, 8x8 (199)." in (
        capsys.readouterr().out
    )
    assert main(["data", "check", str(root), "--decode"]) == 1
    out = capsys.readouterr().out
    assert str(truncated) in out and "truncated" in out


def test_each_pass_over_a_streamed_training_part_is_a_new_permutation(digits_folder):
    part = prepare_data(str(digits_folder), (8, 8, 1), val_split=0, cache_budget_bytes=0).train
    records = part._records(shuffle_seed=7, shard=None, repeat=False, skip=0)
    passes = [[p for p, _, _ in records.as_numpy_iterator()] for _ in range(2)]  # Keras iterates once per epoch
    expected = sorted(p.encode() for p in part.paths)
    assert sorted(passes[0]) == sorted(passes[1]) == expected and passes[0] != passes[1] != expected
    again = part._records(shuffle_seed=7, shard=None, repeat=False, skip=0)
    assert [p for p, _, _ in again.as_numpy_iterator()] == passes[0]  # the same seed, the same first pass


def test_data_check_says_what_it_checks(tmp_path, capsys):
    from kerascnn_testing.data_files import write_idx_folder

    assert main(["data", "check", str(write_idx_folder(tmp_path / "idx"))]) == 1
    assert "holds IDX files, which are read whole: it has no image files to check" in capsys.readouterr().err
    assert main(["data", "check", str(tmp_path / "missing")]) == 1
    assert "missing is not a folder of class subfolders of images (it does not exist)" in capsys.readouterr().err
