"""One writer per run folder: while a `dqn train` process writes to a run folder, a second one, new run or
resume, is refused at once with one line naming the holder; readers (dqn evaluate) are not. Real
processes: the holder trains in one, each second writer is another."""

import csv
import os
import re
import signal
import socket
import subprocess
import sys

import pytest
import torch
from conftest import dqn, wait_for

from dqn.train.metrics import METRIC_FIELDS
from dqn.train.run_lock import LOCK_FILE

HOLDER_FLAGS = ["--preset", "cartpole", "--seed", "4", "--total-steps", "1000000", "--stop-score", "1e9",
                "--log-freq-steps", "100", "--quiet"]

# `dqn ARGS` that prints how long cli.main took, and whether it imported Ray: the refusal is timed from
# the command's start, after the imports every dqn command pays (torch's, seconds on a busy machine)
TIMED = """
import sys, time
from dqn import cli
start = time.perf_counter()
code = cli.main(sys.argv[1:])
print(f"{time.perf_counter() - start:.3f} {'ray' in sys.modules}")
sys.exit(code)
"""


def holds(holder: subprocess.Popen, run) -> bool:
    """Whether holder holds run: its pid and host in the lock file, and a checkpoint there."""
    try:
        holding = (run / LOCK_FILE).read_text() == f"pid {holder.pid} on {socket.gethostname()}"
    except FileNotFoundError:
        return False
    return holding and (run / "checkpoint.pt").is_file()


@pytest.fixture
def start_holder():
    """start_holder(run, *ARGS): `dqn train ARGS` writing to run in a process of its own, returned once it
    holds run; killed at the end of a test that failed before it ended."""
    started = []

    def start(run, *args) -> subprocess.Popen:
        holder = subprocess.Popen([sys.executable, "-m", "dqn", "train", *map(str, args)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        started.append(holder)
        wait_for(lambda: holds(holder, run), holder)
        return holder

    yield start
    for holder in started:
        if holder.poll() is None:
            holder.kill()
            holder.communicate()


def assert_refused(run, holder, *args):
    """`dqn train ARGS` refused within 2 s with one line naming run and the holder's pid and host, before Ray."""
    second = subprocess.run([sys.executable, "-c", TIMED, "train", *map(str, args)], capture_output=True,
                            text=True, timeout=120)
    assert second.returncode == 2 and second.stderr == (
        f"dqn: error: run folder {run} is in use by another dqn train (pid {holder.pid} on {socket.gethostname()}); "
        "one process writes to a run folder at a time: wait for it to end, or stop it first\n"), second.stderr
    seconds, imported_ray = second.stdout.split()
    assert float(seconds) < 2 and imported_ray == "False"


def logged_steps(run) -> list[int]:
    """The step of each whole row of the run's metrics.csv (one being written may be cut short)."""
    try:
        with open(run / "metrics.csv") as f:
            return [int(row["step"]) for row in csv.DictReader(f) if row.get(METRIC_FIELDS[-1])]
    except FileNotFoundError:
        return []


def assert_ends_as_its_own_run(holder, run):
    """The holder, stopped with Ctrl-C once the refusals are done (so that it is still training during them,
    however slow the machine), ends alone in its folder: one row per step, its config in its checkpoint."""
    assert holder.poll() is None  # the refusals came while it trained
    # in its training loop, where Ctrl-C stops with a checkpoint
    wait_for(lambda: logged_steps(run)[-1:] >= [1000], holder)
    holder.send_signal(signal.SIGINT)
    out, err = holder.communicate(timeout=300)
    stopped_at = re.search(r"SIGINT: interrupted at agent step (\d+);", err)
    assert holder.returncode == 0 and stopped_at and f"trained {stopped_at[1]} agent steps" in out, err
    steps = logged_steps(run)
    # a row every 100 agent steps (--log-freq-steps) up to the stop
    assert steps == sorted(set(steps)) and int(stopped_at[1]) - 100 < steps[-1] <= int(stopped_at[1])
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["step"] == int(stopped_at[1]) and state["config"]["seed"] == 4


def test_a_new_run_holds_its_folder_against_a_resume_and_a_new_run_but_not_a_reader(tmp_path, start_holder):
    run = tmp_path / "run"
    holder = start_holder(run, "--out", run, *HOLDER_FLAGS)
    assert_refused(run, holder, "--resume", run)
    assert_refused(run, holder, "--preset", "cartpole", "--seed", "7", "--out", run)
    evaluated = dqn("evaluate", run, "--games", "1")  # reads whole files, takes no lock
    assert evaluated.returncode == 0, evaluated.stderr
    assert_ends_as_its_own_run(holder, run)


def test_a_resumed_run_holds_its_folder_against_another_resume(tmp_path, start_holder):
    run = tmp_path / "run"
    first = dqn("train", "--out", run, *HOLDER_FLAGS, "--total-steps", "500")
    assert first.returncode == 0, first.stderr
    holder = start_holder(run, "--resume", run, "--total-steps", "1000000", "--quiet")
    assert_refused(run, holder, "--resume", run, "--total-steps", "5000")
    assert_ends_as_its_own_run(holder, run)


def test_a_refused_new_run_leaves_no_folder_and_a_dead_holder_none_to_clean(tmp_path):
    run = tmp_path / "run"
    # refused once it holds the folder it created, before it writes: the folder goes again
    config_error = dqn("train", "--preset", "cartpole", "--hidden-sizes", "1000000000000", "--out", run, "--quiet")
    assert config_error.returncode == 2 and "training an MLP with hidden_sizes" in config_error.stderr
    assert not run.exists()
    # the lock file of a process that died holding it locks nothing
    run.mkdir()
    (run / LOCK_FILE).write_text(f"pid {os.getpid() + 10**6} on elsewhere")
    trained = dqn("train", "--out", run, "--preset", "cartpole", "--total-steps", "200", "--quiet")
    assert trained.returncode == 0, trained.stderr


def test_an_apex_run_holds_its_folder_and_a_second_is_refused_before_ray_starts(tmp_path, start_holder):
    pytest.importorskip("ray")
    run = tmp_path / "run"
    holder = start_holder(run, "--out", run, *HOLDER_FLAGS, "--num-actors", "2")  # its Ray started
    assert_refused(run, holder, "--preset", "cartpole", "--num-actors", "2", "--seed", "7", "--out", run)
    assert_refused(run, holder, "--resume", run)
    assert_ends_as_its_own_run(holder, run)
