"""Heads whose output is one Q-value per action, trained on TD errors: a linear layer (Mnih et al.
2015), and the dueling split Q = V + A - mean_a A (Wang et al. 2016)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

import torch
import torch.nn as nn

from dqn.agent.heads.base import Dense, Head, NetworkOutput, dense_weights
from dqn.agent.losses import elementwise_loss, td_errors, td_targets

if TYPE_CHECKING:
    from dqn.config import TrainConfig


class DuelingModule(nn.Module):
    """Q = V + A - mean_a A: the mean keeps V and A identifiable."""

    def __init__(self, in_features: int, n_actions: int, dense: Dense):
        super().__init__()
        self.value = dense(in_features, 1)
        self.advantage = dense(in_features, n_actions)

    def forward(self, features: torch.Tensor) -> NetworkOutput:
        advantage = self.advantage(features)
        return NetworkOutput(self.value(features) + advantage - advantage.mean(dim=1, keepdim=True))


class QHead(Head[NetworkOutput]):
    name = "q"

    def build(self, in_features: int, n_actions: int, options: SimpleNamespace, dense: Dense) -> nn.Module:
        # the head is that dense layer itself, so a plain one keeps the names `head.weight` and
        # `head.bias` that older checkpoints have
        return dense(in_features, n_actions)

    def loss(self, outputs: NetworkOutput, next_target: NetworkOutput, next_online: NetworkOutput | None,
             actions: torch.Tensor, returns: torch.Tensor, discounts: torch.Tensor,
             config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
        """Each sample's TD loss (config.loss) against td_targets, and its new priority |TD error|."""
        next_q_online = None if next_online is None else next_online.q_values
        targets = td_targets(returns, discounts, next_target.q_values, next_q_online)
        errors = td_errors(outputs.q_values, actions, targets)
        return elementwise_loss(errors, config.loss), errors.detach().abs()

    def weights(self, in_features: int, n_actions: int, config: TrainConfig) -> int:
        return dense_weights(config, (in_features, n_actions))


class DuelingHead(QHead):
    name = "dueling"

    def build(self, in_features: int, n_actions: int, options: SimpleNamespace, dense: Dense) -> nn.Module:
        return DuelingModule(in_features, n_actions, dense)

    def weights(self, in_features: int, n_actions: int, config: TrainConfig) -> int:
        return dense_weights(config, (in_features, n_actions), (in_features, 1))


HEADS = [QHead(), DuelingHead()]
