"""What the REST and the gRPC API share: the models, the batcher and thread pool, limits, metrics, options."""

from __future__ import annotations

from kerascnn.serving.image_limits import DEFAULT_MAX_PIXELS
from kerascnn.serving.metrics import DISABLED
from kerascnn.serving.metrics import PATH as METRICS_PATH


class ServingContext:
    """The state both APIs serve from.

    Args:
        registry: the :class:`~kerascnn.serving.repository.ModelRegistry`.
        executor: thread pool for model calls (and for parsing large bodies).
        batcher: a :class:`~kerascnn.serving.batching.Batcher`, or None to run each request alone.
        max_message_bytes: the largest request body (REST, decompressed) or message (gRPC).
        metrics: a :class:`~kerascnn.serving.metrics.Metrics` (disabled when None).
        reload_config: ``async fn(list of ModelConfig)`` serving a new model list (ModelService's reload), or None.
        max_image_pixels: encoded images with more pixels are refused from their header.
        method_name_check: Classify and Regress only on signatures whose method name says so (TF Serving's
            ``--enable_signature_method_name_check``); off, they run on any signature of the right shape.
        metrics_path: where the REST server answers with the metrics page (when metrics are enabled).
    """

    def __init__(
        self,
        registry,
        *,
        executor,
        batcher=None,
        max_message_bytes: int = 32 * 1024 * 1024,
        metrics=None,
        reload_config=None,
        max_image_pixels: int = DEFAULT_MAX_PIXELS,
        method_name_check: bool = True,
        metrics_path: str = METRICS_PATH,
    ):
        self.registry = registry
        self.max_image_pixels = max_image_pixels
        self.executor = executor
        self.batcher = batcher
        self.max_message_bytes = max_message_bytes
        self.metrics = metrics or DISABLED
        self.reload_config = reload_config
        self.method_name_check = method_name_check
        self.metrics_path = metrics_path
