"""Exploration schedules."""


def linear_decay(init_val: float, final_val: float, cur_step: int, total_steps: int) -> float:
    """Go linearly from init_val at step 0 to final_val at total_steps, then stay there."""
    if cur_step >= total_steps:
        return final_val
    return (init_val * (total_steps - cur_step) + final_val * cur_step) / total_steps
