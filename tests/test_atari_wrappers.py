"""Atari wrappers: real Breakout where ALE semantics matter, small fakes for
edge cases that are hard to provoke in a real game."""

import ale_py
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.spaces import Box, Discrete

from dqn.envs.atari_wrappers import (
    AntiTorchWrapper,
    ClipRewardEnv,
    EpisodicLifeEnv,
    FireResetEnv,
    MaxAndSkipEnv,
    NoopResetEnv,
)

gym.register_envs(ale_py)

NOOP, FIRE, RIGHT, LEFT = 0, 1, 2, 3


def make_breakout():
    # NoFrameskip-v4: frameskip=1 and no sticky actions, so two envs with the
    # same seed and the same actions stay identical.
    return gym.make("BreakoutNoFrameskip-v4")


class FakeAle:
    def __init__(self, env):
        self._env = env

    def lives(self):
        return self._env.lives


class FakeAtari(gym.Env):
    """A tiny ALE stand-in that keeps a record of how it was used.

    Every observation it emits is filled with a running count of emitted
    observations, so ``last_obs`` identifies the current frame. One life is
    lost every ``life_len`` steps; the game is over at 0 lives, or at once
    when ``fatal_action`` is taken; it is truncated after ``max_steps``.
    Stepping a finished env fails the test, like it would be a bug with ALE.
    """

    def __init__(self, lives=3, life_len=1000, fatal_action=None, max_steps=None,
                 rewards=(0.0,), meanings=("NOOP", "FIRE", "RIGHT", "LEFT")):
        self.observation_space = Box(0, 255, (2, 2, 1), np.uint8)
        self.action_space = Discrete(len(meanings))
        self.ale = FakeAle(self)
        self.meanings = list(meanings)
        self.start_lives = lives
        self.life_len = life_len
        self.fatal_action = fatal_action
        self.max_steps = max_steps
        self.rewards = rewards
        self.emitted = 0
        self.reset_calls = []  # (seed, options) of every reset
        self.actions = []  # every action taken, across resets
        self.finished = True  # needs a reset before it can step

    def get_action_meanings(self):
        return self.meanings

    def _obs(self):
        self.emitted += 1
        self.last_obs = np.full(self.observation_space.shape, self.emitted % 256, np.uint8)
        return self.last_obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.reset_calls.append((seed, options))
        self.lives = self.start_lives
        self.t = 0  # steps since the last reset
        self.finished = False
        return self._obs(), {"lives": self.lives}

    def step(self, action):
        assert not self.finished, "stepped an env that needs a reset"
        self.actions.append(action)
        self.t += 1
        if self.t % self.life_len == 0:
            self.lives -= 1
        if action == self.fatal_action:
            self.lives = 0
        terminated = self.lives == 0
        truncated = self.max_steps is not None and self.t >= self.max_steps
        self.finished = terminated or truncated
        reward = self.rewards[(self.t - 1) % len(self.rewards)]
        return self._obs(), reward, terminated, truncated, {"lives": self.lives, "t": self.t}


# --- MaxAndSkipEnv ---------------------------------------------------------


def test_max_and_skip_matches_raw_frames_on_breakout():
    wrapped = MaxAndSkipEnv(make_breakout(), skip=4)
    raw = make_breakout()
    wrapped.reset(seed=0)
    raw.reset(seed=0)
    ram_of = wrapped.unwrapped.ale.getRAM

    total_reward = 0.0
    max_mattered = False
    for step in range(150):
        # Follow the ball (RAM 99 = ball x, 72 = paddle x) so bricks get hit
        # and rewards happen; FIRE now and then to serve.
        ram = ram_of()
        ball, paddle = int(ram[99]), int(ram[72]) + 8
        action = FIRE if step % 20 == 0 else RIGHT if paddle < ball else LEFT if paddle > ball else NOOP

        obs, reward, terminated, truncated, info = wrapped.step(action)
        frames, rewards = [], []
        for _ in range(4):
            frame, r, raw_term, raw_trunc, raw_info = raw.step(action)
            frames.append(frame)
            rewards.append(r)
            if raw_term or raw_trunc:
                break

        assert reward == sum(rewards)
        np.testing.assert_array_equal(obs, np.maximum(frames[-2], frames[-1]))
        assert (terminated, truncated, info) == (raw_term, raw_trunc, raw_info)
        total_reward += reward
        max_mattered |= not np.array_equal(obs, frames[-1])
        if terminated or truncated:
            break
    assert total_reward > 0, "no reward seen: the reward sum was not exercised"
    assert max_mattered, "max of two frames never differed from the last frame"


