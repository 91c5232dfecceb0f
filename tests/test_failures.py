"""A full disk, a removed folder, low memory, Ctrl-C and SIGTERM: each ends a command with one line
and an exit code that says so, keeps the last complete checkpoint and leaves no half-written file."""

import csv
import errno
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time

import imageio_ffmpeg
import pytest
from conftest import dqn, saved_step, wait_for

from dqn import cli
from dqn.config import preset_config
from dqn.errors import UserError
from dqn.evaluation.recording import record_game
from dqn.machine.interrupts import Interrupted, interruptible
from dqn.train.entry import resume
from dqn.train.loop import WriteFailed
from dqn.train.single import Trainer

ENOSPC = os.strerror(errno.ENOSPC)
FAST = dict(total_steps=600, learning_starts=100, log_freq_steps=100, eval_freq_steps=300, eval_games=2,
            checkpoint_freq_steps=200, stop_score=None)


def error_line(stderr: str) -> str:
    """The one error line a failed command ends with (an info line may come before it)."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert sum("error" in line for line in lines) == 1, stderr
    return lines[-1]


def leftovers(run_dir):
    """Temporary files of writes that did not finish."""
    return sorted(p.name for p in run_dir.rglob("*.tmp"))


@pytest.fixture
def fail_writes(monkeypatch):
    """fail_writes(name, nth): the nth and later atomic writes of files whose name ends with name
    fail with ENOSPC once their bytes are out, as on a full disk."""

    def arm(name, nth=1):
        real_fsync, seen = os.fsync, []

        def fsync(fd):
            if os.readlink(f"/proc/self/fd/{fd}").endswith(name + ".tmp"):
                seen.append(fd)
                if len(seen) >= nth:
                    raise OSError(errno.ENOSPC, ENOSPC)
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)

    return arm


# checkpoints at 0, 200, 400 and 600; evaluations (best.pt, snapshots) at 300 and 600; the replay
# saved from step 200 on (it is empty at step 0)
@pytest.mark.parametrize("name, nth, last_saved", [
    ("checkpoint.pt", 2, 0), ("replay_000000400.npz", 1, 200), ("best.pt", 1, 200),
    ("step_00000300.pt", 1, 200), ("config.json", 1, 0)])
def test_a_full_disk_ends_the_run_with_one_line_and_keeps_the_last_checkpoint(tmp_path, fail_writes, monkeypatch,
                                                                              name, nth, last_saved):
    run = tmp_path / "run"
    config = preset_config("cartpole", save_replay=True, keep_eval_snapshots=True, **FAST)
    fail_writes(name, nth)
    with pytest.raises(WriteFailed) as failure:
        Trainer(config, run, progress=False).train()
    message = str(failure.value)
    assert f"cannot write {run}/" in message and f"{name}: {ENOSPC}; free space, then go on from its checkpoint " \
           f"of agent step {last_saved} with: dqn train --resume {run}" in message
    assert saved_step(run) == last_saved and leftovers(run) == []
    assert [p.name for p in run.glob("replay_*.npz")] == ([f"replay_{last_saved:09d}.npz"] if last_saved else [])
    monkeypatch.undo()  # room again
    assert resume(run, progress=False).steps == 600


def test_a_full_disk_at_the_first_checkpoint_says_nothing_was_saved(tmp_path, fail_writes):
    run = tmp_path / "run"
    fail_writes("checkpoint.pt")
    with pytest.raises(WriteFailed) as failure:
        Trainer(preset_config("cartpole", **FAST), run, progress=False).train()
    assert str(failure.value) == (f"cannot write {run}/checkpoint.pt: {ENOSPC}; nothing was saved: free space, "
                                  "then start the run again")
    assert list(run.iterdir()) == []


def no_room(*args, **kwargs):
    raise OSError(errno.ENOSPC, ENOSPC)  # as a write or flush reports it: naming no file


def test_a_full_disk_while_appending_to_metrics_names_the_file(tmp_path, monkeypatch):
    real_writerow = csv.DictWriter.writerow
    # the header goes through writerow too, in an atomic write of its own: let it through
    monkeypatch.setattr(csv.DictWriter, "writerow",
                        lambda table, row: real_writerow(table, row) if row["step"] == "step" else no_room())
    run = tmp_path / "run"
    with pytest.raises(WriteFailed, match=f"cannot write {run}/metrics.csv: {ENOSPC}; free space, then go on from "
                                          "its checkpoint of agent step 0"):
        Trainer(preset_config("cartpole", **FAST), run, progress=False).train()


def test_a_full_disk_while_drawing_the_curves_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr("dqn.train.loop.save_training_curves", no_room)
    run = tmp_path / "run"
    with pytest.raises(WriteFailed, match=f"cannot write {run}/curves.png: {ENOSPC}; free space, then go on from "
                                          "its checkpoint of agent step 600"):
        Trainer(preset_config("cartpole", **FAST), run, progress=False).train()


def test_a_file_size_limit_stops_the_replay_write_of_a_real_process(tmp_path):
    """No mock: the process may not write files over 1 MB (RLIMIT_FSIZE; Python ignores SIGXFSZ), and
    CartPole's default replay takes 1.55 MB."""
    run = tmp_path / "run"
    limited = dqn("train", "--preset", "cartpole", "--out", run, "--total-steps", "1000", "--save-replay",
                  "--checkpoint-freq-steps", "500", "--stop-score", "1e9", "--quiet",
                  preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (10**6, resource.RLIM_INFINITY)))
    assert limited.returncode == 2
    assert error_line(limited.stderr) == (
        f"dqn: error: cannot write {run / 'replay_000000500.npz'}: File too large; free space, then go on "
        f"from its checkpoint of agent step 0 with: dqn train --resume {run}")
    assert saved_step(run) == 0 and leftovers(run) == [] and not list(run.glob("replay_*"))


