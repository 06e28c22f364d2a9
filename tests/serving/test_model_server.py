"""``kerascnn-model-server``: TF Serving's flags and config files become the server's options; errors are one line.

In-process (``main(argv)`` is what the console script runs); the server itself under these flags is tested by
TF Serving's own integration suite (test_tf_serving_suite.py).
"""

from __future__ import annotations

import pytest

from kerascnn.errors import KerasCNNError
from kerascnn.serving import model_server, tf_serving_configs
from kerascnn.serving.batching import BatchingOptions

from .test_tf_serving_suite import TESTDATA


def options(*flags):
    return model_server.options_from_args(model_server.build_parser().parse_args(list(flags)))


def test_tf_servings_command_line_means_what_it_means_there(tmp_path):
    o = options(
        f"--model_base_path={tmp_path}",
        "--port=8600",
        "--rest_api_timeout_in_ms=5000",
        "--grpc_channel_arguments=grpc.max_connection_age_ms=2000,grpc.lb_policy_name=grpclb",
        "--tensorflow_intra_op_parallelism=3",
        "--file_system_poll_wait_seconds=0",
    )
    assert [(m.name, m.base_path) for m in o.models] == [("default", str(tmp_path))]
    assert o.grpc_port == 8600 and o.port is None  # --port is gRPC; REST only with --rest_api_port
    assert o.body_timeout == 5.0 and o.intra_op_threads == 3 and o.inter_op_threads == 0 and o.poll_seconds == 0
    assert o.grpc_channel_arguments == (("grpc.max_connection_age_ms", 2000), ("grpc.lb_policy_name", "grpclb"))
    assert o.batching is None and not o.enable_metrics and not o.method_name_check
    o = options(
        f"--model_base_path={tmp_path}",
        "--model_name=m",
        "--port=0",
        "--rest_api_port=8601",
        "--grpc_socket_path=/tmp/s.sock",
        "--enable_signature_method_name_check",
        "--enable_model_warmup=false",
    )
    assert o.models[0].name == "m" and o.port == 8601 and o.grpc_port is None and o.grpc_socket_path == "/tmp/s.sock"
    assert o.method_name_check and not o.warm_up


def test_batching_and_monitoring_files_are_read_with_tf_servings_schemas(tmp_path):
    o = options(
        f"--model_base_path={tmp_path}",
        "--enable_batching",
        f"--batching_parameters_file={TESTDATA / 'batching_config.txt'}",
        f"--monitoring_config_file={TESTDATA / 'monitoring_config.txt'}",
    )
    assert o.batching == BatchingOptions(
        max_batch_size=128, batch_timeout_micros=0, max_enqueued_batches=1000000, num_batch_threads=8
    )
    assert o.enable_metrics and o.metrics_path == "/monitoring/prometheus/metrics"
    defaults = options(f"--model_base_path={tmp_path}", "--enable_batching").batching
    assert (defaults.max_batch_size, defaults.batch_timeout_micros, defaults.max_enqueued_batches) == (1000, 0, 10)
    (tmp_path / "monitoring.config").write_text('prometheus_config { enable: true path: "/metrics" }')
    assert tf_serving_configs.monitoring(tmp_path / "monitoring.config") == (True, "/metrics")


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "max_batch_size { value: 8 }\nbatch_timeout_micro { value: 1 }",
            "Error parsing text-format tensorflow.serving.BatchingParameters in .*: 2:1 : .*batch_timeout_micro",
        ),
        ("max_batch_size: 8", "Error parsing text-format tensorflow.serving.BatchingParameters"),
        ("max_batch_size { value: 0 }", "max_batch_size must be at least 1"),
    ],
)
def test_a_bad_batching_file_says_where(tmp_path, text, message):
    (tmp_path / "batching.config").write_text(text)
    with pytest.raises(KerasCNNError, match=message):
        options(
            f"--model_base_path={tmp_path}",
            "--enable_batching",
            f"--batching_parameters_file={tmp_path / 'batching.config'}",
        )


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--bogus_flag=1"], "unrecognized arguments: --bogus_flag=1"),
        (["--port=eighty"], "argument --port: invalid int value"),
        (["--enable_batching=maybe"], "expected true or false"),
        ([], "Both --model_base_path and --model_config_file are empty"),
        (["--model_base_path={missing}"], "does not exist or is not a folder"),
        (["--model_config_file={bad_config}"], "Error parsing text-format tensorflow.serving.ModelServerConfig: 1:1"),
        (["--model_config_file={missing}"], "Cannot read model config file"),
        (["--model_base_path={base}", "--prefer_tflite_model=true"], "--prefer_tflite_model is not supported"),
        (["--model_base_path={base}", "--ssl_config_file=ssl.config"], "--ssl_config_file is not supported"),
        (["--model_base_path={base}", "--saved_model_tags=serve,tpu"], "only 'serve' is supported"),
        (["--model_base_path={base}", "--rest_api_port=70000"], "--rest_api_port must be 0..65535"),
        (["--model_base_path={base}", "--port=0"], "Nothing to listen on"),
        (["--model_base_path={base}", "--grpc_channel_arguments=novalue"], "expected name=value"),
        (["--model_base_path={base}", "--batching_parameters_file=b.config"], "only with --enable_batching"),
    ],
)
def test_errors_are_one_line_on_stderr_and_exit_1(tmp_path, capsys, flags, message):
    paths = {"missing": tmp_path / "missing", "bad_config": TESTDATA / "bad_model_config.txt", "base": tmp_path}
    try:
        status = model_server.main([flag.format(**paths) for flag in flags])
    except SystemExit as e:  # argparse's errors, as the console script exits
        status = e.code
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("kerascnn-model-server: error: ") and err.count("\n") == 1, err
    assert message in err


def test_help_lists_tf_servings_flags(capsys):
    with pytest.raises(SystemExit) as e:
        model_server.main(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    for flag in (
        "--port",
        "--rest_api_port",
        "--model_name",
        "--model_base_path",
        "--model_config_file",
        "--model_config_file_poll_wait_seconds",
        "--enable_batching",
        "--batching_parameters_file",
        "--monitoring_config_file",
        "--grpc_socket_path",
        "--rest_api_timeout_in_ms",
        "--tensorflow_intra_op_parallelism",
        "--tensorflow_inter_op_parallelism",
        "--grpc_channel_arguments",
        "--file_system_poll_wait_seconds",
        "max_batch_size { value: 32 }",
    ):
        assert flag in out
