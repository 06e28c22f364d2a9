"""Datasets and the tf.data input pipeline."""

from kerascnn.data.spec import DataSpec, preprocess  # noqa: F401