@pytest.mark.parametrize("removed", ["tb", "."])
def test_a_folder_removed_during_the_run(tmp_path, removed):
    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "dqn", "train", "--preset", "cartpole", "--out", str(run),
                                "--total-steps", "100000", "--stop-score", "1e9", "--log-freq-steps", "100",
                                # no evaluation or checkpoint to come: the next write is TensorBoard's
                                "--eval-freq-steps", "100000", "--checkpoint-freq-steps", "100000",
                                "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = run / "metrics.csv"
    wait_for(lambda: metrics.is_file() and metrics.read_text().count("\n") >= 3, process)
    # moved away first, so that the run meets its folder whole or gone, never half-removed by rmtree
    (run / removed).rename(tmp_path / "removed")
    shutil.rmtree(tmp_path / "removed")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2
    error = error_line(stderr)
    assert f"dqn: error: cannot write {run / 'tb'}/events.out.tfevents." in error
    if removed == "tb":
        assert error.endswith(f"go on from its checkpoint of agent step 0 with: dqn train --resume {run}")
    else:
        assert error.endswith("No such file or directory; the run folder is gone, so nothing is left to resume")


def test_a_replay_the_disk_cannot_hold_is_refused_at_start(tmp_path, monkeypatch):
    config = preset_config("cartpole", save_replay=True, **FAST)
    run = tmp_path / "run"
    one_file = 50_000 * 31  # CartPole: 16 bytes of observation and 15 of the rest per transition
    monkeypatch.setattr("dqn.train.checkpointer.free_disk_bytes", lambda path: int(1.5 * one_file))
    with pytest.raises(UserError, match=r"--save-replay needs room for two replay files of 1.55 MB \(a new one is "
                                         r"written before the old one is removed\): 3.1 MB more, "
                                         r"but the disk of .* has 2.33 MB free"):
        Trainer(config, run, progress=False)
    assert not run.exists()
    monkeypatch.undo()
    Trainer(config, run, progress=False).train()
    # a resumed run's replay file is already there: one more fits
    monkeypatch.setattr("dqn.train.checkpointer.free_disk_bytes", lambda path: int(1.5 * one_file))
    assert resume(run, total_steps=700, progress=False).steps == 700


def test_low_memory_saves_a_checkpoint_and_names_the_replay(tmp_path, capsys):
    run = tmp_path / "run"
    code = cli.main(["train", "--preset", "cartpole", "--out", str(run), "--log-freq-steps", "100", "--quiet",
                     "--min-available-ram-gb", "1e6"])  # a million GiB: always short
    assert code == 2
    error = error_line(capsys.readouterr().err)
    assert error.startswith("dqn: error: available RAM fell under min_available_ram_gb (1000000.0 GiB) at agent "
                            "step 100; this process holds ")
    assert re.search(r", its replay 3[.0-9]* kB of the 1.55 MB it grows to with --buffer-size 50000;", error), error
    assert error.endswith(f"checkpoint saved: free memory, then: dqn train --resume {run}")
    assert saved_step(run) == 100 and leftovers(run) == []


# --- Ctrl-C and SIGTERM outside training -------------------------------------------------------

@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("agent") / "run"
    Trainer(preset_config("cartpole", **FAST), run, progress=False).train()
    return run


