"""Envs of vector observations and discrete actions, such as CartPole-v1: gymnasium's env as it is."""

from __future__ import annotations

import gymnasium as gym

from dqn.envs.registry import FAMILY_KINDS, gym_make
from dqn.errors import UserError


def make_env(config, *, evaluation: bool = False, render_mode: str | None = None) -> gym.Env:
    """The same env for training and evaluation: their rewards do not differ."""
    env_id = config.env_id
    env = gym_make(env_id, render_mode=render_mode)
    if not isinstance(env.action_space, gym.spaces.Discrete):
        env.close()
        raise UserError(f"env {env_id!r} has action space {env.action_space}; DQN needs a discrete one")
    if len(env.observation_space.shape or ()) != 1:
        env.close()
        image_families = " and ".join(name for name, kind in FAMILY_KINDS.items() if kind.observation == "image")
        raise UserError(f"env {env_id!r} has observations of shape {env.observation_space.shape}; images train "
                        f"only as the env families that make them ({image_families}) do")
    return gym.wrappers.RecordEpisodeStatistics(env)
