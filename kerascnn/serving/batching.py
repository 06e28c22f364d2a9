"""Dynamic batching of concurrent predict requests, like TF Serving's ``--enable_batching``.

Requests for the same model version and signature wait in one queue. A batch is closed when it holds
``max_batch_size`` examples or when ``batch_timeout_micros`` have passed since its first request
arrived, and is run as soon as one of ``num_batch_threads`` threads is free: while the threads are
busy, the open batch keeps growing. With a timeout of 0 a lone request runs at once (no added latency),
and under load the batches fill up by themselves, which is where batching pays (one TF call for many
requests). Queued examples beyond ``max_enqueued_batches * max_batch_size`` are refused with 503, as
TF Serving refuses them when its queue is full.

Each batch concatenates the requests' inputs along dimension 0, runs once, and slices the outputs back.
Requests whose inner shapes or dtypes differ are run in separate groups. If a batch fails (say one
request held an undecodable image), its requests are re-run one by one so that only the faulty one
gets the error.

Every request that gets an answer records the model call that produced it in ``runtime_latency`` (with its
API: Predict, Classify or Regress), as TF Serving records each request's ``Session::Run``: a batch of
five requests is five observations of the batch's call. Unlike TF Serving's (whose batching session's
``Run`` includes the wait in the queue), the time is the call's alone: the wait is ``queuing_latency``.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time

import numpy as np

from kerascnn.serving.metrics import DISABLED, Metrics
from kerascnn.serving.status import ServingError, unavailable

log = logging.getLogger("kerascnn.serve")


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's batching parameters (``--batching_parameters_file``), with the same meaning."""

    max_batch_size: int = 32  # examples per TF call
    batch_timeout_micros: int = 0  # longest a request waits for others to join its batch
    max_enqueued_batches: int = 64  # queue bound, in batches; beyond it requests get 503
    num_batch_threads: int = 2  # batches run at once

    def __post_init__(self):
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1. Received: {name}={getattr(self, name)}")
        if self.batch_timeout_micros < 0:
            raise ValueError(f"batch_timeout_micros must be >= 0. Received: {self.batch_timeout_micros}")


# A request of more examples runs as several model calls of at most this many (TF Serving's large batch
# splitting): the memory a call takes grows with its examples (a LeNet's first activations are 19 KB per
# image, 740 MB for the 40,000 images of a 31 MB request), and the allocator keeps what a call once took.
MAX_ROWS_PER_CALL = 1024


def call_model(servable, signature_name: str, arrays: dict) -> tuple:
    """``(outputs, seconds)`` of one request's model call(s); any non-TF failure becomes an INTERNAL error (a bug,
    logged). Requests of more than :data:`MAX_ROWS_PER_CALL` examples are split when the signature is batch-major."""
    started = time.perf_counter()
    try:
        rows = batch_rows(arrays)
        if rows > MAX_ROWS_PER_CALL and batch_major(servable.signature(signature_name)):
            parts = [
                servable.run(signature_name, {k: v[i : i + MAX_ROWS_PER_CALL] for k, v in arrays.items()})
                for i in range(0, rows, MAX_ROWS_PER_CALL)
            ]
            outputs = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
        else:
            outputs = servable.run(signature_name, arrays)
    except ServingError:
        raise
    except Exception as e:  # noqa: BLE001
        log.exception("model %s version %s failed", servable.model_name, servable.version)
        raise ServingError("INTERNAL", f"{type(e).__name__}: {e}") from None
    return outputs, time.perf_counter() - started


def run_servable(
    servable, signature_name: str, arrays: dict, api: str = "Predict", metrics: Metrics = DISABLED
) -> dict:
    """Run one request on its own, recording the call in ``runtime_latency`` under ``api`` when it succeeds."""
    outputs, seconds = call_model(servable, signature_name, arrays)
    metrics.model_call(servable.model_name, api, seconds)
    return outputs


def batch_major(signature) -> bool:
    """True if every input and output of ``signature`` declares dimension 0 as the (any-size) batch."""
    infos = [*signature.inputs.values(), *signature.outputs.values()]
    return bool(infos) and all(i.shape and i.shape[0] is None for i in infos)


def batch_rows(arrays: dict) -> int:
    """Examples in a request: dimension 0 of its inputs (1 for scalars)."""
    sizes = {a.shape[0] if a.ndim else 1 for a in arrays.values()}
    return sizes.pop() if len(sizes) == 1 else -1


@dataclasses.dataclass
class _Task:
    arrays: dict
    rows: int
    future: asyncio.Future
    enqueued: float
    api: str  # Predict, Classify or Regress: the label of its runtime_latency observation


