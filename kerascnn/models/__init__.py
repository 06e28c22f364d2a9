"""The model zoo. ``build("lenet")`` returns a Keras functional model that outputs logits.

Importing this package registers every family (timm's pattern: registration on import).
"""

from kerascnn.models.registry import (  # noqa: F401
    ModelInfo,
    get_builder,
    get_model_info,
    list_models,
    register_model,
)
from kerascnn.models.build import build, resolve_input_shape  # noqa: F401
from kerascnn.models.hyperparameters import HyperparameterError, default_hyperparameters  # noqa: F401
from kerascnn.models.pretrained import LoadReport, WeightsError, load_weights  # noqa: F401,E402
from kerascnn.models.pretrained import imagenet_class_names, resolve_weights, save_pretrained_run  # noqa: F401,E402
from kerascnn.models.weights import PretrainedWeights, get_weights, list_weights, register_weights  # noqa: F401,E402

# Registration on import; the order is the order of the textbook.
from kerascnn.models import lenet  # noqa: F401,E402
from kerascnn.models import mnist_cnn  # noqa: F401,E402
from kerascnn.models import alexnet  # noqa: F401,E402
from kerascnn.models import vgg  # noqa: F401,E402
from kerascnn.models import nin  # noqa: F401,E402
from kerascnn.models import googlenet  # noqa: F401,E402
from kerascnn.models import resnet  # noqa: F401,E402
from kerascnn.models import densenet  # noqa: F401,E402
from kerascnn.models import mobilenet  # noqa: F401,E402
from kerascnn.models import mobilenet_v2  # noqa: F401,E402
