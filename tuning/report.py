"""The results of a search: ``trials.csv``, ``best_hyperparameters.json``, ``scores_by_trial.png``, a table.

Read from keras-tuner's oracle after the search (or from a reloaded project): one row per trial with
its status, score, epochs, seconds, peak memory and hyperparameters (the builder's and fit's names),
the best trial's values as the flat mapping ``kerascnn fit --hparams`` reads, a plot of the scores
in trial order and the text table ``kerascnn tune`` prints.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from pathlib import Path

from kerascnn.fsutil import atomic_write_bytes, atomic_write_json, atomic_write_text

OBJECTIVES = {"val_accuracy": "max", "val_loss": "min", "accuracy": "max", "loss": "min"}

TRIALS_CSV = "trials.csv"
BEST_FILE = "best_hyperparameters.json"
PLOT_FILE = "scores_by_trial.png"

# Extra per-trial metrics the tuner records next to Keras' own (they travel to a distributed oracle).
SECONDS_METRIC = "trial_seconds"
EPOCHS_METRIC = "trial_epochs"
MEMORY_METRIC = "trial_peak_rss_mb"  # peak resident memory of the trial's process


@dataclasses.dataclass
class TrialRow:
    """One trial of a search, as the results table shows it."""

    trial_id: str
    status: str  # COMPLETED, FAILED, RUNNING, ...
    score: float | None
    epochs: int | None  # epochs trained in this trial
    best_epoch: int | None  # 1-based epoch of the best score
    seconds: float | None
    model_hyperparameters: dict
    training_hyperparameters: dict
    message: str = ""  # why a failed trial failed, one line
    peak_rss_mb: float | None = None  # peak memory of the trial's process (trials in their own process)

    @property
    def number(self) -> int:
        """The trial's number as the console says it ("Trial #3"), in the table, the CSV and the plot."""
        return trial_number(self.trial_id)


def trial_number(trial_id) -> int:
    """keras-tuner counts trials from 1 on the console but names them from 0 (``trial_02`` is "Trial #3")."""
    try:
        return int(trial_id) + 1
    except (TypeError, ValueError):  # a tuner with other ids: keep them
        return trial_id


@dataclasses.dataclass
class TuneResult:
    """What ``tune`` returns: the trials, the best ones first, and where the outputs are."""

    out_dir: Path
    role: str  # "single", "chief" or "worker"
    objective: str
    trials: list  # [TrialRow], in trial order
    best: list  # [TrialRow], completed trials, best first
    best_hyperparameters: Path | None
    plot: Path | None
    table: str


def trial_rows(oracle, space) -> list[TrialRow]:
    """Every trial of ``oracle`` in trial order, with builder/training hyperparameters resolved."""
    rows = []
    for trial_id in sorted(oracle.trials):
        trial = oracle.trials[trial_id]
        values = trial.hyperparameters.values
        model_hp, training_hp = space.resolve(values)
        metrics = trial.metrics
        seconds = _metric(metrics, SECONDS_METRIC)
        epochs = _metric(metrics, EPOCHS_METRIC)
        memory = _metric(metrics, MEMORY_METRIC)
        score = trial.score if trial.status == "COMPLETED" else None
        rows.append(
            TrialRow(
                trial_id=trial_id,
                status=str(trial.status),
                score=None if score is None else float(score),
                epochs=None if epochs is None else int(epochs),
                best_epoch=None if trial.best_step is None or score is None else int(trial.best_step) + 1,
                seconds=seconds,
                model_hyperparameters=model_hp,
                training_hyperparameters=training_hp,
                message=failure_reason(trial.message) if trial.status != "COMPLETED" else "",
                peak_rss_mb=memory,
            )
        )
    return rows


def _metric(metrics, name):
    if not metrics.exists(name):
        return None
    history = metrics.get_history(name)
    return float(history[-1].value[0]) if history else None


