"""Checkpoints survive kills, and a resumed run is the run that was never stopped, to the bit."""

import csv
import json
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import assert_one_line_error, dqn, saved_step

from dqn.agent.learner import TrainingDiverged
from dqn.config import preset_config
from dqn.train import checkpoint
from dqn.train.entry import last_logged_step, resume
from dqn.train.run_lock import LOCK_FILE, check_run_dir
from dqn.train.single import Trainer

TIMING = {"wall_s", "steps_per_s", "time_env_s", "time_act_s", "time_sample_s", "time_update_s"}
FLAGS = ["--preset", "cartpole", "--seed", "4", "--save-replay", "--checkpoint-freq-steps", "500",
         "--log-freq-steps", "100", "--eval-freq-steps", "500", "--eval-games", "2",
         "--learning-starts", "300", "--stop-score", "1e9", "--quiet"]

# A training process that SIGKILLs itself during the nth write of a chosen file: after its bytes
# are out, before the rename that would complete it (see files.write_atomic).
KILL_DURING_WRITE = """
import os, signal, sys
from dqn import cli
victim, writes_left, real_fsync = sys.argv[1], int(sys.argv[2]), os.fsync
def fsync(fd):
    global writes_left
    if os.readlink(f"/proc/self/fd/{fd}").endswith(victim):
        writes_left -= 1
        if writes_left == 0:
            os.kill(os.getpid(), signal.SIGKILL)
    real_fsync(fd)
os.fsync = fsync
sys.exit(cli.main(sys.argv[3:]))
"""


