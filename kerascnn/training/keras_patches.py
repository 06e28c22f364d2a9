"""Make Keras 3.15.1's ``fit``/``evaluate``/``predict`` work under MultiWorkerMirroredStrategy.

Two bugs (keras#20585, tensorflow#72388), both in ``keras/src/backend/tensorflow/trainer.py``:

1. ``TensorFlowTrainer._maybe_symbolic_build`` eagerly calls ``strategy.reduce("MEAN", batch)`` on the
   first (PerReplica) batch only to learn its shapes; under MultiWorkerMirroredStrategy that eager
   collective fails. The build needs shapes only, so we take the first local replica's batch.
2. ``reduce_per_replica(..., "mean")`` calls ``strategy.reduce("MEAN", v, axis=0)`` on scalar metric
   values ("Invalid reduction dimension 0 for input with 0 dimensions"). Scalars are reduced with
   ``axis=None``.

Both patches change behaviour only under a multi-worker strategy; elsewhere Keras' own code runs.
A third limit has no patch: Keras' multi-step training loop (``steps_per_execution > 1``) fails to run
with more than one replica, multi-worker or not ("You must feed a value for placeholder tensor ..."),
so ``kerascnn.fit`` uses one step per call there (evaluation is not affected).
"""

from __future__ import annotations

_PATCHED = False


def is_multi_worker(strategy) -> bool:
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or (
        type(strategy).__name__.startswith("CollectiveAllReduceStrategy")
    )


def patch_keras_for_multi_worker() -> None:
    """Install the two fixes (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build
    original_reduce = tf_trainer.reduce_per_replica

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if strategy is None or not is_multi_worker(strategy) or iterator is None:
            return original_build(self, iterator=iterator, data_batch=data_batch)
        for _, _, it in iterator:
            batch = next(it)
            data_batch = tree.map_structure(
                lambda v: strategy.experimental_local_results(v)[0]
                if isinstance(v, tf.distribute.DistributedValues) else v,
                batch,
            )
            break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        if not is_multi_worker(strategy) or reduction not in ("mean", "auto"):
            return original_reduce(values, strategy, reduction)

        def _reduce(v):
            rank = strategy.experimental_local_results(v)[0].shape.rank
            return strategy.reduce("MEAN", v, axis=0 if rank else None)

        return tree.map_structure(_reduce, values)

    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica
    _PATCHED = True
