"""``kerascnn serve``: TF Serving's REST and gRPC APIs over exported models (see :mod:`kerascnn.serving.server`)."""
