"""The results of a search speak of one trial numbering: the console's "Trial #N", the table, the CSV, the plot."""

import csv

from kerascnn.tuning.report import TrialRow, _write_csv, format_table, scores_figure


def _rows():
    def row(trial_id, score, status="COMPLETED", message=""):
        return TrialRow(
            trial_id=trial_id,
            status=status,
            score=score,
            epochs=2 if score else None,
            best_epoch=2 if score else None,
            seconds=1.0,
            model_hyperparameters={"dropout": 0.1 * int(trial_id)},
            training_hyperparameters={"lr": 0.01},
            message=message,
        )

    return [row("0", 0.5), row("1", 0.9), row("2", None, "FAILED", "too small")]


def test_table_and_csv_number_trials_as_the_console(tmp_path):
    rows = _rows()
    assert [r.number for r in rows] == [1, 2, 3]  # keras-tuner prints trial_id "1" as "Trial #2"
    lines = format_table([rows[1], rows[0]], rows, "val_accuracy").splitlines()
    assert [line.split()[1] for line in lines[1:3]] == ["2", "1"]
    assert lines[3] == "trial 3 failed: too small"
    _write_csv(tmp_path / "trials.csv", rows, "val_accuracy")
    written = list(csv.DictReader((tmp_path / "trials.csv").open()))
    assert [(r["trial"], r["folder"]) for r in written] == [("1", "trial_0"), ("2", "trial_1"), ("3", "trial_2")]


def test_plot_puts_each_trial_at_its_number_with_whole_ticks():
    fig = scores_figure(_rows(), objective="val_accuracy", direction="max")
    ax = fig.axes[0]
    fig.canvas.draw()
    scatter, failed = ax.collections[0], ax.collections[1]
    assert [tuple(p) for p in scatter.get_offsets()] == [(1, 0.5), (2, 0.9)]
    assert [p[0] for p in failed.get_offsets()] == [3]
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
