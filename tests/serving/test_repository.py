"""Versions on disk -> loaded servables: policies, labels, broken and removed versions (real SavedModels)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from kerascnn.serving.repository import ModelConfig, ModelRegistry, ModelRepository, VersionPolicy, scan_versions
from kerascnn.serving.status import ServingError

from .conftest import copy_version


@pytest.fixture
def base(tmp_path, exports):
    base = tmp_path / "lenet"
    base.mkdir()
    copy_version(exports[1], base, 1)
    copy_version(exports[2], base, 2)
    return base


def versions(repository) -> dict:
    return {int(s["version"]): s["state"] for s in repository.status()["model_version_status"]}


def test_scan_ignores_hidden_and_non_numeric_entries(base):
    (base / ".3.tmp-x").mkdir()
    (base / "latest").mkdir()
    (base / "4").write_text("a file, not a folder")
    assert sorted(scan_versions(base)) == [1, 2]
    assert scan_versions(base / "missing") == {}


def test_latest_policy_serves_the_newest_version(base):
    repository = ModelRepository(ModelConfig("lenet", str(base)), warm_up=False)
    repository.poll()
    assert repository.loaded_versions() == [2] and versions(repository) == {2: "AVAILABLE"}
    assert repository.servable().version == 2
    with pytest.raises(ServingError, match=r"Specific\(lenet, 1\)"):
        repository.servable(1)


def test_all_and_specific_policies_and_labels(base):
    config = ModelConfig("lenet", str(base), VersionPolicy("all"), {"stable": 1})
    repository = ModelRepository(config, warm_up=False)
    repository.poll()
    assert repository.loaded_versions() == [1, 2]
    assert repository.servable(label="stable").version == 1
    with pytest.raises(ServingError, match="Unrecognized servable version label: x") as e:
        repository.servable(label="x")
    assert e.value.http_status == 400
    specific = ModelRepository(
        ModelConfig("lenet", str(base), VersionPolicy("specific", versions=(1, 5))), warm_up=False
    )
    specific.poll()
    assert specific.loaded_versions() == [1]


def test_broken_version_is_reported_and_retried_when_its_files_change(base, exports, images):
    (base / "3").mkdir()
    (base / "3" / "saved_model.pb").write_bytes(b"garbage")
    repository = ModelRepository(ModelConfig("lenet", str(base), VersionPolicy("latest", 1)), warm_up=False)
    repository.poll()
    status = {s["version"]: s for s in repository.status()["model_version_status"]}
    assert status["3"]["state"] == "END" and status["3"]["status"]["error_code"] == "UNKNOWN"
    assert status["3"]["status"]["error_message"]
    assert repository.servable().version == 2  # the newest version that loaded keeps serving
    repository.poll()  # unchanged: not retried
    assert repository.status(3)["model_version_status"][0]["state"] == "END"

    shutil.rmtree(base / "3")
    copy_version(exports[1], base, 3)  # fixed: loaded, and version 2 unloaded
    repository.poll()
    assert versions(repository) == {3: "AVAILABLE", 2: "END"}
    out = repository.servable().run("serving_default", {"images": images[:1]})
    assert out["probabilities"].shape == (1, 10) and np.isclose(out["probabilities"].sum(), 1, atol=1e-5)


def test_removed_versions_are_unloaded_and_older_ones_take_over(base):
    repository = ModelRepository(ModelConfig("lenet", str(base)), warm_up=False)
    repository.poll()
    shutil.rmtree(base / "2")
    repository.poll()
    assert versions(repository) == {2: "END", 1: "AVAILABLE"}
    shutil.rmtree(base / "1")
    repository.poll()
    with pytest.raises(ServingError, match=r"Latest\(lenet\)") as e:
        repository.servable()
    assert e.value.http_status == 404


def test_empty_version_folder_is_not_found(base):
    (base / "7").mkdir()
    repository = ModelRepository(ModelConfig("lenet", str(base)), warm_up=False)
    repository.poll()
    assert repository.status(7)["model_version_status"][0]["status"]["error_code"] == "NOT_FOUND"
    assert repository.servable().version == 2


def test_registry_errors_match_tf_serving(base):
    registry = ModelRegistry([ModelConfig("lenet", str(base))], warm_up=False)
    registry.poll()
    for call, message in [
        (lambda: registry.servable("nope"), "Servable not found for request: Latest(nope)"),
        (lambda: registry.servable("nope", 3), "Servable not found for request: Specific(nope, 3)"),
        (lambda: registry.status("nope"), "Could not find any versions of model nope"),
        (lambda: registry.status("lenet", 9), "Could not find version 9 of model lenet"),
    ]:
        with pytest.raises(ServingError) as e:
            call()
        assert e.value.message == message and e.value.http_status == 404


def test_duplicate_model_names_are_refused(base):
    from kerascnn.errors import KerasCNNError

    with pytest.raises(KerasCNNError, match="repeated: a"):
        ModelRegistry([ModelConfig("a", str(base)), ModelConfig("a", str(base))])
