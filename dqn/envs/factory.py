"""Building a config's environments, by its env family (envs/registry.py), and saving one where it stands."""

from __future__ import annotations

import pickle
from importlib import import_module

import gymnasium as gym

from dqn.envs.registry import family_of


def make_env(config, *, evaluation: bool = False, render_mode: str | None = None) -> gym.Env:
    """A training env of config's game, or with evaluation=True one that scores raw rewards (Atari's
    unclipped), built by its env family's module."""
    family = import_module(f"dqn.envs.families.{family_of(config.env_id).module}")
    return family.make_env(config, evaluation=evaluation, render_mode=render_mode)


def env_state(env: gym.Env) -> bytes:
    """Everything needed to go on exactly where env is: its wrapper chain pickled, plus what
    pickling an Atari env loses (ale-py rebuilds the emulator from its constructor arguments):
    the emulator state with its RNG, and the env's np_random."""
    raw = env.unwrapped
    emulator = raw.clone_state(include_rng=True) if hasattr(raw, "clone_state") else None
    return pickle.dumps((env, emulator, raw.np_random.bit_generator.state))


def restore_env(state: bytes) -> gym.Env:
    """The env saved by env_state, in the same state."""
    env, emulator, rng_state = pickle.loads(state)
    if emulator is not None:
        env.unwrapped.restore_state(emulator)
    env.unwrapped.np_random.bit_generator.state = rng_state
    return env
