"""Environments: gymnasium ids made into the training and evaluation envs, with the Atari wrappers."""

from dqn.envs.factory import is_atari, make_atari_env, make_env

__all__ = ["is_atari", "make_atari_env", "make_env"]
