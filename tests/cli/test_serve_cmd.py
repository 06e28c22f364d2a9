"""``kerascnn serve`` argument handling: help that teaches, one-line errors for what users get wrong."""

from __future__ import annotations

import pytest


def test_help_explains_the_command(kerascnn_cli):
    proc = kerascnn_cli("serve", "--help")
    assert proc.returncode == 0
    for text in ("TF Serving", "MODEL_BASE_PATH", "--model-config-file", "--no-batching", "--max-batch-size",
                 "--batch-timeout-micros", "127.0.0.1", "model_config_list", "curl"):
        assert text in proc.stdout


@pytest.mark.parametrize("make_args, message", [
    (lambda d: [], "Give the folder to serve"),
    (lambda d: [d / "missing"], "does not exist"),
    (lambda d: [d / "version"], "is a SavedModel, not a model base path"),
    (lambda d: [d / "base", "--model-config-file", d / "models.config"], "not both"),
    (lambda d: ["--model-config-file", d / "bad.config"], "1:30"),
    (lambda d: ["--model-config-file", d / "missing.config"], "Cannot read model config file"),
    (lambda d: [d / "base", "--model-version-policy", "newest"], "version policy"),
    (lambda d: [d / "base", "--max-batch-size", "0"], "max_batch_size must be at least 1"),
    (lambda d: [d / "base", "--port", "70000"], "--port must be"),
    (lambda d: [d / "base", "--poll-seconds", "-1"], "--poll-seconds"),
])
def test_user_errors_are_one_line(kerascnn_cli, tmp_path, make_args, message):
    (tmp_path / "version").mkdir()
    (tmp_path / "version" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "base").mkdir()
    (tmp_path / "models.config").write_text('model_config_list { config { name: "a" base_path: "base" } }')
    (tmp_path / "bad.config").write_text('model_config_list { config { nme: "a" } }')
    proc = kerascnn_cli("serve", *make_args(tmp_path))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("kerascnn serve: error: ") and message in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
