"""The Breakout env stack, preprocessing, recording and a Breakout training smoke run, on the real ALE."""

import json
import subprocess
import sys

import imageio_ffmpeg
import numpy as np
import pytest

from dqn.config import preset_config
from dqn.envs import atari_wrappers as aw
from dqn.envs.factory import make_env
from dqn.envs.families.atari import make_atari_env
from dqn.envs.registry import register_atari_envs

ENV_ID = "BreakoutNoFrameskip-v4"
# the tests that make the raw env with gymnasium need ale-py's ids, whichever test file ran before
register_atari_envs(ENV_ID)


def follow_ball(env) -> int:
    """A policy that scores: move the paddle under the ball (RAM 99 = ball x, 72 = paddle x)."""
    ram = env.unwrapped.ale.getRAM()
    ball, paddle = int(ram[99]), int(ram[72]) + 8
    return 2 if ball > paddle + 4 else 3 if ball < paddle - 4 else 0


def test_preprocessing_passes_the_seed_asserts():
    import gymnasium as gym

    env = aw.PreprocessAtariObs(gym.make(ENV_ID))
    env.reset(seed=0)
    obs, *_ = env.step(1)
    assert obs.ndim == 3 and obs.shape == env.observation_space.shape == (1, 64, 64)
    assert obs.dtype == "float32"
    assert len(np.unique(obs)) > 2
    assert 0 <= obs.min() and obs.max() <= 1
    assert obs.max() >= 0.5 and obs.mean() >= 0.1


def test_uint8_frames_are_the_float_frames_in_bytes():
    import gymnasium as gym

    as_float = aw.PreprocessAtariObs(gym.make(ENV_ID))
    as_bytes = aw.PreprocessAtariObs(gym.make(ENV_ID), dtype=np.uint8)
    a, _ = as_float.reset(seed=3)
    b, _ = as_bytes.reset(seed=3)
    assert b.dtype == np.uint8
    assert np.abs(b / 255.0 - a).max() <= 0.5 / 255 + 1e-6


def test_life_loss_ends_the_episode_not_the_game():
    env = make_atari_env(ENV_ID, noop_max=0)
    env.reset(seed=0)
    ale = env.unwrapped.ale
    for _ in range(2_000):
        _, _, terminated, truncated, _ = env.step(0)  # never move: the served ball is missed
        if terminated:
            break
    assert terminated and ale.lives() == 4, "FIRE at reset must have served the ball"
    frame = ale.getEpisodeFrameNumber()
    env.reset()
    assert ale.lives() == 4 and ale.getEpisodeFrameNumber() > frame  # the same game goes on


class NoopAgent:
    """Never moves the paddle: a game ends only if every life's ball is served and then missed."""

    def get_qvalues(self, states):
        return np.tile([1.0, 0.0, 0.0, 0.0], (len(states), 1))


def test_a_full_evaluation_game_serves_every_lives_ball():
    """Full-game evaluation (the noop and sticky protocols' `full_games`) goes through all 5 lives:
    after each lost life the ball is served again, so an agent that never presses FIRE still sees
    the game end, long before the step limit, instead of a frozen screen until it."""
    from dqn.evaluation.games import play_episodes

    env = make_env(preset_config("breakout"), evaluation=True)
    steps = []
    [score] = play_episodes(env, NoopAgent(), 1, greedy=True, t_max=27_000, seed=0, full_games=True,
                            on_step=lambda score, step: steps.append(step))
    assert env.unwrapped.ale.lives() == 0 and env.unwrapped.ale.game_over()
    assert len(steps) < 2_000 and score == 0  # five served balls, each missed


def test_breakout_trains_on_the_minimal_action_set():
    env = make_env(preset_config("breakout"))
    assert env.action_space.n == 4
    assert env.unwrapped.get_action_meanings() == ["NOOP", "FIRE", "RIGHT", "LEFT"]


