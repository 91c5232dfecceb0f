"""FrameBuffer: stacking order, reset, observation space, no aliasing."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.spaces import Box, Discrete

from dqn.envs.framebuffer import FrameBuffer

H, W = 3, 4


class CountingFrames(gym.Env):
    """Frames that say when they were made: channel c of the frame emitted
    t steps after reset is filled with 10 * (t + 1) + c. So with two channels
    the reset frame is (10, 11), the next (20, 21), and so on; 0 never
    appears, which tells the zero padding apart from real frames."""

    def __init__(self, channels=2, layout="chw", dtype=np.uint8):
        self.layout = layout
        self.channels = channels
        shape = (channels, H, W) if layout == "chw" else (H, W, channels)
        # Per-channel high (100, 200, ...) to check that low/high are tiled.
        high = np.array([100 * (c + 1) for c in range(channels)], dtype=dtype)
        high = high[:, None, None] if layout == "chw" else high[None, None, :]
        self.observation_space = Box(
            low=np.zeros(shape, dtype), high=np.broadcast_to(high, shape), dtype=dtype
        )
        self.action_space = Discrete(2)
        self.t = 0

    def _frame(self):
        values = np.array([10 * (self.t + 1) + c for c in range(self.channels)])
        if self.layout == "chw":
            values = values[:, None, None]
        return np.broadcast_to(values, self.observation_space.shape).astype(
            self.observation_space.dtype
        )

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._frame(), {}

    def step(self, action):
        self.t += 1
        return self._frame(), 0.0, False, False, {"t": self.t}


def pytorch_channels(obs):
    """The value of each stacked channel (frames are uniform in H and W)."""
    assert (obs == obs[:, :1, :1]).all()
    return obs[:, 0, 0].tolist()


def tensorflow_channels(obs):
    assert (obs == obs[:1, :1, :]).all()
    return obs[0, 0, :].tolist()


@pytest.mark.parametrize(
    "dim_order, layout, channels_of",
    [("pytorch", "chw", pytorch_channels), ("tensorflow", "hwc", tensorflow_channels)],
)
def test_stacking_order_oldest_first(dim_order, layout, channels_of):
    env = FrameBuffer(CountingFrames(layout=layout), n_frames=3, dim_order=dim_order)

    obs, _ = env.reset(seed=0)
    assert channels_of(obs) == [0, 0, 0, 0, 10, 11]  # zero frames, then the reset frame

    obs, _, _, _, info = env.step(0)
    assert info == {"t": 1}  # infos pass through
    assert channels_of(obs) == [0, 0, 10, 11, 20, 21]
    obs, *_ = env.step(0)
    assert channels_of(obs) == [10, 11, 20, 21, 30, 31]
    obs, *_ = env.step(0)
    assert channels_of(obs) == [20, 21, 30, 31, 40, 41]  # the reset frame fell off

    obs, _ = env.reset()
    assert channels_of(obs) == [0, 0, 0, 0, 10, 11]  # reset clears old frames


def test_observation_space_pytorch():
    env = FrameBuffer(CountingFrames(layout="chw"), n_frames=4)
    space = env.observation_space
    assert space.shape == (8, H, W)
    assert space.dtype == np.uint8
    assert (space.low == 0).all()
    assert space.high[:, 0, 0].tolist() == [100, 200] * 4
    obs, _ = env.reset(seed=0)
    assert obs.shape == space.shape and obs.dtype == space.dtype
    assert space.contains(obs)


def test_observation_space_tensorflow():
    env = FrameBuffer(CountingFrames(layout="hwc"), n_frames=4, dim_order="tensorflow")
    space = env.observation_space
    assert space.shape == (H, W, 8)
    assert space.high[0, 0, :].tolist() == [100, 200] * 4
    obs, _ = env.reset(seed=0)
    assert obs.shape == (H, W, 8)
    assert space.contains(obs)


def test_keeps_float_dtype():
    env = FrameBuffer(CountingFrames(channels=1, dtype=np.float32), n_frames=2)
    assert env.observation_space.dtype == np.float32
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32
    assert pytorch_channels(obs) == [0.0, 10.0]


def test_returned_arrays_are_not_aliased():
    env = FrameBuffer(CountingFrames(channels=1), n_frames=2)
    first, _ = env.reset(seed=0)
    second, *_ = env.step(0)
    assert pytorch_channels(first) == [0, 10]  # later steps did not change it

    second[:] = 99  # a caller scribbling on its copy does not reach the buffer
    third, *_ = env.step(0)
    assert pytorch_channels(third) == [20, 30]
    assert not np.shares_memory(second, third)


def test_unknown_dim_order_is_named():
    with pytest.raises(ValueError, match="theano"):
        FrameBuffer(CountingFrames(), dim_order="theano")
