"""Environments: gymnasium ids made into the training and evaluation envs, by env family (registry.py; each
family's envs in families/), with the course's Atari wrappers.

The names below are loaded on first use (Atari's module loads OpenCV), so that dqn.envs.registry stays light."""

from importlib import import_module

PUBLIC = {"is_atari": "dqn.envs.registry", "family_of": "dqn.envs.registry",
          "make_atari_env": "dqn.envs.families.atari", "make_env": "dqn.envs.factory"}

__all__ = sorted(PUBLIC)


def __getattr__(name: str):
    if name not in PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(PUBLIC[name]), name)
