"""FrameReplay rebuilds exactly the stacks FrameBuffer showed the agent, and sums n-step returns."""

import gymnasium as gym
import numpy as np
import pytest

from dqn.agent.actor import Transitions
from dqn.envs.framebuffer import FrameBuffer
from dqn.replay.buffer import FrameReplay


class CountingEnv(gym.Env):
    """Frames filled with a global frame counter, so every frame is unique and traceable.

    Episodes end by termination or by truncation at random lengths; reward = counter value.
    """

    observation_space = gym.spaces.Box(0, 2**31, (1, 2, 2), np.int64)
    action_space = gym.spaces.Discrete(3)

    def __init__(self, seed=0):
        self.counter = seed * 1_000_000  # distinct frames across envs
        self.rng = np.random.default_rng(seed)

    def _frame(self):
        self.counter += 1
        return np.full((1, 2, 2), self.counter, dtype=np.int64)

    def reset(self, seed=None, options=None):
        self.left = int(self.rng.integers(1, 9))
        self.truncate = bool(self.rng.random() < 0.5)
        return self._frame(), {}

    def step(self, action):
        self.left -= 1
        frame = self._frame()
        done = self.left == 0
        return frame, float(frame[0, 0, 0]), done and not self.truncate, done and self.truncate, {}


def play(replay, n_envs, steps, seed=0):
    """Run n_envs FrameBuffer(4) envs into the replay; return every transition keyed by its obs."""
    envs = [FrameBuffer(CountingEnv(seed + i), n_frames=4) for i in range(n_envs)]
    obs = [env.reset()[0] for env in envs]
    seen = {}
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        for i, env in enumerate(envs):
            action = int(rng.integers(3))
            next_obs, reward, terminated, truncated, _ = env.step(action)
            replay.add(i, obs[i], action, reward, next_obs, terminated, truncated)
            seen[obs[i].tobytes()] = (action, reward, next_obs, terminated)
            obs[i] = env.reset()[0] if terminated or truncated else next_obs
    return seen


@pytest.mark.parametrize("capacity, n_envs", [(10_000, 1), (64, 1), (64, 2), (30, 3)])
def test_sampled_transitions_are_exactly_what_the_agent_saw(capacity, n_envs):
    replay = FrameReplay(capacity, (4, 2, 2), np.int64, stack=4, num_envs=n_envs, seed=1)
    seen = play(replay, n_envs, steps=300)
    batch = replay.sample(2_000)
    for obs, action, ret, next_obs, discount in zip(batch.obs, batch.actions, batch.returns,
                                                    batch.next_obs, batch.discounts):
        # each sampled obs was really shown to the agent, with zeros before its episode's start
        action_seen, reward, next_seen, terminated = seen[obs.tobytes()]
        assert action == action_seen and ret == reward
        assert np.array_equal(next_obs, next_seen)
        assert discount == (0.0 if terminated else np.float32(0.99))


def test_old_transitions_are_evicted():
    replay = FrameReplay(40, (4, 2, 2), np.int64, stack=4, seed=0)
    play(replay, 1, steps=500)
    assert len(replay) == 40
    newest = replay.sample(1_000).obs[:, -1, 0, 0]
    # only the last 40 slots (a few more frames, with episode starts) survive
    assert newest.min() > replay.frames.max() - 60


def test_n_step_returns_by_hand():
    # one episode: rewards 1, 2, 4, 8 then termination; frames are 1-d counters
    replay = FrameReplay(100, (1,), np.float32, stack=1, n_step=3, gamma=0.5, seed=0)
    frames = [np.array([float(i)], dtype=np.float32) for i in range(5)]
    rewards = [1.0, 2.0, 4.0, 8.0]
    for t in range(4):
        replay.add(0, frames[t], 0, rewards[t], frames[t + 1], terminated=t == 3, truncated=False)
    envs, slots = np.zeros(4, dtype=np.int64), np.arange(4)
    replay.sample_slots = lambda batch_size: (envs, slots)  # look at every slot in order
    batch = replay.sample(4)
    # from t=0: 1 + 0.5*2 + 0.25*4 = 3, bootstrap from frame 3 with 0.5^3
    # from t=1: 2 + 0.5*4 + 0.25*8 = 6, but the episode terminates at t=3: no bootstrap
    # from t=2: 4 + 0.5*8 = 8, terminated; from t=3: 8, terminated
    assert batch.returns.tolist() == [3.0, 6.0, 8.0, 8.0]
    assert batch.discounts.tolist() == [0.125, 0.0, 0.0, 0.0]
    assert batch.next_obs[:, 0].tolist() == [3.0, 4.0, 4.0, 4.0]


