"""Training under several replicas and several processes (children forked without TensorFlow's import,
kerascnn_testing.children); killed runs: test_checkpoints.py."""

from __future__ import annotations

import json
import socket
import textwrap

import pytest

from kerascnn_testing.children import finished, python_c, run_child, start_child

RELU = '{"activation": "relu", "pooling": "max"}'

TWO_REPLICAS = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import kerascnn
    from kerascnn.data import load_dataset
    from kerascnn.runs import load_trained
    from kerascnn.training import get_strategy, predict_images

    run = kerascnn.fit("lenet", epochs=1, batch_size=64, hparams={"activation": "relu"}, strategy="mirrored",
                       out=sys.argv[1], verbose=0)
    strategy = get_strategy("mirrored")
    evaluated = kerascnn.evaluate(run.path, strategy="mirrored")
    raw = load_dataset("digits")
    with strategy.scope():
        model, spec = load_trained(run.path)
    one = predict_images(model, spec, raw.x_test[:1])      # a batch smaller than the replica count
    three = predict_images(model, spec, raw.x_test[:3])
    print(json.dumps({"replicas": strategy.num_replicas_in_sync, "metrics": run.metrics, "evaluated": evaluated,
                      "one": one.tolist(), "three": three.tolist(),
                      "model_replicas": model.distribute_strategy.num_replicas_in_sync}))
""")


@pytest.mark.slow
def test_two_replicas_fit_evaluate_and_predict_one_image(tmp_path):
    out = tmp_path / "run"
    proc = run_child(python_c, TWO_REPLICAS, out)  # two logical CPUs, set before TensorFlow starts
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2 and result["metrics"]["num_replicas"] == 2 and result["model_replicas"] == 2
    assert result["metrics"]["test_accuracy"] > 0.5
    assert result["evaluated"]["test_accuracy"] == pytest.approx(result["metrics"]["test_accuracy"], abs=1e-6)
    one, three = result["one"], result["three"]
    assert len(one) == 1 and len(three) == 3 and abs(sum(one[0]) - 1) < 1e-4
    assert one[0] == pytest.approx(three[0], abs=1e-5)  # padding does not change the answer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _digit_folder(root):
    import numpy as np
    from PIL import Image

    from kerascnn.data import load_dataset

    raw = load_dataset("digits")
    for i, (image, label) in enumerate(zip(raw.x_train[:600, ..., 0], raw.y_train[:600])):  # small: sharding is tested
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(image)).save(root / str(label) / f"{i:04d}.png")
    return root


# One pair of worker processes serves both inputs: TensorFlow allows one MultiWorkerMirroredStrategy per
# process (kerascnn caches it), and a second `fit` in the same workers is what a notebook or a script
# calling kerascnn twice does. The first fit runs as the `kerascnn` program runs it; a pair of
# processes per input would only add their start-up (TensorFlow's, the cluster's handshake).
TWO_FITS = textwrap.dedent("""
    import json, sys
    from kerascnn.cli.main import main
    first, second = json.loads(sys.argv[1])
    sys.argv = ["kerascnn", *first]
    code = main()
    sys.exit(code or main(second))
""")
INPUTS = ("arrays", "streamed-folder")


@pytest.fixture(scope="module")
def two_worker_runs(tmp_path_factory):
    """Two worker processes on localhost fit LeNet on arrays, then on a streamed folder: (root, outputs)."""
    root = tmp_path_factory.mktemp("multi_worker")
    (root / "relu.json").write_text(RELU)
    # each worker reads only its half of the files (sharded by file, not by element)
    streamed = ["--dataset", str(_digit_folder(root / "digits")), "--input-shape", "16,16", "--cache-budget-mb", "0"]
    commands = [
        [
            "fit",
            "lenet",
            "--epochs",
            "1",
            "--batch-size",
            "64",
            "--hparams",
            str(root / "relu.json"),
            "--out",
            str(root / f"mw-{name}"),
            *data,
        ]
        for name, data in zip(INPUTS, ([], streamed))
    ]
    workers = [f"localhost:{_free_port()}", f"localhost:{_free_port()}"]
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        procs.append(start_child(python_c, TWO_FITS, json.dumps(commands), env={"TF_CONFIG": tf_config}))
    try:
        results = [finished(p) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
    return root, [(r.stdout, r.stderr) for r in results]


@pytest.mark.slow
@pytest.mark.parametrize("streamed", [False, True], ids=INPUTS)
def test_two_worker_processes_on_localhost(two_worker_runs, streamed):
    root, outputs = two_worker_runs
    out = root / f"mw-{INPUTS[streamed]}"
    chief_says = [line for line in outputs[0][0].splitlines() if line.startswith("Test accuracy")]
    assert len(chief_says) == 2 and str(out) in chief_says[streamed]  # the chief reports each run
    assert not any(line.startswith("Test accuracy") for line in outputs[1][0].splitlines())  # the other does not
    config = json.loads((out / "config.json").read_text())
    # tf.distribute.MultiWorkerMirroredStrategy is CollectiveAllReduceStrategy inside
    assert config["strategy_class"] == "CollectiveAllReduceStrategy" and config["num_replicas"] == 2
    assert json.loads((out / "metrics.json").read_text())["test_accuracy"] > (0.15 if streamed else 0.5)
    assert sorted(p.name for p in root.iterdir() if p.name != "digits") == [  # no worker scratch
        "mw-arrays",
        "mw-streamed-folder",
        "relu.json",
    ]
    assert config["data"]["streaming"] is streamed
    assert config["data"]["shard"] == ([2, 0] if streamed else None)  # the chief's share: files 0, 2, 4, ...