class _Queue:
    """The requests waiting for one (servable, signature), and the workers that batch them."""

    def __init__(self, batcher: Batcher, servable, signature_name: str):
        self.batcher = batcher
        self.servable = servable
        self.signature_name = signature_name
        self.tasks: collections.deque = collections.deque()
        self.rows = 0
        self.workers = 0
        self.wakeup = asyncio.Event()

    def submit(self, task: _Task) -> None:
        options = self.batcher.options
        if self.rows + task.rows > options.max_enqueued_batches * options.max_batch_size:
            raise unavailable("The batch scheduling queue to which this task was submitted is full")
        self.tasks.append(task)
        self.rows += task.rows
        self.wakeup.set()
        if self.workers < options.num_batch_threads:
            self.workers += 1
            self.batcher.track(asyncio.get_running_loop().create_task(self._worker()))

    async def _worker(self) -> None:
        options = self.batcher.options
        timeout = options.batch_timeout_micros / 1e6
        try:
            while True:
                if not self.tasks:
                    self.wakeup.clear()
                    try:  # idle workers go away, so queues of unloaded versions leave nothing behind
                        await asyncio.wait_for(self.wakeup.wait(), 30.0)
                    except asyncio.TimeoutError:
                        if not self.tasks:
                            return
                    continue
                if timeout > 0:
                    deadline = self.tasks[0].enqueued + timeout
                    while self.tasks and self.rows < options.max_batch_size:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        self.wakeup.clear()
                        try:
                            await asyncio.wait_for(self.wakeup.wait(), remaining)
                        except asyncio.TimeoutError:
                            break
                batch = self._take(options.max_batch_size)
                if not batch:
                    continue
                loop = asyncio.get_running_loop()
                results = await loop.run_in_executor(self.batcher.executor, self._run_batch, batch)
                for task, result in zip(batch, results):
                    if task.future.done():  # the client went away
                        continue
                    if isinstance(result, BaseException):
                        task.future.set_exception(result)
                    else:
                        task.future.set_result(result)
        finally:
            self.workers -= 1

    def _take(self, max_rows: int) -> list:
        batch, rows = [], 0
        while self.tasks and (not batch or rows + self.tasks[0].rows <= max_rows):
            task = self.tasks.popleft()
            self.rows -= task.rows
            if task.future.done():  # cancelled while waiting
                continue
            batch.append(task)
            rows += task.rows
        return batch

    # Runs in an executor thread.
    def _run_batch(self, batch: list) -> list:
        started = time.monotonic()
        groups = collections.defaultdict(list)
        for i, task in enumerate(batch):
            key = tuple(sorted((k, a.dtype.str, a.shape[1:]) for k, a in task.arrays.items()))
            groups[key].append(i)
        results = [None] * len(batch)
        for indices in groups.values():
            tasks = [batch[i] for i in indices]
            for i, result in zip(indices, self._run_group(tasks)):
                results[i] = result
        self.batcher.count_batch(len(batch), sum(t.rows for t in batch), [started - t.enqueued for t in batch])
        return results

    def _run_group(self, tasks: list) -> list:
        if len(tasks) == 1:
            return [self._run_one(tasks[0])]
        arrays = {k: np.concatenate([t.arrays[k] for t in tasks]) for k in tasks[0].arrays}
        total = sum(t.rows for t in tasks)
        try:
            outputs, seconds = call_model(self.servable, self.signature_name, arrays)
        except ServingError:
            # One bad request must not fail the others: find it by running them one by one.
            return [self._run_one(t) for t in tasks]
        if any(np.ndim(v) == 0 or np.shape(v)[0] != total for v in outputs.values()):
            return [self._run_one(t) for t in tasks]  # outputs not batched along dimension 0
        for task in tasks:  # each request was answered by this call (TF Serving records one per request)
            self.batcher.metrics.model_call(self.servable.model_name, task.api, seconds)
        results, start = [], 0
        for task in tasks:
            results.append({k: v[start : start + task.rows] for k, v in outputs.items()})
            start += task.rows
        return results

    def _run_one(self, task: _Task):
        try:
            return run_servable(self.servable, self.signature_name, task.arrays, task.api, self.batcher.metrics)
        except ServingError as e:
            return e


class Batcher:
    """Groups concurrent requests into batches; one queue per (servable, signature).

    Args:
        options: batching parameters.
        executor: the thread pool that runs TF calls (TF releases the GIL while it computes).
    """

    def __init__(self, options: BatchingOptions, executor, metrics: Metrics | None = None):
        self.metrics = metrics or DISABLED
        self.options = options
        self.executor = executor
        self._queues: dict = {}
        self._tasks: set = set()
        self.batches = 0
        self.examples = 0

    def track(self, task: asyncio.Task) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def count_batch(self, requests: int, examples: int, queued_seconds=()) -> None:
        self.batches += 1
        self.examples += examples
        self.metrics.batch(examples, queued_seconds)

    async def run(self, servable, signature_name: str, arrays: dict, api: str = "Predict") -> dict:
        """Run a request as part of a batch; returns its own slice of the outputs."""
        rows = batch_rows(arrays)
        loop = asyncio.get_running_loop()
        if rows < 1 or rows > self.options.max_batch_size:
            # Scalars, mismatched or empty batches, and requests larger than a batch run on their own.
            return await loop.run_in_executor(
                self.executor, run_servable, servable, signature_name, arrays, api, self.metrics
            )
        key = (id(servable), signature_name)
        queue = self._queues.get(key)
        if queue is None or queue.servable is not servable:
            self._forget_unused_queues()
            queue = self._queues[key] = _Queue(self, servable, signature_name)
        future = loop.create_future()
        queue.submit(_Task(arrays, rows, future, time.monotonic(), api))
        return await future

    def _forget_unused_queues(self) -> None:
        for key, queue in list(self._queues.items()):
            if not queue.tasks and queue.workers == 0:
                del self._queues[key]

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def run_request(
    batcher, executor, servable, signature_name: str, arrays: dict, api: str, metrics: Metrics = DISABLED
) -> dict:
    """Run one ``api`` request through ``batcher`` (or alone in ``executor`` with ``metrics`` when batching is off)."""
    if batcher is not None:
        return await batcher.run(servable, signature_name, arrays, api)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, run_servable, servable, signature_name, arrays, api, metrics)
