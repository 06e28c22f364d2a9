"""A search's output directory: what it holds, whether it may be (re)used, and who sets it up.

``runs/tune-<model>`` (by default) holds ``tune_config.json`` (the search's settings: a rerun must
match them to resume), ``space.json`` (the resolved space) and keras-tuner's project ``search/``.
A single search or a distributed search's chief checks and prepares the directory; a worker waits
for its chief to have done so. Resuming drops a ``trial.json`` half-written by a killed process
(keras-tuner #987) before keras-tuner reloads the project, and renames hyperparameters a search started
by an older kerascnn saved under an old name (``learning_rate``, now ``lr``), so that such a search resumes.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from kerascnn.errors import KerasCNNError
from kerascnn.fsutil import atomic_write_json, atomic_write_text
from kerascnn.settings import caller_name

CONFIG_FILE = "tune_config.json"
SPACE_FILE = "space.json"
PROJECT_NAME = "search"  # keras-tuner's project directory: oracle.json, trial_*/trial.json, checkpoints


class TuneError(KerasCNNError, ValueError):
    """A search that cannot start or resume as asked."""


def check_setting(check, name: str, value, *args):
    """``check(name, value, *args)`` (a ``kerascnn.models.hyperparameters.check_*``), its complaint a TuneError."""
    from kerascnn.models.hyperparameters import HyperparameterError

    try:
        result = check(name, value, *args)
    except HyperparameterError as e:
        raise TuneError(str(e)) from None
    return value if result is None else result


def distributed_role() -> str:
    """ "single", or "chief"/"worker" of a distributed search (keras-tuner's environment variables)."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "single"
    missing = [v for v in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID") if not os.environ.get(v)]
    if missing:
        raise TuneError(
            f"KERASTUNER_ORACLE_IP is set but {' and '.join(missing)} not: a distributed search needs "
            "all three (KERASTUNER_TUNER_ID=chief on one process, tuner0, tuner1, ... on the others)."
        )
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


def prepare_out_dir(out: Path, config: dict, *, overwrite: bool) -> None:
    """Check that ``out`` is new, or holds the same search (to resume), or may be overwritten."""
    config_path = out / CONFIG_FILE
    if out.exists() and any(out.iterdir()):
        if not config_path.is_file():
            raise TuneError(
                f"{out} exists and is not a kerascnn tune directory; choose another {caller_name('out')} "
                "(nothing was deleted)."
            )
        if overwrite:
            shutil.rmtree(out)
        else:
            try:
                previous = _current_names(json.loads(config_path.read_text()))
            except json.JSONDecodeError:
                previous = {}
            changed = _changed_settings(config, previous)
            started = (out / PROJECT_NAME / "oracle.json").is_file()
            if changed and started:
                raise TuneError(
                    f"{out} holds a search with other settings ({', '.join(changed)} differ); "
                    f"use {caller_name('overwrite', True)} to replace it or another {caller_name('out')}."
                )
            if changed:  # set up by a run that stopped before its first trial: start afresh
                shutil.rmtree(out / PROJECT_NAME, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(config_path, config)
    atomic_write_json(out / SPACE_FILE, config["space"])


def await_chief(out: Path, config: dict, timeout: float = 300.0) -> None:
    """A worker waits for its chief to set up ``out``, and checks that both run the same search."""
    config_path = out / CONFIG_FILE
    deadline = time.monotonic() + timeout
    while not config_path.is_file():
        if time.monotonic() > deadline:
            raise TuneError(
                f"No chief set up {out} within {timeout:.0f} s: start the chief (KERASTUNER_TUNER_ID=chief) with the "
                f"same {caller_name('out')}."
            )
        time.sleep(0.5)
    changed = _changed_settings(config, _current_names(json.loads(config_path.read_text())))
    if changed:
        raise TuneError(
            f"This worker's settings differ from the chief's in {out} ({', '.join(changed)}): run the same command."
        )


def _changed_settings(config: dict, previous: dict) -> list:
    # Compared as JSON would store them (tuples become lists).
    return [k for k in config if previous.get(k) != json.loads(json.dumps(config[k]))]


def _current_names(previous: dict) -> dict:
    """A ``tune_config.json`` with its space's settings under their names now (``learning_rate``: ``lr``)."""
    from kerascnn.training.config import canonical_settings

    if isinstance(previous.get("space"), dict):
        previous = dict(previous, space=canonical_settings(previous["space"]))
    return previous


def rename_legacy_hyperparameters(state: dict) -> bool:
    """Rename, in place, the old names (``kerascnn.training.config.SETTING_ALIASES``) in a keras-tuner
    ``HyperParameters`` config (``{"space": [...], "values": {...}}``, as in ``trial.json`` and
    ``oracle.json``); True if anything changed. A value saved under both names keeps the new one's.
    """
    from kerascnn.training.config import SETTING_ALIASES, canonical_settings

    changed = False
    for entry in state.get("space", []):  # kerascnn's spaces have no conditional hyperparameters
        config = entry.get("config", {})
        if config.get("name") in SETTING_ALIASES:
            config["name"] = SETTING_ALIASES[config["name"]]
            changed = True
    if SETTING_ALIASES.keys() & state.get("values", {}).keys():
        state["values"] = canonical_settings(state["values"])
        changed = True
    return changed


# Trial statuses keras-tuner never retries (INVALID is retried; RUNNING/IDLE have not ended).
ENDED_STATUSES = ("COMPLETED", "FAILED")


def repair_project(project_dir) -> list[str]:
    """Drop trials whose ``trial.json`` is unreadable (half-written by a killed process).

    Such a trial never finished (keras-tuner writes ``trial.json`` before recording the trial as
    ended in ``oracle.json``), so it is removed with every reference to it and the search runs a new
    trial in its place. Returns the ids of the dropped trials.

    A trial that did end is taken off ``ongoing_trials``: keras-tuner 1.4 saves ``oracle.json`` with
    the ended trial still listed as ongoing (it pops it after saving) until the next trial starts,
    and on reload sends every ongoing trial for a retry: a kill in between would train a finished
    trial again. For the same reason a trial whose ``trial.json`` says it ended but which is missing
    from ``end_order`` (killed between the two writes) is recorded as ended.

    A search saved by a kerascnn from before a setting's rename (``learning_rate``, now ``lr``) has its
    hyperparameters renamed in every ``trial.json`` and in ``oracle.json``, with keras-tuner's record of the
    values tried (``tried_so_far``, ``id_to_hash``: hashes of names and values) re-hashed, so the search goes
    on as if started today and never repeats a tried trial. Each
    file is written whole then renamed, ``oracle.json`` first: a kill in between leaves ``trial.json``
    files that the next run renames (re-hashing them again changes nothing).
    """
    project_dir = Path(project_dir)
    oracle_path = project_dir / "oracle.json"
    if not oracle_path.is_file():
        return []
    try:
        oracle = json.loads(oracle_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise TuneError(
            f"Cannot resume: {oracle_path} is unreadable (written by a killed process?). "
            f"Rerun with {caller_name('overwrite', True)} to start the search afresh."
        ) from None
    end_order = oracle.setdefault("end_order", [])
    dropped = []
    recorded = False
    renamed = rename_legacy_hyperparameters(oracle.get("hyperparameters", {}))
    renamed_trials = []  # written after oracle.json, whose hashes say they are renamed
    for trial_json in sorted(project_dir.glob("trial_*/trial.json")):
        trial_id = trial_json.parent.name[len("trial_") :]
        try:
            trial = json.loads(trial_json.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            dropped.append(trial_id)
            shutil.rmtree(trial_json.parent)
            _forget_trial(oracle, trial_id)
            continue
        if rename_legacy_hyperparameters(trial.get("hyperparameters", {})):
            _rehash_trial(oracle, trial_id, trial["hyperparameters"].get("values", {}))
            renamed_trials.append((trial_json, trial))
            renamed = True
        # keras-tuner writes trial.json with the final status, then oracle.json with the trial in
        # end_order: a kill in between leaves an ended trial that oracle.json would send for a retry.
        if trial.get("status") in ENDED_STATUSES and trial_id not in end_order:
            end_order.append(trial_id)
            recorded = True
    ended = set(end_order)
    ongoing = oracle.get("ongoing_trials", {})
    changed = recorded or renamed or any(trial_id in ended for trial_id in ongoing.values())
    oracle["ongoing_trials"] = {k: v for k, v in ongoing.items() if v not in ended}
    if dropped or changed:
        atomic_write_text(oracle_path, json.dumps(oracle))
    for trial_json, trial in renamed_trials:  # a kill before this: the next run renames them (hashes stay)
        atomic_write_text(trial_json, json.dumps(trial))
    return dropped


def _rehash_trial(state: dict, trial_id: str, values: dict) -> None:
    """Record ``trial_id``'s renamed ``values`` in keras-tuner's ``tried_so_far``/``id_to_hash``."""
    from kerascnn import compat

    new_hash = compat.hyperparameters_hash(values)
    old_hash = state.setdefault("id_to_hash", {}).get(trial_id)
    tried = [h for h in state.get("tried_so_far", []) if h != old_hash]
    state["tried_so_far"] = tried + ([new_hash] if new_hash not in tried else [])
    state["id_to_hash"][trial_id] = new_hash


def _forget_trial(state: dict, trial_id: str) -> None:
    """Remove ``trial_id`` from keras-tuner 1.4's ``oracle.json`` state (Hyperband's brackets too)."""
    state["ongoing_trials"] = {k: v for k, v in state.get("ongoing_trials", {}).items() if v != trial_id}
    for key in ("start_order", "end_order", "retry_queue"):
        state[key] = [t for t in state.get(key, []) if t != trial_id]
    state.get("run_times", {}).pop(trial_id, None)
    old_hash = state.get("id_to_hash", {}).pop(trial_id, None)
    if old_hash is not None:
        state["tried_so_far"] = [h for h in state.get("tried_so_far", []) if h != old_hash]
    for bracket in state.get("brackets", []):  # Hyperband
        bracket["rounds"] = [
            [info for info in round_ if (info.get("id") if isinstance(info, dict) else info) != trial_id]
            for round_ in bracket.get("rounds", [])
        ]
