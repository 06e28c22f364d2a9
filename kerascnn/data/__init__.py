"""Datasets and the tf.data input pipeline.

Public API:
    load_dataset(name_or_path, *, data_dir=None, test_split=0.2, seed=0) -> RawDataset
        raw uint8 arrays (x_train, y_train, x_test, y_test) + class_names of "digits", a TFDS name,
        a folder of IDX files or a folder of class subfolders; the train/test split is fixed.
    RawDataset.from_arrays(...)               wrap your own arrays
    split_validation(raw, val_split) -> Splits raw x/y of the train, validation and test parts
    make_pipelines(dataset, input_shape, *, batch_size, val_split, ...) -> (train, val, test, spec)
    make_spec(raw, input_shape, x_train) -> DataSpec
    DataSpec, preprocess                      the one preprocessing (train, evaluate, export, predict)
"""

from kerascnn.data.spec import DataSpec, preprocess  # noqa: F401
from kerascnn.data.raw import RawDataset, Splits, split_indices, split_train_test, split_validation  # noqa: F401
from kerascnn.data.datasets import DEFAULT_DATASET, load_dataset  # noqa: F401
from kerascnn.data.augmentation import AUGMENTATIONS, augmentation_layers  # noqa: F401
from kerascnn.data.pipeline import (  # noqa: F401
    Pipelines,
    build_dataset,
    channel_stats,
    make_pipelines,
    make_spec,
)
