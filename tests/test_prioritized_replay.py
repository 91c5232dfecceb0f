"""The sum tree on hand-computed cases; prioritized replay samples by priority, weights the
samples back to uniform, and still returns only transitions that happened."""

import numpy as np
import pytest

from dqn.replay import FrameReplay, PrioritizedFrameReplay
from dqn.sumtree import SumTree
from test_frame_replay import play


def test_sum_tree_sums_and_finds_by_prefix_sum():
    tree = SumTree(5)  # 8 leaves, 3 of them always 0
    tree.set(np.arange(5), [1.0, 0.0, 2.0, 3.0, 4.0])
    assert tree.total == 10.0
    # prefix sums: leaf 0 holds [0, 1), leaf 2 [1, 3), leaf 3 [3, 6), leaf 4 [6, 10)
    found = tree.find(np.array([0.0, 0.99, 1.0, 2.5, 3.0, 5.99, 6.0, 9.99]))
    assert found.tolist() == [0, 0, 2, 2, 3, 3, 4, 4]
    tree.set(np.array([4, 4]), [9.0, 0.5])  # a repeated index keeps its last value
    assert tree.total == 6.5 and tree.values(np.array([4])).tolist() == [0.5]
    assert tree.nodes[1] == tree.nodes[2] + tree.nodes[3]


def test_sampling_follows_priorities():
    tree = SumTree(4)
    tree.set(np.arange(4), [1.0, 2.0, 3.0, 4.0])
    draws = tree.find(np.random.default_rng(0).random(100_000) * tree.total)
    frequencies = np.bincount(draws, minlength=4) / len(draws)
    assert frequencies == pytest.approx([0.1, 0.2, 0.3, 0.4], abs=0.01)


def make_replay(**kwargs):
    return PrioritizedFrameReplay(64, (4, 2, 2), np.int64, stack=4, num_envs=2, seed=1, **kwargs)


def test_prioritized_samples_are_transitions_that_happened():
    replay = make_replay()
    seen = play(replay, 2, steps=300)
    for _ in range(20):  # priorities change between draws, as in training
        batch = replay.sample(64)
        for obs, action, next_obs in zip(batch.obs, batch.actions, batch.next_obs):
            action_seen, _, next_seen, _ = seen[obs.tobytes()]
            assert action == action_seen and np.array_equal(next_obs, next_seen)
        replay.update_priorities(batch.indices, np.random.default_rng(0).random(64) * 10)


def test_new_transitions_get_the_top_priority_and_slots_without_one_get_none():
    replay = make_replay(alpha=1.0)
    play(replay, 2, steps=20)
    batch = replay.sample(8)
    replay.update_priorities(batch.indices, np.full(8, 5.0))  # max priority is now 5 + eps
    play(replay, 2, steps=1, seed=7)
    replay._flush()
    priorities = replay.tree.values(np.arange(replay.tree.size)).reshape(2, replay.ring)
    has_next = replay.has_next
    assert (priorities[~has_next] == 0).all()  # episode ends, unwritten slots
    newest = (replay.cursor - 2) % replay.ring  # each env's last transition
    assert priorities[[0, 1], newest] == pytest.approx(5.0 + 1e-6)


def test_weights_undo_the_sampling_bias():
    replay = make_replay(alpha=1.0)
    play(replay, 2, steps=30)
    replay._flush()
    index = np.flatnonzero(replay.tree.values(np.arange(replay.tree.size)))
    replay.update_priorities(index, np.where(index % 2 == 0, 1.0, 3.0) - replay.eps)
    replay.beta = 1.0
    batch = replay.sample(32)
    priority = replay.tree.values(batch.indices)
    # weight is 1 / P(i), over the batch maximum: the priority-3 transitions weigh 1/3
    assert batch.weights == pytest.approx(np.where(priority > 2, 1 / 3, 1.0))
    replay.beta = 0.0
    assert (replay.sample(32).weights == 1.0).all()


def test_state_dict_round_trip_keeps_priorities():
    replay = make_replay()
    play(replay, 2, steps=80)
    replay.update_priorities(replay.sample(16).indices, np.arange(16.0))
    copy = make_replay()
    copy.load_state_dict(replay.state_dict())
    assert copy.max_priority == replay.max_priority
    a, b = replay.sample(16), copy.sample(16)
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.weights, b.weights)
    with pytest.raises(ValueError, match="priorities"):
        copy.load_state_dict(FrameReplay(64, (4, 2, 2), np.int64, stack=4, num_envs=2).state_dict())
