"""Reading weight files into NumPy, whatever wrote them; every failure is one line naming the file.

kind "torchvision"   .safetensors (safetensors, no torch), .pth/.pt/.bin (torch.load, weights only)
kind "keras_h5"      .weights.h5 written by Keras 3's save_weights, legacy .h5 (keras.applications)
kind "kerascnn"      a .keras file or a run directory (its best.keras, and its data_spec.json)
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from kerascnn.errors import WeightsError  # noqa: F401  (raised here; kerascnn.models exports it)


@dataclasses.dataclass
class WeightSource:
    path: Path  # the file read (a run's best.keras for a run directory)
    kind: str  # "torchvision", "keras_h5" or "kerascnn"
    tensors: dict  # torchvision: {state-dict key: array}; keras: {layer name or save path: [arrays]}
    sha256: str
    run_dir: Path | None = None  # set when the source is a kerascnn run
    keras_model: object = None  # the loaded model of a kerascnn source
    by_position: bool = False  # keras_h5 from Keras 3's save_weights: keyed by generic layer paths


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_source_path(path) -> tuple[Path, Path | None]:
    """``(file, run_dir)``: a run directory means its ``best.keras``."""
    path = Path(path).expanduser()
    if path.is_dir():
        model_file = path / "best.keras"
        if not model_file.is_file():
            raise WeightsError(f"{path} is a directory without best.keras: not a finished kerascnn run.")
        return model_file, path
    if not path.is_file():
        raise WeightsError(f"No weights file at {path}.")
    return path, None


def read_weights(path) -> WeightSource:
    """Read the weights at ``path`` (file or run directory) into a :class:`WeightSource`."""
    file, run_dir = resolve_source_path(path)
    name = file.name.lower()
    if name.endswith(".safetensors"):
        source = WeightSource(file, "torchvision", _read_safetensors(file), "")
    elif name.endswith((".pth", ".pt", ".bin")):
        source = WeightSource(file, "torchvision", _read_torch(file), "")
    elif name.endswith(".h5"):
        tensors, by_position = _read_keras_h5(file)
        source = WeightSource(file, "keras_h5", tensors, "", by_position=by_position)
    elif name.endswith(".keras"):
        model = _read_keras_model(file)
        tensors = {layer.name: [np.asarray(w) for w in layer.get_weights()] for layer in model.layers if layer.weights}
        source = WeightSource(file, "kerascnn", tensors, "", run_dir=run_dir, keras_model=model)
    else:
        raise WeightsError(
            f"Unknown weights format {file.name!r}: expected .safetensors or .pth (torchvision), .h5 "
            "(keras.applications / save_weights), .keras or a kerascnn run directory."
        )
    if not source.tensors:
        raise WeightsError(f"{file} holds no tensors.")
    source.sha256 = sha256_of(file)
    return source


def _read_safetensors(path) -> dict:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return dict(load_file(str(path)))
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{path} is not a readable .safetensors file ({_one_line(e)}).") from None


def _read_torch(path) -> dict:
    try:
        import torch
    except ImportError:
        raise WeightsError(
            f"Reading {Path(path).name} (a PyTorch pickle) needs PyTorch: pip install 'kerascnn[torch]', "
            "or save the state dict as .safetensors, which needs no torch."
        ) from None
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types (UnpicklingError, RuntimeError, EOFError, ...)
        raise WeightsError(f"{path} is not a readable PyTorch weights file ({_one_line(e)}).") from None
    for key in ("state_dict", "model", "model_state_dict"):  # training checkpoints wrap the state dict
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} does not hold a state dict (a mapping of names to tensors).")
    return {k: v.detach().float().numpy() if v.is_floating_point() else v.numpy() for k, v in state.items()}


def _read_keras_h5(path) -> tuple[dict, bool]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "layer_names" in f.attrs or "model_weights" in f:  # legacy: by layer name
                group = f["model_weights"] if "model_weights" in f else f
                tensors = {}
                for layer_name in group.attrs["layer_names"]:
                    layer_name = _text(layer_name)
                    weight_names = [_text(w) for w in group[layer_name].attrs.get("weight_names", [])]
                    if weight_names:
                        tensors[layer_name] = [np.asarray(group[layer_name][w]) for w in weight_names]
                return tensors, False
            if "layers" in f:  # Keras 3 save_weights: layers/<generic name>/vars/<i>
                tensors = {}
                for key, layer_group in f["layers"].items():
                    if "vars" in layer_group and len(layer_group["vars"]):
                        variables = layer_group["vars"]
                        tensors[key] = [np.asarray(variables[str(i)]) for i in range(len(variables))]
                return tensors, True
    except (OSError, KeyError) as e:
        raise WeightsError(f"{path} is not a readable HDF5 weights file ({_one_line(e)}).") from None
    raise WeightsError(f"{path} is an HDF5 file without Keras weights in it.")


def _read_keras_model(path):
    import keras

    import kerascnn.models.custom_layers  # noqa: F401  (registers the custom layers a .keras file may name)

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as e:  # zip, JSON and deserialization errors of every kind
        raise WeightsError(f"{path} is not a readable .keras model ({_one_line(e)}).") from None


def _text(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _one_line(error) -> str:
    text = " ".join(str(error).split())
    return text[:200] + ("..." if len(text) > 200 else "")
