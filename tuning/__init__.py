"""Hyperparameter search over the zoo with keras-tuner: ``kerascnn tune NAME``.

Public API:
    tune(model, *, dataset, tuner, max_trials, objective, space, out, overwrite, **fit_settings) -> TuneResult
        run (or resume) a search whose trials train as fit does (any fit setting a trial needs: epochs,
        input_shape, augment, precision, ...); writes trials.csv, best_hyperparameters.json and
        scores_by_trial.png into ``out``
    TuneConfig, TRIAL_SETTINGS                             tune's own settings; the fit settings it takes
    resolve_space(model, overrides=None) -> SearchSpace    the validated space of a model
    default_space(model) -> dict                           its default space, in the --space format
    load_space_file(path) -> dict                          read a --space JSON/YAML file
    FAMILY_SPACES                                          each family's default ranges: a read-only view of
                                                           FACTS.tuning_space in kerascnn/models/<family>.py
    TRAINING_SPACE                                         the training ranges searched for every model
    ZooHyperModel                                          the keras-tuner HyperModel (lazy import)
    TUNERS                                                 "hyperband", "bayesian", "random", "grid"

Modules, one job each (none imports ``search``, which imports them):
    search          the public entry point ``tune``
    config          what a search is given: its own settings (declared once) and the trials' fit settings
    spaces          search spaces: defaults, --space files, validation
    hypermodels     the keras-tuner HyperModel over the zoo's builders
    tuners          keras-tuner tuner construction (timing, trials in worker processes)
    trial_process   the worker process trials train in; memory: freeing and measuring it
    project         the output directory: checks, resume repair, the chief/worker handshake
    report          trials.csv, best_hyperparameters.json, the plot and the table
    training_bridge what a search may vary; trials assemble training with kerascnn.training.assembly
Private keras-tuner internals are reached only through ``kerascnn.compat``.
"""

from kerascnn.tuning.config import TRIAL_SETTINGS, TuneConfig  # noqa: F401
from kerascnn.tuning.search import (  # noqa: F401
    BEST_FILE,
    OBJECTIVES,
    TUNERS,
    TuneError,
    TuneResult,
    distributed_role,
    tune,
)
from kerascnn.tuning.spaces import (  # noqa: F401
    FAMILY_SPACES,
    TRAINING_SPACE,
    SearchSpace,
    SearchSpaceError,
    default_space,
    load_space_file,
    resolve_space,
)


def __getattr__(name):
    # keras_tuner imports TensorFlow: only when the HyperModel itself is asked for.
    if name == "ZooHyperModel":
        from kerascnn.tuning.hypermodels import ZooHyperModel

        return ZooHyperModel
    raise AttributeError(f"module 'kerascnn.tuning' has no attribute {name!r}")