def run_cli_until_signal(argv, signal_name, delay_s):
    """cli.main(argv) in this process, sent signal_name after delay_s."""
    timer = threading.Timer(delay_s, os.kill, (os.getpid(), getattr(signal, signal_name)))
    timer.start()
    try:
        return cli.main(argv)
    finally:
        timer.cancel()


def test_ctrl_c_stops_evaluate_with_one_line(cartpole_run, capsys):
    code = run_cli_until_signal(["evaluate", str(cartpole_run), "--games", "1000000", "--quiet"], "SIGINT", 1.0)
    out, err = capsys.readouterr()
    assert code == 130 and out == ""
    assert err == "dqn evaluate: stopped by SIGINT; no half-written file was left\n"


def test_sigterm_stops_bench_and_removes_its_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    code = run_cli_until_signal(["bench", "--steps", "100000"], "SIGTERM", 4.0)
    assert code == 143
    assert capsys.readouterr().err.endswith("dqn bench: stopped by SIGTERM; no half-written file was left\n")
    assert list(tmp_path.iterdir()) == []


class SignalledWhenCollected:
    """Sends this process a signal from its finalizer (__del__), where Python drops what a handler raises."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        sum(range(1000))  # Python code after the kill: the handler runs here, inside the finalizer


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")  # a dropped stop reaching pytest
@pytest.mark.parametrize("work_after", [0.0, 5.0], ids=["the-work-ends-at-once", "the-work-goes-on"])
def test_a_stop_dropped_inside_a_finalizer_still_stops(work_after):
    # how `dqn record` once ran its 30 games to the end after a SIGTERM: an ffmpeg Popen collected at a game's end
    start = time.perf_counter()
    with pytest.raises(Interrupted, match="SIGTERM"):
        with interruptible():
            SignalledWhenCollected()
            time.sleep(work_after)
    assert time.perf_counter() - start < 2  # sent again at once, not raised when the work ends


def test_an_except_exception_does_not_take_a_stop_for_an_error():
    with pytest.raises(Interrupted, match="SIGINT"):
        with interruptible():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(2)
            except Exception:  # e.g. a library turning any error into its own
                pass


def test_sigterm_during_a_recording_removes_the_unfinished_video(cartpole_run, tmp_path):
    videos = tmp_path / "videos"
    process = subprocess.Popen([sys.executable, "-m", "dqn", "record", str(cartpole_run), "--out", str(videos),
                                "--games", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: videos.is_dir() and any(p.suffix == ".tmp" for p in videos.iterdir()), process)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 143
    assert stderr.strip().splitlines()[-1] == "dqn record: stopped by SIGTERM; no half-written file was left"
    assert leftovers(videos) == []
    finished = sorted(videos.iterdir())
    assert len(stdout.splitlines()) == len(finished) < 30  # each one printed is whole
    for video in finished:
        assert imageio_ffmpeg.count_frames_and_secs(str(video))[0] > 0


def test_a_stop_while_ffmpeg_starts_leaves_no_video_and_no_ffmpeg(cartpole_run, tmp_path, monkeypatch):
    started = []
    popen = subprocess.Popen

    def popen_then_stop(command, **kwargs):
        started.append(popen(command, **kwargs))
        if "libx264" in command:  # the encoder's ffmpeg: the stop comes before the recording holds it
            os.kill(os.getpid(), signal.SIGTERM)
            sum(range(1000))  # Python code: where the handler would run
        return started[-1]

    monkeypatch.setattr(subprocess, "Popen", popen_then_stop)
    agent, env = cli.load_agent_and_env(cartpole_run, render_mode="rgb_array")
    try:
        with pytest.raises(Interrupted), interruptible():
            record_game(agent, env, tmp_path / "game.mp4")
        assert started[-1].returncode == -signal.SIGKILL  # killed by the recording's cleanup, not left writing
        assert list(tmp_path.iterdir()) == []
    finally:
        for process in started:
            process.kill()
            process.wait()


def test_a_full_disk_during_a_recording_is_one_line_and_no_file(cartpole_run, tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "game_01.mp4.tmp").symlink_to("/dev/full")  # where ffmpeg writes: every write fails with ENOSPC
    assert cli.main(["record", str(cartpole_run), "--out", str(videos)]) == 2
    error = error_line(capsys.readouterr().err)
    assert error.startswith(f"dqn: error: cannot write {videos / 'game_01.mp4'}: ffmpeg stopped: ") and ENOSPC in error
    assert list(videos.iterdir()) == []
