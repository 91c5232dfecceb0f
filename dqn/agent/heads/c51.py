"""C51 (Bellemare et al. 2017): the return distribution on a fixed support of atoms, its Bellman
target projected back onto the support, and the cross-entropy loss, as pure functions; then the
heads that output such distributions, plain and with Rainbow's dueling split.

Shapes: logits are (batch, n_actions, n_atoms); probabilities of one action are (batch, n_atoms).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from dqn.agent.heads.base import Dense, Head, dense_weights

if TYPE_CHECKING:
    from dqn.config import TrainConfig


def atom_support(v_min: float, v_max: float, n_atoms: int = 51,
                 device: torch.device | None = None) -> torch.Tensor:
    """The n_atoms returns z_0 = v_min < ... < z_{n-1} = v_max, evenly spaced."""
    if not v_min < v_max or n_atoms < 2:
        raise ValueError(f"need v_min < v_max and n_atoms >= 2, got {v_min}, {v_max}, {n_atoms}")
    return torch.linspace(v_min, v_max, n_atoms, device=device)


def expected_q(logits: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """Q(s, a) = sum_i p_i(s, a) z_i, the mean of each action's distribution: (batch, n_actions)."""
    return torch.softmax(logits.float(), dim=-1) @ support


def next_action_probs(next_logits_target: torch.Tensor, support: torch.Tensor,
                      next_logits_online: torch.Tensor | None = None) -> torch.Tensor:
    """The target network's distribution at the next action a* = argmax_a Q(s', a).

    Q is the target network's mean, or with Double DQN the online network's (it picks, the
    target network evaluates), as in losses.td_targets.
    """
    chooser = next_logits_target if next_logits_online is None else next_logits_online
    best = expected_q(chooser, support).argmax(dim=1)
    chosen = next_logits_target[torch.arange(len(best), device=best.device), best]
    return torch.softmax(chosen.float(), dim=-1)


def categorical_projection(next_probs: torch.Tensor, returns: torch.Tensor, discounts: torch.Tensor,
                           support: torch.Tensor) -> torch.Tensor:
    """Project the distribution of returns + discounts * Z(s', a*) onto the support.

    next_probs (batch, n_atoms) are the probabilities of Z(s', a*) on the support; returns and
    discounts (batch,) are as in losses.td_targets (discounts 0 where the episode terminated, so
    all the mass lands on the return). Each shifted atom is clipped to [v_min, v_max] and its
    probability split between the two nearest atoms in proportion to closeness.
    """
    v_min, v_max, n_atoms = support[0], support[-1], len(support)
    delta = (v_max - v_min) / (n_atoms - 1)
    shifted = (returns[:, None] + discounts[:, None] * support[None, :]).clamp(v_min, v_max)
    # clamped again: rounding could put v_max a hair beyond the last atom's index
    position = ((shifted - v_min) / delta).clamp(0, n_atoms - 1)
    lower, upper = position.floor().long(), position.ceil().long()
    # on an atom lower == upper and both distance weights are 0: that atom gets the whole mass
    lower_weight = (upper - position) + (lower == upper)
    upper_weight = position - lower
    projected = torch.zeros_like(next_probs)
    projected.scatter_add_(1, lower, next_probs * lower_weight)
    projected.scatter_add_(1, upper, next_probs * upper_weight)
    return projected


def c51_targets(returns: torch.Tensor, discounts: torch.Tensor, next_logits_target: torch.Tensor,
                support: torch.Tensor, next_logits_online: torch.Tensor | None = None) -> torch.Tensor:
    """The target distributions (batch, n_atoms) of a batch: the distributional td_targets."""
    next_probs = next_action_probs(next_logits_target, support, next_logits_online)
    return categorical_projection(next_probs, returns.float(), discounts.float(), support)


