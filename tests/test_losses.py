"""TD targets and losses on hand-computed cases, with networks whose Q-values are fixed."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from dqn.agent.heads import HEADS
from dqn.agent.heads.base import NetworkOutput
from dqn.agent.heads.c51 import C51Output, atom_support, expected_q
from dqn.agent.losses import compute_td_loss, td_errors, td_loss, td_targets
from dqn.config import TrainConfig


class FixedQ(nn.Module):
    """Returns a fixed Q-table row per state; the state's first feature is its row index."""

    def __init__(self, table):
        super().__init__()
        self.table = torch.tensor(table, dtype=torch.float32)
        self.scale = nn.Parameter(torch.ones(()))  # a parameter, so gradients can be checked

    def forward(self, states):
        return self.scale * self.table[states[:, 0].long()]


ONLINE = [[1.0, 2.0], [3.0, 5.0], [4.0, 0.0], [0.5, 0.25]]
TARGET = [[10.0, 20.0], [6.0, 4.0], [7.0, 9.0], [1.0, 2.0]]

# two transitions: state 0 --action 1, reward 1--> state 1; state 2 --action 0, reward -1--> state 3 (done)
STATES = np.array([[0.0], [2.0]], dtype=np.float32)
ACTIONS = np.array([1, 0])
REWARDS = np.array([1.0, -1.0], dtype=np.float32)
NEXT_STATES = np.array([[1.0], [3.0]], dtype=np.float32)
DONES = np.array([False, True])
GAMMA = 0.5


def test_vanilla_target_takes_max_of_target_network():
    next_q_target = torch.tensor([TARGET[1], TARGET[3]])
    targets = td_targets(torch.tensor(REWARDS), GAMMA * (1 - torch.tensor(DONES).float()), next_q_target)
    # 1 + 0.5 * max(6, 4) = 4; the done transition keeps its reward only
    assert targets.tolist() == [4.0, -1.0]


def test_double_target_lets_online_network_choose():
    next_q_target = torch.tensor([TARGET[1], TARGET[3]])
    next_q_online = torch.tensor([ONLINE[1], ONLINE[3]])
    targets = td_targets(torch.tensor(REWARDS), GAMMA * (1 - torch.tensor(DONES).float()), next_q_target, next_q_online)
    # online prefers action 1 in state 1 (5 > 3), target values it at 4: 1 + 0.5 * 4 = 3
    assert targets.tolist() == [3.0, -1.0]


def test_mse_and_huber_on_known_errors():
    q = torch.tensor([[1.0, 2.0], [4.0, 0.0]])
    targets = torch.tensor([4.0, -1.0])
    loss = td_loss(q, torch.tensor(ACTIONS), targets, kind="mse")
    # Q(s, a) = 2 and 4; errors 2 and -5; mean of squares (4 + 25) / 2
    assert loss.item() == pytest.approx(14.5)
    huber = td_loss(q, torch.tensor(ACTIONS), targets, kind="huber")
    assert huber.item() == pytest.approx(((2 - 0.5) + (5 - 0.5)) / 2)


def test_compute_td_loss_course_signature():
    agent, target = FixedQ(ONLINE), FixedQ(TARGET)
    target.requires_grad_(False)
    loss = compute_td_loss(STATES, ACTIONS, REWARDS, NEXT_STATES, DONES, agent, target,
                           gamma=GAMMA, check_shapes=True)
    # Q(s0, 1) = 2 against 4; Q(s2, 0) = 4 against -1: ((2-4)^2 + (4+1)^2) / 2
    assert loss.item() == pytest.approx(14.5)
    assert loss.requires_grad and loss.dim() == 0
    loss.backward()
    assert agent.scale.grad.item() != 0
    assert target.scale.grad is None


def test_compute_td_loss_double():
    loss = compute_td_loss(STATES, ACTIONS, REWARDS, NEXT_STATES, DONES, FixedQ(ONLINE), FixedQ(TARGET),
                           gamma=GAMMA, double=True)
    # target 3 for the first transition: ((2-3)^2 + 25) / 2
    assert loss.item() == pytest.approx(13.0)


def test_done_masks_the_bootstrap_entirely():
    huge = [[1e6, 1e6]] * 4
    loss = compute_td_loss(STATES[1:], ACTIONS[1:], REWARDS[1:], NEXT_STATES[1:], DONES[1:],
                           FixedQ(ONLINE), FixedQ(huge), gamma=0.99)
    assert loss.item() == pytest.approx(25.0)


