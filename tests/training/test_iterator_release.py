"""fit keeps each epoch's spent tf.data iterator and releases it one epoch later, off the training thread."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from kerascnn.training.iterator_release import deferred_iterator_release


def test_spent_iterators_are_released_later_and_train_function_is_restored():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True), steps_per_execution=2)
    data = tf.data.Dataset.from_tensor_slices((np.zeros((12, 4), np.float32), np.zeros(12, np.int64))).batch(4)
    release = deferred_iterator_release()
    seen = []

    class Watch(keras.callbacks.Callback):  # runs after the release callback
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(len(release._held))

    model.fit(data, epochs=4, verbose=0, shuffle=False, callbacks=[release, Watch()])
    assert seen == [0, 1, 1, 1]  # at each epoch start only the previous epoch's iterator is kept
    assert release._held == [] and model.train_function is release._original
    history = model.fit(data, epochs=1, verbose=0, shuffle=False)  # the restored function trains as before
    assert len(history.history["loss"]) == 1
