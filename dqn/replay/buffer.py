"""Experience replay in fixed-size FIFO storage.

ReplayBuffer is the course's interface (add(s, a, r, s', done), sample, len), used by the
notebooks: it stores whole observations. FrameReplay is the training loops': it stores each
frame once and rebuilds frame stacks and n-step returns at sample time. Both sample uniformly;
PrioritizedFrameReplay samples FrameReplay's transitions by priority. build_replay makes the
one a TrainConfig asks for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dqn.envs.registry import family_of
from dqn.errors import UserError
from dqn.machine.files import write_atomic
from dqn.machine.system import check_fits_in_ram
from dqn.replay.sumtree import SumTree

if TYPE_CHECKING:
    from dqn.config import TrainConfig


class ReplayBuffer:
    """A FIFO of (s, a, r, s', done) in preallocated arrays: sampling is one index per field.

    `done` should be the `terminated` flag only, so that transitions cut by a time limit
    still bootstrap from s'.

    With frames_as_bytes=True, observations in [0, 1] are stored as uint8 (times 255, rounded)
    and sampled as float32 again: 4x less memory, and exact when every value is a whole gray
    level over 255, as the notebooks' preprocessing makes them.
    """

    def __init__(self, size: int, seed: int | None = None, frames_as_bytes: bool = False):
        if size <= 0:
            raise ValueError(f"replay size must be positive, got {size}")
        self._maxsize = int(size)
        self._frames_as_bytes = frames_as_bytes
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
            dtype = np.uint8 if self._frames_as_bytes else obs_t.dtype
            self._obs = np.zeros((self._maxsize, *obs_t.shape), dtype=dtype)
            self._next_obs = np.zeros_like(self._obs)
        i = self._next
        self._obs[i] = self._stored(obs_t)
        self._next_obs[i] = self._stored(obs_tp1)
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
        return (self._loaded(self._obs[idx]), self._actions[idx], self._rewards[idx],
                self._loaded(self._next_obs[idx]), self._dones[idx])

    def _stored(self, obs) -> np.ndarray:
        if not self._frames_as_bytes:
            return obs
        return np.rint(np.asarray(obs, dtype=np.float32) * 255)

    def _loaded(self, obs: np.ndarray) -> np.ndarray:
        # the same division the preprocessing does, so a round trip gives back the same floats
        return obs.astype(np.float32) / np.float32(255) if self._frames_as_bytes else obs

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


@dataclass
class Batch:
    """A sampled batch. The TD target is returns + discounts * V(next_obs)."""

    obs: np.ndarray
    actions: np.ndarray
    returns: np.ndarray  # discounted sum of the n rewards (fewer if the episode ended first)
    next_obs: np.ndarray
    discounts: np.ndarray  # gamma ** steps, or 0 where the episode terminated within them
    weights: np.ndarray | None = None  # prioritized replay: importance-sampling weights, at most 1
    indices: np.ndarray | None = None  # prioritized replay: the slots, for update_priorities


class FrameReplay:
    """Replay for the training loop: each frame is stored once, stacks are rebuilt at sample time.

    An observation is `stack` frames along axis 0; only its newest frame is stored per step, so
    memory per transition is one frame plus a few bytes (4x less than storing the stack, 8x less
    than storing obs and next_obs). Frames older than an episode's first step are zeros, as
    FrameBuffer gives after a reset. Each of `num_envs` envs writes its own ring, so their
    episodes never interleave. Multi-step returns (`n_step`) are summed at sample time, stopping
    at episode ends; a transition cut by a time limit still bootstraps from its last frame.

    Slot layout per ring: a slot holds the newest frame of an observation; `has_next` marks a
    slot whose transition (action, reward, terminated) was stored, its next frame being in the
    following slot. The last frame of an episode gets a slot of its own with has_next False.
    """

    # per slot, beside its frame; bytes_needed sizes the buffer from these same dtypes
    SLOT_FIELDS = {"actions": np.int64, "rewards": np.float32, "terminated": bool, "first": bool,
                   "has_next": bool}

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype, stack: int = 1,
                 num_envs: int = 1, n_step: int = 1, gamma: float = 0.99, seed: int | None = None):
        if obs_shape[0] % stack:
            raise ValueError(f"observation shape {obs_shape} is not {stack} stacked frames")
        self.ring = self.ring_size(capacity, num_envs, stack, n_step)
        self.stack, self.num_envs, self.n_step, self.gamma = stack, num_envs, n_step, gamma
        self.frame_shape = (obs_shape[0] // stack, *obs_shape[1:])
        shape = (num_envs, self.ring)
        self.frames = np.zeros(shape + self.frame_shape, dtype=obs_dtype)
        for name, dtype in self.SLOT_FIELDS.items():
            setattr(self, name, np.zeros(shape, dtype=dtype))
        self.cursor = np.zeros(num_envs, dtype=np.int64)  # next slot to write, per ring
        self.filled = np.zeros(num_envs, dtype=np.int64)  # slots written, up to ring
        self.open = np.zeros(num_envs, dtype=bool)  # the newest slot is the env's current state
        self._rng = np.random.default_rng(seed)

    @staticmethod
    def ring_size(capacity: int, num_envs: int, stack: int, n_step: int) -> int:
        """Slots per env; ValueError if they cannot hold one n-step transition with its stack."""
        ring = capacity // num_envs
        if ring < stack + n_step + 1:
            raise ValueError(f"capacity {capacity} is too small for {num_envs} envs")
        return ring

    @staticmethod
    def bytes_needed(capacity: int, obs_shape, obs_dtype, stack: int) -> int:
        frame = int(np.prod(obs_shape)) // stack * np.dtype(obs_dtype).itemsize
        return capacity * (frame + sum(np.dtype(t).itemsize for t in FrameReplay.SLOT_FIELDS.values()))

    @property
    def bytes_per_transition(self) -> float:
        arrays = [self.frames] + [getattr(self, name) for name in self.SLOT_FIELDS]
        return sum(a.nbytes for a in arrays) / (self.num_envs * self.ring)

    @property
    def nbytes(self) -> int:
        """Its arrays' bytes: its RAM once full, and about the size of the file save() writes."""
        return round(self.bytes_per_transition * self.num_envs * self.ring)

    def __len__(self) -> int:
        return int(self.filled.sum())

    def _write(self, env: int, frame: np.ndarray, first: bool) -> None:
        slot = self.cursor[env]
        self.frames[env, slot] = frame
        self.first[env, slot] = first
        self.has_next[env, slot] = False
        self.terminated[env, slot] = False
        self.cursor[env] = (slot + 1) % self.ring
        self.filled[env] = min(self.filled[env] + 1, self.ring)

    def add(self, env: int, obs, action, reward, next_obs, terminated: bool, truncated: bool) -> int:
        """Store one step of env number `env`; returns the slot of its transition. obs and next_obs
        may be whole stacks or their newest frames alone: only those are stored."""
        depth = self.frame_shape[0]
        if not self.open[env]:
            self._write(env, obs[-depth:], first=True)
        slot = (self.cursor[env] - 1) % self.ring
        self.actions[env, slot] = action
        self.rewards[env, slot] = reward
        self.terminated[env, slot] = terminated
        self.has_next[env, slot] = True
        self._write(env, next_obs[-depth:], first=False)
        self.open[env] = not (terminated or truncated)
        return int(slot)

    def add_steps(self, envs: np.ndarray, steps, **per_step) -> np.ndarray:
        """Store steps (an actor.Transitions, or one whose obs and next_obs are the newest frames),
        row k into ring envs[k], in order; per_step holds further arrays of add's arguments, one
        value per row (a prioritized replay's td_error). Returns the slots of their transitions."""
        return np.array([self.add(int(env), steps.obs[k], steps.actions[k], steps.rewards[k], steps.next_obs[k],
                                  steps.terminated[k], steps.truncated[k],
                                  **{name: values[k] for name, values in per_step.items()})
                         for k, env in enumerate(envs)], dtype=np.int64)

    def cut_episodes(self, envs: np.ndarray) -> None:
        """End the episodes of these rings where they are, so that their next steps start new ones:
        the envs that played them are gone (a restarted distributed actor). Their last transitions
        bootstrap from the last frame stored, as those cut by a time limit do."""
        self.open[envs] = False

    def _stacks(self, envs: np.ndarray, slots: np.ndarray) -> np.ndarray:
        idx = (slots[:, None] + np.arange(1 - self.stack, 1)) % self.ring
        frames = self.frames[envs[:, None], idx]
        first = self.first[envs[:, None], idx]
        # a frame is blanked when a later frame of the window starts an episode
        starts_later = np.flip(np.logical_or.accumulate(np.flip(first[:, 1:], 1), axis=1), 1)
        frames[:, :-1][starts_later] = 0
        return frames.reshape(len(slots), -1, *self.frame_shape[1:])

    def _valid(self, envs: np.ndarray, slots: np.ndarray) -> np.ndarray:
        valid = self.has_next[envs, slots].copy()
        # in a full ring the oldest slots' history has been overwritten
        full = self.filled[envs] == self.ring
        age_from_oldest = (slots - self.cursor[envs]) % self.ring
        valid &= ~full | (age_from_oldest >= self.stack - 1)
        return valid

    def sample_slots(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        if not self.has_next.any():
            raise ValueError("cannot sample from an empty replay buffer")
        envs = np.empty(0, dtype=np.int64)
        slots = np.empty(0, dtype=np.int64)
        weights = self.filled / self.filled.sum()
        while len(slots) < batch_size:  # rejection sampling: almost every slot is valid
            e = self._rng.choice(self.num_envs, size=batch_size, p=weights)
            s = (self._rng.random(batch_size) * self.filled[e]).astype(np.int64)
            keep = self._valid(e, s)
            envs, slots = np.concatenate([envs, e[keep]]), np.concatenate([slots, s[keep]])
        return envs[:batch_size], slots[:batch_size]

    def sample(self, batch_size: int) -> Batch:
        return self.batch_at(*self.sample_slots(batch_size))

    def batch_at(self, envs: np.ndarray, slots: np.ndarray) -> Batch:
        """The batch of the transitions in these slots (of rings envs), with their stacks and n-step
        returns, fewer steps where the episode ended or the ring holds no later step yet."""
        batch_size = len(slots)
        returns = self.rewards[envs, slots].astype(np.float32)
        last = slots.copy()
        steps = np.ones(batch_size, dtype=np.int64)
        alive = ~self.terminated[envs, slots]
        for j in range(1, self.n_step):
            slot = (slots + j) % self.ring
            alive &= self.has_next[envs, slot]
            returns += np.where(alive, self.gamma**j * self.rewards[envs, slot], 0.0).astype(np.float32)
            last = np.where(alive, slot, last)
            steps += alive
            alive &= ~self.terminated[envs, slot]
        discounts = np.where(self.terminated[envs, last], 0.0, self.gamma**steps).astype(np.float32)
        return Batch(self._stacks(envs, slots), self.actions[envs, slots], returns,
                     self._stacks(envs, (last + 1) % self.ring), discounts)

    def state_dict(self) -> dict:
        names = ["frames", "actions", "rewards", "terminated", "first", "has_next", "cursor", "filled", "open"]
        return {**{n: getattr(self, n) for n in names}, "rng": self._rng.bit_generator.state}

    def save(self, path: Path) -> None:
        """Write the whole buffer and its sampling RNG to an .npz file, atomically."""
        state = self.state_dict()
        rng = np.array(json.dumps(state.pop("rng")))
        write_atomic(path, lambda f: np.savez(f, rng=rng, **state))

    def load(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as data:
            state = {name: data[name] for name in data.files}
        state["rng"] = json.loads(str(state["rng"]))
        self.load_state_dict(state)

    def load_state_dict(self, state: dict) -> None:
        if state["frames"].shape != self.frames.shape:
            raise ValueError(f"replay of shape {state['frames'].shape} does not match {self.frames.shape}")
        for name, value in state.items():
            if name == "rng":
                self._rng.bit_generator.state = value
            else:
                setattr(self, name, value)


class PrioritizedFrameReplay(FrameReplay):
    """FrameReplay that samples a transition in proportion to its priority ** alpha.

    Proportional prioritized replay (Schaul et al., 2016): a new transition gets the largest
    priority so far, so it is replayed soon; after each update the trainer sets the sampled
    ones to |TD error| + eps. Importance-sampling weights (N P(i)) ** -beta, divided by the
    batch's largest, undo the bias of the sampling as beta goes to 1 (the trainer anneals it).
    Draws are stratified: one in each of batch_size equal slices of the total priority.
    """

    def __init__(self, *args, alpha: float = 0.5, eps: float = 1e-6, **kwargs):
        super().__init__(*args, **kwargs)
        self.alpha, self.eps = alpha, eps
        self.beta = 1.0
        self.tree = SumTree(self.num_envs * self.ring)
        self.max_priority = 1.0  # the largest priority ** alpha so far
        # leaf changes from add(), applied to the tree once per sample rather than once per step
        self._pending_slots: list[int] = []
        self._pending_values: list[float] = []

    @property
    def bytes_per_transition(self) -> float:
        return super().bytes_per_transition + self.tree.nodes.nbytes / (self.num_envs * self.ring)

    def _write(self, env: int, frame: np.ndarray, first: bool) -> None:
        self._pending_slots.append(env * self.ring + int(self.cursor[env]))
        self._pending_values.append(0.0)  # no transition from this slot yet
        super()._write(env, frame, first)

    def add(self, env: int, obs, action, reward, next_obs, terminated: bool, truncated: bool,
            td_error: float | None = None) -> int:
        """FrameReplay.add; the transition's priority comes from its td_error if given (a distributed
        actor computes it), else it is the largest so far."""
        slot = super().add(env, obs, action, reward, next_obs, terminated, truncated)
        self._pending_slots.append(env * self.ring + slot)
        self._pending_values.append(self.max_priority if td_error is None else float(self._priorities(td_error)))
        return slot

    def _priorities(self, td_errors):
        """(|TD error| + eps) ** alpha, which also raises the largest priority so far."""
        priorities = (np.abs(td_errors) + self.eps) ** self.alpha
        self.max_priority = max(self.max_priority, float(np.max(priorities)))
        return priorities

    def _flush(self) -> None:
        if self._pending_slots:
            self.tree.set(self._pending_slots, self._pending_values)  # in order: the last write wins
            self._pending_slots.clear()
            self._pending_values.clear()

    def sample_slots(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        self._flush()
        total = self.tree.total
        if total <= 0:
            raise ValueError("cannot sample from an empty replay buffer")
        mass = (np.arange(batch_size) + self._rng.random(batch_size)) * (total / batch_size)
        index = self.tree.find(mass)
        while True:
            envs, slots = np.divmod(index, self.ring)
            # the few slots whose older frames were overwritten, or a draw rounded onto an empty leaf
            bad = ~(self._valid(envs, slots) & (self.tree.values(index) > 0))
            if not bad.any():
                return envs, slots
            index[bad] = self.tree.find(self._rng.random(int(bad.sum())) * total)

    def sample(self, batch_size: int) -> Batch:
        envs, slots = self.sample_slots(batch_size)
        batch = self.batch_at(envs, slots)
        batch.indices = envs * self.ring + slots
        priorities = self.tree.values(batch.indices)
        # (N P(i)) ** -beta over its batch maximum: N and the total priority cancel out
        batch.weights = ((priorities.min() / priorities) ** self.beta).astype(np.float32)
        return batch

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        self.tree.set(indices, self._priorities(td_errors))

    def state_dict(self) -> dict:
        self._flush()
        return {**super().state_dict(), "priority_tree": self.tree.nodes,
                "max_priority": np.array(self.max_priority)}

    def load_state_dict(self, state: dict) -> None:
        state = dict(state)
        nodes = state.pop("priority_tree", None)
        if nodes is None or nodes.shape != self.tree.nodes.shape:
            raise ValueError("the saved replay has no priorities of this size")
        self.max_priority = float(state.pop("max_priority"))
        super().load_state_dict(state)
        self.tree.nodes = nodes
        self._pending_slots.clear()
        self._pending_values.clear()


def frames_per_observation(config: TrainConfig) -> int:
    """How many frames of time an observation stacks (Atari's frame_stack), each stored once."""
    return family_of(config.env_id).stacked_frames(config)


def check_replay(config: TrainConfig, obs_shape: tuple[int, ...], obs_dtype, num_envs: int) -> None:
    """UserError, before anything is allocated, if the RAM cannot hold the replay the config asks
    for, or its buffer_size cannot give each of num_envs rings room for one n-step transition."""
    stack = frames_per_observation(config)
    needed = FrameReplay.bytes_needed(config.buffer_size, obs_shape, obs_dtype, stack)
    check_fits_in_ram(needed, f"a replay of {config.buffer_size} transitions")
    try:
        FrameReplay.ring_size(config.buffer_size, num_envs, stack, config.n_step)
    except ValueError as exc:
        raise UserError(f"buffer_size: {exc}") from None


def build_replay(config: TrainConfig, obs_shape: tuple[int, ...], obs_dtype, num_envs: int) -> FrameReplay:
    """The replay a TrainConfig asks for, with one ring for each of num_envs envs, checked by check_replay."""
    check_replay(config, obs_shape, obs_dtype, num_envs)
    replay_kind, options = ((PrioritizedFrameReplay, {"alpha": config.priority_alpha})
                            if config.prioritized_replay else (FrameReplay, {}))
    return replay_kind(config.buffer_size, obs_shape, obs_dtype, stack=frames_per_observation(config),
                       num_envs=num_envs, n_step=config.n_step, gamma=config.gamma, seed=config.seed, **options)
