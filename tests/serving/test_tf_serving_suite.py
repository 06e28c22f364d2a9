"""TF Serving's own model-server integration test, run against ``kerascnn-model-server``.

The files under ``tf_serving_integration/`` are tensorflow/serving's, unchanged (see its README): the test
starts ``$TEST_SRCDIR/tf_serving/tensorflow_serving/model_servers/tensorflow_model_server`` with TF Serving's
flags and talks to it with TF Serving's clients. Here that path is ``kerascnn-model-server``, the console
script, so what is tested is exactly what a TF Serving command line with the program's name changed runs.

It runs in a process of its own: its Keras tests save models with Keras 2 (``tf-keras`` with
``TF_USE_LEGACY_KERAS=1``), which must not reach this process (Keras 3).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "tf_serving_integration"
TESTDATA = HERE / "tensorflow_serving" / "servables" / "tensorflow" / "testdata"

APPLICABLE = [
    "testBadModelConfig",
    "testClassify",
    "testClassifyREST",
    "testClassifyTf2",
    "testGetModelMetadata",
    "testGetModelMetadataREST",
    "testGetModelStatus",
    "testGetStatusREST",
    "testGoodGrpcChannelArgs",
    "testGoodModelConfig",
    "testModelConfigReload",
    "testModelConfigReloadWithZeroPollPeriod",
    "testMultiInference",
    "testMultiInferenceTf2",
    "testPredictColumnarREST",
    "testPredictREST",
    "testPredictSavedModel",
    "testPredictUDS",
    "testPrometheusEndpoint",
    "testRegress",
    "testRegressREST",
    "testRegressTf2",
    "test_distrat_sequential_keras_saved_model_save",
    "test_sequential_keras_saved_model_save",
    "test_tf_saved_model_save",
    "test_tf_saved_model_save_multiple_signatures",
]
NOT_APPLICABLE = {
    "testPredictOnTfLite": "TFLite models inside the server (--prefer_tflite_model): refused by kerascnn-model-server",
    "testPredictWithSignatureDefOnTfLite": "TFLite models inside the server, as above",
    "test_profiler_service_with_valid_trace_request": "TF Serving's profiler service (--enable_profiler): not offered",
    "test_tf_text": "tensorflow-text ops in the model (its test data is not part of the suite's files here)",
}


def model_server_script() -> str:
    """The installed ``kerascnn-model-server`` (beside this interpreter, or on PATH)."""
    beside = Path(sys.executable).parent / "kerascnn-model-server"
    found = str(beside) if beside.exists() else shutil.which("kerascnn-model-server")
    if not found:
        pytest.fail("kerascnn-model-server is not installed: pip install -e . (it is a console script)")
    return found


@pytest.mark.tf_serving_suite
def test_tf_servings_own_integration_test_passes(tmp_path):
    # Bazel's runfiles layout, which the test derives its paths from.
    root = tmp_path / "srcdir" / "tf_serving" / "tensorflow_serving"
    (root / "model_servers").mkdir(parents=True)
    (root / "servables" / "tensorflow").mkdir(parents=True)
    (root / "model_servers" / "tensorflow_model_server").symlink_to(model_server_script())
    (root / "servables" / "tensorflow" / "testdata").symlink_to(TESTDATA)
    test_tmpdir = tmp_path / "test_tmpdir"
    test_tmpdir.mkdir()
    report = tmp_path / "report.xml"
    env = dict(
        os.environ,
        TEST_SRCDIR=str(tmp_path / "srcdir"),
        TEST_TMPDIR=str(test_tmpdir),
        TF_USE_LEGACY_KERAS="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONUNBUFFERED="1",
    )
    result = subprocess.run(
        [
            sys.executable,
            str(HERE / "run_suite.py"),
            f"--test_tmpdir={test_tmpdir}",
            f"--xml_output_file={report}",
            *(f"TensorflowModelServerTest.{name}" for name in APPLICABLE),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = result.stdout[-6000:] + result.stderr[-6000:]
    assert report.exists(), log
    outcomes = {}
    for case in ElementTree.parse(report).iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        outcomes[case.get("name")] = "failed" if failed else case.get("result", "completed")
    failed = sorted(name for name, outcome in outcomes.items() if outcome != "completed")
    assert sorted(outcomes) == sorted(APPLICABLE), log
    assert not failed, f"failed: {failed}\n{log}"
    assert result.returncode == 0, log
