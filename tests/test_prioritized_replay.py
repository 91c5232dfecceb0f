"""The sum tree on hand-computed cases; prioritized replay samples by priority, weights the
samples back to uniform, and still returns only transitions that happened."""

import numpy as np
import pytest
import torch
from test_frame_replay import play

from dqn.agent.actor import Transitions
from dqn.config import preset_config
from dqn.replay.buffer import FrameReplay, PrioritizedFrameReplay
from dqn.replay.sumtree import SumTree
from dqn.train.single import Trainer


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


def leaf_priorities(replay):
    replay._flush()
    return replay.tree.values(np.arange(replay.tree.size)).reshape(replay.num_envs, replay.ring)


@pytest.mark.parametrize("steps", [20, 300])  # 300 steps wrap each ring of 32 slots many times
def test_new_transitions_get_the_top_priority_and_slots_without_one_get_none(steps):
    replay = make_replay(alpha=1.0)
    play(replay, 2, steps=steps)
    batch = replay.sample(8)
    replay.update_priorities(batch.indices, np.full(8, 5.0))  # max priority is now 5 + eps
    play(replay, 2, steps=1, seed=7)
    priorities = leaf_priorities(replay)
    assert (priorities[~replay.has_next] == 0).all()  # episode ends, unwritten or overwritten slots
    assert (priorities[replay.has_next] > 0).all()
    newest = (replay.cursor - 2) % replay.ring  # each env's last transition
    assert priorities[[0, 1], newest] == pytest.approx(5.0 + 1e-6)


def test_steps_added_with_their_td_errors_get_those_priorities():
    replay = make_replay(alpha=0.5)
    play(replay, 2, steps=10)
    steps = Transitions(np.ones((3, 1, 2, 2), np.int64), np.zeros(3), np.zeros(3), np.full((3, 1, 2, 2), 2),
                        np.zeros(3, bool), np.zeros(3, bool))
    slots = replay.add_steps(np.array([0, 1, 0]), steps, td_error=np.array([3.0, -8.0, 0.0]))
    priorities = leaf_priorities(replay)[[0, 1, 0], slots]
    assert priorities == pytest.approx([(3 + 1e-6) ** 0.5, (8 + 1e-6) ** 0.5, 1e-6**0.5])
    assert replay.max_priority == pytest.approx((8 + 1e-6) ** 0.5)


def test_replay_draws_in_proportion_to_priority():
    replay = make_replay(alpha=1.0)
    play(replay, 2, steps=300)
    index = np.flatnonzero(leaf_priorities(replay))
    valid = replay._valid(*np.divmod(index, replay.ring))
    index = index[valid]
    heavy = index[: len(index) // 4]
    replay.update_priorities(index, np.where(np.isin(index, heavy), 3.0, 1.0) - replay.eps)
    draws = np.concatenate([replay.sample(64).indices for _ in range(300)])
    # a quarter of the transitions at 3x the priority: 3 / (3 + 3) = half of the draws
    assert np.isin(draws, heavy).mean() == pytest.approx(0.5, abs=0.03)


def test_weights_undo_the_sampling_bias():
    replay = make_replay(alpha=1.0)
    play(replay, 2, steps=30)
    index = np.flatnonzero(leaf_priorities(replay))
    replay.update_priorities(index, np.where(index % 2 == 0, 1.0, 3.0) - replay.eps)
    replay.beta = 1.0
    batch = replay.sample(32)
    priority = replay.tree.values(batch.indices)
    # weight is 1 / P(i), over the batch maximum: the priority-3 transitions weigh 1/3
    assert batch.weights == pytest.approx(np.where(priority > 2, 1 / 3, 1.0))
    replay.beta = 0.0
    assert (replay.sample(32).weights == 1.0).all()


def test_saved_replay_keeps_priorities(tmp_path):
    replay = make_replay()
    play(replay, 2, steps=80)
    replay.update_priorities(replay.sample(16).indices, np.arange(16.0))
    play(replay, 2, steps=3, seed=9)  # priorities still pending when it is saved
    replay.save(tmp_path / "replay.npz")
    copy = make_replay()
    copy.load(tmp_path / "replay.npz")
    assert copy.max_priority == replay.max_priority
    a, b = replay.sample(16), copy.sample(16)
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.weights, b.weights)
    with pytest.raises(ValueError, match="priorities"):
        copy.load_state_dict(FrameReplay(64, (4, 2, 2), np.int64, stack=4, num_envs=2).state_dict())


def test_trainer_weights_the_loss_and_sets_priorities_to_the_td_errors(tmp_path):
    config = preset_config("cartpole", prioritized_replay=True, priority_alpha=1.0, priority_beta_start=1.0,
                           double_dqn=False, loss="mse", batch_size=16, learning_starts=0, device="cpu",
                           precision="fp32")  # the reference below computes in float32
    trainer = Trainer(config, tmp_path / "run", progress=False)
    rng = np.random.default_rng(0)
    for _ in range(200):
        trainer.store(trainer.actor.step(rng.integers(2, size=config.num_envs)))
    replay = trainer.replay
    index = np.flatnonzero(leaf_priorities(replay))
    replay.update_priorities(index, np.linspace(0.1, 5.0, len(index)))  # unequal weights
    # the batch the update will draw, and what the networks say of it before the update
    rng_state = replay._rng.bit_generator.state
    replay.beta = 1.0
    batch = replay.sample(16)
    replay._rng.bit_generator.state = rng_state
    assert len(set(batch.weights.tolist())) > 1
    with torch.no_grad():
        q = trainer.learner.online(torch.as_tensor(batch.obs)).numpy()
        next_q = trainer.learner.target(torch.as_tensor(batch.next_obs)).numpy()
    errors = q[np.arange(16), batch.actions] - (batch.returns + batch.discounts * next_q.max(axis=1))
    seen = {}
    replay.update_priorities = lambda indices, td_errors: seen.update(indices=indices, td_errors=td_errors)

    trainer.learn()

    assert trainer.window["loss"] == [pytest.approx(float(np.mean(batch.weights * errors**2)), rel=1e-5)]
    assert np.array_equal(seen["indices"], batch.indices)
    assert seen["td_errors"] == pytest.approx(np.abs(errors), rel=1e-5, abs=1e-6)
