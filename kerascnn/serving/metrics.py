"""TF Serving's Prometheus metrics (``GET /monitoring/prometheus/metrics``), through prometheus_client.

Names and labels are TF Serving's (``servables/tensorflow/util.cc``, ``batching/batching_session.cc``),
with its exporter's spelling (``/tensorflow/serving/request_count`` -> ``:tensorflow:serving:request_count``),
so a dashboard built for TF Serving reads these unchanged:

    :tensorflow:serving:request_count{model_name, status}                     requests by canonical status
    :tensorflow:serving:request_latency{model_name, API, entrypoint}          histogram, microseconds
    :tensorflow:serving:runtime_latency{model_name, API, runtime}             histogram of model calls, us
                                                           (one per answered request; runtime="TF1")
    :tensorflow:serving:request_example_count_total{model}                    tf.Examples received
    :tensorflow:serving:batching_session:wrapped_run_count                    model calls made by the batcher
    :tensorflow:serving:batching_session:queuing_latency{thread_pool_name}    histogram, microseconds
    :tensorflow:serving:batching_session:processed_batch_size{thread_pool_name}  histogram of batch sizes

``API`` is ``Predict``, ``Classify`` or ``Regress``; ``entrypoint`` is ``REST`` or ``GRPC``. Requests for a
model the server does not serve are counted under ``model_name="<unknown>"``, so the page stays the same
size whatever names clients send (one series per name would let anyone grow it, and the server, without
bound). Counters are
exported under their exact TF Serving names; prometheus_client would append ``_total`` to a counter, so
they are written as untyped samples (Prometheus' ``rate()`` works on them all the same).
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import Metric

PATH = "/monitoring/prometheus/metrics"
PREFIX = ":tensorflow:serving:"
# monitoring::Buckets::Exponential(10, 1.8, 33): 10 us .. ~20 minutes.
LATENCY_BUCKETS = tuple(10 * 1.8**i for i in range(32)) + (float("inf"),)
# Exponential(100, 1.2, 52): 100 us .. ~1 s.
QUEUING_BUCKETS = tuple(100 * 1.2**i for i in range(51)) + (float("inf"),)
BATCH_SIZE_BUCKETS = tuple(float(2**i) for i in range(15)) + (float("inf"),)
THREAD_POOL = "kerascnn_batch_threads"
UNKNOWN_MODEL = "<unknown>"


class _Counters:
    """Counters exported under their exact names (see the module docstring)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._values: dict = {}  # (name, documentation, label names) -> {label values: count}

    def inc(self, name: str, documentation: str, labels: dict, amount: float = 1.0) -> None:
        key = (name, documentation, tuple(labels))
        with self._lock:
            cells = self._values.setdefault(key, {})
            values = tuple(labels.values())
            cells[values] = cells.get(values, 0.0) + amount

    def collect(self):
        with self._lock:
            snapshot = {key: dict(cells) for key, cells in self._values.items()}
        for (name, documentation, label_names), cells in snapshot.items():
            metric = Metric(name, documentation, "unknown")
            for values, count in sorted(cells.items()):
                metric.add_sample(name, dict(zip(label_names, values)), count)
            yield metric


class Metrics:
    """The server's metrics; every method is a no-op when ``enabled`` is False (the default, as in TF Serving).

    Args:
        enabled: record and serve metrics.
        model_names: a function returning the names of the served models (a container); requests for
            other names are counted under :data:`UNKNOWN_MODEL`. None: every name is its own label.
    """

    def __init__(self, enabled: bool = False, model_names=None):
        self.enabled = enabled
        self._model_names = model_names
        if not enabled:
            return
        disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=True)
        self._counters = _Counters()
        self.registry.register(self._counters)
        self._request_latency = Histogram(
            PREFIX + "request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ["model_name", "API", "entrypoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._runtime_latency = Histogram(
            PREFIX + "runtime_latency",
            "Distribution of wall time (in microseconds) for Tensorflow runtime.",
            ["model_name", "API", "runtime"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._queuing_latency = Histogram(
            PREFIX + "batching_session:queuing_latency",
            "Distribution of wall time spent (in microseconds) in queuing",
            ["thread_pool_name"],
            buckets=QUEUING_BUCKETS,
            registry=self.registry,
        )
        self._batch_size = Histogram(
            PREFIX + "batching_session:processed_batch_size",
            "Distribution of processed batch size",
            ["thread_pool_name"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=self.registry,
        )

    def request(self, model_name: str, api: str, entrypoint: str, code: str, seconds: float) -> None:
        """One Predict/Classify/Regress request finished with canonical status ``code``."""
        if not self.enabled:
            return
        model_name = self.label(model_name)
        self._counters.inc(
            PREFIX + "request_count", "The total number of requests.", {"model_name": model_name, "status": code}
        )
        self._request_latency.labels(model_name, api, entrypoint).observe(seconds * 1e6)

    def label(self, model_name: str) -> str:
        """``model_name`` if the server serves it, else :data:`UNKNOWN_MODEL`."""
        if self._model_names is None or model_name in self._model_names():
            return model_name
        return UNKNOWN_MODEL

    def examples(self, model_name: str, count: int) -> None:
        if self.enabled:
            self._counters.inc(
                PREFIX + "request_example_count_total",
                "The total number of tensorflow.Examples.",
                {"model": self.label(model_name)},
                count,
            )

    def model_call(self, model_name: str, api: str, seconds: float) -> None:
        """A request was answered by a model call of ``seconds`` (shared with the others of its batch)."""
        if self.enabled:
            # "TF1" is TF Serving's label for its SavedModel (Session) runtime, whatever TF wrote the model
            # (predict_util.cc, classifier.cc, regressor.cc); "TFRT" would be its other runtime.
            self._runtime_latency.labels(model_name, api, "TF1").observe(seconds * 1e6)

    def batch(self, size: int, queued_seconds: list) -> None:
        """The batcher ran one model call for ``size`` examples; ``queued_seconds`` per request."""
        if not self.enabled:
            return
        self._counters.inc(
            PREFIX + "batching_session:wrapped_run_count", "Total count of run calls on the wrapped session", {}
        )
        self._batch_size.labels(THREAD_POOL).observe(size)
        for seconds in queued_seconds:
            self._queuing_latency.labels(THREAD_POOL).observe(seconds * 1e6)

    def exposition(self) -> bytes:
        """The page in Prometheus' text format. It takes the collectors' locks and CPU: call it from a thread,
        not from the event loop that answers requests."""
        return generate_latest(self.registry) if self.enabled else b""


DISABLED = Metrics(False)
