"""The evaluation protocols by name: how the games that score an agent are played. Plain data below the
config (which checks its eval_protocol against them); evaluation/protocols.py plays them."""

from __future__ import annotations

from dataclasses import dataclass, field

from dqn.envs.registry import FRAME_SKIP, MAX_FRAMES_PER_GAME

HOMEWORK_SEED = 9  # the course's notebook seeds its final score's env with it

# the emulator also ends a game at MAX_FRAMES_PER_GAME, reset frames included (envs/families/atari.py)
FULL_GAME_STEPS = MAX_FRAMES_PER_GAME // FRAME_SKIP


@dataclass(frozen=True)
class Protocol:
    """Every game is played to its end (all lives) or its step limit, in the training config's env with
    `settings` on top: config fields, options of an env family (envs/registry.py), such as Atari's no-op
    starts and sticky actions."""

    description: str
    epsilon: float  # chance of a random action at each agent step
    t_max_steps: int  # agent steps at most in one game
    settings: dict[str, int | float] = field(default_factory=dict)

    @property
    def greedy(self) -> bool:
        return self.epsilon == 0


PROTOCOLS = {
    "training": Protocol("the training config's env (its no-op starts and sticky actions), greedy", 0.0, 10_000),
    "noop": Protocol("Mnih et al. 2015: up to 30 random no-ops at each game start, no sticky actions, "
                     "epsilon 0.05, at most 108,000 frames a game", 0.05, FULL_GAME_STEPS,
                     {"noop_max": 30, "repeat_action_probability": 0.0}),
    # the sticky actions vary the games, so the policy can stay greedy
    "sticky": Protocol("Machado et al. 2018 (ALE v5): sticky actions with probability 0.25, no no-op starts, "
                       "greedy, at most 108,000 frames a game", 0.0, FULL_GAME_STEPS,
                       {"noop_max": 0, "repeat_action_probability": 0.25}),
}

# the course's final score plays one life an episode, with no random no-ops (protocols.homework_final_score)
HOMEWORK_SETTINGS = {"noop_max": 0}
