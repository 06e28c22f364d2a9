"""TensorFlow Datasets image-classification sets through the real ``tfds`` API.

Offline, ``tfds.load`` fails in ways that do not say what to do: ``AssertionError: could not find data``
for an unprepared set with ``download=False``, and with ``download=True`` a ``requests`` ConnectionError
only after about 200 s of retries (TFDS retries every file ten times with back-off). Before downloading,
one connection to the set's download host (a few seconds at most) tells whether the network is there;
every failure becomes one :class:`~kerascnn.errors.DataError` naming its cause (no network, a missing
package, a changed file) and how to get the data.
"""

from __future__ import annotations

import collections
import contextlib
import io

import numpy as np

from kerascnn.data.raw import DEFAULT_TEST_SPLIT
from kerascnn.errors import DataError

# Seconds to wait for the download host before calling the machine offline.
_PROBE_TIMEOUT = 5.0


def _cause(cause: BaseException) -> str:
    """What went wrong, in the user's terms: the network, a missing package, or the exception's first line."""
    if isinstance(cause, ImportError):
        module = getattr(cause, "name", None) or str(cause)
        return f"a package TensorFlow Datasets needs is missing: {module} (pip install {module})"
    text = str(cause).splitlines()[0][:160] if str(cause) else ""
    if type(cause).__name__ in (
        "ConnectionError",
        "NameResolutionError",
        "MaxRetryError",
        "gaierror",
        "Timeout",
        "ConnectTimeout",
        "NoNetwork",
    ) or isinstance(cause, (ConnectionError, TimeoutError)):
        return f"no network connection ({text})" if text else "no network connection"
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__


class NoNetwork(OSError):
    """The download host of a TFDS set cannot be reached."""


def _check_network(builder) -> None:
    """Raise :class:`NoNetwork` at once when the first download host of ``builder`` cannot be reached."""
    import socket
    from urllib.parse import urlsplit

    try:
        urls = list(builder.url_infos or ())
    except Exception:  # a set without a checksums file: let TFDS find out
        return
    if not urls:
        return
    parts = urlsplit(urls[0])
    if not parts.hostname:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=_PROBE_TIMEOUT).close()
    except OSError as e:
        reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
        raise NoNetwork(f"cannot reach {parts.hostname}: {reason}") from None


def _downloads_for_real(builder) -> bool:
    """False under ``tfds.testing.mock_data``, whose ``download_and_prepare`` makes examples up offline."""
    method = getattr(type(builder), "download_and_prepare", None)
    return getattr(method, "__module__", "").startswith("tensorflow_datasets.core")


def _offline_message(name: str, data_dir, cause: BaseException) -> str:
    where = data_dir or "~/tensorflow_datasets"
    return (
        f"TFDS dataset {name!r} is not prepared in {where} and could not be downloaded: {_cause(cause)}. "
        f'Prepare it on a machine with internet access (python -c "import tensorflow_datasets as tfds; '
        f"tfds.load('{name}', data_dir='DIR')\") and pass --data-dir DIR, or prepare it from the original "
        f"files with TFDS's manual_dir (tfds build {name} --manual_dir FILES --data_dir DIR), or point "
        f"--dataset at a folder of IDX files or class subfolders of images."
    )


def _builder(name: str, data_dir):
    import tensorflow_datasets as tfds

    try:
        with _absl_errors_only():
            return tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # DatasetNotFoundError and friends: the name is not a TFDS dataset
        if type(e).__name__ in ("DatasetNotFoundError", "DatasetVariantBlockedError") or isinstance(
            e, (KeyError, ValueError)
        ):
            raise DataError(
                f"Unknown dataset {name!r}: not 'digits', not an existing folder, and not a TFDS dataset. "
                "Use digits, a TFDS name (mnist, fashion_mnist, cifar10, ...), or a folder of IDX files or "
                "class subfolders."
            ) from None
        raise DataError(_offline_message(name, data_dir, e)) from None


