import numpy as np
import pytest
import torch

from dqn.agent.networks import QNetwork
from dqn.agent.policy import DQNAgent


def test_mlp_agent_numpy_in_numpy_out():
    agent = DQNAgent((4,), 2, epsilon=0.0, seed=0)
    q = agent.get_qvalues(np.zeros((3, 4), dtype=np.float32))
    assert isinstance(q, np.ndarray) and q.shape == (3, 2)
    assert np.array_equal(agent.sample_actions(q), q.argmax(axis=1))


def test_epsilon_one_explores_uniformly():
    agent = DQNAgent((4,), 3, epsilon=1.0, seed=0)
    qvalues = np.tile([[0.0, 9.0, 0.0]], (30_000, 1))
    counts = np.bincount(agent.sample_actions(qvalues), minlength=3) / 30_000
    assert np.allclose(counts, 1 / 3, atol=0.02)


def test_epsilon_share_of_random_actions():
    agent = DQNAgent((4,), 2, epsilon=0.2, seed=0)
    actions = agent.sample_actions(np.tile([[0.0, 1.0]], (50_000, 1)))
    # a random action is the greedy one half the time: 0.2 / 2 of actions are non-greedy
    assert np.mean(actions == 0) == pytest.approx(0.1, abs=0.01)


@pytest.mark.parametrize("head", ["q", "dueling"])
def test_cnn_shapes_and_uint8_scaling(head):
    net = QNetwork((4, 84, 84), 4, head=head)
    frames = torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8)
    q = net(frames).q_values
    assert q.shape == (2, 4) and q.requires_grad
    assert torch.allclose(q, net(frames.float() / 255.0).q_values)


def test_dueling_head_removes_mean_advantage():
    net = QNetwork((5,), 3, hidden_sizes=(8,), head="dueling")
    obs = torch.randn(6, 5)
    features = net.body(obs)
    value = net.head.value(features)
    # Q - V has zero mean over actions: V is the mean Q
    assert torch.allclose(net(obs).q_values.mean(dim=1, keepdim=True), value, atol=1e-6)
