"""Property-based tests (hypothesis): the replays against a naive reference that stores every
stacked transition, and `dqn train` against random odd flag values."""

import contextlib
import dataclasses
import io
import subprocess
import sys
import tempfile
import typing
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dqn import cli
from dqn.config import TrainConfig
from dqn.replay.buffer import FrameReplay, PrioritizedFrameReplay
from dqn.train import checkpoint

# --- replays ------------------------------------------------------------------------------------

FRAME_SHAPE = (1, 2)
ENV_STRIDE = 1_000_000  # frame values of env e start at e * ENV_STRIDE: every frame is unique


class Reference:
    """Every transition each env made, with the stacks the agent saw, and where FrameReplay's
    documented layout puts it: one slot per frame, the first frame of an episode included."""

    def __init__(self, num_envs, stack, n_step, gamma, ring):
        self.stack, self.n_step, self.gamma, self.ring = stack, n_step, gamma, ring
        self.transitions = [[] for _ in range(num_envs)]
        self.slots_written = [0] * num_envs
        self.frames_made = [0] * num_envs
        self.current = [None] * num_envs  # the env's stacked observation, None between episodes
        self.episode_start = [0] * num_envs  # absolute slot of the current episode's first frame

    def new_frame(self, env):
        self.frames_made[env] += 1
        return np.full((1, *FRAME_SHAPE), env * ENV_STRIDE + self.frames_made[env], dtype=np.int64)

    def step(self, env, ending):
        """One env step: returns what FrameReplay.add gets, and records the transition."""
        if self.current[env] is None:  # reset: zeros before the episode's first frame, as FrameBuffer
            frames = [np.zeros((1, *FRAME_SHAPE), np.int64)] * (self.stack - 1) + [self.new_frame(env)]
            self.current[env] = np.concatenate(frames)[:, 0]
            self.episode_start[env] = self.slots_written[env]
            self.slots_written[env] += 1
        obs = self.current[env]
        next_obs = np.concatenate([obs[1:], self.new_frame(env)[:, 0]])
        action, reward = int(obs[-1, 0] % 3), float(obs[-1, 0] % 5)
        terminated, truncated = ending == "terminate", ending == "truncate"
        self.transitions[env].append(dict(obs=obs, action=action, reward=reward, next_obs=next_obs,
                                          terminated=terminated, slot=self.slots_written[env] - 1,
                                          episode_start=self.episode_start[env], ended=terminated or truncated))
        self.slots_written[env] += 1
        self.current[env] = None if terminated or truncated else next_obs
        return obs, action, reward, next_obs, terminated, truncated

    def expected(self, env, i):
        """Transition i of env as a batch row: n-step return, stopping at the episode's end or at
        the newest transition, bootstrapping unless the episode terminated."""
        chain = self.transitions[env][i:i + self.n_step]
        ret, steps = 0.0, 0
        for j, t in enumerate(chain):
            ret += self.gamma ** j * t["reward"]
            steps = j + 1
            if t["ended"]:
                break
        last = chain[steps - 1]
        discount = 0.0 if last["terminated"] else self.gamma ** steps
        return chain[0]["obs"], chain[0]["action"], ret, last["next_obs"], discount

    def rebuildable(self, env, t):
        """Still in the ring, and so is its stack's history (or its episode starts within it)."""
        oldest = self.slots_written[env] - self.ring
        return t["slot"] >= oldest and max(t["slot"] - (self.stack - 1), t["episode_start"]) >= oldest

    def by_newest_frame(self):
        return {int(t["obs"][-1, 0]): (env, i) for env, ts in enumerate(self.transitions) for i, t in enumerate(ts)}


def assert_row(batch, row, expected):
    obs, action, ret, next_obs, discount = expected
    assert np.array_equal(batch.obs[row], obs) and batch.actions[row] == action
    assert np.isclose(batch.returns[row], ret, rtol=1e-6) and np.isclose(batch.discounts[row], discount, rtol=1e-6)
    assert np.array_equal(batch.next_obs[row], next_obs)


@st.composite
def scenarios(draw):
    num_envs = draw(st.integers(1, 3))
    stack = draw(st.integers(1, 4))
    n_step = draw(st.integers(1, 5))
    ring = draw(st.integers(stack + n_step + 1, 20))  # small: the ring wraps many times
    capacity = ring * num_envs + draw(st.integers(0, num_envs - 1))
    gamma = draw(st.sampled_from([0.5, 0.9, 1.0]))
    # mostly adds, and episodes long enough to fill the ring with one
    kind = st.sampled_from(["add"] * 9 + ["sample"])
    ending = st.sampled_from(["go"] * 10 + ["terminate", "truncate"])
    operation = st.tuples(kind, st.integers(0, num_envs - 1), ending, st.integers(1, 16))
    operations = draw(st.lists(operation, min_size=30, max_size=300))
    return dict(num_envs=num_envs, stack=stack, n_step=n_step, ring=ring, capacity=capacity, gamma=gamma,
                operations=operations)