def failure_reason(message) -> str:
    """The last line of keras-tuner's stored traceback, without the exception's module path."""
    if not message:
        return ""
    lines = [line.strip() for line in str(message).strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    head, sep, rest = last.partition(": ")
    return rest if sep and (head.endswith("Error") or head.endswith("Exception")) else last


def summarize(out, oracle, space, *, objective: str, role: str = "single", num_best: int = 10) -> TuneResult:
    """Write trials.csv, best_hyperparameters.json and the plot; return the result with its table."""
    out = Path(out)
    rows = trial_rows(oracle, space)
    direction = OBJECTIVES.get(objective, "max")
    completed = [r for r in rows if r.score is not None and math.isfinite(r.score)]
    best = sorted(completed, key=lambda r: r.score, reverse=direction == "max")
    _write_csv(out / TRIALS_CSV, rows, objective)
    best_path = None
    if best:
        best_path = out / BEST_FILE
        atomic_write_json(best_path, best_hyperparameters_document(best[0]))
    plot = plot_scores(rows, out / PLOT_FILE, objective=objective, direction=direction)
    table = format_table(best[:num_best], rows, objective)
    return TuneResult(out, role, objective, rows, best, best_path, plot, table)


def best_hyperparameters_document(row: TrialRow) -> dict:
    """What ``kerascnn fit --hparams`` reads: one flat mapping of builder and training hyperparameters.

    Training names are fit's (``lr``, ``optimizer``, ...); everything else goes to the
    model's builder. The trial's score and timing are in trials.csv. The CSV and the table show the
    same flat mapping.
    """
    return {**row.model_hyperparameters, **row.training_hyperparameters}


def _write_csv(path: Path, rows: list, objective: str) -> None:
    names = []
    for row in rows:
        names += [k for k in best_hyperparameters_document(row) if k not in names]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    # trial: the number the console and the table give; folder: keras-tuner's trial folder under search/
    writer.writerow(
        ["trial", "status", objective, "epochs", "best_epoch", "seconds", "peak_rss_mb", *names, "reason", "folder"]
    )
    for r in rows:
        flat = best_hyperparameters_document(r)
        writer.writerow(
            [
                r.number,
                r.status,
                "" if r.score is None else f"{r.score:.6g}",
                r.epochs or "",
                r.best_epoch or "",
                "" if r.seconds is None else f"{r.seconds:.2f}",
                "" if r.peak_rss_mb is None else f"{r.peak_rss_mb:.0f}",
                *[_cell(flat.get(n, "")) for n in names],
                r.message,
                f"trial_{r.trial_id}",
            ]
        )
    atomic_write_text(path, buffer.getvalue())


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "x".join(map(str, value)) if all(isinstance(v, int) for v in value) else json.dumps(value)
    return str(value)


def format_table(best: list, rows: list, objective: str) -> str:
    """A text table of the best trials (hyperparameters, score, epochs, seconds) plus failures."""
    lines = []
    if best:
        varying = _varying_names(rows)
        header = ["rank", "trial", objective, "epochs", "seconds", *varying]
        body = [
            [
                str(i),
                str(r.number),
                f"{r.score:.4f}",
                f"{r.best_epoch}/{r.epochs}" if r.epochs else "",
                "" if r.seconds is None else f"{r.seconds:.1f}",
                *[_cell(best_hyperparameters_document(r).get(n, "")) for n in varying],
            ]
            for i, r in enumerate(best, start=1)
        ]
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
    else:
        lines.append("No trial completed.")
    failed = [r for r in rows if r.status in ("FAILED", "INVALID")]
    for r in failed:
        lines.append(f"trial {r.number} failed: {r.message or 'no reason recorded'}")
    n_done = sum(r.status == "COMPLETED" for r in rows)
    lines.append(f"{n_done} completed, {len(failed)} failed of {len(rows)} trials.")
    return "\n".join(lines)


def _varying_names(rows: list) -> list:
    # Columns for the hyperparameters that differ between trials; the others are the same everywhere.
    names, seen = [], {}
    for r in rows:
        for k, v in best_hyperparameters_document(r).items():
            seen.setdefault(k, set()).add(json.dumps(v, sort_keys=True))
            if k not in names:
                names.append(k)
    return [n for n in names if len(seen[n]) > 1]


def plot_scores(rows: list, path: Path, *, objective: str, direction: str) -> Path | None:
    """Scatter of each trial's score in trial order, failures marked, and the best-so-far line."""
    if not rows:
        return None
    fig = scores_figure(rows, objective=objective, direction=direction)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return path


def scores_figure(rows: list, *, objective: str, direction: str):
    """The figure of :func:`plot_scores`: x is the trial number the console and the table give."""
    # A bare Figure draws without pyplot, so the caller's backend (a notebook's inline plots) is untouched.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=100)
    ax = fig.subplots()
    from matplotlib.ticker import MaxNLocator

    finished = [r for r in rows if r.score is not None and math.isfinite(r.score)]
    xs = [r.number for r in finished]  # the numbers the console and the table give
    ys = [r.score for r in finished]
    ax.scatter(xs, ys, label="trial", zorder=3)
    best_so_far, best = [], None
    for y in ys:
        best = y if best is None else (max(best, y) if direction == "max" else min(best, y))
        best_so_far.append(best)
    if xs:
        ax.step(xs, best_so_far, where="post", color="tab:green", label="best so far")
    failed = [r.number for r in rows if r.score is None and r.status != "RUNNING"]
    if failed:
        y = min(ys) if ys else 0.0
        ax.scatter(failed, [y] * len(failed), marker="x", color="tab:red", label="failed", zorder=3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trials are whole numbers: no tick at 1.5
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.set_title(f"{objective} by trial")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    return fig
