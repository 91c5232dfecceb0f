"""TD losses as pure functions of Q-values and batches, so they can be tested with fixed numbers: the
targets, the errors and their loss that the Q-value heads (heads/q.py) train on, and the course's
compute_td_loss. Each head's own loss is its head's (heads.base.Head.loss)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def td_targets(returns: torch.Tensor, discounts: torch.Tensor, next_q_target: torch.Tensor,
               next_q_online: torch.Tensor | None = None) -> torch.Tensor:
    """returns + discounts * V(s').

    For one step, returns = r and discounts = gamma * (1 - done); for n steps, the discounted
    sum of the n rewards and gamma^n (0 if the episode terminated within them).
    V(s') = max_a Q_target(s', a), or with Double DQN Q_target(s', argmax_a Q_online(s', a)).
    """
    if next_q_online is None:
        next_values = next_q_target.max(dim=1).values
    else:
        best = next_q_online.argmax(dim=1, keepdim=True)
        next_values = next_q_target.gather(1, best).squeeze(1)
    return returns + discounts * next_values


def td_errors(q_values: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Q(s, a) - target for each row; the targets are constants (no gradient flows into them)."""
    predicted = q_values.gather(1, actions.long().unsqueeze(1)).squeeze(1)
    return predicted - targets.detach()


def elementwise_loss(errors: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Each row's loss of its TD error: squared ('mse'), or 'huber' (squared within 1, linear beyond)."""
    if kind == "mse":
        return errors.square()
    if kind == "huber":
        return F.huber_loss(errors, torch.zeros_like(errors), reduction="none", delta=1.0)
    raise ValueError(f"unknown loss {kind!r}")


def weighted_mean(per_sample: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """The mean of per-sample losses, each times its weight if given (prioritized replay's
    importance-sampling weights)."""
    return per_sample.mean() if weights is None else (weights * per_sample).mean()


def td_loss(q_values: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor,
            kind: str = "mse", weights: torch.Tensor | None = None) -> torch.Tensor:
    """The mean loss of Q(s, a) against fixed targets, each row times its weight if given."""
    return weighted_mean(elementwise_loss(td_errors(q_values, actions, targets), kind), weights)


def compute_td_loss(states, actions, rewards, next_states, is_done, agent, target_network,
                    gamma: float = 0.99, check_shapes: bool = False, device=None,
                    double: bool = False) -> torch.Tensor:
    """The course's signature: numpy batches in, the mean squared TD error out."""
    if device is None:
        device = next(agent.parameters()).device
    states = torch.as_tensor(np.asarray(states), device=device)
    next_states = torch.as_tensor(np.asarray(next_states), device=device)
    if states.dtype != torch.uint8:
        states, next_states = states.float(), next_states.float()
    actions = torch.as_tensor(np.asarray(actions), device=device, dtype=torch.long)
    rewards = torch.as_tensor(np.asarray(rewards), device=device, dtype=torch.float32)
    is_done = torch.as_tensor(np.asarray(is_done).astype(np.float32), device=device)

    predicted_qvalues = agent(states)
    with torch.no_grad():
        predicted_next_qvalues = target_network(next_states)
        next_online = agent(next_states) if double else None
    targets = td_targets(rewards, gamma * (1.0 - is_done), predicted_next_qvalues, next_online)
    loss = td_loss(predicted_qvalues, actions, targets, kind="mse")

    if check_shapes:
        assert predicted_next_qvalues.dim() == 2, "make sure you predicted q-values for all actions in next state"
        assert targets.dim() == 1, "there's something wrong with target q-values, they must be a vector"
    return loss