def play_scenario(replay_kind, s, seed, **options):
    """Run the scenario's adds and samples on a replay and the reference; every sample must be a
    transition of the reference, with its stacks, n-step return and discount."""
    replay = replay_kind(s["capacity"], (s["stack"] * FRAME_SHAPE[0], FRAME_SHAPE[1]), np.int64,
                         stack=s["stack"], num_envs=s["num_envs"], n_step=s["n_step"], gamma=s["gamma"],
                         seed=seed, **options)
    reference = Reference(s["num_envs"], s["stack"], s["n_step"], s["gamma"], s["ring"])
    rng = np.random.default_rng(seed)
    for kind, env, ending, batch_size in s["operations"]:
        if kind == "add":
            replay.add(env, *reference.step(env, ending))
        elif not any(reference.transitions):
            with pytest.raises(ValueError, match="empty"):
                replay.sample(batch_size)
        else:
            batch = replay.sample(batch_size)
            index = reference.by_newest_frame()
            for row in range(batch_size):
                env, i = index[int(batch.obs[row, -1, 0])]
                assert reference.rebuildable(env, reference.transitions[env][i])
                assert_row(batch, row, reference.expected(env, i))
            if batch.indices is not None:  # prioritized: new priorities, as after an update
                assert 0 < batch.weights.min() and batch.weights.max() == 1
                replay.update_priorities(batch.indices, rng.normal(size=batch_size))
    return replay, reference


def assert_holds_exactly_the_recent_transitions(replay, reference, s):
    """Each slot that sampling may return is the reference's transition; all but the oldest
    stack - 1 slots of a wrapped ring are there, as the memory allows."""
    ring = s["ring"]
    envs, slots = np.divmod(np.arange(s["num_envs"] * ring), ring)
    valid = replay._valid(envs, slots)
    replay.sample_slots = lambda batch_size: (envs[valid], slots[valid])
    batch = replay.sample(int(valid.sum())) if valid.any() else None
    rows = {(e, sl): row for row, (e, sl) in enumerate(zip(envs[valid], slots[valid]))}
    for env, transitions in enumerate(reference.transitions):
        recent_from = reference.slots_written[env] - ring + s["stack"] - 1
        for i, t in enumerate(transitions):
            row = rows.pop((env, t["slot"] % ring), None) if reference.rebuildable(env, t) else None
            if row is not None:
                assert_row(batch, row, reference.expected(env, i))
            assert row is not None or t["slot"] < recent_from  # lost only to the ring's wrap
    assert not rows  # nothing valid that the reference does not know


REPLAY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@REPLAY_SETTINGS
@given(scenarios(), st.integers(0, 2**16))
def test_frame_replay_matches_the_naive_reference(scenario, seed):
    replay, reference = play_scenario(FrameReplay, scenario, seed)
    assert_holds_exactly_the_recent_transitions(replay, reference, scenario)


@REPLAY_SETTINGS
@given(scenarios(), st.integers(0, 2**16), st.sampled_from([0.0, 0.6, 1.0]))
def test_prioritized_replay_matches_the_naive_reference(scenario, seed, alpha):
    replay, reference = play_scenario(PrioritizedFrameReplay, scenario, seed, alpha=alpha)
    # a slot has a priority exactly while it holds a transition
    replay.state_dict()  # applies the pending priorities of the last adds
    ring = scenario["ring"]
    held = {env * ring + t["slot"] % ring for env, ts in enumerate(reference.transitions) for t in ts
            if t["slot"] >= reference.slots_written[env] - ring}
    assert set(np.flatnonzero(replay.tree.values(np.arange(scenario["num_envs"] * ring)) > 0)) == held
    assert_holds_exactly_the_recent_transitions(replay, reference, scenario)


# --- `dqn train` with odd flag values -------------------------------------------------------------

# CartPole, tiny budgets: a run that a fuzzed flag leaves valid ends in about a second
FAST_TRAIN = ["--preset", "cartpole", "--quiet", "--total-steps", "40", "--learning-starts", "10",
              "--batch-size", "8", "--buffer-size", "200", "--eval-freq-steps", "20", "--eval-games", "1",
              "--eval-t-max", "20", "--log-freq-steps", "20", "--checkpoint-freq-steps", "20"]
