"""Evaluation protocols: how the games that score an agent are played; playing them, and the
homework's final score.

Published Atari scores differ as much by protocol as by agent, so `dqn evaluate` names its own.
"""

from __future__ import annotations

import dataclasses
import typing

import numpy as np

from dqn.config import TrainConfig
from dqn.envs.registry import settings_misfit
from dqn.errors import UserError
from dqn.evaluation.games import homework_score, play_episodes
from dqn.evaluation.registry import HOMEWORK_SEED, HOMEWORK_SETTINGS, PROTOCOLS, Protocol

if typing.TYPE_CHECKING:
    import gymnasium as gym

    from dqn.contracts import PlayingAgent, SeedableAgent


def config_with(config: TrainConfig, settings: dict, named: str) -> TrainConfig:
    """config with env settings (an evaluation's); UserError, naming them as `named`, if config's env family
    has no such settings."""
    misfit = settings_misfit(config.env_id, settings)
    if misfit:
        raise UserError(f"{named} {misfit}")
    # replace() checks the config anew: only for a config that changes
    return dataclasses.replace(config, **settings) if settings else config


def protocol_config(config: TrainConfig, name: str) -> TrainConfig:
    """config with the env settings of protocol `name`; UserError if config's env family has no such settings."""
    return config_with(config, PROTOCOLS[name].settings, f"the {name} protocol")


def protocol_env(config: TrainConfig, name: str, render_mode: str | None = None) -> gym.Env:
    """An evaluation env (raw rewards) of config's game with the env settings of protocol `name`."""
    from dqn.envs.factory import make_env  # OpenCV and the wrappers: not for the command line's --help

    return make_env(protocol_config(config, name), evaluation=True, render_mode=render_mode)


def set_up_agent(agent: SeedableAgent, protocol: Protocol, seed: int) -> None:
    """Give agent the protocol's epsilon, and a generator seeded with seed for its random actions."""
    agent.epsilon, agent.rng = protocol.epsilon, np.random.default_rng(seed)


def play_by_protocol(env, agent: SeedableAgent, protocol: Protocol, n_games: int, seed: int, on_step=None,
                     on_game=None) -> list[float]:
    """The scores of n_games full games in env (see protocol_env), played as protocol says.

    seed seeds the first game's reset and the agent's random actions, so the same seed plays the
    same games. on_step and on_game as games.play_episodes's.
    """
    set_up_agent(agent, protocol, seed)
    return play_episodes(env, agent, n_games, greedy=protocol.greedy, t_max=protocol.t_max_steps, seed=seed,
                         full_games=True, on_step=on_step, on_game=on_game)


def homework_config(config: TrainConfig) -> TrainConfig:
    """config with the settings of the course's final score; UserError if config's env family has none (it
    scores Atari lives)."""
    return config_with(config, HOMEWORK_SETTINGS, "the course's final score (--homework)")


def homework_final_score(agent: PlayingAgent, config: TrainConfig, seed: int = HOMEWORK_SEED, on_step=None,
                         on_game=None) -> tuple[float, list[float]]:
    """The course's final score of agent (games.homework_score) and its one-life scores, played in
    the env the course scores in: config's game with raw rewards, an episode a life, no random no-ops.
    on_step and on_game (a life's) as games.play_episodes's."""
    from dqn.envs.factory import make_env

    env = make_env(homework_config(config), evaluation=True)
    try:
        return homework_score(env, agent, seed=seed, on_step=on_step, on_game=on_game)
    finally:
        env.close()
