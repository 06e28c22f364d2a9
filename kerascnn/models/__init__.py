"""The model zoo. ``build("lenet")`` returns a Keras functional model that outputs logits.

Importing this package registers every family (timm's pattern: registration on import).
"""

# Registration on import; the order is the order of the textbook.
from kerascnn.models import (
    alexnet,  # noqa: F401,E402
    densenet,  # noqa: F401,E402
    efficientnet,  # noqa: F401,E402
    googlenet,  # noqa: F401,E402
    lenet,  # noqa: F401,E402
    mnist_cnn,  # noqa: F401,E402
    mobilenet,  # noqa: F401,E402
    mobilenet_v2,  # noqa: F401,E402
    nin,  # noqa: F401,E402
    regnet,  # noqa: F401,E402
    resnet,  # noqa: F401,E402
    vgg,  # noqa: F401,E402
)
from kerascnn.models.build import build, resolve_input_shape  # noqa: F401
from kerascnn.models.hyperparameters import HyperparameterError, default_hyperparameters  # noqa: F401
from kerascnn.models.pretrained import (  # noqa: F401,E402  # noqa: F401,E402
    LoadReport,
    WeightsError,
    imagenet_class_names,
    load_weights,
    resolve_weights,
    save_pretrained_run,
)
from kerascnn.models.registry import (  # noqa: F401
    ModelInfo,
    get_builder,
    get_model_info,
    list_models,
    register_model,
)
from kerascnn.models.weights import PretrainedWeights, get_weights, list_weights, register_weights  # noqa: F401,E402
