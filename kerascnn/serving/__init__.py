"""A TF Serving-compatible model server (REST on 8501, gRPC on 8500) for exported SavedModels: ``kerascnn serve``."""
