"""Experience replay: a fixed-size FIFO of (s, a, r, s', done) with uniform sampling.

Preallocated numpy arrays rather than a list of tuples: sampling is one fancy-index per
field, and memory is known up front. `done` is the `terminated` flag only, so that
transitions cut by a time limit still bootstrap from s'.
"""

from __future__ import annotations

import numpy as np


class ReplayBuffer:
    def __init__(self, size: int, seed: int | None = None):
        if size <= 0:
            raise ValueError(f"replay size must be positive, got {size}")
        self._maxsize = int(size)
        self._next = 0  # slot the next transition goes into
        self._len = 0
        self._rng = np.random.default_rng(seed)
        self._obs = self._next_obs = None  # allocated at the first add, when the shape is known
        self._actions = np.zeros(self._maxsize, dtype=np.int64)
        self._rewards = np.zeros(self._maxsize, dtype=np.float32)
        self._dones = np.zeros(self._maxsize, dtype=bool)

    def __len__(self) -> int:
        return self._len

    @property
    def capacity(self) -> int:
        return self._maxsize

    @property
    def dones(self) -> np.ndarray:
        """The stored done flags, oldest first (a copy)."""
        return np.roll(self._dones[: self._len], -self._next if self._len == self._maxsize else 0)

    def seed(self, seed: int | None) -> None:
        self._rng = np.random.default_rng(seed)

    def add(self, obs_t, action, reward, obs_tp1, done) -> None:
        """Store one transition, evicting the oldest when full."""
        obs_t = np.asarray(obs_t)
        if self._obs is None:
            self._obs = np.zeros((self._maxsize, *obs_t.shape), dtype=obs_t.dtype)
            self._next_obs = np.zeros_like(self._obs)
        i = self._next
        self._obs[i] = obs_t
        self._next_obs[i] = obs_tp1
        self._actions[i] = int(action)
        self._rewards[i] = float(reward)
        self._dones[i] = bool(done)
        self._next = (i + 1) % self._maxsize
        self._len = min(self._len + 1, self._maxsize)

    def sample_indices(self, batch_size: int) -> np.ndarray:
        """Uniform with replacement, as the course's buffer does."""
        if self._len == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        return self._rng.integers(0, self._len, size=batch_size)

    def sample(self, batch_size: int):
        """Return (obs, actions, rewards, next_obs, dones), each with batch_size rows."""
        idx = self.sample_indices(batch_size)
        return (self._obs[idx], self._actions[idx], self._rewards[idx],
                self._next_obs[idx], self._dones[idx])

    def state_dict(self) -> dict:
        return {"maxsize": self._maxsize, "next": self._next, "len": self._len,
                "rng": self._rng.bit_generator.state, "obs": self._obs, "next_obs": self._next_obs,
                "actions": self._actions, "rewards": self._rewards, "dones": self._dones}

    def load_state_dict(self, state: dict) -> None:
        if state["maxsize"] != self._maxsize:
            raise ValueError(f"replay capacity {state['maxsize']} does not match {self._maxsize}")
        self._next, self._len = state["next"], state["len"]
        self._rng.bit_generator.state = state["rng"]
        self._obs, self._next_obs = state["obs"], state["next_obs"]
        self._actions, self._rewards, self._dones = state["actions"], state["rewards"], state["dones"]
