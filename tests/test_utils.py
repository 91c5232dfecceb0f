import gymnasium as gym
import numpy as np
import pytest

import utils


def test_linear_decay_end_points_and_middle():
    assert utils.linear_decay(1.0, 0.1, 0, 100) == 1.0
    assert utils.linear_decay(1.0, 0.1, 50, 100) == pytest.approx(0.55)
    assert utils.linear_decay(1.0, 0.1, 100, 100) == 0.1
    assert utils.linear_decay(1.0, 0.1, 10_000, 100) == 0.1


def test_smoothen_keeps_length_and_constants():
    for n in (1, 2, 7, 500):
        values = np.full(n, 3.0)
        smooth = utils.smoothen(values)
        assert smooth.shape == (n,)
        assert np.allclose(smooth, 3.0)
    assert utils.smoothen([]).shape == (0,)


def test_smoothen_reduces_noise_and_follows_trend():
    rng = np.random.default_rng(0)
    trend = np.linspace(0, 10, 1000)
    noisy = trend + rng.normal(0, 1, 1000)
    smooth = utils.smoothen(noisy)
    assert np.std(smooth - trend) < 0.3 * np.std(noisy - trend)


def test_cum_discounted_rewards_by_hand():
    # G_2 = 3, G_1 = 2 + 0.5 * 3 = 3.5, G_0 = 1 + 0.5 * 3.5 = 2.75
    assert utils.get_cum_discounted_rewards([1, 2, 3], 0.5).tolist() == [2.75, 3.5, 3.0]


def test_img_by_obs_stacks_frames_vertically():
    obs = np.arange(4 * 3 * 5).reshape(4, 3, 5)
    img = utils.img_by_obs(obs, obs.shape)
    assert img.shape == (12, 5)
    assert np.array_equal(img[3:6], obs[1])


def test_is_enough_ram():
    assert utils.is_enough_ram(min_available_gb=0.001)
    assert not utils.is_enough_ram(min_available_gb=1e9)


class Corridor(gym.Env):
    """States 0, 1, 2; every step moves right and pays 1; stepping from state 2 ends the game."""

    observation_space = gym.spaces.Box(0, 10, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, length=3, time_limit=None):
        self.length, self.time_limit = length, time_limit

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = 0
        return np.array([0.0], dtype=np.float32), {}

    def step(self, action):
        self.pos += 1
        terminated = self.pos == self.length
        truncated = self.time_limit is not None and self.pos >= self.time_limit and not terminated
        return np.array([self.pos], dtype=np.float32), 1.0, terminated, truncated, {}


class TableAgent:
    """Q(s) = [V(s), V(s) - 1] with V given per state."""

    def __init__(self, values):
        self.values = values

    def get_qvalues(self, states):
        v = np.array([self.values[int(s[0])] for s in states])
        return np.stack([v, v - 1.0], axis=1)


def test_play_and_log_episode_terminal_step_does_not_bootstrap():
    agent = TableAgent({0: 2.0, 1: 1.5, 2: 1.0, 3: 100.0})
    record = utils.play_and_log_episode(Corridor(), agent, gamma=0.5)
    assert set(record) == {"states", "v_mc", "v_agent", "q_spreads", "td_errors", "rewards", "episode_finished"}
    assert record["rewards"].tolist() == [1.0, 1.0, 1.0]
    assert record["v_agent"].tolist() == [2.0, 1.5, 1.0]
    assert record["q_spreads"].tolist() == [1.0, 1.0, 1.0]
    assert record["v_mc"].tolist() == [1.75, 1.5, 1.0]
    # |1 + 0.5*1.5 - 2|, |1 + 0.5*1 - 1.5|, and at the end |1 - 1|: V(terminal) = 0, not 100
    assert record["td_errors"].tolist() == [0.25, 0.0, 0.0]
    assert bool(record["episode_finished"])
    assert record["states"].shape == (3, 1)


def test_play_and_log_episode_time_limit_bootstraps():
    agent = TableAgent({0: 2.0, 1: 1.5, 2: 4.0})
    record = utils.play_and_log_episode(Corridor(length=5, time_limit=2), agent, gamma=0.5)
    # cut by the time limit in state 2: its value 4 still counts, |1 + 0.5*4 - 1.5|
    assert record["td_errors"].tolist() == [0.25, 1.5]


def test_play_and_log_episode_stops_at_t_max():
    record = utils.play_and_log_episode(Corridor(length=50), TableAgent({i: 1.0 for i in range(51)}), t_max=4)
    assert len(record["rewards"]) == 4
    assert not bool(record["episode_finished"])