def test_max_and_skip_stops_when_the_game_ends():
    env = FakeAtari(fatal_action=LEFT, rewards=(1.0, 2.0, 3.0, 4.0))
    wrapped = MaxAndSkipEnv(env, skip=4)
    wrapped.reset(seed=0)
    obs, reward, *_ = wrapped.step(NOOP)
    assert reward == 1.0 + 2.0 + 3.0 + 4.0
    np.testing.assert_array_equal(obs, env.last_obs)  # frames only grow here

    obs, reward, terminated, truncated, _ = wrapped.step(LEFT)
    assert terminated and env.actions == [NOOP] * 4 + [LEFT]  # one raw step, then stop
    assert reward == 1.0
    np.testing.assert_array_equal(obs, env.last_obs)


# --- EpisodicLifeEnv -------------------------------------------------------


def test_episodic_life_on_breakout():
    env = EpisodicLifeEnv(make_breakout())
    ale = env.unwrapped.ale
    env.reset(seed=0)

    def play_one_life():
        # FIRE serves the ball, then doing nothing lets it fall past the paddle.
        action = FIRE
        while True:
            _, _, terminated, truncated, _ = env.step(action)
            action = NOOP
            if terminated or truncated:
                return terminated

    assert play_one_life()
    assert ale.lives() == 4 and not env.was_real_done
    frame = ale.getEpisodeFrameNumber()
    env.reset()
    assert ale.lives() == 4  # the game was not restarted...
    assert ale.getEpisodeFrameNumber() == frame + 1  # ...only one no-op was taken

    for lives_left in (3, 2, 1):
        assert play_one_life()
        assert ale.lives() == lives_left and not env.was_real_done
        env.reset()

    assert play_one_life()
    assert ale.lives() == 0 and env.was_real_done
    # Outer wrappers reach the flag through get_wrapper_attr (gymnasium 1.x).
    assert ClipRewardEnv(env).get_wrapper_attr("was_real_done")
    env.reset()
    assert ale.lives() == 5 and ale.getEpisodeFrameNumber() == 0  # real reset


def test_episodic_life_noop_that_ends_the_game_gives_a_real_reset():
    env = FakeAtari(lives=2, life_len=1)  # every step costs a life
    wrapped = EpisodicLifeEnv(env)
    wrapped.reset(seed=0)
    _, _, terminated, _, _ = wrapped.step(NOOP)
    assert terminated and env.lives == 1 and not wrapped.was_real_done

    # The no-op of reset() loses the last life; the env must then be reset,
    # not stepped again (FakeAtari fails the test if it is).
    obs, info = wrapped.reset()
    assert env.actions == [NOOP, NOOP]
    assert len(env.reset_calls) == 2 and not env.finished
    assert env.lives == 2 and info["lives"] == 2
    np.testing.assert_array_equal(obs, env.last_obs)


def test_episodic_life_truncation_is_a_real_end():
    env = FakeAtari(max_steps=3)
    wrapped = EpisodicLifeEnv(env)
    wrapped.reset(seed=0)
    for _ in range(3):
        *_, truncated, _ = wrapped.step(NOOP)
    assert truncated and wrapped.was_real_done
    wrapped.reset()
    assert len(env.reset_calls) == 2 and env.t == 0


# --- FireResetEnv ----------------------------------------------------------


def test_fire_reset_puts_the_ball_in_play_on_breakout():
    env = FireResetEnv(make_breakout())
    ale = env.unwrapped.ale
    obs, info = env.reset(seed=0)
    assert ale.getEpisodeFrameNumber() == 2 == info["episode_frame_number"]  # FIRE, RIGHT
    np.testing.assert_array_equal(obs, ale.getScreenRGB())  # the current screen

    # With the ball served, doing nothing soon costs a life...
    for _ in range(200):
        env.step(NOOP)
    assert ale.lives() < 5
    # ...while without FIRE nothing happens at all.
    raw = make_breakout()
    raw.reset(seed=0)
    for _ in range(200):
        raw.step(NOOP)
    assert raw.unwrapped.ale.lives() == 5


