"""What a signature says about a tensor (dtype name, shape), and TF's dtype names as NumPy dtypes."""

from __future__ import annotations

import dataclasses

import numpy as np

from kerascnn.serving.status import ServingError

DEFAULT_SIGNATURE = "serving_default"

# TF DataType names (as in SignatureDefs and TF Serving's metadata) -> NumPy dtype of the request array.
NUMPY_DTYPES = {
    "DT_FLOAT": np.dtype(np.float32),
    "DT_DOUBLE": np.dtype(np.float64),
    "DT_HALF": np.dtype(np.float16),
    "DT_INT8": np.dtype(np.int8),
    "DT_INT16": np.dtype(np.int16),
    "DT_INT32": np.dtype(np.int32),
    "DT_INT64": np.dtype(np.int64),
    "DT_UINT8": np.dtype(np.uint8),
    "DT_UINT16": np.dtype(np.uint16),
    "DT_UINT32": np.dtype(np.uint32),
    "DT_UINT64": np.dtype(np.uint64),
    "DT_BOOL": np.dtype(np.bool_),
    "DT_STRING": np.dtype(object),  # elements are bytes
}


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """What a signature says about one input or output tensor.

    Attributes:
        dtype: TF DataType name, e.g. ``"DT_UINT8"``.
        shape: dimensions with ``None`` for unknown ones, or ``None`` if even the rank is unknown.
    """

    dtype: str
    shape: tuple | None

    @property
    def numpy_dtype(self) -> np.dtype:
        if self.dtype not in NUMPY_DTYPES:
            raise ServingError("UNIMPLEMENTED", f"Conversion of JSON values to type {self.dtype} is not supported")
        return NUMPY_DTYPES[self.dtype]

    def shape_text(self) -> str:
        """The shape as TF Serving prints it: ``[-1,28,28,1]``, or ``[?]`` for an unknown rank."""
        if self.shape is None:
            return "[?]"
        return "[" + ",".join("-1" if d is None else str(d) for d in self.shape) + "]"

    def accepts_shape(self, shape: tuple) -> bool:
        if self.shape is None:
            return True
        return len(shape) == len(self.shape) and all(d is None or d == s for d, s in zip(self.shape, shape))
