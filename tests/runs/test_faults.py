"""Runs under faults, with real processes and real file systems: a resume after the data changed, a second
process on a locked run, a full disk, names too long, files deleted or looped under a running streamed fit."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kerascnn.cli.main import main
from kerascnn_testing.data_files import write_image_folder
from kerascnn_testing.kill import run_killed_at

FIT = ["fit", "lenet", "--input-shape", "16,16", "--batch-size", "16"]


def _err_lines(capsys) -> list:
    return [line for line in capsys.readouterr().err.strip().splitlines() if line.strip()]


@pytest.mark.faults
def test_a_resume_onto_changed_files_is_refused_then_allowed_without_testing_on_trained_images(tmp_path, capsys):
    from kerascnn.data import prepare_data

    folder = write_image_folder(tmp_path / "data", per_class=40)
    out = tmp_path / "run"
    argv = [*FIT, "--dataset", str(folder), "--epochs", "3", "--out", str(out)]
    # SIGKILLed at the commit of epoch 2: an unfinished run with epoch 1 saved
    assert run_killed_at("rename", "training_state.json", 2, argv).returncode == -9
    before = prepare_data(folder, (16, 16, 1)).raw
    old_train = set(before.train_ids)  # validation images included: they were looked at too
    trained_files = sorted(old_train)
    for name in trained_files[:3]:
        (folder / name).unlink()
    for i in range(6):  # new files: whatever side they land on, they were never trained on
        (folder / ("left" if i % 2 else "right") / f"new-{i}.png").write_bytes((folder / trained_files[5]).read_bytes())
    assert main(argv) == 1
    err = _err_lines(capsys)
    assert len(err) == 1 and "The dataset changed since this run started" in err[0] and "--allow-data-change" in err[0]
    assert main(argv + ["--allow-data-change"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed_from_epoch"] == 1 and metrics["epochs"] == 3
    after = prepare_data(folder, (16, 16, 1)).raw
    new_test = set(sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))) - set(after.train_ids)
    assert len(new_test) == len(after.y_test) and not new_test & old_train


def _holder(path: Path) -> subprocess.Popen:
    code = (
        "import sys, time\nfrom kerascnn.fsutil import lock_path\nlock = lock_path(sys.argv[1])\n"
        "print('held', flush=True)\ntime.sleep(120)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_process_is_told_who_holds_the_run_and_the_lock_dies_with_its_holder(tmp_path, capsys):
    out = tmp_path / "run"
    holder = _holder(out)
    try:
        assert main([*FIT, "--epochs", "1", "--out", str(out)]) == 1
        err = _err_lines(capsys)
        assert len(err) == 1 and f"is in use by process {holder.pid}" in err[0] and "lock_path" in err[0]
        assert not out.exists() and not out.with_name("run.partial").exists()
        folder = write_image_folder(tmp_path / "data")
        (folder / "left" / "broken.png").write_text("not an image")
        # told before the data is prepared: the answer is the lock, not the folder's bad file
        assert main([*FIT, "--epochs", "1", "--dataset", str(folder), "--out", str(out)]) == 1
        assert f"in use by process {holder.pid}" in _err_lines(capsys)[0]
        (folder / "left" / "broken.png").unlink()
        prepared = tmp_path / "prepared"
        second = _holder(prepared)
        try:
            assert main(["data", "prepare", str(folder), "--out", str(prepared)]) == 1
            assert f"in use by process {second.pid}" in _err_lines(capsys)[0] and not prepared.exists()
        finally:
            second.kill(), second.wait()
    finally:
        holder.kill()  # SIGKILL: the kernel drops the lock, nothing to clean up
        holder.wait()
    from kerascnn.fsutil import lock_path

    # a killed holder leaves its lock file, unlocked: the next process takes it, and removes it when done
    assert (tmp_path / ".run.kerascnn.lock").exists()
    lock_path(out).release()
    assert not (tmp_path / ".run.kerascnn.lock").exists()


def test_a_second_tflite_export_or_search_on_a_locked_target_says_who_holds_it(tmp_path, capsys, trained_run):
    target = tmp_path / "models" / "lenet.tflite"
    search = tmp_path / "search"
    holders = [_holder(target), _holder(search)]
    try:
        assert main(["export", str(trained_run), "--format", "tflite", "--out", str(target)]) == 1
        err = _err_lines(capsys)
        assert len(err) == 1 and f"in use by process {holders[0].pid}" in err[-1] and not target.exists()
        assert main(["tune", "lenet", "--max-trials", "1", "--epochs", "1", "--out", str(search), "--in-process"]) == 1
        err = _err_lines(capsys)
        assert f"in use by process {holders[1].pid}" in err[-1] and not (search / "search.json").exists()
    finally:
        for holder in holders:
            holder.kill(), holder.wait()


def test_a_prepared_dataset_names_the_source_file_not_a_record(tmp_path):
    from kerascnn.data import prepare_data
    from kerascnn.data.image_policy import pixel_limit
    from kerascnn.data.streaming import BadImageError, reporting_bad_images

    folder = write_image_folder(tmp_path / "data", per_class=4)
    assert main(["data", "prepare", str(folder), "--out", str(tmp_path / "prepared")]) == 0
    data = prepare_data(tmp_path / "prepared", (12, 12, 1), cache_budget_bytes=0, val_split=0)
    with pixel_limit(100), pytest.raises(BadImageError) as e:  # 12x12 images: each over the limit when read
        with reporting_bad_images():
            list(data.test.elements().as_numpy_iterator())
    assert "(as stored in the prepared dataset)" in str(e.value) and "tfrecord" not in str(e.value)
    name = str(e.value).split(" (as stored")[0]
    assert (folder / name).is_file()


@contextlib.contextmanager
def _small_file_system(path: Path, size: str):
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here: {done.stderr.decode().strip()[:100]}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(folder: Path, leave_bytes: int) -> Path:
    stat = os.statvfs(folder)
    filler = folder / "filler"
    filler.write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave_bytes))
    return filler


@pytest.mark.faults
def test_a_full_disk_is_one_line_leaves_no_torn_file_and_the_run_resumes_once_space_is_back(tmp_path, capsys):
    with _small_file_system(tmp_path / "disk", "8m") as disk:
        filler = _fill(disk, 200_000)  # config, history and the first checkpoint's start fit; the checkpoint not
        out = disk / "run"
        argv = [*FIT, "--epochs", "2", "--out", str(out)]
        assert main(argv) == 1
        err = _err_lines(capsys)
        assert len(err) == 1 and "No space left on device" in err[0] and str(out) in err[0], err
        assert not list(out.with_name("run.partial").rglob("*.tmp*")) and "Traceback" not in err[0]
        filler.unlink()
        assert main(argv) == 0 and (out / "metrics.json").is_file()

        folder = write_image_folder(tmp_path / "data", per_class=30)
        filler = _fill(disk, 20_000)
        prepared = disk / "prepared"
        assert main(["data", "prepare", str(folder), "--out", str(prepared)]) == 1
        err = [line for line in _err_lines(capsys) if "error" in line.lower() or "Traceback" in line]
        assert len(err) == 1 and "No space left on device" in err[0], err  # (TFDS's progress bars aside)
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "run"]  # nothing half-written, no lock left


def test_a_name_too_long_and_a_read_only_folder_are_one_line(tmp_path, capsys):
    assert main([*FIT, "--epochs", "1", "--out", str(tmp_path / ("x" * 300))]) == 1
    err = _err_lines(capsys)
    assert len(err) == 1 and "File name too long" in err[0]
    with _small_file_system(tmp_path / "ro", "1m") as ro:
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        assert main([*FIT, "--epochs", "1", "--out", str(ro / "run")]) == 1
        err = _err_lines(capsys)
        assert len(err) == 1 and "Read-only file system" in err[0] and str(ro) in err[0]


def test_a_missing_dataset_folder_is_the_answer_even_into_a_finished_run(tmp_path, capsys, trained_run):
    assert main([*FIT, "--dataset", str(tmp_path / "no" / "such" / "folder"), "--out", str(trained_run)]) == 1
    err = _err_lines(capsys)
    assert len(err) == 1 and "does not exist" in err[0] and "finished run" not in err[0]


class _ChangeAFile:
    """A Keras callback that, after the first epoch, deletes a training file or turns it into a symlink loop."""

    def __new__(cls, path: Path, how: str):
        import keras

        class Change(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == 0:
                    path.unlink()
                    if how == "loop":
                        os.symlink(path.name, path)  # a link to itself: ELOOP
                    elif how == "replace":
                        path.write_text("not an image any more")

        return Change()


@pytest.mark.faults
@pytest.mark.parametrize("how", ["delete", "loop", "replace"])
def test_a_file_changed_under_a_running_streamed_fit_is_named_exactly(tmp_path, how):
    import kerascnn
    from kerascnn.data import prepare_data
    from kerascnn.data.streaming import BadImageError

    folder = write_image_folder(tmp_path / "data", per_class=40)
    victim = folder / sorted(prepare_data(folder, (16, 16, 1), val_split=0).raw.train_ids)[7]
    # tf.data reads a few batches ahead: the later epochs read the file after the change
    settings = dict(
        dataset=str(folder),
        input_shape=[16, 16],
        batch_size=4,
        val_split=0,
        cache_budget_mb=0,
        epochs=4,
        verbose=0,
        out=str(tmp_path / "run"),
    )
    with pytest.raises(BadImageError) as e:
        kerascnn.fit("lenet", callbacks=[_ChangeAFile(victim, how)], **settings)
    message = str(e.value)
    assert message.startswith(str(victim)) and len(message.splitlines()) == 1
    reason = {"delete": "no longer there", "loop": "Too many levels of symbolic links", "replace": "not an image"}
    assert reason[how] in message
    assert (tmp_path / "run.partial" / "training_state.json").is_file()  # epoch 1 kept: it resumes once fixed


@pytest.mark.faults
def test_skip_bad_images_counts_a_file_deleted_mid_stream_once(tmp_path):
    import kerascnn
    from kerascnn.data import prepare_data

    folder = write_image_folder(tmp_path / "data", per_class=40)
    victim = folder / sorted(prepare_data(folder, (16, 16, 1), val_split=0).raw.train_ids)[3]
    (folder / "left" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")  # refused up front, counted too
    result = kerascnn.fit(
        "lenet",
        dataset=str(folder),
        input_shape=[16, 16],
        batch_size=4,
        val_split=0,
        cache_budget_mb=0,
        epochs=4,
        verbose=0,
        out=str(tmp_path / "run"),
        skip_bad_images=True,
        callbacks=[_ChangeAFile(victim, "delete")],
    )
    assert result.metrics["bad_images_skipped"] == 2


def test_a_bad_file_last_in_a_pass_is_named(tmp_path):
    from kerascnn.data.streaming import BadImageError, BadImages, FilePart, reporting_bad_images

    folder = write_image_folder(tmp_path / "data", per_class=3)
    paths = sorted(str(p) for p in folder.rglob("*.png"))
    os.unlink(paths[-1])
    part = FilePart(
        np.array(paths, dtype=object), np.zeros(len(paths), np.int64), size=(8, 8), channels=1, bad=BadImages()
    )
    with pytest.raises(BadImageError, match=f"^{paths[-1]} cannot be used: it is no longer there"):
        with reporting_bad_images():
            list(part.elements().as_numpy_iterator())
    counted = BadImages(skip=True)
    part = FilePart(np.array(paths, dtype=object), np.zeros(len(paths), np.int64), size=(8, 8), channels=1, bad=counted)
    assert len(list(part.elements().as_numpy_iterator())) == len(paths) - 1 and counted.names == {paths[-1]}


@pytest.mark.faults
def test_a_test_file_deleted_mid_run_is_left_out_of_the_evaluation_with_skip_bad_images(tmp_path):
    import kerascnn
    from kerascnn.data import prepare_data

    folder = write_image_folder(tmp_path / "data", per_class=20)
    everything = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    test_files = sorted(set(everything) - set(prepare_data(folder, (16, 16, 1)).raw.train_ids))
    result = kerascnn.fit(
        "lenet",
        dataset=str(folder),
        input_shape=[16, 16],
        batch_size=8,
        cache_budget_mb=0,
        epochs=2,
        verbose=0,
        out=str(tmp_path / "run"),
        skip_bad_images=True,
        callbacks=[_ChangeAFile(folder / test_files[0], "delete")],
    )
    assert result.metrics["test_images"] == len(test_files) - 1 and result.metrics["bad_images_skipped"] == 1


@pytest.mark.faults
def test_data_prepare_killed_before_its_final_rename_is_redone_by_the_next_run(tmp_path):
    folder = write_image_folder(tmp_path / "data", per_class=6)
    out = tmp_path / "prepared"
    argv = ["data", "prepare", str(folder), "--out", str(out)]
    assert run_killed_at("rename", "prepared", 1, argv).returncode == -9
    assert not out.exists() and out.with_name("prepared.partial").is_dir()  # the killed writer's work, unlocked
    assert main(argv) == 0 and not out.with_name("prepared.partial").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "prepared"]


@pytest.mark.faults
def test_two_identical_fits_one_trains_the_other_is_told_who_does(tmp_path, capsys):
    from kerascnn_testing.children import program, start_child

    out = tmp_path / "run"
    argv = [*FIT, "--epochs", "40", "--out", str(out)]
    child = start_child(program, argv)
    try:
        deadline = time.monotonic() + 300
        while not (out.with_name("run.partial") / "training_state.json").exists():  # training, an epoch saved
            assert child.process.is_alive() and time.monotonic() < deadline
            time.sleep(0.2)
        assert main(argv) == 1
        err = _err_lines(capsys)
        assert len(err) == 1 and f"in use by process {child.process.pid}" in err[0]
        assert child.process.is_alive()  # the first fit goes on: its .partial was not touched
    finally:
        child.kill()
    assert (out.with_name("run.partial") / "training_state.json").exists()