def _supervised_keys(builder):
    keys = builder.info.supervised_keys
    if keys and len(keys) >= 2 and isinstance(keys[0], str):
        return keys[0], keys[1]
    features = builder.info.features
    image = next((k for k, f in features.items() if type(f).__name__ == "Image"), None)
    label = next((k for k, f in features.items() if type(f).__name__ == "ClassLabel"), None)
    if image is None or label is None:
        raise DataError(f"TFDS dataset {builder.name!r} is not an image-classification set (no image and class label).")
    return image, label


def _to_arrays(ds, image_key, label_key, name, split):
    images, labels = [], []
    for ex in ds.as_numpy_iterator():
        images.append(ex[image_key])
        labels.append(int(ex[label_key]))
    if not images:
        raise DataError(f"TFDS dataset {name!r} split {split!r} is empty.")
    return images, np.array(labels, dtype=np.int64)


def _stack(images: list, name: str) -> np.ndarray:
    shapes = collections.Counter(im.shape for im in images)
    if len(shapes) == 1:
        return np.stack(images).astype(np.uint8, copy=False)
    # Variable-size sets (tf_flowers...): resize to the most common size so the set fits one array.
    from PIL import Image

    (h, w, c), _ = shapes.most_common(1)[0]
    out = []
    for im in images:
        if im.shape[:2] != (h, w):
            pil = Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im)
            im = np.asarray(pil.resize((w, h), Image.BILINEAR)).reshape(h, w, -1)
        out.append(im)
    return np.stack(out).astype(np.uint8, copy=False)


@contextlib.contextmanager
def _absl_errors_only():
    """TFDS's absl warnings ("Variant folder ... has no dataset_info.json") hidden: they say nothing to do."""
    from absl import logging as absl_logging

    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        yield
    finally:
        absl_logging.set_verbosity(verbosity)


def _quiet_load(tfds, name, split, data_dir):
    """``tfds.load`` (downloading if needed) without TFDS's banner and absl warnings on stdout/stderr,
    so that an offline failure ends in our one-line message only. Download progress bars still show."""
    with _absl_errors_only(), contextlib.redirect_stdout(io.StringIO()):
        return tfds.load(name, split=split, data_dir=data_dir, download=True, shuffle_files=False)


def load_tfds(name: str, *, data_dir=None, test_split: float = DEFAULT_TEST_SPLIT, seed: int = 0):
    """A :class:`~kerascnn.data.raw.RawDataset` from the TFDS set ``name``.

    Uses its ``train`` and ``test`` splits; without a ``test`` split the ``train`` split is divided by
    ``test_split``. An unprepared set is downloaded and prepared if the machine is online.
    """
    import tensorflow_datasets as tfds

    from kerascnn.data.raw import RawDataset, split_train_test

    builder = _builder(name, data_dir)  # turns an unknown name into a clear error before any download
    image_key, label_key = _supervised_keys(builder)
    try:
        with _absl_errors_only():
            prepared = builder.is_prepared()
        if not prepared and _downloads_for_real(builder):
            _check_network(builder)  # seconds, where TFDS's own retries take minutes to give up
        known_splits = set(builder.info.splits)  # empty until the set is prepared
        want_test = "test" in known_splits or not known_splits
        try:
            parts = _quiet_load(tfds, name, ["train", "test"] if want_test else ["train"], data_dir)
        except ValueError as e:
            if "test" not in str(e) or not want_test:
                raise
            parts = _quiet_load(tfds, name, ["train"], data_dir)
        x_train, y_train = _to_arrays(parts[0], image_key, label_key, name, "train")
        x_test, y_test = _to_arrays(parts[1], image_key, label_key, name, "test") if len(parts) > 1 else ([], None)
    except DataError:
        raise
    except (AssertionError, ImportError, OSError, ConnectionError) as e:
        raise DataError(_offline_message(name, data_dir, e)) from None
    except Exception as e:
        if type(e).__name__ in ("DownloadError", "NonMatchingChecksumError", "ExtractError", "ConnectionError"):
            raise DataError(_offline_message(name, data_dir, e)) from None
        raise
    class_names = builder.info.features[label_key].names
    x = _stack(x_train + x_test, name)
    if y_test is None:
        return split_train_test(name, class_names, x, y_train, test_split=test_split, seed=seed)
    n = len(x_train)
    return RawDataset(name, class_names, x[:n], y_train, x[n:], y_test)
