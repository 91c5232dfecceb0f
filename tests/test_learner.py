"""The learner alone, fed hand-made batches: updates counted, the target network synced, the
weights kept from a non-finite step, the C51 loss and noisy nets, its state restored to the bit."""

import copy
import io

import numpy as np
import pytest
import torch

from dqn.agent.learner import Learner, TrainingDiverged, training_bytes
from dqn.agent.noisy import NoisyLinear, reset_noise
from dqn.agent.policy import build_agent
from dqn.config import preset_config
from dqn.machine.hardware import choose_runtime
from dqn.replay.buffer import Batch

# small stacked images, so that the augmentation's generator is part of the state
OBS_SHAPE, N_ACTIONS, BATCH = (4, 36, 36), 3, 8


def make_learner(preset: str = "breakout", **overrides) -> Learner:
    config = preset_config(preset, batch_size=BATCH, cnn="nips", learning_rate=1e-3, device="cpu",
                           precision="fp32", torch_threads=1, **overrides)
    return Learner(config, OBS_SHAPE, N_ACTIONS, choose_runtime("cpu", "fp32", 1, image_observations=True))


def make_batch(seed: int, prioritized: bool = False) -> Batch:
    rng = np.random.default_rng(seed)
    frames = lambda: rng.integers(0, 256, size=(BATCH, *OBS_SHAPE), dtype=np.uint8)  # noqa: E731
    return Batch(frames(), rng.integers(N_ACTIONS, size=BATCH), rng.normal(size=BATCH).astype(np.float32),
                 frames(), np.where(rng.random(BATCH) < 0.2, 0.0, 0.99**3).astype(np.float32),
                 weights=rng.uniform(0.1, 1.0, BATCH).astype(np.float32) if prioritized else None,
                 indices=np.arange(BATCH) if prioritized else None)