def c51_loss(logits: torch.Tensor, actions: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy -sum_i m_i log p_i(s, a) of the taken actions' distributions
    against fixed targets m: the loss to average (times importance weights) and, as in
    Rainbow, the new priority of each sample."""
    chosen = logits[torch.arange(len(actions), device=logits.device), actions.long()]
    return -(target_probs.detach() * F.log_softmax(chosen.float(), dim=-1)).sum(dim=-1)


class C51Output(NamedTuple):
    """What a C51 head says of a batch: Q-values, the logits of each action's distribution and the
    return each atom stands for."""

    q_values: torch.Tensor  # (batch, n_actions)
    logits: torch.Tensor  # (batch, n_actions, n_atoms)
    support: torch.Tensor  # (n_atoms,)


class C51Module(nn.Module):
    """A distribution of the return of each action on n_atoms fixed atoms: logits (batch,
    n_actions, n_atoms), and as Q-values their means, on which the agent acts."""

    def __init__(self, in_features: int, n_actions: int, n_atoms: int, v_min: float, v_max: float, dense: Dense):
        super().__init__()
        self.n_actions, self.n_atoms = n_actions, n_atoms
        self.action_atoms = dense(in_features, n_actions * n_atoms)
        # rebuilt from the config on loading, so not saved with the weights
        self.register_buffer("support", atom_support(v_min, v_max, n_atoms), persistent=False)

    def atom_logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.action_atoms(features).view(-1, self.n_actions, self.n_atoms)

    def forward(self, features: torch.Tensor) -> C51Output:
        logits = self.atom_logits(features)
        return C51Output(expected_q(logits, self.support), logits, self.support)


class C51DuelingModule(C51Module):
    """C51 with a dueling split per atom: logits = V + A - mean_a A, V of shape (batch, 1, n_atoms)
    (Hessel et al. 2018); action_atoms is the advantage stream."""

    def __init__(self, in_features: int, n_actions: int, n_atoms: int, v_min: float, v_max: float, dense: Dense):
        super().__init__(in_features, n_actions, n_atoms, v_min, v_max, dense)
        self.value = dense(in_features, n_atoms)

    def atom_logits(self, features: torch.Tensor) -> torch.Tensor:
        advantage = super().atom_logits(features)
        return self.value(features).unsqueeze(1) + advantage - advantage.mean(dim=1, keepdim=True)


class C51Head(Head[C51Output]):
    name = "c51"
    module: type[C51Module] = C51Module

    def build(self, in_features: int, n_actions: int, options: SimpleNamespace, dense: Dense) -> nn.Module:
        return self.module(in_features, n_actions, options.n_atoms, options.v_min, options.v_max, dense)

    def loss(self, outputs: C51Output, next_target: C51Output, next_online: C51Output | None,
             actions: torch.Tensor, returns: torch.Tensor, discounts: torch.Tensor,
             config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
        """Each sample's cross-entropy against its projected target distribution (c51_targets, the
        distributional td_targets), and that cross-entropy again as its new priority, as in Rainbow.
        config.loss, a loss of TD errors, has no say over a cross-entropy."""
        next_logits_online = None if next_online is None else next_online.logits
        with torch.no_grad():
            targets = c51_targets(returns, discounts, next_target.logits, next_target.support, next_logits_online)
        losses = c51_loss(outputs.logits, actions, targets)
        return losses, losses.detach()

    def weights(self, in_features: int, n_actions: int, config: TrainConfig) -> int:
        return dense_weights(config, (in_features, n_actions * config.n_atoms))

    def describe(self, config: TrainConfig) -> str:
        return f"a {self.name} head of {config.n_atoms} atoms"


class C51DuelingHead(C51Head):
    name = "c51-dueling"
    module = C51DuelingModule

    def weights(self, in_features: int, n_actions: int, config: TrainConfig) -> int:
        return super().weights(in_features, n_actions, config) + dense_weights(config, (in_features, config.n_atoms))


HEADS = [C51Head(), C51DuelingHead()]
