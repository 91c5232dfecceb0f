"""Stack the last few frames into one observation."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.spaces import Box

# Axis along which frames are stacked: channels come first for PyTorch,
# last for TensorFlow.
_STACK_AXIS = {"pytorch": 0, "tensorflow": 2}


class FrameBuffer(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Observation = the last ``n_frames`` frames stacked along the channel axis.

    A single frame hides motion (where is the ball going?); a few consecutive
    frames make the state close to Markov.

    ``dim_order='pytorch'``: frames are (C, H, W), output (n_frames*C, H, W).
    ``dim_order='tensorflow'``: frames are (H, W, C), output (H, W, n_frames*C).
    The oldest frame comes first and the newest last. After reset the older
    slots are zeros. The dtype of the inner observations is kept, and every
    call returns a fresh array.
    """

    def __init__(self, env: gym.Env, n_frames: int = 4, dim_order: str = "pytorch"):
        gym.utils.RecordConstructorArgs.__init__(self, n_frames=n_frames, dim_order=dim_order)
        gym.Wrapper.__init__(self, env)
        if dim_order not in _STACK_AXIS:
            raise ValueError(
                f"dim_order must be 'pytorch' or 'tensorflow', got {dim_order!r}"
            )
        if n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        self.n_frames = n_frames
        self.dim_order = dim_order
        self._axis = _STACK_AXIS[dim_order]

        space = env.observation_space
        if len(space.shape) != 3:
            raise ValueError(f"FrameBuffer needs 3-d observations, got shape {space.shape}")
        reps = [1, 1, 1]
        reps[self._axis] = n_frames
        self.observation_space = Box(
            low=np.tile(space.low, reps), high=np.tile(space.high, reps), dtype=space.dtype
        )
        self._frame_depth = space.shape[self._axis]
        self._buffer = np.zeros(self.observation_space.shape, dtype=space.dtype)

    def _push(self, frame) -> np.ndarray:
        keep = [slice(None)] * 3
        keep[self._axis] = slice(self._frame_depth, None)
        frame = np.asarray(frame, dtype=self._buffer.dtype)
        self._buffer = np.concatenate([self._buffer[tuple(keep)], frame], axis=self._axis)
        # Hand out a copy: callers (e.g. a replay buffer) may keep or edit it.
        return self._buffer.copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        frame, info = self.env.reset(seed=seed, options=options)
        self._buffer = np.zeros_like(self._buffer)
        return self._push(frame), info

    def step(self, action):
        frame, reward, terminated, truncated, info = self.env.step(action)
        return self._push(frame), reward, terminated, truncated, info
