"""load_dataset over every source: digits, IDX folders, image folders, TFDS (mock data and offline)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from kerascnn.data import RawDataset, load_dataset, split_by_identity, split_indices
from kerascnn.data.idx import read_idx_images, write_idx
from kerascnn.errors import DataError
from kerascnn_testing.data_files import digit_like_images, write_idx_folder, write_image_folder


def test_digits_is_real_uint8_and_split_is_fixed():
    a = load_dataset("digits")
    b = load_dataset("digits")
    assert a.image_shape == (8, 8, 1) and a.x_train.dtype == np.uint8
    assert len(a.x_train) + len(a.x_test) == 1797 and len(a.x_test) == round(1797 * 0.2)
    assert a.x_train.max() == 255 and a.class_names == [str(i) for i in range(10)]
    np.testing.assert_array_equal(a.y_test, b.y_test)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert set(np.unique(a.y_test)) == set(range(10))


def test_split_indices_disjoint_and_deterministic():
    keep, held = split_indices(100, 0.25, seed=3)
    assert len(held) == 25 and not set(keep) & set(held) and len(keep) + len(held) == 100
    np.testing.assert_array_equal(held, split_indices(100, 0.25, seed=3)[1])
    with pytest.raises(DataError):
        split_indices(1, 0.5)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_with_train_and_test(tmp_path, gz):
    write_idx_folder(tmp_path, n_train=30, n_test=10, gz=gz)
    d = load_dataset(str(tmp_path))
    x, y = digit_like_images(40)
    np.testing.assert_array_equal(d.x_train[..., 0], x[:30])
    np.testing.assert_array_equal(d.y_test, y[30:])
    assert d.class_names == ["0", "1"]


def test_idx_single_set_is_split_by_test_split(tmp_path):
    write_idx_folder(tmp_path, n_train=50, n_test=0, single=True)
    d = load_dataset(str(tmp_path), test_split=0.3)
    assert (len(d.x_train), len(d.x_test)) == (35, 15)


def test_shared_mnist_single_set(shared_mnist):
    d = load_dataset(str(shared_mnist))
    assert (len(d.x_train), len(d.x_test)) == (8000, 2000) and d.image_shape == (28, 28, 1)
    assert abs(d.x_train.mean() / 255 - 0.1307) < 0.01


def test_corrupt_idx_header(tmp_path):
    write_idx_folder(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    data = bytearray(gzip.decompress(path.read_bytes()))
    data[2:4] = b"\x09\x99"
    path.write_bytes(gzip.compress(bytes(data)))
    with pytest.raises(DataError, match="magic number"):
        load_dataset(str(tmp_path))


def test_truncated_idx_and_not_gzip(tmp_path):
    x, y = digit_like_images(10)
    image_path, _ = write_idx(tmp_path, "train", x, y, gz=False)
    image_path.write_bytes(image_path.read_bytes()[:-5])
    with pytest.raises(DataError, match="truncated"):
        read_idx_images(image_path)
    bad = tmp_path / "x-images-idx3-ubyte.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="Cannot read"):
        read_idx_images(bad)


def test_idx_count_mismatch(tmp_path):
    x, y = digit_like_images(20)
    write_idx(tmp_path, "train", x, y[:15])
    with pytest.raises(DataError, match="20 images but .* 15 labels"):
        load_dataset(str(tmp_path))


def test_image_folder(tmp_path):
    write_image_folder(tmp_path, per_class=10)
    d = load_dataset(str(tmp_path), test_split=0.2)
    assert d.class_names == ["left", "right"] and d.image_shape == (12, 12, 1)
    # each file's side is a function of its path (split_by_identity): the test part is the files it holds out
    relative = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    _, held = split_by_identity(relative, 0.2)
    assert len(d.x_train) == 20 - len(held) and len(d.x_test) == len(held) >= 1
    assert set(d.train_ids) == set(relative) - {relative[i] for i in held}


def test_image_folder_train_test_rgb_and_mixed_sizes(tmp_path):
    from PIL import Image

    write_image_folder(tmp_path / "train", per_class=6, rgb=True)
    write_image_folder(tmp_path / "test", per_class=2)
    Image.new("L", (20, 16), 128).save(tmp_path / "train" / "left" / "big.png")
    d = load_dataset(str(tmp_path))
    assert d.image_shape == (12, 12, 3)  # RGB because some images are; the common size wins
    assert (len(d.x_train), len(d.x_test)) == (13, 4)


def test_image_folder_with_one_class(tmp_path):
    write_image_folder(tmp_path, classes=("only",), per_class=5)
    with pytest.raises(DataError, match="only the class 'only'"):
        load_dataset(str(tmp_path))


def test_image_folder_skips_files_that_are_not_images_by_their_extension(tmp_path):
    write_image_folder(tmp_path)
    (tmp_path / "left" / "notes.txt").write_text("not an image")
    (tmp_path / "right" / "Thumbs.db").write_bytes(b"\0" * 64)
    from kerascnn.data import prepare_data

    data = prepare_data(tmp_path, (12, 12, 1))
    assert data.info()["files"] == 24 and "Skipped 2 file(s)" in data.notes[0] and "notes.txt" in data.notes[0]


def test_image_folder_lists_every_file_that_cannot_be_used_at_once(tmp_path):
    write_image_folder(tmp_path)
    (tmp_path / "left" / "fake.png").write_text("not an image")
    (tmp_path / "right" / "empty.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="2 file") as e:
        load_dataset(str(tmp_path))
    assert "fake.png is not an image" in str(e.value) and "empty.jpg is not an image" in str(e.value)


def test_unknown_dataset_and_missing_folder(tmp_path):
    with pytest.raises(DataError, match="Unknown dataset 'no_such_set_xyz'"):
        load_dataset("no_such_set_xyz")
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(str(tmp_path / "missing"))


def test_from_arrays_checks_shapes():
    x, y = digit_like_images(10)
    d = RawDataset.from_arrays(x[:8], y[:8], x[8:], y[8:])
    assert d.class_names == ["0", "1"] and d.image_shape == (12, 12, 1)
    with pytest.raises(DataError, match="one label per image"):
        RawDataset.from_arrays(x, y[:5], x, y)


def test_tfds_with_mock_data(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=12):
        d = load_dataset("mnist", data_dir=str(tmp_path))
    assert d.image_shape == (28, 28, 1) and len(d.x_train) == 12 and len(d.x_test) == 12
    assert d.num_classes == 10 and d.x_train.dtype == np.uint8


def test_tfds_offline_is_one_clear_message(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(DataError) as info:
        load_dataset("mnist", data_dir=str(tmp_path))
    message = str(info.value)
    assert "\n" not in message and "--data-dir" in message and "manual_dir" in message
    assert "--dataset at a folder" in message
