"""C51 (Bellemare et al. 2017) as pure functions: the return distribution on a fixed support of
atoms, its Bellman target projected back onto the support, and the cross-entropy loss.

Shapes: logits are (batch, n_actions, n_atoms); probabilities of one action are (batch, n_atoms).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def atom_support(v_min: float, v_max: float, n_atoms: int = 51, device=None) -> torch.Tensor:
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
