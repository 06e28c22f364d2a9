"""Loading a trained model back from a run directory."""

from __future__ import annotations

from kerascnn.data.spec import DataSpec
from kerascnn.errors import ArtifactError
from kerascnn.runs.layout import resolve_checkpoint


def load_trained(path, *, inference_only: bool = True):
    """Load ``(keras.Model, DataSpec)`` from a run directory or a ``.keras`` file inside one.

    With ``inference_only`` a model with auxiliary heads is cut down to its main output.
    """
    import keras

    import kerascnn.models.custom_layers  # noqa: F401  (registers the zoo's custom layers, e.g. LRN)

    checkpoint, spec_dir = resolve_checkpoint(path)
    spec = DataSpec.load(spec_dir)
    try:
        model = keras.saving.load_model(checkpoint, compile=False)
    except Exception as e:  # zip, h5 and deserialization errors all mean the same to a user
        raise ArtifactError(
            f"Cannot load {checkpoint}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        ) from None
    if inference_only and len(model.outputs) > 1:
        model = keras.Model(model.inputs, model.outputs[0], name=model.name)
    return model, spec