def test_reward_clipping_on_and_off():
    totals = {}
    for clip in (True, False):
        env = make_atari_env(ENV_ID, clip_rewards=clip, noop_max=0)
        env.reset(seed=0)
        rewards = []
        for _ in range(3_000):
            _, reward, terminated, truncated, _ = env.step(follow_ball(env))
            rewards.append(reward)
            if terminated or truncated:
                env.reset()
        totals[clip] = np.array(rewards)
    assert set(np.unique(totals[True])) <= {0.0, 1.0}
    assert totals[False].max() > 1  # higher bricks are worth 4 and 7 raw points
    # the same play: clipping keeps where the points fell and drops how many
    assert np.array_equal(totals[True], np.sign(totals[False]))


def test_frame_stack_order_newest_last():
    env = make_atari_env(ENV_ID, noop_max=0)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8  # nature frames, the default
    assert not obs[:3].any() and obs[3].any()  # zeros before the first frame
    for _ in range(5):
        next_obs, *_ = env.step(2)
        assert np.array_equal(next_obs[:3], obs[1:])
        obs = next_obs


def test_make_env_same_seed_same_observations():
    config = preset_config("breakout", noop_max=30)

    def first_observations(seed):
        env = make_env(config)
        frames = [env.reset(seed=seed)[0]]
        frames += [env.step(a)[0] for a in (2, 2, 3, 0, 3, 2)]
        return np.stack(frames), env.unwrapped.ale.getEpisodeFrameNumber()

    a, frame_a = first_observations(11)
    b, frame_b = first_observations(11)
    assert np.array_equal(a, b) and frame_a == frame_b
    # the seed decides the number of no-ops at the start
    assert len({first_observations(s)[1] for s in range(5)}) > 1


