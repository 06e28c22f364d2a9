# Source of notebooks/04_tuning.ipynb (build it with: python notebooks/_build.py).

# %% [markdown]
# # 04 · Tuning a network with `kerascnn tune`
#
# Kernel sizes, activations, pooling, learning rate: every choice in lessons 02 and 03 was a
# **hyperparameter**, fixed before training. Trying combinations by hand is slow and biased;
# `kerascnn tune` runs a keras-tuner search over any zoo model instead, on the same data pipeline and
# training code as `kerascnn fit`. This lesson:
#
# 1. looks at the default search space of LeNet and narrows it;
# 2. runs a random search, scored on the **validation** part;
# 3. shows that rerunning a search resumes it instead of starting over;
# 4. trains the winner with `kerascnn.fit(..., hparams=best_hyperparameters.json)` and only then looks at
#    the **test** part.
#
# From the shell the whole lesson is `kerascnn tune lenet --space space.yaml --max-trials 6` followed by
# `kerascnn fit lenet --hparams runs/tune-lenet/best_hyperparameters.json`.

# %%
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json
import time
from pathlib import Path

import yaml
from IPython.display import Image, display

import kerascnn
from kerascnn.tuning import default_space, resolve_space, tune

SMALL = os.environ.get("KERASCNN_NOTEBOOK_SMALL") == "1"  # set by the tests: 2 short trials
DATASET = os.environ.get("KERASCNN_NOTEBOOK_DATASET", "digits")
MAX_TRIALS = 2 if SMALL else 6
EPOCHS = 2 if SMALL else 5
WORK = Path("runs")

# %% [markdown]
# ## 1. The search space
#
# Each model family has a default space: its builder's own keyword arguments (the same names as in
# `kerascnn.models.lenet.build_lenet`) plus the learning rate and the optimizer. A list holds one entry per
# element of a tuple argument, so `kernel_sizes[0]` is the first convolution's kernel.

# %%
for name, spec in default_space("lenet").items():
    print(f"{name:14s} {json.dumps(spec)}")

# %% [markdown]
# Seven architecture choices and two training ones make thousands of combinations, far too many for a
# laptop. A **space file** (YAML or JSON, the `--space` option) narrows it: a spec with `values` or
# `min`/`max` is searched, a plain value is fixed. Here: the first kernel size, the activation, the pooling
# and the learning rate (on a log scale, where learning rates live), with Adam.

# %%
space = {
    "kernel_sizes": [{"values": [3, 5]}, 5],
    "activation": {"values": ["sigmoid", "relu"]},
    "pooling": {"values": ["avg", "max"]},
    "lr": {"min": 1e-3, "max": 3e-2, "sampling": "log"},
    "optimizer": "adam",
    "filters": [6, 16],
    "dense_units": [120, 84],
    "batch_norm": False,
    "dropout": 0.0,
}
WORK.mkdir(exist_ok=True)
space_file = WORK / "04_space.yaml"
space_file.write_text(yaml.safe_dump(space, sort_keys=False))
print(space_file.read_text())
print("\n".join(resolve_space("lenet", space_file).summary_lines()))  # what the search will vary

# %% [markdown]
# A bad space fails before any trial runs, with a message naming the problem:

# %%
for bad in ({"kernel_size": {"values": [3, 5]}}, {"lr": {"min": 0.1, "max": 0.01}}):
    try:
        resolve_space("lenet", bad)
    except kerascnn.KerasCNNError as error:
        print(f"{type(error).__name__}: {error}")

# %% [markdown]
# ## 2. The search
#
# A **random search** draws hyperparameters from the space for each trial and trains that model for a few
# epochs; the score is the best validation accuracy of the trial. (`tuner="hyperband"` spends more epochs
# on promising trials, `"bayesian"` models which regions score well, `"grid"` tries every combination.)
# The test part is not used at all.

# %%
search_dir = WORK / "04_tune_lenet"
start = time.perf_counter()
result = tune(
    "lenet", dataset=DATASET, tuner="random", max_trials=MAX_TRIALS, epochs=EPOCHS,
    space=space_file, out=search_dir, overwrite=True, verbose=0,
)
print(f"{len(result.trials)} trials in {time.perf_counter() - start:.0f} s\n")
print(result.table)
assert sum(row.status == "COMPLETED" for row in result.trials) == MAX_TRIALS

# %% tags=["plot"]
display(Image(filename=str(result.plot), width=600))

# %% [markdown]
# The output directory holds keras-tuner's project (`search/`), a CSV of every trial, the plot above, and
# `best_hyperparameters.json`: the winner, as one flat mapping that `kerascnn fit --hparams` reads.

# %%
for path in sorted(search_dir.iterdir()):
    print(f"  {path.name}{'/' if path.is_dir() else ''}")
best = json.loads(result.best_hyperparameters.read_text())
print(json.dumps(best, indent=1))

# %% [markdown]
# ## 3. Resuming
#
# A search can take hours. Rerunning the same call continues it: keras-tuner reloads its project, and no
# finished trial runs again. Here every trial is finished, so the rerun returns almost at once with the same
# results. (Asking for more trials, `max_trials=...`, would run only the new ones.)

# %%
start = time.perf_counter()
again = tune(
    "lenet", dataset=DATASET, tuner="random", max_trials=MAX_TRIALS, epochs=EPOCHS,
    space=space_file, out=search_dir, verbose=0,
)
print(f"rerun: {time.perf_counter() - start:.1f} s, {len(again.trials)} trials, best score {again.best[0].score:.4f}")
assert [row.score for row in again.trials] == [row.score for row in result.trials]

# %% [markdown]
# ## 4. Training the winner, then testing it
#
# The search trained each candidate briefly. Now train the best configuration properly; `hparams` takes the
# file as is (architecture arguments go to the builder, `lr` and `optimizer` to training). Its
# test accuracy is the first and only time the test part is used.

# %%
winner = kerascnn.fit(
    "lenet", DATASET, hparams=result.best_hyperparameters, epochs=2 * EPOCHS,
    out=str(WORK / "04_lenet_tuned"), overwrite=True, verbose=0,
)
print("architecture:", json.dumps(winner.config.hparams))
print(f"training: {winner.config.optimizer}, learning rate {winner.config.lr:.4g}, {winner.config.epochs} epochs")
print(f"test accuracy of the tuned LeNet: {winner.metrics['test_accuracy']:.4f}")
assert winner.metrics["test_accuracy"] > 0.5

# %% [markdown]
# ## Going further
#
# * `kerascnn tune NAME --help` lists every option; any zoo model can be tuned (`resnet18` searches its stem
#   and widths, `vgg11` its width divisor and dense units, ...).
# * A search can run on several machines: start the same command once per process with
#   `KERASTUNER_TUNER_ID` (`chief`, `tuner0`, `tuner1`, ...), `KERASTUNER_ORACLE_IP` and
#   `KERASTUNER_ORACLE_PORT` set; the chief hands out trials and writes the results (see the README).
# * Selecting on validation and reporting on test matters more the more trials you run: with enough
#   trials, one will score well on the validation part by luck.
#
# Next: `05_export_serve_tflite.ipynb` takes a trained model to a server and to a phone-sized `.tflite`.
