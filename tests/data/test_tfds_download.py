"""TFDS's real download path: every package it needs is installed, so offline only the network is missing.

``tfds.testing.mock_data`` never reaches the download code; these tests call ``tfds.load(download=True)``
on an empty data directory. On a machine without internet access (CI) the download fails on the
connection, and kerascnn says so in one line; with internet access MNIST is downloaded (11 MB).
"""

import socket

import pytest

tfds = pytest.importorskip("tensorflow_datasets")

MNIST_HOST = "storage.googleapis.com"


def _online() -> bool:
    try:
        socket.create_connection((MNIST_HOST, 443), timeout=3).close()
        return True
    except OSError:
        return False


def _chain(error: BaseException) -> list:
    out = []
    while error is not None and len(out) < 20:
        out.append(error)
        error = error.__cause__ or error.__context__
    return out


def test_tfds_load_with_download_gets_as_far_as_the_network(tmp_path, monkeypatch):
    from tensorflow_datasets.core.download import downloader

    # TFDS retries each file ten times with back-off (minutes offline); one attempt proves the point.
    monkeypatch.setattr(downloader, "MAX_RETRIES", 0)
    try:
        parts = tfds.load("mnist", split=["test"], data_dir=str(tmp_path), download=True)
    except Exception as error:  # offline: the failure must be the connection, nothing before it
        chain = _chain(error)
        assert not any(isinstance(e, ImportError) for e in chain), chain
        assert isinstance(error, OSError) and MNIST_HOST in str(error), repr(error)
        assert not _online()
    else:
        assert len(parts[0]) == 10_000


def test_fit_offline_names_the_network_in_one_line(tmp_path):
    if _online():
        pytest.skip("this machine reaches the download host")
    from kerascnn.data import load_dataset
    from kerascnn.errors import DataError

    with pytest.raises(DataError) as info:
        load_dataset("mnist", data_dir=str(tmp_path / "tfds"))
    message = str(info.value)
    assert "\n" not in message
    assert f"could not be downloaded: no network connection (cannot reach {MNIST_HOST}" in message
    assert "--data-dir" in message and "--dataset at a folder" in message