@pytest.fixture(scope="module")
def breakout_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("breakout") / "run"
    flags = ["--total-steps", "400", "--learning-starts", "200", "--buffer-size", "2000",
             "--eval-freq-steps", "400", "--eval-games", "1", "--eval-t-max", "300",
             "--log-freq-steps", "100", "--checkpoint-freq-steps", "200", "--quiet"]
    result = subprocess.run([sys.executable, "-m", "dqn", "train", "--preset", "breakout", "--out", str(out), *flags],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return out


def test_breakout_training_smoke(breakout_run):
    import csv

    rows = list(csv.DictReader(open(breakout_run / "metrics.csv")))
    # 4 envs: 4 agent steps per round; one update per 4 agent steps once 200 are played
    assert [int(r["step"]) for r in rows] == [100, 200, 300, 400]
    assert [int(r["updates"]) for r in rows] == [0, 0, 25, 50]
    assert rows[-1]["eval_mean"] != ""
    assert (breakout_run / "snapshots" / "step_00000400.pt").is_file()
    config = json.loads((breakout_run / "config.json").read_text())
    assert config["env_id"] == ENV_ID and config["num_envs"] == 4


def test_record_writes_a_playable_mp4(breakout_run, tmp_path):
    result = subprocess.run([sys.executable, "-m", "dqn", "record", str(breakout_run), "--out", str(tmp_path / "v"),
                             "--t-max", "150"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    video = tmp_path / "v" / "game_01.mp4"
    reader = imageio_ffmpeg.read_frames(str(video))
    meta = next(reader)
    frames = sum(1 for _ in reader)
    assert meta["codec"] == "h264" and meta["size"] == (320, 444)
    assert 50 <= frames <= 151  # one frame per agent step, plus the first
    again = subprocess.run([sys.executable, "-m", "dqn", "record", str(breakout_run), "--out", str(tmp_path / "v")],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "already exists" in again.stderr
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    into_file = subprocess.run([sys.executable, "-m", "dqn", "record", str(breakout_run), "--out", str(a_file)],
                               capture_output=True, text=True, timeout=300)
    assert into_file.returncode == 2 and "is a file" in into_file.stderr


def test_evaluate_by_each_atari_protocol(breakout_run):
    for protocol, epsilon in [("noop", 0.05), ("sticky", 0.0)]:
        result = subprocess.run([sys.executable, "-m", "dqn", "evaluate", str(breakout_run), "--protocol", protocol,
                                 "--games", "2", "--t-max", "100", "--json"],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert (report["protocol"], report["epsilon"], len(report["scores"])) == (protocol, epsilon, 2)


def test_replay_samples_only_transitions_that_happened():
    """Four Breakout envs play randomly into a FrameReplay; every sampled transition (stacked frames,
    action, reward, next stacked frames, terminal) must be one the envs produced, across life losses,
    game overs and episode starts."""
    import hashlib

    from dqn.replay.buffer import FrameReplay

    def key(array):
        return hashlib.md5(np.ascontiguousarray(array).tobytes()).hexdigest()

    config = preset_config("breakout")
    envs = [make_env(config) for _ in range(4)]
    space = envs[0].observation_space
    replay = FrameReplay(4_000, space.shape, space.dtype, stack=4, num_envs=4, seed=0)
    happened: dict[tuple, set] = {}  # (obs, action) -> outcomes seen: equal obs can follow each other
    obs = [env.reset(seed=i)[0] for i, env in enumerate(envs)]
    rng = np.random.default_rng(0)
    for _ in range(1_500):  # 6,000 transitions: the rings wrap
        for i, env in enumerate(envs):
            action = int(rng.integers(4))
            next_obs, reward, terminated, truncated, _ = env.step(action)
            replay.add(i, obs[i], action, reward, next_obs, terminated, truncated)
            happened.setdefault((key(obs[i]), action), set()).add((key(next_obs), float(reward), terminated))
            obs[i] = env.reset()[0] if terminated or truncated else next_obs
    batch = replay.sample(1_000)
    sampled = [((key(batch.obs[k]), int(batch.actions[k])),
                (key(batch.next_obs[k]), float(batch.returns[k]), bool(batch.discounts[k] == 0)))
               for k in range(1_000)]
    assert all(outcome in happened.get(step, ()) for step, outcome in sampled)
    assert sum(terminal for _, (_, _, terminal) in sampled) >= 10  # life losses were sampled too


def test_the_actor_makes_up_no_transition_across_a_lost_life():
    """The training envs reset by hand after each end: an ended step keeps its own last frames as
    next_obs (what it bootstraps from, or not), and the next step starts a new stack; no transition
    goes from a lost life's last frames to the reset's."""
    from dqn.agent.actor import Actor

    actor = Actor(preset_config("breakout", num_envs=2, learning_starts=10**9), seed=0)  # random play
    previous, ends = None, 0
    for _ in range(600):
        steps = actor.step(actor.act(None))  # before learning starts no Q-values are asked for
        for i in range(2) if previous is not None else ():
            if previous.terminated[i] or previous.truncated[i]:
                ends += 1
                assert not np.array_equal(steps.obs[i][-1], previous.next_obs[i][-1])
                assert all(np.array_equal(steps.obs[i][0], frame) for frame in steps.obs[i][1:3])  # a new stack
            else:
                assert np.array_equal(steps.obs[i], previous.next_obs[i])
        previous = steps
    assert ends >= 10 and actor.episodes == ends + sum(previous.terminated | previous.truncated)


def test_saved_env_state_goes_on_exactly():
    """env_state/restore_env (what a resumed run continues from) on Breakout: emulator, its RNG,
    lives, frame stack and no-op RNG all come back, through life losses and a new game."""
    from dqn.envs.factory import env_state, restore_env

    env = make_env(preset_config("breakout"))
    env.reset(seed=5)
    for t in range(60):
        env.step(t % 4)
    copy = restore_env(env_state(env))
    rng = np.random.default_rng(0)
    games = 0
    for _ in range(3_000):
        action = int(rng.integers(4))
        a, b = env.step(action), copy.step(action)
        assert np.array_equal(a[0], b[0]) and a[1:4] == b[1:4]
        if a[2] or a[3]:
            games += env.get_wrapper_attr("was_real_done")
            assert np.array_equal(env.reset()[0], copy.reset()[0])
    assert games >= 1
