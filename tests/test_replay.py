import numpy as np
import pytest

from replay_buffer import ReplayBuffer


def test_seed_cell_capacity_is_respected():
    # The course's own test: 30 adds into a buffer of 10 keep 10.
    replay = ReplayBuffer(10)
    obs = np.zeros((4, 2, 2), dtype=np.float32)
    for _ in range(30):
        replay.add(obs, np.int64(1), 1.0, obs, done=False)
    replay.sample(5)
    assert len(replay) == 10


def test_eviction_is_fifo():
    replay = ReplayBuffer(3)
    for i in range(5):
        replay.add(np.array([i], dtype=np.float32), 0, float(i), np.array([i + 1.0]), done=i % 2 == 0)
    # transitions 2, 3, 4 are left, oldest first
    assert replay.dones.tolist() == [True, False, True]
    _, _, rewards, _, _ = replay.sample(200)
    assert set(rewards.tolist()) == {2.0, 3.0, 4.0}


def test_sample_shapes_and_dtypes():
    replay = ReplayBuffer(100)
    for i in range(20):
        replay.add(np.full((3, 5), i, dtype=np.uint8), np.int64(i % 4), 0.5,
                   np.full((3, 5), i + 1, dtype=np.uint8), False)
    obs, actions, rewards, next_obs, dones = replay.sample(7)
    assert obs.shape == next_obs.shape == (7, 3, 5) and obs.dtype == np.uint8
    assert actions.shape == (7,) and actions.dtype == np.int64
    assert rewards.shape == (7,) and rewards.dtype == np.float32
    assert dones.shape == (7,) and dones.dtype == bool
    # each next observation belongs to its own transition
    assert np.all(next_obs[:, 0, 0] == obs[:, 0, 0] + 1)
    assert np.all(actions == obs[:, 0, 0] % 4)


def test_scalar_actions_of_any_numpy_kind():
    # The course's copy built arrays with np.array(x, copy=False), which raises on numpy 2.
    replay = ReplayBuffer(5)
    obs = np.zeros(2, dtype=np.float32)
    for action in (np.int64(1), np.array(2), 3, np.int32(0)):
        replay.add(obs, action, 0.0, obs, False)
    assert sorted(set(replay.sample(100)[1].tolist())) == [0, 1, 2, 3]


def test_same_seed_same_samples():
    def filled(seed):
        replay = ReplayBuffer(50, seed=seed)
        for i in range(50):
            replay.add(np.array([i], dtype=np.float32), 0, float(i), np.array([i], dtype=np.float32), False)
        return replay

    a, b, c = filled(3), filled(3), filled(4)
    assert np.array_equal(a.sample(32)[2], b.sample(32)[2])
    assert not np.array_equal(filled(3).sample(32)[2], c.sample(32)[2])


def test_sampling_is_uniform_with_replacement():
    replay = ReplayBuffer(4, seed=0)
    for i in range(4):
        replay.add(np.array([i], dtype=np.float32), 0, float(i), np.array([i], dtype=np.float32), False)
    rewards = replay.sample(40_000)[2]
    counts = np.bincount(rewards.astype(int), minlength=4)
    assert np.allclose(counts / 40_000, 0.25, atol=0.01)
    assert len(set(replay.sample(10)[2].tolist())) < 10  # 10 draws from 4 items must repeat


def test_empty_buffer_refuses_to_sample():
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(3).sample(1)


def test_state_dict_round_trip_continues_identically():
    replay = ReplayBuffer(8, seed=1)
    for i in range(11):
        replay.add(np.array([i], dtype=np.float32), i % 2, float(i), np.array([i], dtype=np.float32), i == 5)
    copy = ReplayBuffer(8)
    copy.load_state_dict(replay.state_dict())
    for x, y in zip(replay.sample(16), copy.sample(16)):
        assert np.array_equal(x, y)


def test_frames_as_bytes_gives_back_the_same_floats_in_a_quarter_of_the_memory():
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, size=(4, 8, 8)).astype(np.float32) / np.float32(255) for _ in range(6)]
    compact, plain = ReplayBuffer(10, seed=1, frames_as_bytes=True), ReplayBuffer(10, seed=1)
    for i in range(5):
        for replay in (compact, plain):
            replay.add(frames[i], i % 4, float(i), frames[i + 1], done=False)
    for got, want in zip(compact.sample(32), plain.sample(32)):
        assert got.dtype == want.dtype and np.array_equal(got, want)
    assert compact.state_dict()["obs"].nbytes * 4 == plain.state_dict()["obs"].nbytes
