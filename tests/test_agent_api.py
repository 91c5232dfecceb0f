"""The agent in Python: load_agent's TrainedAgent acts on one observation or a batch, builds the env it was
trained on, and plays by the protocols as `dqn evaluate` does."""

import json
from pathlib import Path

import numpy as np
import pytest

import dqn
from dqn.agent.policy import DQNAgent
from dqn.cli import main
from dqn.errors import UserError
from dqn.train.loading import TrainedAgent, load_agent

PRETRAINED = Path(__file__).resolve().parents[1] / "models" / "breakout"
needs_pretrained = pytest.mark.skipif(not (PRETRAINED / "best.pt").is_file(), reason="no models/breakout/best.pt")


class FixedQ(DQNAgent):
    """Q-values set by hand: Q(s, a) = s[a] for CartPole-sized observations of 4 features."""

    def __init__(self):
        super().__init__((4,), 4, seed=0)

    def get_qvalues(self, states):
        return np.asarray(states, dtype=np.float32)


def test_act_takes_one_observation_or_a_batch():
    agent = FixedQ()
    assert agent.act(np.array([0.0, 3.0, 1.0, 2.0])) == 1
    assert type(agent.act(np.array([0.0, 3.0, 1.0, 2.0]))) is int
    batch = np.array([[0.0, 3.0, 1.0, 2.0], [5.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 9.0]])
    assert agent.act(batch).tolist() == [1, 0, 3]


def test_act_is_greedy_at_epsilon_0_and_draws_nothing():
    agent = FixedQ()
    state = agent.rng.bit_generator.state
    assert {agent.act(np.array([0.0, 0.0, 7.0, 1.0])) for _ in range(50)} == {2}
    assert agent.rng.bit_generator.state == state
    # at epsilon 1 every action is uniform: all four come up, about equally often
    actions = agent.act(np.tile([0.0, 0.0, 7.0, 1.0], (4_000, 1)), epsilon=1.0)
    assert np.abs(np.bincount(actions, minlength=4) / 4_000 - 0.25).max() < 0.03


@pytest.mark.parametrize("shape", [(3,), (2, 5), (2, 4, 1), ()])
def test_act_names_the_shapes_it_takes(shape):
    with pytest.raises(ValueError, match=r"observations of shape .*; this agent takes \(4\) or a batch \(n, 4\)"):
        FixedQ().act(np.zeros(shape))


@needs_pretrained
def test_the_shipped_agent_plays_on_the_frames_it_was_trained_on():
    agent = load_agent(PRETRAINED)
    assert isinstance(agent, TrainedAgent) and not agent.training  # eval mode: noisy layers play their means
    assert agent.path == PRETRAINED / "best.pt" and agent.trained_steps == 2_600_000
    for protocol in ("training", "noop", "sticky"):
        env = agent.make_env(protocol)
        obs, _ = env.reset(seed=0)
        assert obs.shape == env.observation_space.shape == agent.state_shape == (4, 84, 84)  # nature frames
        assert obs.dtype == np.uint8
        assert agent.act(obs) == int(agent.get_qvalues(obs[None]).argmax())
    # a 64x64 frame stack (the notebook's frames) is refused with the shapes it takes
    with pytest.raises(ValueError, match=r"\(1, 4, 64, 64\); this agent takes \(4, 84, 84\)"):
        agent.act(np.zeros((1, 4, 64, 64), dtype=np.uint8))


@needs_pretrained
def test_an_unknown_protocol_is_one_line():
    with pytest.raises(UserError, match="unknown protocol 'nope'; the protocols: training, noop, sticky"):
        load_agent(PRETRAINED).make_env("nope")


@needs_pretrained
def test_evaluate_plays_what_dqn_evaluate_plays(capsys):
    scores = load_agent(PRETRAINED).evaluate("noop", games=2, seed=3)
    assert main(["evaluate", str(PRETRAINED), "--protocol", "noop", "--games", "2", "--seed", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["scores"] == scores


def test_the_public_names_load():
    for name in dqn.__all__:
        getattr(dqn, name)
    assert dqn.load_agent is load_agent and dqn.TrainedAgent is TrainedAgent