def weights(module: torch.nn.Module) -> dict:
    return {k: v.clone() for k, v in module.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_an_update_steps_the_online_network_only_and_says_what_it_did():
    learner = make_learner()
    online, target = weights(learner.online), weights(learner.target)
    metrics, priorities = learner.update(make_batch(0))
    assert learner.updates == 1
    assert set(metrics) == {"loss", "q_mean", "grad_norm"} and all(np.isfinite(list(metrics.values())))
    assert priorities.shape == (BATCH,) and (priorities >= 0).all()
    assert not same(weights(learner.online), online) and same(weights(learner.target), target)
    learner.update(make_batch(1))
    assert learner.updates == 2


def test_sync_copies_the_online_network_or_moves_the_target_by_tau():
    learner = make_learner()
    learner.update(make_batch(0))
    learner.sync_target()
    assert same(weights(learner.target), weights(learner.online))

    soft = make_learner(tau=0.25)
    soft.update(make_batch(0))
    before, online = weights(soft.target), weights(soft.online)
    soft.sync_target()
    after = weights(soft.target)
    assert all(torch.allclose(after[k], before[k] + 0.25 * (online[k] - before[k]), atol=1e-7) for k in after)


def test_a_non_finite_loss_raises_before_the_weights_change():
    learner = make_learner()
    online = weights(learner.online)
    batch = make_batch(0)
    batch.returns[0] = np.inf
    with pytest.raises(TrainingDiverged, match="stopped being finite"):
        learner.update(batch)
    assert learner.updates == 0 and same(weights(learner.online), online)


def test_a_c51_update_weighs_each_cross_entropy_and_lowers_the_loss_of_its_batch():
    learner = make_learner(head="c51-dueling")
    batch = make_batch(0, prioritized=True)
    first, priorities = learner.update(batch)
    # the loss is the weighted mean of the per-sample cross-entropies, which are the priorities
    assert first["loss"] == pytest.approx(float(np.mean(batch.weights * priorities)), rel=1e-5)
    for _ in range(3):
        metrics, _ = learner.update(batch)
    assert metrics["loss"] < first["loss"]


def test_noisy_acting_draws_new_noise_each_step_and_evaluation_uses_the_mean_weights():
    learner = make_learner(head="c51-dueling", noisy=True)
    obs = make_batch(0).obs[:2]
    assert not np.array_equal(learner.q_values(obs), learner.q_values(obs))
    learner.online.eval()
    evaluated = learner.online.get_qvalues(obs)
    reset_noise(learner.online)  # new noise must change nothing in evaluation
    assert np.array_equal(learner.online.get_qvalues(obs), evaluated)
    # and evaluation's Q-values are those of the mean weights: of a copy whose noise scales are zero
    mean_weights = copy.deepcopy(learner.online).train()
    with torch.no_grad():
        for layer in mean_weights.modules():
            if isinstance(layer, NoisyLinear):
                layer.weight_sigma.zero_()
                layer.bias_sigma.zero_()
    assert np.array_equal(mean_weights.get_qvalues(obs), evaluated)
    learner.online.train()
    noise = weights(learner.target)
    learner.update(make_batch(0))  # the target network's noise is drawn afresh for each update too
    assert not same(weights(learner.target), noise)


def test_the_rainbow_preset_validates_and_builds_its_learner():
    config = preset_config("rainbow").validate()
    assert (config.head, config.noisy, config.prioritized_replay, config.n_step, config.double_dqn) == (
        "c51-dueling", True, True, 3, True)
    learner = make_learner("rainbow")
    assert all(isinstance(layer, NoisyLinear) for layer in learner.online.network.head.children())
    metrics, priorities = learner.update(make_batch(0, prioritized=True))
    assert np.isfinite(metrics["loss"]) and priorities.shape == (BATCH,)


@pytest.mark.parametrize("options", [dict(augment_shift_px=2, double_dqn=True),
                                     dict(head="c51-dueling", noisy=True, double_dqn=True),
                                     dict(head="iqn", double_dqn=True), dict(head="iqn", double_dqn=False)])
def test_state_round_trip_goes_on_to_the_bit(options):
    """A learner loaded from another's state (through a checkpoint's torch.save and weights-only
    load) makes the same updates: weights, Adam's moments, augmentation shifts, noise, counts."""
    first = make_learner(**options)
    for seed in range(3):
        first.update(make_batch(seed, prioritized=True))
    first.sync_target()
    saved = io.BytesIO()
    torch.save(first.state_dict(), saved)
    saved.seek(0)
    second = make_learner(seed=9, **options)  # other initial weights and generator: all must be replaced
    second.load_state_dict(torch.load(saved, weights_only=True))
    for seed in range(3, 6):
        metrics_a, priorities_a = first.update(make_batch(seed, prioritized=True))
        metrics_b, priorities_b = second.update(make_batch(seed, prioritized=True))
        assert metrics_a == metrics_b and np.array_equal(priorities_a, priorities_b)
        obs = make_batch(seed).obs
        assert np.array_equal(first.q_values(obs), second.q_values(obs))
    assert first.updates == second.updates == 6
    assert same(weights(first.online), weights(second.online)) and same(weights(first.target), weights(second.target))
    adam_a, adam_b = first.optimizer.state_dict()["state"], second.optimizer.state_dict()["state"]
    assert all(torch.equal(adam_a[i][k], adam_b[i][k]) for i in adam_a for k in adam_a[i])


@pytest.mark.parametrize("head, noisy", [("q", False), ("c51-dueling", False), ("dueling", True), ("c51", True),
                                         ("iqn", False), ("iqn", True)])
def test_training_bytes_count_the_mlp_as_built(head, noisy):
    """The RAM check's estimate against the built network: 4 float32 copies of its weights, biases
    aside (they are under 2% of an MLP this wide)."""
    config = preset_config("cartpole", hidden_sizes=(300, 400), head=head, noisy=noisy)
    estimate, _ = training_bytes(config, (4,), 2)
    built = 4 * 4 * sum(p.numel() for p in build_agent(config, (4,), 2).parameters())
    assert 0.97 < estimate / built <= 1.0