ODD_INTS = ["0", "-1", "-9999999999999999999999", "1.5", "1e3", "nan", "inf", "text", "", "3"]
HUGE_INTS = [str(2**63), "99999999999999999999999"]
ODD_FLOATS = ["0", "-1", "nan", "inf", "-inf", "-0.0", "1e308", "1e-320", "text", "", "0.5"]
ODD_TEXTS = ["", "text", "auto", "nature", "mse", "cpu", "cuda", "fp32", "é∂", "-"]
# huge values of these are valid and mean long work, not an error: no fuzzing run could end
HUGE_IS_WORK = {"total_steps", "gradient_steps", "eval_games", "eval_t_max", "num_envs"}
# set for the whole process: tested as a subprocess below instead
NOT_IN_PROCESS = {"torch_threads"}
# a small valid value starts Ray and actor processes (tests/test_distributed.py): only the others here
STARTS_RAY = {"num_actors"}


def odd_values(field: dataclasses.Field) -> list[list[str]]:
    """Argument lists giving the field's flag an odd value."""
    flag = "--" + field.name.replace("_", "-")
    kind = typing.get_type_hints(TrainConfig)[field.name]
    kinds = set(typing.get_args(kind)) or {kind}
    if kind is bool:
        return [[flag], ["--no-" + flag[2:]], [flag + "=text"]]
    if kind == tuple[int, ...]:
        return [[flag, *widths] for widths in (["0"], ["-3"], ["text"], ["64", "0"], ["1000000000000"], [])]
    if float in kinds:
        values = ODD_FLOATS
    elif int in kinds:
        values = ODD_INTS + ([] if field.name in HUGE_IS_WORK else HUGE_INTS)
        if field.name in STARTS_RAY:
            values = [value for value in values if value != "3"]
    else:
        values = ODD_TEXTS
    return [[flag, value] for value in values]


FUZZED = [args for f in dataclasses.fields(TrainConfig) if f.name not in NOT_IN_PROCESS for args in odd_values(f)]


def run_cli(argv):
    """cli.main in this process: (exit code, stdout, stderr); argparse's exit counts as one."""
    out, err = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code
        finally:
            torch.set_num_threads(threads)
    return code, out.getvalue(), err.getvalue()


def assert_clean_exit(code, stdout, stderr, run_dir: Path):
    """Exit 0 with a run, or exit 2 with one error line and either no run folder or one that
    `dqn train --resume` can go on from (a run stopped by low memory or a diverged loss)."""
    assert code in (0, 2), (code, stderr)
    assert "Traceback" not in stderr and "Warning" not in stderr, stderr
    lines = stderr.strip().splitlines()
    # training may say where it writes and what it computes on before it stops
    assert all(line.startswith(("dqn: run folder ", "dqn: training on")) for line in lines[:-1]), stderr
    if code == 0:
        assert "trained" in stdout and (run_dir / "checkpoint.pt").is_file()
    else:
        assert ": error: " in lines[-1], stderr
        assert not run_dir.exists() or "resume" in checkpoint.load(run_dir / "checkpoint.pt")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FUZZED), min_size=1, max_size=3))
def test_train_with_odd_flags_exits_0_or_2_with_one_line(flags):
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        argv = ["train", *FAST_TRAIN, "--out", str(run_dir), *[arg for args in flags for arg in args]]
        assert_clean_exit(*run_cli(argv), run_dir)


def train_as_a_real_process(run_dir: Path, flags: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dqn", "train", *FAST_TRAIN, "--out", str(run_dir), *flags],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("flags, error", [
    (["--torch-threads", "0"], "--torch-threads must be 'auto' or a number from 1 to 1024, got 0"),
    (["--torch-threads", "99999999999999999999"], "--torch-threads must be 'auto' or a number from 1 to 1024"),
    (["--buffer-size", str(10**15)], f"a replay of {10**15} transitions needs "),
], ids=["no-threads", "too-many-threads", "replay-beyond-the-ram"])
def test_impossible_flags_are_refused_by_a_real_process_with_one_line(tmp_path, flags, error):
    run_dir = tmp_path / "run"
    result = train_as_a_real_process(run_dir, flags)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"dqn: error: {error}") and result.stderr.count("\n") == 1, result.stderr
    assert not run_dir.exists()


def test_a_learning_rate_that_overflows_the_weights_stops_a_real_process_with_one_line(tmp_path):
    run_dir = tmp_path / "run"
    result = train_as_a_real_process(run_dir, ["--learning-rate", "1e308"])
    assert result.returncode == 2 and "stopped being finite" in result.stderr, result.stderr
    assert_clean_exit(result.returncode, result.stdout, result.stderr, run_dir)
