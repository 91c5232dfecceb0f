"""The course's agent interface around a Q-network: numpy in, numpy out, epsilon-greedy."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from dqn.agent.heads import HEADS
from dqn.agent.networks import QNetwork
from dqn.config import TrainConfig
from dqn.envs.registry import cnn_of


def epsilon_greedy(qvalues: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """Each row explores with probability epsilon (a uniform action), else takes its argmax."""
    batch_size, n_actions = qvalues.shape
    random_actions = rng.integers(0, n_actions, size=batch_size)
    best_actions = qvalues.argmax(axis=-1)
    explore = rng.random(batch_size) < epsilon
    return np.where(explore, random_actions, best_actions)


class DQNAgent(nn.Module):
    def __init__(self, state_shape, n_actions: int, epsilon: float = 0.0,
                 hidden_sizes: tuple[int, ...] = (128, 128), head: str = "q",
                 seed: int | None = None, cnn: str | None = "nature", noisy_sigma0: float | None = None,
                 head_options: dict | None = None):
        super().__init__()
        self.epsilon = epsilon
        self.n_actions = n_actions
        self.state_shape = tuple(state_shape)
        self.network = QNetwork(self.state_shape, n_actions, hidden_sizes, head, cnn, noisy_sigma0, head_options)
        self.rng = np.random.default_rng(seed)

    def forward(self, state_t: torch.Tensor, **head_inputs: torch.Tensor) -> torch.Tensor:
        """The Q-values alone, as the course's code expects of an agent; head_inputs as the
        network's head takes them (none: its evaluation default)."""
        return self.network(state_t, **head_inputs).q_values

    @torch.no_grad()
    def get_qvalues(self, states, **head_inputs: torch.Tensor) -> np.ndarray:
        """Q-values of a batch of states, as a numpy array (batch, n_actions)."""
        device = next(self.parameters()).device
        states = np.asarray(states)
        dtype = torch.uint8 if states.dtype == np.uint8 else torch.float32
        return self.forward(torch.as_tensor(states, device=device, dtype=dtype), **head_inputs).float().cpu().numpy()

    def sample_actions(self, qvalues: np.ndarray) -> np.ndarray:
        """Epsilon-greedy actions, with the agent's epsilon and random generator."""
        return epsilon_greedy(qvalues, self.epsilon, self.rng)

    def act(self, obs, epsilon: float = 0.0):
        """The action (an int) for one observation of the agent's shape, or an array of actions for a batch
        of them (n, *shape); greedy at epsilon 0, else epsilon-greedy with the agent's random generator."""
        obs = np.asarray(obs)
        single = obs.shape == self.state_shape
        if not single and obs.shape[1:] != self.state_shape:
            shape = ", ".join(map(str, self.state_shape))
            raise ValueError(f"observations of shape {obs.shape}; this agent takes ({shape}) or a batch (n, {shape})")
        qvalues = self.get_qvalues(obs[None] if single else obs)
        # greedy play draws nothing, so it leaves the generator as it was
        actions = qvalues.argmax(axis=-1) if epsilon == 0 else epsilon_greedy(qvalues, epsilon, self.rng)
        return int(actions[0]) if single else actions


def agent_options(config: TrainConfig) -> dict:
    """DQNAgent's arguments, besides the shapes, for config's network."""
    head_options = {option.name: getattr(config, option.name) for option in HEADS[config.head].options}
    return dict(hidden_sizes=config.hidden_sizes, head=config.head, seed=config.seed, cnn=cnn_of(config),
                noisy_sigma0=config.noisy_sigma0 if config.noisy else None, head_options=head_options)


def build_agent(config: TrainConfig, obs_shape: tuple[int, ...], n_actions: int) -> DQNAgent:
    """The untrained agent of config, for observations of obs_shape and n_actions actions."""
    return DQNAgent(obs_shape, n_actions, **agent_options(config))
