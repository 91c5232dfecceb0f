"""The actor alone, on CartPole: agent steps and episodes counted, epsilon on its schedule, its
state restored to the bit."""

import io

import numpy as np
import pytest
import torch

from dqn.agent.actor import Actor
from dqn.agent.schedules import apex_epsilons, linear_decay
from dqn.config import preset_config

CONFIG = preset_config("cartpole", num_envs=3, learning_starts=30, eps_start=1.0, eps_end=0.1, eps_decay_steps=300)


def greedy_on_the_pole(obs: np.ndarray) -> np.ndarray:
    """Q-values that a fixed rule gives: push the cart the way the pole leans."""
    return np.stack([-obs[:, 2], obs[:, 2]], axis=1)


def test_steps_episodes_and_game_scores_are_counted():
    actor = Actor(CONFIG, seed=0)
    asked = []
    play = lambda obs: asked.append(len(obs)) or greedy_on_the_pole(obs)  # noqa: E731
    lengths, running = [], np.zeros(3, dtype=int)
    previous = None
    for _ in range(100):
        transitions = actor.step(actor.act(play))
        if previous is not None:  # an env goes on from where its last step left it, unless that step ended it
            going_on = ~(previous.terminated | previous.truncated)
            assert np.array_equal(transitions.obs[going_on], previous.next_obs[going_on])
        previous = transitions
        running += 1
        for i in np.flatnonzero(transitions.terminated | transitions.truncated):
            lengths.append(running[i])
            running[i] = 0
    assert actor.steps == 300
    assert len(asked) == 100 - 10 and set(asked) == {3}  # not asked for the first 30 agent steps
    assert actor.episodes == len(lengths) > 0
    assert list(actor.game_scores) == [float(n) for n in lengths][-20:]  # CartPole scores 1 per step


def test_epsilon_is_one_before_learning_starts_then_decays_linearly():
    actor = Actor(CONFIG, seed=0)
    assert actor.epsilon_at(0) == actor.epsilon_at(29) == 1.0
    assert actor.epsilon_at(30) == pytest.approx(linear_decay(1.0, 0.1, 30, 300)) == pytest.approx(0.91)
    assert actor.epsilon_at(300) == actor.epsilon_at(10**9) == pytest.approx(0.1)
    for _ in range(20):
        actor.step(actor.act(greedy_on_the_pole))
    assert actor.epsilon == actor.epsilon_at(57)  # that of the last actions, chosen at agent step 57


def test_noisy_nets_explore_instead_of_epsilon():
    actor = Actor(preset_config("cartpole", learning_starts=30, noisy=True), seed=0)
    assert actor.epsilon_at(29) == 1.0  # the replay still fills with random play
    assert actor.epsilon_at(30) == actor.epsilon_at(10**9) == 0.0
    actor.close()


def test_apex_epsilons_go_from_0_4_to_0_4_to_the_8th_and_a_single_slot_gets_0_4():
    assert apex_epsilons(1).tolist() == [0.4]
    assert apex_epsilons(2) == pytest.approx([0.4, 0.4**8])
    eight = apex_epsilons(8)  # N * K = 8 slots: 0.4 ** (1 + 7 i / 7) = 0.4 ** (i + 1)
    assert eight == pytest.approx([0.4 ** (i + 1) for i in range(8)])
    assert (np.diff(apex_epsilons(256)) < 0).all() and apex_epsilons(256)[-1] == pytest.approx(0.4**8)


def test_fixed_epsilons_explore_per_env_from_the_first_step():
    # env 0 always explores, env 1 never: before learning_starts too, and whatever the schedule says
    actor = Actor(preset_config("cartpole", num_envs=2, learning_starts=10**6), seed=0, epsilons=np.array([1.0, 0.0]))
    asked, env0_actions = [], []
    for _ in range(200):
        actions = actor.act(lambda obs: asked.append(len(obs)) or np.tile([0.0, 1.0], (len(obs), 1)))
        env0_actions.append(actions[0])
        assert actions[1] == 1  # the argmax
        actor.step(actions)
    assert len(asked) == 200  # asked for Q-values from the first step on
    assert 0.4 < np.mean(env0_actions) < 0.6  # uniform
    assert actor.epsilon == actor.epsilon_at(0) == 0.5  # the mean, logged as the epsilon
    actor.close()


def test_state_round_trip_goes_on_to_the_bit():
    first = Actor(CONFIG, seed=0)
    for _ in range(40):
        first.step(first.act(greedy_on_the_pole))
    saved = io.BytesIO()
    torch.save(first.state_dict(), saved)  # as a checkpoint holds it, read back without running code
    saved.seek(0)
    second = Actor(CONFIG, seed=1)
    second.load_state_dict(torch.load(saved, weights_only=True))
    for _ in range(60):
        a, b = first.step(first.act(greedy_on_the_pole)), second.step(second.act(greedy_on_the_pole))
        assert all(np.array_equal(x, y) for x, y in zip(vars(a).values(), vars(b).values()))
    assert (first.steps, first.episodes, list(first.game_scores)) == (second.steps, second.episodes,
                                                                      list(second.game_scores))
    first.close()
    second.close()
