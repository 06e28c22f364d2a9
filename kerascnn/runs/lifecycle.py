"""Creating, resuming and finishing run directories (the layout is in :mod:`kerascnn.runs.layout`).

A run trains in ``<out>.partial``; on success it is renamed to ``<out>`` (replacing a previous finished
run only with ``overwrite``). A killed run leaves ``<out>.partial`` with its training state
(:mod:`kerascnn.training.checkpoints`), and the same command resumes it; a rerun with different settings
is refused instead of mixing two runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
from pathlib import Path

from kerascnn.errors import ArtifactError
from kerascnn.runs.layout import CHECKPOINTS_DIR, CONFIG_FILE, STATE_FILE, is_finished_run, partial_path
from kerascnn.settings import caller_name as _named  # --overwrite on the command line, overwrite=True in Python


@dataclasses.dataclass
class RunDir:
    final: Path  # where the finished run goes
    work: Path  # where it trains
    resumed: bool  # True when work held an unfinished run of the same settings
    scratch: bool = False  # a non-chief worker's private copy, deleted at the end
    lock: object = None  # the PathLock held while this process trains in ``work``

    def release(self) -> None:
        """Let another process have the run directory (after finish or abandon, or when training failed)."""
        if self.lock is not None:
            self.lock.release()


class DataChangedError(ArtifactError):
    """An unfinished run would resume on other files than it started with."""


def lock_run(out):
    """The exclusive lock of the run directory ``out`` (and its ``.partial``): one training process at a time."""
    from kerascnn.fsutil import lock_path

    return lock_path(out, advice=f"wait for it to finish, or choose another {_named('out')}")


def data_change_message(saved: dict | None, now: dict | None) -> str | None:
    """One line saying how the data differs from what an unfinished run started with, or None when it does not.

    ``saved``/``now``: the ``data`` record of config.json and :meth:`PreparedData.info` (file count and the
    digests of the file list and of the split).
    """
    if not saved or not now or "files_digest" not in saved or "files_digest" not in now:
        return None
    if saved["files_digest"] == now["files_digest"] and saved.get("split_digest") == now.get("split_digest"):
        return None
    what = (
        f"{saved.get('files')} usable files then, {now.get('files')} now"
        if saved.get("files") != now.get("files")
        else "the same number of files, but other files or labels"
    )
    return (
        f"The dataset changed since this run started ({what}); pass {_named('allow_data_change', True)} to resume "
        f"on the new files (each file keeps its part: no test image was trained on), or "
        f"{_named('overwrite', True)} to start over."
    )


def check_out_dir(out, *, overwrite: bool) -> None:
    """Refuse early (before loading data) to overwrite a finished run or a folder that is not a run."""
    final = Path(out)
    if final.exists() and not overwrite:
        if is_finished_run(final):
            raise ArtifactError(
                f"{final} already holds a finished run; pass {_named('overwrite', True)} to replace it or "
                f"{_named('out')} to choose another directory."
            )
        raise ArtifactError(
            f"{final} exists and is not a finished kerascnn run; choose another {_named('out')} "
            f"(or {_named('overwrite', True)})."
        )


def _changed_settings(saved: dict, wanted: dict) -> list[str]:
    keys = sorted(set(saved) | set(wanted))
    return [k for k in keys if json.dumps(saved.get(k), sort_keys=True) != json.dumps(wanted.get(k), sort_keys=True)]


def keep_if_same_settings(work: Path, identity: dict, *, overwrite: bool, what: str = "run") -> bool:
    """True when the unfinished ``work`` holds the same settings (its config.json's ``identity``): keep it.

    Otherwise it is removed (``overwrite``, no readable settings: killed before they were written) or
    refused with one line naming the settings that differ. False when ``work`` does not exist.
    """
    if not work.exists():
        return False
    try:
        saved = json.loads((work / CONFIG_FILE).read_text()).get("identity")
    except (OSError, ValueError, AttributeError):
        saved = None
    if overwrite or saved is None:
        shutil.rmtree(work)
        return False
    diff = _changed_settings(saved, identity)
    if diff:
        raise ArtifactError(
            f"An unfinished {what} with other settings ({', '.join(diff)}) is in {work}; rerun with the same "
            f"settings to resume it, or pass {_named('overwrite', True)} to start over."
        )
    return True


def open_run_dir(
    out,
    identity: dict,
    *,
    overwrite: bool,
    worker: int | None = None,
    data: dict | None = None,
    allow_data_change: bool = False,
    lock=None,
) -> RunDir:
    """Lock the run directory, then create ``<out>.partial`` or reopen it for resuming.

    Args:
        out: the final run directory.
        identity: the settings that must match for resuming (``TrainConfig.identity()``).
        overwrite: start over even if an unfinished run with other settings is there.
        worker: for a non-chief multi-worker task, its index: it gets a private scratch directory.
        data: the data's record (``PreparedData.info()``): a resume onto changed data is refused (one line)
            unless ``allow_data_change``.
        lock: the run directory's lock when the caller took it already (:func:`lock_run`); the RunDir owns it.
    """
    final = Path(out)
    work = partial_path(final)
    if worker:
        work = final.with_name(f"{final.name}.worker{worker}{work.suffix}")
    lock = lock or lock_run(work if worker else final)
    try:
        check_out_dir(final, overwrite=overwrite)
        resumed = False
        if keep_if_same_settings(work, identity, overwrite=overwrite):
            resumed = (work / STATE_FILE).is_file()
            if not resumed:  # killed before the first epoch ended: nothing worth keeping
                shutil.rmtree(work)
            elif not allow_data_change:
                message = data_change_message(_saved_data(work), data)
                if message:
                    raise DataChangedError(message)
        work.mkdir(parents=True, exist_ok=True)
    except BaseException:
        lock.release()
        raise
    return RunDir(final=final, work=work, resumed=resumed, scratch=bool(worker), lock=lock)


def _saved_data(work: Path) -> dict | None:
    try:
        return json.loads((work / CONFIG_FILE).read_text()).get("data")
    except (OSError, ValueError, AttributeError):
        return None


def start_over(run: RunDir) -> RunDir:
    """Empty the working directory (its saved state cannot be resumed) and train from the first epoch."""
    shutil.rmtree(run.work, ignore_errors=True)
    run.work.mkdir(parents=True, exist_ok=True)
    return dataclasses.replace(run, resumed=False)


def finish(run: RunDir, *, overwrite: bool) -> Path:
    """Move the finished run into place (replacing an old finished run only with ``overwrite``)."""
    if run.scratch:
        shutil.rmtree(run.work, ignore_errors=True)
        run.release()
        return run.final
    final = run.final
    if final.exists():
        if not overwrite:
            raise ArtifactError(f"{final} appeared while training; the new run is kept in {run.work}.")
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
        os.replace(run.work, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(run.work, final)
    # The training state served resuming; a kill before these lines leaves only harmless extras.
    shutil.rmtree(final / CHECKPOINTS_DIR, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        (final / STATE_FILE).unlink()
    for stale in final.parent.glob(f".{final.name}.old-*"):  # a kill between the two renames above
        shutil.rmtree(stale, ignore_errors=True)
    run.release()
    return final


def abandon(run: RunDir) -> None:
    """Remove the working directory (a run that cannot succeed: bad input, NaN loss)."""
    shutil.rmtree(run.work, ignore_errors=True)
    run.release()
