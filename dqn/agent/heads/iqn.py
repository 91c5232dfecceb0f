"""Implicit quantile networks (Dabney et al. 2018): the head maps a quantile fraction tau in (0, 1)
to the tau-quantile of each action's return, for any tau; Q is the mean over sampled fractions.

Each fraction is embedded by cosines, cos(pi * i * tau) for i = 0 .. embedding_dim - 1, then a ReLU
layer, and multiplies the body's features element by element; a dense layer makes each action's
quantile. The paper multiplies the convolutions' output (3136 features for the Nature CNN) and
puts its 512-unit layer after the product, so that layer runs once per fraction: 64 times per
sample. Here the product comes after that layer, on its 512 features (the MLP's last hidden layer
on vector observations), which keeps an update's cost near a DQN's on a CPU.

Training draws N fractions for the online network on s and N' = N for the target network on s'
(iqn_quantile_samples), and K (iqn_action_samples) for the online network that picks the next
action with Double DQN and for acting, as Dopamine does (N = N' = 64, K = 32). Evaluation, which
passes no fractions, averages K evenly spaced ones: the same Q-values every time.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import TYPE_CHECKING, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from dqn.agent.heads.base import Dense, Head, dense_weights

if TYPE_CHECKING:
    from dqn.config import TrainConfig


class QuantileOutput(NamedTuple):
    q_values: torch.Tensor  # (batch, n_actions): the mean of the quantiles over the fractions
    quantiles: torch.Tensor  # (batch, n_fractions, n_actions)
    taus: torch.Tensor  # (batch, n_fractions)


def evenly_spaced_fractions(batch_size: int, n: int, device: torch.device | None = None) -> torch.Tensor:
    """(i + 0.5) / n for i = 0 .. n - 1, for each row: the midpoints of n equal slices of (0, 1)."""
    return ((torch.arange(n, device=device) + 0.5) / n).expand(batch_size, n)


class IQNModule(nn.Module):
    frequencies: torch.Tensor  # (embedding_dim,), a buffer

    def __init__(self, in_features: int, n_actions: int, embedding_dim: int, eval_fractions: int, dense: Dense):
        super().__init__()
        self.eval_fractions = eval_fractions
        self.register_buffer("frequencies", math.pi * torch.arange(embedding_dim, dtype=torch.float32),
                             persistent=False)
        self.embedding = nn.Linear(embedding_dim, in_features)
        self.quantile = dense(in_features, n_actions)

    def forward(self, features: torch.Tensor, taus: torch.Tensor | None = None) -> QuantileOutput:
        if taus is None:
            taus = evenly_spaced_fractions(len(features), self.eval_fractions, features.device)
        taus = taus.to(features.device)  # drawn on the CPU by the learner's generator
        embedded = F.relu(self.embedding(torch.cos(taus.unsqueeze(-1) * self.frequencies)))  # (batch, n, features)
        quantiles = self.quantile(features.unsqueeze(1) * embedded)
        return QuantileOutput(quantiles.mean(dim=1), quantiles, taus)


def quantile_huber_loss(quantiles: torch.Tensor, taus: torch.Tensor, targets: torch.Tensor,
                        kappa: float = 1.0) -> torch.Tensor:
    """Each sample's quantile Huber loss: quantiles (batch, N) at fractions taus (batch, N) against
    target samples (batch, N'): sum over i, mean over j of |tau_i - 1{u_ij < 0}| * huber_kappa(u_ij) / kappa,
    with u_ij = target_j - quantile_i (the paper's equation 10)."""
    errors = targets.detach().unsqueeze(1) - quantiles.unsqueeze(2)  # (batch, N, N')
    huber = F.huber_loss(errors, torch.zeros_like(errors), reduction="none", delta=kappa)
    weight = (taus.unsqueeze(2) - (errors.detach() < 0).float()).abs()
    return (weight * huber / kappa).mean(dim=2).sum(dim=1)


class IQNHead(Head[QuantileOutput]):
    name = "iqn"

    def build(self, in_features: int, n_actions: int, options: SimpleNamespace, dense: Dense) -> nn.Module:
        return IQNModule(in_features, n_actions, options.iqn_embedding_dim, options.iqn_action_samples, dense)

    def inputs(self, role: str, batch_size: int, config: TrainConfig,
               generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        n = config.iqn_quantile_samples if role in ("online", "target") else config.iqn_action_samples
        return {"taus": torch.rand(batch_size, n, generator=generator)}

    def loss(self, outputs: QuantileOutput, next_target: QuantileOutput, next_online: QuantileOutput | None,
             actions: torch.Tensor, returns: torch.Tensor, discounts: torch.Tensor,
             config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
        """The quantile Huber loss of the taken actions' quantiles against returns + discounts times
        the target network's quantiles of the next action, picked by the online network's mean over
        K fractions with Double DQN, else by the target network's over its N'. Priority: the loss."""
        rows = torch.arange(len(actions), device=actions.device)
        chooser = next_target if next_online is None else next_online
        best = chooser.q_values.argmax(dim=1)
        next_quantiles = next_target.quantiles[rows, :, best]  # (batch, N')
        targets = returns.float().unsqueeze(1) + discounts.float().unsqueeze(1) * next_quantiles
        losses = quantile_huber_loss(outputs.quantiles[rows, :, actions.long()], outputs.taus, targets)
        return losses, losses.detach()

    def weights(self, in_features: int, n_actions: int, config: TrainConfig) -> int:
        return config.iqn_embedding_dim * in_features + dense_weights(config, (in_features, n_actions))

    def describe(self, config: TrainConfig) -> str:
        return f"an iqn head of {config.iqn_embedding_dim} cosines"


HEADS = [IQNHead()]