def test_gradient_does_not_flow_into_targets():
    agent = FixedQ(ONLINE)
    # the online network chooses the next action for Double DQN; that path must carry no gradient
    loss = compute_td_loss(STATES[:1], ACTIONS[:1], REWARDS[:1], NEXT_STATES[:1], DONES[:1],
                           agent, agent, gamma=GAMMA, double=True)
    loss.backward()
    # d/dscale of (2*scale - (1 + 0.5*5))^2 at scale 1 = 2 * (2 - 3.5) * 2 = -6
    assert agent.scale.grad.item() == pytest.approx(-6.0)


def test_weighted_loss_scales_each_row():
    q = torch.tensor([[1.0, 2.0], [4.0, 0.0]])
    targets = torch.tensor([4.0, -1.0])
    # errors 2 and -5; squares 4 and 25, weighted by 0.5 and 0.2: (2 + 5) / 2
    loss = td_loss(q, torch.tensor(ACTIONS), targets, kind="mse", weights=torch.tensor([0.5, 0.2]))
    assert loss.item() == pytest.approx(3.5)
    huber = td_loss(q, torch.tensor(ACTIONS), targets, kind="huber", weights=torch.tensor([0.5, 0.2]))
    assert huber.item() == pytest.approx((0.5 * (2 - 0.5) + 0.2 * (5 - 0.5)) / 2)
    assert td_errors(q, torch.tensor(ACTIONS), targets).tolist() == [-2.0, 5.0]


def test_dqn_loss_gives_each_sample_its_loss_and_priority():
    outputs = NetworkOutput(torch.tensor([ONLINE[0], ONLINE[2]]))
    next_target = NetworkOutput(torch.tensor([TARGET[1], TARGET[3]]))
    next_online = NetworkOutput(torch.tensor([ONLINE[1], ONLINE[3]]))
    discounts = GAMMA * (1 - torch.tensor(DONES).float())
    losses, priorities = HEADS["q"].loss(outputs, next_target, None, torch.tensor(ACTIONS), torch.tensor(REWARDS),
                                         discounts, TrainConfig(loss="mse"))
    # targets 4 and -1 (test_vanilla_target_...): errors 2 - 4 and 4 + 1
    assert losses.tolist() == [4.0, 25.0] and priorities.tolist() == [2.0, 5.0]
    _, priorities = HEADS["q"].loss(outputs, next_target, next_online, torch.tensor(ACTIONS), torch.tensor(REWARDS),
                                    discounts, TrainConfig(loss="huber"))
    assert priorities.tolist() == [1.0, 5.0]  # Double DQN's target 3


def point_masses(atoms: list[list[int]], support: torch.Tensor) -> C51Output:
    """Outputs whose every action's distribution sits on one atom: atoms[sample][action]."""
    logits = 50.0 * torch.nn.functional.one_hot(torch.tensor(atoms), len(support)).float()
    return C51Output(expected_q(logits, support), logits, support)


def test_c51_loss_takes_returns_discounts_and_terminals_as_the_q_heads_loss_does():
    support = atom_support(-2.0, 2.0, 5)  # atoms -2, -1, 0, 1, 2
    torch.manual_seed(0)
    logits = torch.randn(2, 2, 5)
    outputs = C51Output(expected_q(logits, support), logits, support)
    # next states: the target network puts action 0 on atom 0 (z = 0) and action 1 on atom 2 (z = 2);
    # the online one prefers action 0
    next_target = point_masses([[2, 4], [2, 4]], support)
    next_online = point_masses([[4, 0], [4, 0]], support)
    # sample 0 bootstraps with gamma^3 = 0.5; sample 1 terminated within its n steps (discount 0)
    returns, discounts = torch.tensor([1.0, -1.0]), torch.tensor([0.5, 0.0])
    actions = torch.tensor(ACTIONS)

    def cross_entropy(sample, atom):
        return -torch.log_softmax(logits[sample, ACTIONS[sample]], dim=-1)[atom]

    c51 = HEADS["c51"]
    losses, priorities = c51.loss(outputs, next_target, None, actions, returns, discounts, TrainConfig(loss="huber"))
    # targets 1 + 0.5 * 2 = 2 (atom 4) and -1 (atom 1: no bootstrap)
    assert torch.allclose(losses, torch.stack([cross_entropy(0, 4), cross_entropy(1, 1)]))
    assert torch.equal(priorities, losses) and not priorities.requires_grad
    losses, _ = c51.loss(outputs, next_target, next_online, actions, returns, discounts, TrainConfig(loss="huber"))
    # Double: the online network picks action 0, the target network's z = 0 there: target 1 (atom 3)
    assert torch.allclose(losses, torch.stack([cross_entropy(0, 3), cross_entropy(1, 1)]))