@pytest.mark.parametrize("fatal_action", [FIRE, RIGHT])
def test_fire_reset_returns_the_current_frame_when_the_game_ends(fatal_action):
    env = FakeAtari(fatal_action=fatal_action)
    obs, _ = FireResetEnv(env).reset(seed=0)
    assert len(env.reset_calls) == 2 and not env.finished
    # When RIGHT ends the game, the frame that step returned is stale: the
    # answer must be the frame of the reset that followed.
    np.testing.assert_array_equal(obs, env.last_obs)


def test_fire_reset_needs_fire():
    with pytest.raises(AssertionError, match="FIRE"):
        FireResetEnv(FakeAtari(meanings=("NOOP", "RIGHT", "LEFT")))


# --- ClipRewardEnv ---------------------------------------------------------


def test_clip_reward_keeps_only_the_sign():
    wrapped = ClipRewardEnv(FakeAtari(rewards=(-3.5, 0.0, 2.0, 0.25)))
    wrapped.reset(seed=0)
    rewards = [wrapped.step(NOOP)[1] for _ in range(4)]
    assert rewards == [-1.0, 0.0, 1.0, 1.0]
    assert all(type(r) is float for r in rewards)


# --- NoopResetEnv ----------------------------------------------------------


def test_noop_reset_is_reproducible_on_breakout():
    env = NoopResetEnv(make_breakout(), noop_max=30)
    ale = env.unwrapped.ale

    def start(seed):
        obs, _ = env.reset(seed=seed)
        return obs, ale.getEpisodeFrameNumber()  # = number of no-ops taken

    counts = []
    for seed in range(8):
        obs_a, count_a = start(seed)
        obs_b, count_b = start(seed)
        np.testing.assert_array_equal(obs_a, obs_b)
        assert count_a == count_b and 1 <= count_a <= 30
        counts.append(count_a)
    assert len(set(counts)) > 1  # the seed does change the count


def test_noop_reset_takes_1_to_noop_max_noops():
    env = FakeAtari()
    wrapped = NoopResetEnv(env, noop_max=5)
    wrapped.reset(seed=0)
    counts = {env.t}
    for _ in range(100):
        wrapped.reset()
        counts.add(env.t)
    assert counts == {1, 2, 3, 4, 5}
    assert set(env.actions) == {NOOP}

    NoopResetEnv(env, noop_max=1).reset()
    assert env.t == 1


def test_noop_reset_resets_again_when_the_game_ends():
    env = FakeAtari(lives=1, life_len=3)  # game over after 3 no-ops
    wrapped = NoopResetEnv(env, noop_max=30)
    for seed in range(20):
        obs, _ = wrapped.reset(seed=seed)
        assert not env.finished
        np.testing.assert_array_equal(obs, env.last_obs)
    assert len(env.reset_calls) > 20  # some resets needed a second reset


@pytest.mark.parametrize(
    "wrapper", [NoopResetEnv, EpisodicLifeEnv, FireResetEnv, MaxAndSkipEnv, ClipRewardEnv]
)
def test_reset_passes_seed_and_options_through(wrapper):
    env = FakeAtari()
    wrapper(env).reset(seed=3, options={"mode": 1})
    assert env.reset_calls[0] == (3, {"mode": 1})


# --- AntiTorchWrapper ------------------------------------------------------


class ChannelFirstEnv(gym.Env):
    def __init__(self):
        self.observation_space = Box(0, 255, (3, 4, 5), np.uint8)
        self.action_space = Discrete(1)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.arange(60, dtype=np.uint8).reshape(3, 4, 5), {}


def test_anti_torch_moves_channels_last():
    wrapped = AntiTorchWrapper(ChannelFirstEnv())
    assert wrapped.observation_space.shape == (4, 5, 3)
    assert wrapped.observation_space.dtype == np.uint8
    obs, _ = wrapped.reset(seed=0)
    chw = np.arange(60).reshape(3, 4, 5)
    assert obs.shape == (4, 5, 3)
    assert obs[1, 2, 0] == chw[0, 1, 2] and obs[3, 4, 2] == chw[2, 3, 4]
    assert wrapped.observation_space.contains(obs)