def kill_during_write(victim, nth, *args):
    """`dqn *args`, SIGKILLed during the nth write of the file named victim."""
    return subprocess.run([sys.executable, "-c", KILL_DURING_WRITE, victim, str(nth), *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def metrics(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]


def weights(run_dir):
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    return state["step"], state["network"], state["learner"]["optimizer"]["state"]


def assert_same_run(a, b):
    assert metrics(a) == metrics(b)
    step_a, net_a, adam_a = weights(a)
    step_b, net_b, adam_b = weights(b)
    assert step_a == step_b
    assert all(torch.equal(net_a[k], net_b[k]) for k in net_a)
    assert all(torch.equal(adam_a[i][k], adam_b[i][k]) for i in adam_a for k in adam_a[i])


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight") / "run"
    result = dqn("train", "--out", out, "--total-steps", "3000", *FLAGS)
    assert result.returncode == 0, result.stderr
    return out


def test_stop_and_resume_equals_one_straight_run(straight, tmp_path):
    out = tmp_path / "run"
    # 1,050 is off the 100-step log grid: the run's last row there is dropped when it goes on
    first = dqn("train", "--out", out, "--total-steps", "1050", *FLAGS)
    assert first.returncode == 0, first.stderr
    assert [p.name for p in out.glob("replay_*.npz")] == ["replay_000001050.npz"]
    assert metrics(out)[-1]["step"] == "1050"
    second = dqn("train", "--resume", out, "--total-steps", "3000", "--quiet")
    assert second.returncode == 0, second.stderr
    assert "trained 3000 agent steps" in second.stdout
    assert_same_run(straight, out)
    assert [p.name for p in out.glob("replay_*.npz")] == ["replay_000003000.npz"]


# checkpoints come at step 0 and every 500 steps: the fourth write of checkpoint.pt is the one of
# step 1500; the replay is saved from step 500 on (at step 0 it is empty)
@pytest.mark.parametrize("victim, nth", [("replay_000001500.npz.tmp", 1), ("checkpoint.pt.tmp", 4)])
def test_kill_9_while_writing_a_checkpoint_then_resume(straight, tmp_path, victim, nth):
    out = tmp_path / "run"
    killed = kill_during_write(victim, nth, "train", "--out", out, "--total-steps", "3000", *FLAGS)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (out / victim).is_file()  # the write was cut short ...
    assert saved_step(out) == 1000  # ... the last one is whole
    resumed = dqn("train", "--resume", out, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    # the rows of steps 1100 to 1500 were logged after the checkpoint of step 1000
    assert "from its checkpoint of agent step 1000; the 500 agent steps logged after it" in resumed.stderr
    assert_same_run(straight, out)


def test_kill_9_before_the_first_periodic_checkpoint_then_resume(straight, tmp_path):
    """The issue's case: killed while best.pt is written, before the first checkpoint.pt of the
    schedule. The run goes on from its checkpoint of step 0, says what was lost, and ends as the
    straight run does."""
    out = tmp_path / "run"
    killed = kill_during_write("best.pt.tmp", 1, "train", "--out", out, "--total-steps", "3000", *FLAGS)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert saved_step(out) == 0
    assert not list(out.glob("replay_*.npz"))  # an empty replay is not saved
    resumed = dqn("train", "--resume", out, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert "from its checkpoint of agent step 0; the 400 agent steps logged after it" in resumed.stderr
    assert_same_run(straight, out)


def test_a_kill_during_the_first_checkpoint_leaves_a_folder_to_start_again_in(tmp_path):
    out = tmp_path / "run"
    killed = kill_during_write("checkpoint.pt.tmp", 1, "train", "--out", out, "--total-steps", "3000", *FLAGS)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE, "checkpoint.pt.tmp"]
    assert_one_line_error(dqn("train", "--resume", out), f"no checkpoint at {out / 'checkpoint.pt'}")
    # neither an unfinished temporary file nor the lock file of a dead run makes the folder taken: the same
    # --out works
    check_run_dir(out)


def test_resume_of_a_folder_with_only_its_config_starts_the_run_over(straight, tmp_path):
    """A run that an older version left without any checkpoint.pt: config.json, metrics.csv, best.pt."""
    out = tmp_path / "run"
    out.mkdir()
    for name in ["config.json", "metrics.csv", "best.pt"]:
        (out / name).write_bytes((straight / name).read_bytes())
    resumed = dqn("train", "--resume", out, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert (f"{out} has no checkpoint.pt (it stopped before its first one): starting it over from its config.json; "
            "the 3000 agent steps logged after it") in resumed.stderr
    assert_same_run(straight, out)


def test_ctrl_c_then_resume_equals_one_straight_run(straight, tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "dqn", "train", "--out", str(out), "--total-steps", "3000",
                                *FLAGS], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "metrics.csv").is_file() or (out / "metrics.csv").read_text().count("\n") < 4:
        assert time.time() < deadline and process.poll() is None
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0 and "SIGINT: interrupted at agent step" in stderr, stderr
    stopped_at = saved_step(out)
    assert 300 <= stopped_at < 3000  # wherever it stopped, not at a checkpoint multiple in general
    resumed = dqn("train", "--resume", out, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {out} from its checkpoint of agent step {stopped_at}\n" in resumed.stderr  # nothing lost
    assert_same_run(straight, out)


def train_with_kills(out, total_steps, flags, kills, seed):
    """`dqn train --out out` to total_steps, SIGKILLed `kills` times and resumed after each kill. Each kill
    comes at a random instant (seeded draws) in the run's first two thirds: at a drawn agent step, once
    metrics.csv has its row, and up to 0.2 s later, so that it falls in training, a checkpoint or an
    evaluation. Asserts that each kill landed mid-run: the process died of it rather than ending, and its
    last checkpoint is before total_steps. Returns the agent steps of the checkpoints it went on from."""
    rng, went_on_from = random.Random(seed), []
    # the run's last third (1,000 agent steps of CartPole, 400 of Breakout here, with their updates and
    # checkpoints) takes far longer than a kill's 0.2 s: the run cannot end before its kill
    last_kill_step = total_steps * 2 // 3
    for kill in range(kills + 1):
        if (out / "checkpoint.pt").is_file():
            start = saved_step(out)
            went_on_from.append(start)
            args = ["train", "--resume", out, "--quiet"]
        else:
            start, args = 0, ["train", "--out", out, "--total-steps", total_steps, *flags]
        log_before = file_id(out / "metrics.csv")
        process = subprocess.Popen([sys.executable, "-m", "dqn", *map(str, args)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        if kill == kills:
            assert process.wait(timeout=300) == 0, process.stderr.read()
            break
        kill_step = rng.randint(start, max(start, last_kill_step))
        try:
            # the process's own metrics.csv (it rewrites the file when it opens it), with a row at kill_step
            deadline = time.time() + 300
            while (file_id(out / "metrics.csv") in (None, log_before)
                   or last_logged_step(out / "metrics.csv") < kill_step):
                assert process.poll() is None, f"the run ended before agent step {kill_step}: {process.stderr.read()}"
                assert time.time() < deadline, f"no row at agent step {kill_step} in 300 s"
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.2))
        finally:
            process.kill()
            _, stderr = process.communicate(timeout=60)
        assert process.returncode == -signal.SIGKILL, (
            f"kill {kill + 1} (from agent step {kill_step}) did not land: the run ended first, exit code "
            f"{process.returncode}\n{stderr}")
        assert start <= saved_step(out) < total_steps, (start, saved_step(out))
    return went_on_from


def file_id(path):
    """The inode of path, which a file replaced by a rename changes; None where there is no file."""
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def test_random_kill_9s_with_saved_replay_end_as_the_straight_run(straight, tmp_path):
    out = tmp_path / "run"
    train_with_kills(out, 3000, FLAGS, kills=4, seed=0)
    assert_same_run(straight, out)


def test_random_kill_9s_without_saved_replay_end_as_a_run_resumed_at_the_same_checkpoints(tmp_path):
    """Each resume refills the replay, so the kills change the run: it must be the run stopped
    and resumed at those checkpoints, whatever instant each kill came at."""
    flags = [flag for flag in FLAGS if flag != "--save-replay"]
    killed, stopped = tmp_path / "killed", tmp_path / "stopped"
    went_on_from = train_with_kills(killed, 3000, flags, kills=4, seed=1)
    # a resume from step 0 refills nothing, and two from one checkpoint go on as one
    stops = sorted(set(went_on_from) - {0})
    assert dqn("train", "--out", stopped, "--total-steps", [*stops, 3000][0], *flags).returncode == 0
    for step in [*stops[1:], 3000][:len(stops)]:
        resumed = dqn("train", "--resume", stopped, "--total-steps", step, "--quiet")
        assert resumed.returncode == 0, resumed.stderr
    assert_same_run(stopped, killed)
    assert int(metrics(killed)[-1]["replay_refills"]) == len(stops)


@pytest.mark.slow
def test_twenty_random_kill_9s_of_a_breakout_run_end_as_the_straight_run(tmp_path):
    flags = ["--preset", "breakout", "--seed", "3", "--save-replay", "--buffer-size", "2000",
             "--learning-starts", "200", "--checkpoint-freq-steps", "100", "--log-freq-steps", "100",
             "--eval-freq-steps", "600", "--eval-games", "1", "--eval-t-max", "300", "--stop-score", "1e9",
             "--quiet"]
    straight_run, out = tmp_path / "straight", tmp_path / "run"
    result = dqn("train", "--out", straight_run, "--total-steps", "1200", *flags)
    assert result.returncode == 0, result.stderr
    train_with_kills(out, 1200, flags, kills=20, seed=2)
    assert_same_run(straight_run, out)


def test_resume_without_saved_replay_refills_it_before_learning(tmp_path):
    config = preset_config("cartpole", seed=1, total_steps=1_000, learning_starts=300, eval_freq_steps=0,
                           log_freq_steps=100, stop_score=None)
    Trainer(config, tmp_path / "run", progress=False).train()
    resume(tmp_path / "run", total_steps=1_600, progress=False)
    updates = {int(row["step"]): int(row["updates"]) for row in metrics(tmp_path / "run")}
    # one update per step from 300 to 1000; none while 300 new steps refill the empty replay
    assert updates[1000] == 700 and updates[1300] == 700 and updates[1600] == 1000


def test_a_resumed_run_may_use_another_number_of_torch_threads(tmp_path):
    """As on a run moved to another machine; what it learns stays the run's."""
    out = tmp_path / "run"
    first = dqn("train", "--out", out, "--total-steps", "600", "--torch-threads", "2", *FLAGS)
    assert first.returncode == 0 and ", 2 torch threads\n" in first.stderr, first.stderr
    resumed = dqn("train", "--resume", out, "--total-steps", "700", "--torch-threads", "1", "--quiet")
    assert resumed.returncode == 0 and ", 1 torch thread\n" in resumed.stderr, resumed.stderr
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["step"] == 700 and state["config"]["torch_threads"] == 1 and state["config"]["seed"] == 4


def test_non_finite_q_values_stop_the_run_and_keep_the_checkpoint(tmp_path):
    config = preset_config("cartpole", total_steps=600, learning_starts=300, eval_freq_steps=0, stop_score=None,
                           save_replay=True)
    Trainer(config, tmp_path / "run", progress=False).train()
    saved = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    trainer = Trainer(config.__class__(**{**config.to_dict(), "total_steps": 1_000}), tmp_path / "run",
                      progress=False, resume_state=checkpoint.load(tmp_path / "run" / "checkpoint.pt"))
    with torch.no_grad():
        next(trainer.learner.online.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="agent step 601"):
        trainer.train()
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == saved


def test_bad_resume_input(straight, tmp_path):
    assert_one_line_error(dqn("train", "--resume", tmp_path / "nowhere"), "no run folder at")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(dqn("train", "--resume", tmp_path / "empty"), "no checkpoint at")
    may_change = "only --total-steps, --stop-score, --ray-address and --torch-threads may change"
    assert_one_line_error(dqn("train", "--resume", straight, "--learning-rate", "0.1"),
                          f"{may_change}, not --learning-rate")
    assert_one_line_error(dqn("train", "--resume", straight, "--distributed"), f"{may_change}, not --distributed")
    assert_one_line_error(dqn("train", "--resume", straight), "already has 3000 of its 3000 agent steps")
    assert_one_line_error(dqn("train", "--resume", straight, "--total-steps", "0"),
                          "--total-steps must be positive, got 0")
    assert_one_line_error(dqn("train", "--resume", straight, "--total-steps", "4000", "--ray-address", "local"),
                          "--ray-address is where the actors of a distributed run play: it needs --num-actors > 0")
    model_only = tmp_path / "model_only"
    model_only.mkdir()
    (model_only / "checkpoint.pt").write_bytes((straight / "best.pt").read_bytes())
    assert_one_line_error(dqn("train", "--resume", model_only), "holds no training state to resume from")
    before_the_split = tmp_path / "before_the_split"
    before_the_split.mkdir()
    state = torch.load(straight / "checkpoint.pt", weights_only=True)
    del state["learner"], state["actor"]
    torch.save(state, before_the_split / "checkpoint.pt")
    assert_one_line_error(dqn("train", "--resume", before_the_split), "from before the learner and actor were split")
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "checkpoint.pt").write_bytes((straight / "checkpoint.pt").read_bytes())
    refill = f"; go on from the checkpoint with a refilled replay (as a run without --save-replay does): " \
             f"dqn train --resume {copy} --refill-replay\n"
    assert_one_line_error(dqn("train", "--resume", copy, "--total-steps", "4000"),
                          f"{copy / 'replay_000003000.npz'}, the replay named by the checkpoint, is missing{refill}")
    (copy / "replay_000003000.npz").write_bytes((straight / "replay_000003000.npz").read_bytes()[:5000])
    assert_one_line_error(dqn("train", "--resume", copy, "--total-steps", "4000"),
                          f"{copy / 'replay_000003000.npz'} is truncated or corrupted (BadZipFile){refill}")
    assert_one_line_error(dqn("train", "--preset", "cartpole", "--out", tmp_path / "new", "--refill-replay"),
                          "--refill-replay goes with --resume")


def test_a_damaged_replay_file_goes_on_refilled_with_refill_replay(tmp_path):
    out = tmp_path / "run"
    first = dqn("train", "--out", out, "--total-steps", "1000", *FLAGS)
    assert first.returncode == 0, first.stderr
    (out / "replay_000001000.npz").write_bytes(b"not a zip file")
    resumed = dqn("train", "--resume", out, "--total-steps", "1500", "--refill-replay", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert (f"resuming {out} from its checkpoint of agent step 1000; the replay refills first: learning goes on "
            "at agent step 1300\n") in resumed.stderr
    rows = {int(row["step"]): row for row in metrics(out)}
    # one update per step from 300 (learning_starts) to 1000, none while 300 new steps refill the replay
    assert [(int(rows[step]["updates"]), rows[step]["replay_refills"]) for step in (1000, 1300, 1500)] == \
        [(700, "0"), (700, "1"), (900, "1")]
    assert [p.name for p in out.glob("replay_*.npz")] == ["replay_000001500.npz"]  # the damaged one is gone


def test_log_grid_follows_the_loop_with_several_envs(tmp_path):
    # 3 envs: loop steps are 3, 6, ...; the row for the 100 mark is written at step 102
    config = preset_config("cartpole", num_envs=3, log_freq_steps=100, eval_freq_steps=0, stop_score=None)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    assert [step for step in range(3, 310, 3) if trainer.on_log_grid(step)] == [102, 201, 300]


def assert_resumes_to_the_bit(tmp_path, total_steps: int, flags: list[str]):
    """A run of flags stopped at half its total_steps and resumed equals the straight run; returns the
    straight run's folder."""
    straight_run, out = tmp_path / "straight", tmp_path / "run"
    result = dqn("train", "--out", straight_run, "--total-steps", total_steps, *flags)
    assert result.returncode == 0, result.stderr
    first = dqn("train", "--out", out, "--total-steps", total_steps // 2, *flags)
    assert first.returncode == 0, first.stderr
    second = dqn("train", "--resume", out, "--total-steps", total_steps, "--quiet")
    assert second.returncode == 0, second.stderr
    assert_same_run(straight_run, out)
    return straight_run


def test_prioritized_replay_resumes_to_the_bit(tmp_path):
    """The priorities and their running maximum are saved with the replay."""
    assert_resumes_to_the_bit(tmp_path, 2000, [*FLAGS, "--prioritized-replay", "--priority-beta-steps", "1500"])


def test_a_rainbow_run_writes_its_files_and_resumes_to_the_bit(tmp_path):
    """C51 with the dueling split, noisy nets (their noise and its generator saved), prioritized
    replay and 3-step returns, on CartPole (returns up to 100)."""
    flags = [*FLAGS, "--head", "c51-dueling", "--noisy", "--prioritized-replay", "--n-step", "3",
             "--v-min", "0", "--v-max", "100", "--priority-beta-steps", "1000"]
    straight_run = assert_resumes_to_the_bit(tmp_path, 1200, flags)
    for name in ["config.json", "metrics.csv", "checkpoint.pt", "best.pt", "curves.png"]:
        assert (straight_run / name).is_file(), name
    assert {row["epsilon"] for row in metrics(straight_run) if int(row["step"]) > 300} == {"0.0"}
    # evaluation plays the mean weights: a copy of best.pt whose saved noise is NaN plays the same
    # games (were the noise used, every Q-value would be NaN)
    nan_noise = torch.load(straight_run / "best.pt", weights_only=True)
    noise = [key for key in nan_noise["network"] if key.endswith(("noise_in", "noise_out"))]
    assert noise, "best.pt holds no noise to poison"
    for key in noise:
        nan_noise["network"][key].fill_(float("nan"))
    torch.save(nan_noise, tmp_path / "nan_noise.pt")
    evaluations = [dqn("evaluate", path, "--games", "2", "--json")
                   for path in (straight_run, tmp_path / "nan_noise.pt")]
    assert all(result.returncode == 0 for result in evaluations), [result.stderr for result in evaluations]
    assert json.loads(evaluations[0].stdout)["scores"] == json.loads(evaluations[1].stdout)["scores"]


def test_an_iqn_run_resumes_to_the_bit(tmp_path):
    """IQN's quantile fractions, drawn for acting and for every update from the learner's generator,
    resume with it; with noisy nets drawing from the same generator, and prioritized replay."""
    flags = [*FLAGS, "--head", "iqn", "--noisy", "--prioritized-replay", "--n-step", "3",
             "--iqn-quantile-samples", "8", "--iqn-action-samples", "4", "--priority-beta-steps", "1000"]
    assert_resumes_to_the_bit(tmp_path, 1200, flags)
