"""Building environments by id, with clear errors for ids that cannot be trained on."""

from __future__ import annotations

import gymnasium as gym

from dqn.errors import UserError


def _registered_spec(env_id: str):
    if env_id.startswith("ALE/") or "NoFrameskip" in env_id:
        import ale_py

        gym.register_envs(ale_py)
    try:
        return gym.spec(env_id)
    except gym.error.Error as exc:
        raise UserError(f"unknown env id {env_id!r} ({exc})") from None


def make_env(env_id: str, seed: int | None = None, render_mode: str | None = None) -> gym.Env:
    """A training or evaluation env for env_id.

    RecordEpisodeStatistics sits innermost, so info["episode"] carries the raw score of
    the whole game, whatever wrappers are added outside it.
    """
    _registered_spec(env_id)
    env = gym.make(env_id, render_mode=render_mode)
    if not isinstance(env.action_space, gym.spaces.Discrete):
        env.close()
        raise UserError(f"env {env_id!r} has action space {env.action_space}; DQN needs a discrete one")
    if len(env.observation_space.shape or ()) != 1:
        env.close()
        raise UserError(f"env {env_id!r} has observations of shape {env.observation_space.shape}; "
                        "this version trains on vector observations only")
    env = gym.wrappers.RecordEpisodeStatistics(env)
    if seed is not None:
        env.action_space.seed(seed)
    return env
