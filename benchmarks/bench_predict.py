"""Single-image prediction latency of LeNet: LiteRT (.tflite, every quantization) vs Keras vs SavedModel.

    python benchmarks/bench_predict.py [--runs 5000] [--keras-runs 30]   # writes results/bench_predict.json
    python benchmarks/bench_predict.py --quick                           # a minute; results/bench_predict-quick.json

Trains LeNet (ReLU) for a few seconds on the bundled 8x8 digits (built at 28x28, as `kerascnn fit lenet`
does), exports it in every format, and times one image at a time in this process:

  keras model.predict   the reference (what a notebook does), p50 over --keras-runs calls
  keras model(x)        a direct call, no predict() machinery
  SavedModel            tf.saved_model.load(...).signatures["serving_default"]
  tflite raw invoke     set_tensor + invoke + get_tensor on ai_edge_litert's Interpreter, 1 thread
  tflite predictor      kerascnn.inference.TFLitePredictor.predict (what `kerascnn predict` runs)

Targets: float32 .tflite at most 50 us per image and at least 1000x faster than Keras model.predict; int8 at
most 30% of the float32 file.

Then MobileNetV2 at 224x224x3 (``--mobilenet-runs 0`` skips it): a model designed for devices, where int8
should beat float32 (on LeNet it does not: the ops are too small). Its weights are untrained (He-normal
kernels, BatchNorm statistics drawn around their initial values), so parity is measured against Keras on the
same 64 random 224x224 images as max |dp| and top-1 agreement, not accuracy.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def p50_us(fn, runs: int, warmup: int = 20) -> tuple[float, float]:
    for _ in range(warmup):
        fn()
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter_ns()
        fn()
        times[i] = (time.perf_counter_ns() - start) / 1e3
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def train_lenet(run_dir: Path):
    import keras
    import tensorflow as tf
    from sklearn.datasets import load_digits

    import kerascnn.models
    from kerascnn.data.spec import DataSpec, preprocess

    keras.utils.set_random_seed(0)
    bunch = load_digits()
    x = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    y = bunch.target
    data = {"x_train": x[:1400], "y_train": y[:1400], "x_test": x[1400:], "y_test": y[1400:]}
    scaled = data["x_train"] / 255.0
    spec = DataSpec("digits", [str(i) for i in range(10)], (8, 8, 1), (28, 28, 1), [scaled.mean()], [scaled.std()])
    model = kerascnn.models.build("lenet", (28, 28, 1), 10, activation="relu")
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,
    )
    ds = tf.data.Dataset.from_tensor_slices((data["x_train"], data["y_train"])).shuffle(1400, seed=0).batch(64)
    model.fit(ds.map(lambda a, b: (preprocess(a, spec), b)), epochs=8, verbose=0)
    run_dir.mkdir(parents=True, exist_ok=True)
    model.save(run_dir / "best.keras")
    spec.save(run_dir)
    return data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5000, help="timed calls per LiteRT / SavedModel row")
    parser.add_argument("--keras-runs", type=int, default=30, help="timed model.predict calls (about 50 ms each)")
    parser.add_argument(
        "--mobilenet-runs",
        type=int,
        default=50,
        help="timed calls per MobileNetV2 .tflite (tens of ms each); 0 skips MobileNetV2",
    )
    parser.add_argument("--quick", action="store_true", help="500 calls per row, 10 of predict, MobileNetV2 20")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.keras_runs, args.mobilenet_runs = 500, 10, min(args.mobilenet_runs, 20)

    from record import Result

    record = Result(
        "bench_predict",
        "Single-image prediction latency: LiteRT, SavedModel, Keras",
        quick=args.quick,
        argv=sys.argv if argv is None else ["benchmarks/bench_predict.py", *argv],
    )
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from kerascnn.data.spec import preprocess
    from kerascnn.export import export, format_table
    from kerascnn.inference import load_predictor
    from kerascnn.runs import load_trained

    rows, reports = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = train_lenet(tmp / "run")
        model, spec = load_trained(tmp / "run")
        image = data["x_test"][:1]
        x = preprocess(image, spec)

        keras_predict, _ = p50_us(lambda: model.predict(x, verbose=0), args.keras_runs, warmup=3)
        rows.append(("keras model.predict", keras_predict, None, None))
        rows.append(("keras model(x)", *p50_us(lambda: model(x, training=False), max(100, args.runs // 20)), None))

        result = export(
            tmp / "run",
            tmp / "models" / "lenet",
            format="saved_model",
            test_images=data["x_test"],
            test_labels=data["y_test"],
        )
        reports["saved_model"] = result.parity
        serve = tf.saved_model.load(str(result.path)).signatures["serving_default"]
        image_tensor = tf.constant(image)
        rows.append(
            ("SavedModel serving_default", *p50_us(lambda: serve(images=image_tensor), max(100, args.runs // 20)), None)
        )

        for quantize in ("none", "float16", "dynamic", "int8"):
            path = tmp / "models" / f"lenet_{quantize}.tflite"
            result = export(
                tmp / "run",
                path,
                format="tflite",
                quantize=quantize,
                calibration_images=data["x_train"],
                test_images=data["x_test"],
                test_labels=data["y_test"],
            )
            reports[f"tflite-{quantize}"] = result.parity
            interpreter = Interpreter(model_path=str(path), num_threads=1)
            interpreter.allocate_tensors()
            inp = interpreter.get_input_details()[0]["index"]
            out = interpreter.get_output_details()[0]["index"]

            def invoke():
                interpreter.set_tensor(inp, image)
                interpreter.invoke()
                return interpreter.get_tensor(out)

            size = path.stat().st_size
            rows.append((f"tflite {quantize} raw invoke", *p50_us(invoke, args.runs), size))
            predictor = load_predictor(path)
            rows.append((f"tflite {quantize} predictor", *p50_us(lambda: predictor.predict(image), args.runs), size))

    print(
        f"LeNet, one 8x8 digit per call (resized to 28x28 in the graph); {os.cpu_count()} CPUs; "
        f"TF {tf.__version__}; Python {sys.version.split()[0]}\n"
    )
    print(f"{'path':<30} {'p50':>10} {'p99':>10} {'vs predict':>11} {'file':>10}")
    for name, p50, p99, size in rows:
        print(
            f"{name:<30} {_t(p50):>10} {_t(p99) if p99 else '':>10} {keras_predict / p50:>10,.0f}x "
            f"{f'{size / 1024:.1f} KB' if size else '':>10}"
        )
    f32 = next(r for r in rows if r[0] == "tflite none raw invoke")
    i8 = next(r for r in rows if r[0] == "tflite int8 raw invoke")
    print(f"\nint8 vs float32: latency {i8[1] / f32[1]:.2f}x, size {i8[3] / f32[3]:.1%}")
    print(
        f"float32 .tflite p50 {f32[1]:.1f} us (target <= 50 us): {'OK' if f32[1] <= 50 else 'MISSED'}; "
        f"{keras_predict / f32[1]:,.0f}x faster than model.predict (target >= 1000x): "
        f"{'OK' if keras_predict / f32[1] >= 1000 else 'MISSED'}"
    )
    print("\nParity on the 397 test digits:")
    print(format_table(reports))
    record.table(
        "LeNet, one 8x8 digit per call (resized to 28x28 inside the graph)",
        ["path", "p50 us", "p99 us", "x faster than model.predict", "file KB"],
        [
            (
                name,
                round(p50, 1),
                round(p99, 1) if p99 else None,
                round(keras_predict / p50),
                round(size / 1024, 1) if size else None,
            )
            for name, p50, p99, size in rows
        ],
    )
    record.figure("float32 .tflite p50", round(f32[1], 1), "us per image (target <= 50 us)")
    record.figure("float32 .tflite vs model.predict", round(keras_predict / f32[1]), "x faster (target >= 1000x)")
    record.figure("int8 vs float32 .tflite latency", round(i8[1] / f32[1], 2), "x")
    record.figure("int8 vs float32 .tflite file size", round(100 * i8[3] / f32[3], 1), "% (target <= 30%)")
    record.table(
        "LeNet parity of each export on the test digits",
        ["export", "images", "top-1 agreement", "max |dp|", "accuracy", "Keras accuracy", "bytes"],
        [
            (
                kind,
                *(
                    report.get(k)
                    for k in (
                        "images",
                        "agreement",
                        "max_abs_prob_diff",
                        "accuracy_export",
                        "accuracy_keras",
                        "size_bytes",
                    )
                ),
            )
            for kind, report in reports.items()
        ],
    )
    if args.mobilenet_runs > 0:
        mobilenet_rows = bench_mobilenet_v2(args.mobilenet_runs)
        record.table(
            "MobileNetV2, one 224x224x3 image per call, LiteRT 1 thread (untrained weights, 64 random images)",
            ["tflite", "p50 us", "p99 us", "file MB", "max |dp| vs Keras", "top-1 agreement"],
            [
                (q, round(p50, 1), round(p99, 1), round(size / 2**20, 2), dp, round(agree, 3))
                for q, p50, p99, size, dp, agree in mobilenet_rows
            ],
        )
    record.note(
        "p50/p99 of one image per call in one process, LiteRT with 1 thread; the machine's other load "
        "slows every row alike, so the ratios are what to compare."
    )
    record.save()
    return 0


def bench_mobilenet_v2(runs: int):
    """LiteRT latency per image of MobileNetV2 at 224x224x3 in every quantization, parity against Keras."""
    import keras
    from ai_edge_litert.interpreter import Interpreter

    import kerascnn.models
    from kerascnn.data.spec import DataSpec, preprocess
    from kerascnn.export import export
    from kerascnn.export.tflite import tflite_probabilities

    keras.utils.set_random_seed(0)
    model = kerascnn.models.build("mobilenet_v2", (224, 224, 3), 1000, kernel_initializer="he_normal")
    rng = np.random.default_rng(0)
    for layer in model.layers:  # BatchNorm statistics as after some training, not the identity
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.1, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
    spec = DataSpec(
        "random",
        [str(i) for i in range(1000)],
        (224, 224, 3),
        (224, 224, 3),
        [0.485, 0.456, 0.406],
        [0.229, 0.224, 0.225],
    )
    images = rng.integers(0, 256, (64, 224, 224, 3), dtype=np.uint8)
    expected = np.asarray(keras.ops.softmax(model(preprocess(images, spec), training=False)))
    rows, invokes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for quantize in ("none", "float16", "dynamic", "int8"):
            path = Path(tmp) / f"mobilenet_v2_{quantize}.tflite"
            export(
                model,
                path,
                format="tflite",
                quantize=quantize,
                spec=spec,
                calibration_images=images,
                check_parity=False,
            )
            got = tflite_probabilities(path.read_bytes(), images)
            agree = float(np.mean(got.argmax(1) == expected.argmax(1)))
            interpreter = Interpreter(model_path=str(path), num_threads=1)
            interpreter.allocate_tensors()
            inp = interpreter.get_input_details()[0]["index"]
            invokes.append(
                lambda interpreter=interpreter, inp=inp: (interpreter.set_tensor(inp, images[:1]), interpreter.invoke())
            )
            rows.append([quantize, None, None, path.stat().st_size, float(np.abs(got - expected).max()), agree])
        # The four files in turn, call after call: a noisy machine slows them all alike.
        times = np.empty((len(invokes), runs))
        for fn in invokes:
            fn()
        for r in range(runs):
            for i, fn in enumerate(invokes):
                start = time.perf_counter_ns()
                fn()
                times[i, r] = (time.perf_counter_ns() - start) / 1e3
        for row, t in zip(rows, times):
            row[1], row[2] = float(np.percentile(t, 50)), float(np.percentile(t, 99))
    print("\nMobileNetV2, one 224x224x3 image per call, LiteRT 1 thread (untrained weights, 64 random images):\n")
    print(f"{'tflite':<10} {'p50':>10} {'p99':>10} {'file':>10} {'max|dp|':>9} {'top-1 agree':>12}")
    for quantize, p50, p99, size, dp, agree in rows:
        print(f"{quantize:<10} {_t(p50):>10} {_t(p99):>10} {size / 2**20:>7.2f} MB {dp:>9.2e} {agree:>12.1%}")
    f32, i8 = rows[0], rows[-1]
    print(
        f"\nint8 vs float32: latency {i8[1] / f32[1]:.2f}x ({'faster' if i8[1] < f32[1] else 'slower'}), "
        f"size {i8[3] / f32[3]:.1%}"
    )
    return rows


def _t(micros: float) -> str:
    return f"{micros:.1f} us" if micros < 1000 else f"{micros / 1000:.2f} ms"


if __name__ == "__main__":
    sys.exit(main())
