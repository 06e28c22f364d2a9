"""A zoo model's head: which layers are it, and when pretrained weights must leave it freshly initialized.

Every builder names its classifier ``logits`` (auxiliary classifiers ``*_logits``, GoogLeNet's), so the head
is found by name. ``fit --init-from``, tune's trials and :func:`kerascnn.models.pretrained.load_weights`
all follow these two rules.
"""

from __future__ import annotations


def is_head(layer) -> bool:
    """True for a classifier layer: a Dense named ``logits`` or ``*_logits``."""
    import keras

    return isinstance(layer, keras.layers.Dense) and (layer.name == "logits" or layer.name.endswith("_logits"))


def needs_new_head(source_class_names, class_names) -> bool:
    """True when weights trained on ``source_class_names`` must not fill the head of a model for ``class_names``.

    A source that names no classes (ImageNet files) keeps its head where the shapes match; a kerascnn run
    trained on other classes, even as many, gets a new head: its head means its own classes.
    """
    return source_class_names is not None and list(source_class_names) != list(class_names)
