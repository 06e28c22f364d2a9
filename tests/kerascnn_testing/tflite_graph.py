"""What a .tflite graph holds, for tests that check which TFLite ops a conversion produced."""

from __future__ import annotations


def op_kinds(content: bytes) -> set[str]:
    """The op kinds of a .tflite graph; a convolution whose kernel sees part of its input is "CONV_2D/grouped"."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    graph = Interpreter(
        model_content=content, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    kinds = set()
    for op in graph._get_ops_details():  # LiteRT has no public op listing
        kind = op["op_name"]
        if kind == "CONV_2D":
            x, kernel = (graph._get_tensor_details(i, 0)["shape"] for i in op["inputs"][:2])
            kind += "/grouped" if kernel[3] != x[3] else ""
        kinds.add(kind)
    return kinds
