"""Evaluation protocols: how the games that score an agent are played.

Published Atari scores differ as much by protocol as by agent, so `dqn evaluate` names its own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dqn.config import TrainConfig
from dqn.envs.factory import FRAME_SKIP, MAX_FRAMES_PER_GAME, is_atari
from dqn.errors import UserError

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


PROTOCOLS = {
    "homework": Protocol("the training config's env (its no-op starts and sticky actions), greedy", 0.0, 10_000),
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