def test_n_step_truncation_bootstraps_from_the_last_frame():
    replay = FrameReplay(100, (1,), np.float32, stack=1, n_step=3, gamma=0.5, seed=0)
    frames = [np.array([float(i)], dtype=np.float32) for i in range(3)]
    replay.add(0, frames[0], 0, 1.0, frames[1], terminated=False, truncated=False)
    replay.add(0, frames[1], 0, 1.0, frames[2], terminated=False, truncated=True)
    replay.add(0, np.array([9.0], dtype=np.float32), 0, 5.0, np.array([10.0], dtype=np.float32), False, False)
    replay.sample_slots = lambda batch_size: (np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))
    batch = replay.sample(1)
    # two steps, then the time limit: 1 + 0.5 * 1, bootstrapping from frame 2 with 0.5^2;
    # the next episode's reward 5 is not added
    assert batch.returns.tolist() == [1.5]
    assert batch.discounts.tolist() == [0.25]
    assert batch.next_obs.tolist() == [[2.0]]


def test_memory_is_one_frame_per_transition():
    replay = FrameReplay(10_000, (4, 84, 84), np.uint8, stack=4)
    assert replay.frames.shape == (1, 10_000, 1, 84, 84)
    assert replay.bytes_per_transition <= 1.05 * 84 * 84
    assert FrameReplay.bytes_needed(10**6, (4, 84, 84), np.uint8, 4) < 7.5e9


def test_same_seed_same_batches():
    def batch(seed):
        replay = FrameReplay(200, (4, 2, 2), np.int64, stack=4, seed=seed)
        play(replay, 1, steps=150)
        return replay.sample(64).obs

    assert np.array_equal(batch(5), batch(5))
    assert not np.array_equal(batch(5), batch(6))


def test_state_dict_round_trip():
    replay = FrameReplay(50, (4, 2, 2), np.int64, stack=4, seed=2)
    play(replay, 1, steps=80)
    copy = FrameReplay(50, (4, 2, 2), np.int64, stack=4)
    copy.load_state_dict(replay.state_dict())
    a, b = replay.sample(16), copy.sample(16)
    assert np.array_equal(a.obs, b.obs) and np.array_equal(a.returns, b.returns)


def test_steps_sent_as_newest_frames_fill_the_replay_as_whole_stacks_do():
    # what a distributed actor sends (frames, not stacks) through add_steps, beside the loop's add of stacks
    by_stacks = FrameReplay(64, (4, 2, 2), np.int64, stack=4, num_envs=2, n_step=3, seed=1)
    by_frames = FrameReplay(64, (4, 2, 2), np.int64, stack=4, num_envs=2, n_step=3, seed=1)
    envs = [FrameBuffer(CountingEnv(i), n_frames=4) for i in range(2)]
    obs = [env.reset()[0] for env in envs]
    for t in range(100):
        i = t % 2
        next_obs, reward, terminated, truncated, _ = envs[i].step(0)
        by_stacks.add(i, obs[i], 0, reward, next_obs, terminated, truncated)
        step = Transitions(obs[i][None, -1:], np.array([0]), np.array([reward]), next_obs[None, -1:],
                           np.array([terminated]), np.array([truncated]))
        slots = by_frames.add_steps(np.array([i]), step)
        assert by_frames.batch_at(np.array([i]), slots).actions.tolist() == [0]
        obs[i] = envs[i].reset()[0] if terminated or truncated else next_obs
    a, b = by_stacks.state_dict(), by_frames.state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a if k != "rng")
    envs, slots = by_stacks.sample_slots(32)
    assert np.array_equal(by_stacks.batch_at(envs, slots).obs, by_frames.batch_at(envs, slots).obs)


def test_a_cut_episode_ends_where_it_is_and_the_next_step_starts_a_new_one():
    replay = FrameReplay(100, (1,), np.float32, stack=1, n_step=3, gamma=0.5, seed=0)
    frame = lambda x: np.array([float(x)], dtype=np.float32)  # noqa: E731
    first = replay.add(0, frame(0), 0, 1.0, frame(1), terminated=False, truncated=False)
    replay.add(0, frame(1), 0, 1.0, frame(2), terminated=False, truncated=False)
    replay.cut_episodes(np.array([0]))  # the env that played it is gone
    after = replay.add(0, frame(7), 0, 5.0, frame(8), terminated=False, truncated=False)
    batch = replay.batch_at(np.array([0, 0]), np.array([first, after]))
    # as a time limit: 1 + 0.5 * 1 from frame 2; the new episode starts from its own frame 7
    assert batch.returns.tolist() == [1.5, 5.0] and batch.discounts.tolist() == [0.25, 0.5]
    assert batch.next_obs.tolist() == [[2.0], [8.0]] and batch.obs.tolist() == [[0.0], [7.0]]
