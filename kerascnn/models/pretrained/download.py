"""Download a registered weights file once, check its published hash, keep it in the cache.

    KERASCNN_HOME             the cache root (default ~/.kerascnn); weights live in $KERASCNN_HOME/weights/
    KERASCNN_WEIGHTS_MIRROR   a base URL or a local folder that replaces the host of every registered URL,
                              keeping the file name (air-gapped machines, a company mirror, tests)

The transfer is Keras' own ``keras.utils.get_file`` (progress bar, HTTP and ``file://``), into a private
staging folder of the cache: the file reaches its cache name only after its hash matched, by an atomic
rename, so a wrong hash, a truncated transfer, a dead network or a kill leaves nothing under that name and
the next call downloads again (and removes a killed download's staging folder). A file already in the
cache is used without a request (torch.hub's rule).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from kerascnn.fsutil import _locked_temporary, remove_stale_temporaries
from kerascnn.models.pretrained.files import WeightsError
from kerascnn.models.weights import url_file_name

HOME_VARIABLE = "KERASCNN_HOME"
MIRROR_VARIABLE = "KERASCNN_WEIGHTS_MIRROR"


def kerascnn_home() -> Path:
    return Path(os.environ.get(HOME_VARIABLE) or Path.home() / ".kerascnn").expanduser()


def weights_dir() -> Path:
    return kerascnn_home() / "weights"


def mirrored_url(url: str) -> str:
    """``url`` with its host replaced by ``$KERASCNN_WEIGHTS_MIRROR`` (a base URL or a folder), file name kept."""
    mirror = os.environ.get(MIRROR_VARIABLE)
    if not mirror:
        return url
    name = url_file_name(url)
    if "://" in mirror:
        return f"{mirror.rstrip('/')}/{name}"
    return (Path(mirror).expanduser().resolve() / name).as_uri()


def cached_path(url: str) -> Path:
    return weights_dir() / url_file_name(url)


def file_digest(path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url: str, expected_hash: str | None, *, hash_algorithm: str = "sha256", what: str = "weights") -> Path:
    """The cached file for ``url``, downloaded (from the mirror when set) and hash-checked if not cached yet.

    ``expected_hash``: the publisher's hex digest or its prefix (None: the publisher states none). Every
    failure is a :class:`WeightsError` of one line naming the URL and what to do.
    """
    target = cached_path(url)
    if target.is_file():
        return target
    source = mirrored_url(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A locked staging folder (kerascnn.fsutil's convention): the leftovers of a killed download are unlocked,
    # and removed here next time; a download still running elsewhere holds its lock and is left alone.
    remove_stale_temporaries(target.parent, re.escape(target.name))
    staging, lock = _locked_temporary(lambda: tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        _get_file(source, target.name, staging, what)
        downloaded = staging / target.name
        if not downloaded.is_file() or downloaded.stat().st_size == 0:
            raise WeightsError(f"Downloading {what} from {source} gave an empty file: nothing was kept. {_advice(url)}")
        if expected_hash:
            actual = file_digest(downloaded, hash_algorithm)
            if not actual.startswith(expected_hash.lower()):
                raise WeightsError(
                    f"The {what} downloaded from {source} have {hash_algorithm} {actual[: len(expected_hash)]}..., "
                    f"not the published {expected_hash}: a damaged or different file, nothing was kept. "
                    f"{_advice(url)}"
                )
        os.replace(downloaded, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        os.close(lock)
    return target


def _get_file(source: str, name: str, staging: Path, what: str) -> None:
    import keras

    try:
        keras.utils.get_file(fname=name, origin=source, cache_dir=str(staging), cache_subdir="")
    except KeyboardInterrupt:
        raise
    except Exception as e:  # get_file raises bare Exception("URL fetch failure on ...") for HTTP/URL errors
        reason = " ".join(str(e).split())
        reason = reason.replace(f"URL fetch failure on {source}: ", "").removeprefix("None -- ")
        raise WeightsError(f"Could not download {what} from {source} ({reason[:160]}). {_advice(source)}") from None


def _advice(url: str) -> str:
    name = url_file_name(url)
    return (
        f"Check the network and try again, or put {name} in a folder and set {MIRROR_VARIABLE} to that "
        f"folder (or to a server that has it)."
    )
