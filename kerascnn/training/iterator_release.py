"""Destroy each epoch's spent tf.data iterator off the training thread.

Keras' ``fit`` makes a new iterator of the training set for every epoch; the spent one loses its last
reference (a loop variable in Keras' epoch loop) when the next epoch's first batch starts, and TensorFlow
destroys it right there, on the training thread. Measured with ResNet-18 on 8,000 MNIST images at
32x32 (``benchmarks/bench_epoch_overhead.py``, 2 cores shared with other work): that destruction paused
training for 2-9 s at most epoch boundaries (Python stack dumps show the training thread waiting inside
that loop line; keeping the old iterators alive removed the pause). This callback keeps a reference to
every iterator ``fit`` trains from and drops the spent ones one epoch later on a background thread.
"""

from __future__ import annotations

import threading


def deferred_iterator_release():
    """A Keras callback; put it in ``fit``'s callbacks. It wraps ``model.train_function`` while fit runs."""
    import keras

    class DeferredIteratorRelease(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self._held = []
            self._original = self.model.train_function
            original, held = self._original, self._held

            def train_function(iterator):
                if not held or held[-1] is not iterator:
                    held.append(iterator)
                return original(iterator)

            self.model.train_function = train_function

        def on_train_batch_begin(self, batch, logs=None):
            if len(self._held) > 1:  # the previous epochs' iterators are spent: release them elsewhere
                spent = self._held[:-1]
                del self._held[:-1]
                threading.Thread(target=spent.clear, name="kerascnn-iterator-release", daemon=True).start()

        def on_train_end(self, logs=None):
            self.model.train_function = self._original
            self._held.clear()

    return DeferredIteratorRelease()
