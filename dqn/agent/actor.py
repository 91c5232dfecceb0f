"""The actor: the training envs stepped together, their actions chosen in one batch, epsilon-greedy
exploration on its schedule, and the statistics of the episodes played.

It has no optimizer and writes no files. Acting needs only Q-values: the learner's, or those of
any callable, such as a network that a distributed actor builds (loading.build_agent) and loads
the learner's weights into. So a distributed actor can run it as it is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from dqn.agent.policy import epsilon_greedy
from dqn.agent.schedules import linear_decay
from dqn.config import TrainConfig
from dqn.envs.factory import env_state, make_env, restore_env

# a batch of observations -> its Q-values, (batch, n_actions)
QFunction = Callable[[np.ndarray], np.ndarray]

# finished games whose mean is the logged training score
SCORE_WINDOW_GAMES = 20


@dataclass
class Transitions:
    """One agent step of every env: row i is env i's."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray  # what each step showed, before any reset
    terminated: np.ndarray
    truncated: np.ndarray


class Actor:
    """config.num_envs envs, seeded seed, seed + 1, ...; acts uniformly at random before
    config.learning_starts, then epsilon-greedily with epsilon decaying linearly from step 0, or
    with noisy nets greedily on the Q-values of the noisy network.

    With `epsilons`, one per env (a distributed actor's, schedules.apex_epsilons), each env explores
    with its own epsilon from the first step on: neither learning_starts nor the schedule applies."""

    def __init__(self, config: TrainConfig, seed: int, epsilons: np.ndarray | None = None):
        self.config = config
        self.epsilons = epsilons
        self.envs = [make_env(config) for _ in range(config.num_envs)]
        self.rng = np.random.default_rng(seed)  # exploration's draws
        self.obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(self.envs)])
        self.steps = 0  # agent steps of all envs together
        self.episodes = 0  # episodes ended as training sees them: on Atari a lost life ends one
        self.game_scores: deque[float] = deque(maxlen=SCORE_WINDOW_GAMES)  # raw scores of whole games
        self.epsilon = self.epsilon_at(0)  # that of the last actions chosen

    @property
    def observation_space(self):
        return self.envs[0].observation_space

    @property
    def n_actions(self) -> int:
        return int(self.envs[0].action_space.n)

    def epsilon_at(self, steps: int) -> float:
        """The chance of a random action at agent step `steps` (with fixed epsilons, their mean)."""
        cfg = self.config
        if self.epsilons is not None:
            return float(np.mean(self.epsilons))
        if steps < cfg.learning_starts:
            return 1.0
        if cfg.noisy:  # the network's noise explores
            return 0.0
        return linear_decay(cfg.eps_start, cfg.eps_end, steps, cfg.eps_decay_steps)

    def act(self, q_values: QFunction) -> np.ndarray:
        """An action for each env; before learning starts uniform, without asking q_values (unless
        the envs have fixed epsilons)."""
        self.epsilon = self.epsilon_at(self.steps)
        if self.epsilons is not None:
            return epsilon_greedy(q_values(self.obs), self.epsilons, self.rng)
        if self.steps < self.config.learning_starts:
            return self.rng.integers(self.n_actions, size=len(self.obs))
        return epsilon_greedy(q_values(self.obs), self.epsilon, self.rng)

    def step(self, actions: np.ndarray) -> Transitions:
        """Step each env with its action, resetting those whose episode ended."""
        n = len(self.envs)
        next_obs, current = np.empty_like(self.obs), np.empty_like(self.obs)
        rewards = np.zeros(n)
        terminated, truncated = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        for i, env in enumerate(self.envs):
            next_obs[i], rewards[i], terminated[i], truncated[i], info = env.step(int(actions[i]))
            if "episode" in info:  # RecordEpisodeStatistics: a whole game, unclipped
                self.game_scores.append(float(info["episode"]["r"]))
            current[i] = next_obs[i]
            if terminated[i] or truncated[i]:
                self.episodes += 1
                current[i], _ = env.reset()
        transitions = Transitions(self.obs, actions, rewards, next_obs, terminated, truncated)
        self.obs = current
        self.steps += n
        return transitions

    def state_dict(self) -> dict:
        return {"steps": self.steps, "episodes": self.episodes, "game_scores": list(self.game_scores),
                "obs": torch.from_numpy(self.obs.copy()), "rng": self.rng.bit_generator.state,
                # pickled envs stay an opaque byte tensor: plain loads (weights_only) never run them
                "envs": [torch.frombuffer(bytearray(env_state(env)), dtype=torch.uint8) for env in self.envs]}

    def load_state_dict(self, state: dict) -> None:
        self.close()
        self.envs = [restore_env(blob.numpy().tobytes()) for blob in state["envs"]]
        self.obs = state["obs"].numpy().copy()
        self.steps, self.episodes = state["steps"], state["episodes"]
        self.game_scores = deque(state["game_scores"], maxlen=SCORE_WINDOW_GAMES)
        self.rng.bit_generator.state = state["rng"]

    def close(self) -> None:
        for env in self.envs:
            env.close()
