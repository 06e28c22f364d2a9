"""``kerascnn serve`` argument handling: help that teaches, one-line errors for what users get wrong.

In-process: what a real ``kerascnn serve`` process does (exit 0 on SIGTERM) is tests/serving/test_server.py's.
"""

from __future__ import annotations

import socket

import pytest

from kerascnn.cli.main import build_parser
from kerascnn.errors import KerasCNNError


def test_help_explains_the_command(kerascnn_main):
    result = kerascnn_main("serve", "--help")
    assert result.returncode == 0
    for text in (
        "TF Serving",
        "MODEL_BASE_PATH",
        "--model-config-file",
        "--no-batching",
        "--max-batch-size",
        "--batch-timeout-micros",
        "127.0.0.1",
        "model_config_list",
        "curl",
    ):
        assert text in result.stdout


def test_a_user_error_is_one_line_and_exit_1(kerascnn_main, tmp_path):
    result = kerascnn_main("serve", tmp_path / "missing")
    assert result.returncode == 1
    assert result.stderr.startswith("kerascnn serve: error: Model base path") and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


@pytest.fixture
def folders(tmp_path):
    (tmp_path / "version").mkdir()
    (tmp_path / "version" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "base").mkdir()
    (tmp_path / "models.config").write_text('model_config_list { config { name: "a" base_path: "base" } }')
    (tmp_path / "bad.config").write_text('model_config_list { config { nme: "a" } }')
    return tmp_path


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda d: [], "Give the folder to serve"),
        (lambda d: [d / "missing"], "does not exist"),
        (lambda d: [d / "version"], "is a SavedModel, not a model base path"),
        (lambda d: [d / "base", "--model-config-file", d / "models.config"], "not both"),
        (lambda d: ["--model-config-file", d / "bad.config"], "1:30"),
        (lambda d: ["--model-config-file", d / "missing.config"], "Cannot read model config file"),
        (lambda d: [d / "base", "--model-version-policy", "newest"], "version policy"),
        (lambda d: [d / "base", "--max-batch-size", "0"], "max_batch_size must be at least 1"),
        (lambda d: [d / "base", "--port", "70000"], "--port must be"),
        (lambda d: [d / "base", "--grpc-port", "-1"], "--grpc-port must be"),
        (lambda d: [d / "base", "--port", "9123", "--grpc-port", "9123"], "--grpc-port and --port must differ"),
        (lambda d: [d / "base", "--header-timeout", "0"], "--header-timeout must be > 0 seconds"),
        (lambda d: [d / "base", "--max-image-pixels", "0"], "--max-image-pixels must be at least 1"),
        (lambda d: [d / "base", "--poll-seconds", "-1"], "--poll-seconds"),
        (
            lambda d: [d / "base", "--port", "0", "--grpc-port", "0", "--access-log", d / "no" / "such" / "dir.log"],
            "Cannot open the access log",
        ),
    ],
)
def test_user_errors_say_what_to_do(folders, make_args, message):
    args = build_parser().parse_args(["serve", *map(str, make_args(folders))])
    with pytest.raises(KerasCNNError, match=message.replace("(", r"\(")):
        args.func(args)


def test_a_failed_start_leaves_no_access_log_file(folders):
    args = build_parser().parse_args(["serve", str(folders / "missing"), "--access-log", str(folders / "access.log")])
    with pytest.raises(KerasCNNError, match="does not exist"):
        args.func(args)
    assert not (folders / "access.log").exists()


def test_a_busy_port_is_reported_before_loading_models(folders):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = build_parser().parse_args(["serve", str(folders / "base"), "--port", str(port)])
        with pytest.raises(KerasCNNError, match=f"Cannot listen on 127.0.0.1:{port}.*another --port"):
            args.func(args)


def test_a_busy_grpc_port_is_reported_before_loading_models(folders):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = build_parser().parse_args(["serve", str(folders / "base"), "--port", "0", "--grpc-port", str(port)])
        with pytest.raises(KerasCNNError, match=f"Cannot listen on 127.0.0.1:{port}.*another --grpc-port"):
            args.func(args)
