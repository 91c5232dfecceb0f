"""IQN: the quantile Huber loss and the loss of a batch on hand-computed cases, the fractions it
draws for each role, how it reads Q-values to act and to evaluate."""

import pytest
import torch

from dqn.agent.heads import HEADS
from dqn.agent.heads.base import ROLES
from dqn.agent.heads.iqn import QuantileOutput, evenly_spaced_fractions, quantile_huber_loss
from dqn.agent.policy import build_agent
from dqn.config import TrainConfig
from dqn.errors import UserError

BATCH, N_ACTIONS = 5, 3


def test_its_options_are_checked():
    with pytest.raises(UserError, match="iqn_quantile_samples must be positive"):
        TrainConfig(head="iqn", iqn_quantile_samples=0).validate()


def test_quantile_huber_loss_by_hand():
    # one sample, quantiles 0 and 2 at fractions 0.25 and 0.75, one target sample 1:
    # u = 1 - 0 = 1 and 1 - 2 = -1, huber 0.5 each; weights |0.25 - 0| = 0.25 and |0.75 - 1| = 0.25
    # sum over the quantiles of the mean over targets: 0.125 + 0.125
    loss = quantile_huber_loss(torch.tensor([[0.0, 2.0]]), torch.tensor([[0.25, 0.75]]), torch.tensor([[1.0]]))
    assert loss.tolist() == [0.25]
    # beyond kappa = 1 the loss is linear: u = 3, huber 3 - 0.5 = 2.5, weight 0.9;
    # a second target 0 gives u = 0 (loss 0): the mean over the two targets halves it
    loss = quantile_huber_loss(torch.tensor([[0.0]]), torch.tensor([[0.9]]), torch.tensor([[3.0, 0.0]]))
    assert loss.item() == pytest.approx(0.9 * 2.5 / 2)
    # a quantile over its target is pulled down with weight 1 - tau: u = -0.5, huber 0.125, weight 0.8
    loss = quantile_huber_loss(torch.tensor([[1.0]]), torch.tensor([[0.2]]), torch.tensor([[0.5]]))
    assert loss.item() == pytest.approx(0.8 * 0.125)


def test_iqn_loss_bootstraps_from_the_next_action_of_the_mean_quantile():
    config = TrainConfig(head="iqn")
    taus = torch.tensor([[0.25, 0.75]])
    # the taken action 1's quantiles are 0 and 2; next state: action 0 has quantiles 1 and 1 (mean 1),
    # action 1 has 0 and 4 (mean 2), so the target network picks action 1
    outputs = QuantileOutput(torch.tensor([[9.0, 1.0]]), torch.tensor([[[5.0, 0.0], [5.0, 2.0]]]), taus)
    next_target = QuantileOutput(torch.tensor([[1.0, 2.0]]), torch.tensor([[[1.0, 0.0], [1.0, 4.0]]]), taus)
    returns, discounts = torch.tensor([1.0]), torch.tensor([0.5])
    # targets 1 + 0.5 * 0 = 1 and 1 + 0.5 * 4 = 3 against quantiles 0 (tau 0.25) and 2 (tau 0.75):
    # quantile 0: u = 1, 3: huber 0.5, 2.5, weight 0.25: mean 0.375; quantile 2: u = -1, 1: huber 0.5,
    # 0.5, weights 0.25, 0.75: mean 0.25; sum 0.625
    losses, priorities = HEADS["iqn"].loss(outputs, next_target, None, torch.tensor([1]), returns, discounts, config)
    assert losses.item() == pytest.approx(0.625) and priorities.item() == pytest.approx(0.625)
    # Double DQN: the online network prefers action 0, whose target quantiles are 1 and 1: targets 1.5, 1.5
    # quantile 0: u = 1.5, huber 1.0, weight 0.25; quantile 2: u = -0.5, huber 0.125, weight 0.25
    next_online = QuantileOutput(torch.tensor([[3.0, 0.0]]), torch.zeros(1, 2, 2), taus)
    losses, _ = HEADS["iqn"].loss(outputs, next_target, next_online, torch.tensor([1]), returns, discounts, config)
    assert losses.item() == pytest.approx(0.25 * 1.0 + 0.25 * 0.125)
    # a terminated transition (discount 0) has the return 1 as both targets: quantile 0: u = 1, weight 0.25;
    # quantile 2: u = -1, weight 1 - 0.75; huber 0.5 each
    losses, _ = HEADS["iqn"].loss(outputs, next_target, None, torch.tensor([1]), returns, torch.tensor([0.0]), config)
    assert losses.item() == pytest.approx(0.25 * 0.5 + 0.25 * 0.5)


def test_iqn_draws_n_fractions_for_the_loss_and_k_to_act():
    config = TrainConfig(head="iqn", iqn_quantile_samples=6, iqn_action_samples=3)
    generator = torch.Generator().manual_seed(0)
    sizes = {role: HEADS["iqn"].inputs(role, BATCH, config, generator)["taus"].shape for role in ROLES}
    assert sizes == {"online": (BATCH, 6), "target": (BATCH, 6), "select": (BATCH, 3), "act": (BATCH, 3)}
    agent = build_agent(config, (4,), N_ACTIONS)
    taus = HEADS["iqn"].inputs("act", BATCH, config, generator)["taus"]
    assert ((taus > 0) & (taus < 1)).all()
    obs = torch.randn(BATCH, 4)
    # sampled fractions act on their own quantiles' mean; none given, on K evenly spaced ones
    output = agent.network(obs, taus=taus)
    assert torch.allclose(output.q_values, output.quantiles.mean(dim=1))
    assert torch.equal(agent.network(obs).taus, evenly_spaced_fractions(BATCH, 3))
    assert evenly_spaced_fractions(1, 4).tolist() == [[0.125, 0.375, 0.625, 0.875]]
