"""Evaluation protocols: how the games that score an agent are played; playing them, and the
homework's final score.

Published Atari scores differ as much by protocol as by agent, so `dqn evaluate` names its own.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

import numpy as np

from dqn.config import TrainConfig
from dqn.envs.ids import FRAME_SKIP, MAX_FRAMES_PER_GAME, is_atari
from dqn.errors import UserError
from dqn.evaluation.games import homework_score, play_episodes

if typing.TYPE_CHECKING:
    import gymnasium as gym

HOMEWORK_SEED = 9  # the course's notebook seeds its final score's env with it

# the emulator also ends a game at MAX_FRAMES_PER_GAME, reset frames included (envs.make_atari_env)
FULL_GAME_STEPS = MAX_FRAMES_PER_GAME // FRAME_SKIP


@dataclass(frozen=True)
class Protocol:
    """Every game is played to its end (all lives) or its step limit. Fields that are None keep
    the training config's setting."""

    description: str
    epsilon: float  # chance of a random action at each agent step
    t_max_steps: int  # agent steps at most in one game
    noop_max: int | None = None  # Atari: random no-op agent steps at most at each game start
    repeat_action_probability: float | None = None  # Atari: sticky actions, per emulator frame

    @property
    def greedy(self) -> bool:
        return self.epsilon == 0


PROTOCOLS = {
    "training": Protocol("the training config's env (its no-op starts and sticky actions), greedy", 0.0, 10_000),
    "noop": Protocol("Mnih et al. 2015: up to 30 random no-ops at each game start, no sticky actions, "
                     "epsilon 0.05, at most 108,000 frames a game", 0.05, FULL_GAME_STEPS,
                     noop_max=30, repeat_action_probability=0.0),
    # the sticky actions vary the games, so the policy can stay greedy
    "sticky": Protocol("Machado et al. 2018 (ALE v5): sticky actions with probability 0.25, no no-op starts, "
                       "greedy, at most 108,000 frames a game", 0.0, FULL_GAME_STEPS,
                       noop_max=0, repeat_action_probability=0.25),
}


def protocol_config(config: TrainConfig, name: str) -> TrainConfig:
    """config with the env settings of protocol `name`; UserError if they are Atari's and config is not."""
    protocol = PROTOCOLS[name]
    changes = {field: getattr(protocol, field) for field in ("noop_max", "repeat_action_probability")
               if getattr(protocol, field) is not None}
    if changes and not is_atari(config.env_id):
        raise UserError(f"the {name} protocol is for Atari games; this checkpoint is for {config.env_id}")
    return dataclasses.replace(config, **changes)


def protocol_env(config: TrainConfig, name: str, render_mode: str | None = None) -> gym.Env:
    """An evaluation env (raw rewards) of config's game with the env settings of protocol `name`."""
    from dqn.envs.factory import make_env  # OpenCV and the wrappers: not for the command line's --help

    return make_env(protocol_config(config, name), evaluation=True, render_mode=render_mode)


def set_up_agent(agent, protocol: Protocol, seed: int) -> None:
    """Give agent the protocol's epsilon, and a generator seeded with seed for its random actions."""
    agent.epsilon, agent.rng = protocol.epsilon, np.random.default_rng(seed)


def play_by_protocol(env, agent, protocol: Protocol, n_games: int, seed: int, on_step=None,
                     on_game=None) -> list[float]:
    """The scores of n_games full games in env (see protocol_env), played as protocol says.

    seed seeds the first game's reset and the agent's random actions, so the same seed plays the
    same games. on_step and on_game as games.play_episodes's.
    """
    set_up_agent(agent, protocol, seed)
    return play_episodes(env, agent, n_games, greedy=protocol.greedy, t_max=protocol.t_max_steps, seed=seed,
                         full_games=True, on_step=on_step, on_game=on_game)


def homework_final_score(agent, config: TrainConfig, seed: int = HOMEWORK_SEED, on_step=None,
                         on_game=None) -> tuple[float, list[float]]:
    """The course's final score of agent (games.homework_score) and its one-life scores, played in
    the env the course scores in: config's game with raw rewards, an episode a life, no random no-ops.
    on_step and on_game (a life's) as games.play_episodes's."""
    from dqn.envs.factory import make_env

    env = make_env(dataclasses.replace(config, noop_max=0), evaluation=True)
    try:
        return homework_score(env, agent, seed=seed, on_step=on_step, on_game=on_game)
    finally:
        env.close()
