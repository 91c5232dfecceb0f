"""Environments: gymnasium ids made into the training and evaluation envs, with the Atari wrappers.

The names below are loaded on first use (the envs' module loads OpenCV), so that dqn.envs.ids stays light."""

from importlib import import_module

PUBLIC = {"is_atari": "dqn.envs.ids", "make_atari_env": "dqn.envs.factory", "make_env": "dqn.envs.factory"}

__all__ = sorted(PUBLIC)


def __getattr__(name: str):
    if name not in PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(PUBLIC[name]), name)
