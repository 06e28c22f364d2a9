"""Model versions on disk -> loaded servables, as TF Serving's file-system source and manager do.

A model's *base path* holds one folder per version, named by an integer (``models/lenet/1/``,
``models/lenet/2/``), each a SavedModel. :meth:`ModelRepository.poll` looks at the folders, loads the
versions the version policy wants and unloads the others. It is called at start-up and then every
``poll_seconds`` from a background thread, so a new version appears without a restart. New versions are
loaded before the versions they replace are unloaded, so requests never find the model without a version.

Failures stay local: a version that fails to load is recorded with its error (``state: END``,
``error_code`` != OK) and skipped, and the newest version that did load keeps serving; a version whose
folder disappears is unloaded. A broken folder is retried only when its files change.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from pathlib import Path

from kerascnn.errors import KerasCNNError
from kerascnn.serving.servable import Servable, folder_fingerprint, is_saved_model_dir
from kerascnn.serving.status import ServingError, invalid_argument, not_found

log = logging.getLogger("kerascnn.serve")


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """Which versions to keep loaded: TF Serving's ``model_version_policy``.

    ``latest`` keeps the newest ``num_versions`` (default 1, TF Serving's default), ``all`` every
    version, ``specific`` the listed ones.
    """

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple = ()

    @classmethod
    def parse(cls, text: str) -> VersionPolicy:
        """From ``latest``, ``latest:N``, ``all`` or ``specific:1,2``."""
        kind, _, arg = str(text).strip().partition(":")
        try:
            if kind == "latest":
                n = int(arg) if arg else 1
                if n >= 1:
                    return cls("latest", n)
            elif kind == "all" and not arg:
                return cls("all")
            elif kind == "specific" and arg:
                return cls("specific", versions=tuple(sorted(int(v) for v in arg.split(","))))
        except ValueError:
            pass
        raise KerasCNNError(
            f"A version policy is latest, latest:N (N >= 1), all, or specific:V1,V2. Received: {text!r}"
        )

    def __str__(self):
        if self.kind == "latest":
            return "latest" if self.num_versions == 1 else f"latest:{self.num_versions}"
        if self.kind == "specific":
            return "specific:" + ",".join(map(str, self.versions))
        return self.kind


@dataclasses.dataclass
class ModelConfig:
    """One served model: the URL name, the base path of its version folders, the policy and labels."""

    name: str
    base_path: str
    version_policy: VersionPolicy = dataclasses.field(default_factory=VersionPolicy)
    version_labels: dict = dataclasses.field(default_factory=dict)  # label -> version


@dataclasses.dataclass
class VersionStatus:
    state: str  # START, LOADING, AVAILABLE, UNLOADING, END (TF Serving's ModelVersionStatus.State)
    error_code: str = "OK"
    error_message: str = ""

    def to_json(self, version: int) -> dict:
        return {
            "version": str(version),
            "state": self.state,
            "status": {"error_code": self.error_code, "error_message": self.error_message},
        }


def scan_versions(base_path) -> dict:
    """``{version: folder}`` for the integer-named SavedModel folders directly under ``base_path``.

    Hidden or non-numeric names (such as the temporary folders of a write-then-rename export) are
    ignored, as TF Serving ignores them.
    """
    found = {}
    try:
        entries = list(os.scandir(base_path))
    except OSError:
        return found
    for entry in entries:
        if entry.name.isdigit() and entry.is_dir():
            found[int(entry.name)] = Path(entry.path)
    return found


class ModelRepository:
    """The versions of one model: what is on disk, what is loaded, and each version's status.

    Thread-safe: :meth:`poll` runs in a loader thread while request handlers call :meth:`servable`
    and :meth:`status` from the event loop.
    """

    def __init__(self, config: ModelConfig, *, warm_up: bool = True, loader=Servable):
        self.config = config
        self._warm_up = warm_up
        self._loader = loader
        self._lock = threading.Lock()
        self._loaded: dict = {}  # version -> Servable
        self._status: dict = {}  # version -> VersionStatus
        self._failed: dict = {}  # version -> folder fingerprint at the failed load

    @property
    def name(self) -> str:
        return self.config.name

    # --------------------------------------------------------------------------------------- loading

    def poll(self) -> bool:
        """Bring the loaded versions in line with the folders on disk and the version policy.

        Returns:
            True if a version was loaded or unloaded.
        """
        before = set(self._loaded)
        present = scan_versions(self.config.base_path)
        # Forget failures of folders that changed since (a re-export, or a copy that finished).
        for version in list(self._failed):
            if version not in present or folder_fingerprint(present[version]) != self._failed[version]:
                del self._failed[version]
        policy = self.config.version_policy
        wanted = set()
        if policy.kind == "latest":
            for version in sorted(present, reverse=True):
                if len(wanted) >= policy.num_versions:
                    break
                if self._ensure_loaded(version, present[version]):
                    wanted.add(version)
        else:
            candidates = present if policy.kind == "all" else [v for v in policy.versions if v in present]
            wanted = {v for v in candidates if self._ensure_loaded(v, present[v])}
        # Only now, with the new versions loaded, do the old ones go (TF Serving's availability-preserving
        # policy): a version that replaces another is never preceded by a moment with neither. A version
        # whose folder was removed is still in memory and answers until then.
        for version in [v for v in self._loaded if v not in wanted]:
            reason = (
                "its folder was removed"
                if version not in present
                else f"the version policy ({policy}) no longer selects it"
            )
            self._unload(version, reason=reason)
        with self._lock:
            for version in [v for v, s in self._status.items() if v not in present and s.state != "END"]:
                self._status[version] = VersionStatus("END")
        return set(self._loaded) != before

    def _ensure_loaded(self, version: int, path: Path) -> bool:
        if version in self._loaded:
            return True
        if version in self._failed:
            return False
        with self._lock:
            self._status[version] = VersionStatus("LOADING")
        log.info("loading %s version %d from %s", self.name, version, path)
        try:
            if not is_saved_model_dir(path):
                raise FileNotFoundError(f"no saved_model.pb in {path}")
            servable = self._loader(self.name, version, path)
            if self._warm_up:
                servable.warm_up()
        except Exception as e:  # noqa: BLE001 - any load failure is this version's status, never fatal
            message = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
            code = "NOT_FOUND" if isinstance(e, FileNotFoundError) else "UNKNOWN"
            log.warning("%s version %d failed to load: %s", self.name, version, message)
            self._failed[version] = folder_fingerprint(path)
            with self._lock:
                self._status[version] = VersionStatus("END", code, message)
            return False
        with self._lock:
            self._loaded[version] = servable
            self._status[version] = VersionStatus("AVAILABLE")
        log.info("%s version %d AVAILABLE", self.name, version)
        return True

    def _unload(self, version: int, reason: str) -> None:
        log.info("unloading %s version %d: %s", self.name, version, reason)
        with self._lock:
            self._loaded.pop(version, None)  # requests in flight keep their reference until they finish
            self._status[version] = VersionStatus("END")

    # ------------------------------------------------------------------------------------------ lookup

    def resolve(self, version: int | None = None, label: str | None = None) -> int | None:
        if label is not None:
            if label not in self.config.version_labels:
                raise invalid_argument(f"Unrecognized servable version label: {label}")
            return int(self.config.version_labels[label])
        return version

    def servable(self, version: int | None = None, label: str | None = None) -> Servable:
        """The loaded servable for a version, a label, or (neither) the latest loaded version."""
        version = self.resolve(version, label)
        with self._lock:
            if version is None:
                if self._loaded:
                    return self._loaded[max(self._loaded)]
                raise not_found(f"Servable not found for request: Latest({self.name})")
            if version in self._loaded:
                return self._loaded[version]
        raise not_found(f"Servable not found for request: Specific({self.name}, {version})")

    def status(self, version: int | None = None, label: str | None = None) -> dict:
        """TF Serving's GetModelStatus answer: every known version (newest first) or just one."""
        version = self.resolve(version, label)
        with self._lock:
            if version is not None:
                if version not in self._status:
                    raise not_found(f"Could not find version {version} of model {self.name}")
                return {"model_version_status": [self._status[version].to_json(version)]}
            if not self._status:
                raise not_found(f"Could not find any versions of model {self.name}")
            return {"model_version_status": [self._status[v].to_json(v) for v in sorted(self._status, reverse=True)]}

    def loaded_versions(self) -> list:
        with self._lock:
            return sorted(self._loaded)

    def describe(self) -> str:
        """One line for the start-up banner."""
        with self._lock:
            parts = [
                f"{v} {s.state}" + (f" ({s.error_message})" if s.error_code != "OK" else "")
                for v, s in sorted(self._status.items(), reverse=True)
            ]
        versions = ", ".join(parts) or "no versions yet"
        return f"{self.name}: {versions} [{self.config.version_policy}] <- {self.config.base_path}"


class ModelRegistry:
    """All served models by name."""

    def __init__(self, configs, *, warm_up: bool = True):
        names = [c.name for c in configs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise KerasCNNError(f"Each served model needs its own name; repeated: {', '.join(duplicates)}")
        self._warm_up = warm_up
        self.models = {c.name: ModelRepository(c, warm_up=warm_up) for c in configs}

    def reconfigure(self, configs) -> None:
        """Serve exactly ``configs`` from now on: new models are added, missing ones dropped, and a model
        whose base path is unchanged keeps its loaded versions (with the new policy and labels).
        Call :meth:`poll` afterwards to load and unload accordingly (TF Serving's config reload)."""
        names = [c.name for c in configs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise KerasCNNError(f"Each served model needs its own name; repeated: {', '.join(duplicates)}")
        models = {}
        for config in configs:
            current = self.models.get(config.name)
            if current is not None and current.config.base_path == config.base_path:
                current.config = config
                models[config.name] = current
            else:
                models[config.name] = ModelRepository(config, warm_up=self._warm_up)
        self.models = models  # one assignment: request handlers see the old or the new set, never a mix

    def poll(self) -> bool:
        """Poll every model; True if any version was loaded or unloaded."""
        changed = False
        for repository in list(self.models.values()):
            try:
                changed = repository.poll() or changed
            except Exception:  # noqa: BLE001 - polling must go on for the other models
                log.exception("polling %s failed", repository.name)
        return changed

    def repository(self, name: str, *, for_status: bool = False, version=None) -> ModelRepository:
        if name in self.models:
            return self.models[name]
        if for_status:
            raise not_found(f"Could not find any versions of model {name}")
        spec = f"Latest({name})" if version is None else f"Specific({name}, {version})"
        raise not_found(f"Servable not found for request: {spec}")

    def servable(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        return self.repository(name, version=version).servable(version, label)

    def status(self, name: str, version: int | None = None, label: str | None = None) -> dict:
        if version is not None and name not in self.models:
            raise not_found(f"Could not find version {version} of model {name}")
        return self.repository(name, for_status=True).status(version, label)


__all__ = [
    "ModelConfig",
    "ModelRegistry",
    "ModelRepository",
    "ServingError",
    "VersionPolicy",
    "scan_versions",
]
