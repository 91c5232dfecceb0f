"""Exploration schedules."""

import numpy as np


def linear_decay(init_val: float, final_val: float, cur_step: int, total_steps: int) -> float:
    """Go linearly from init_val at step 0 to final_val at total_steps, then stay there."""
    if cur_step >= total_steps:
        return final_val
    return (init_val * (total_steps - cur_step) + final_val * cur_step) / total_steps


def apex_epsilons(slots: int, base: float = 0.4, alpha: float = 7.0) -> np.ndarray:
    """Ape-X's fixed exploration (Horgan et al. 2018): env slot i of `slots` explores with epsilon
    base ** (1 + alpha * i / (slots - 1)) for the whole run, from 0.4 down to 0.4 ** 8 (about 0.00066),
    so that some slots explore and others play nearly greedily; a single slot gets 0.4."""
    if slots == 1:
        return np.array([base])
    return base ** (1 + alpha * np.arange(slots) / (slots - 1))
