"""MinAtar's games (Young and Tian 2019, pip install -e '.[minatar]'): 10x10 images of one channel per kind
of object, at one agent step a frame, as the MinAtar paper trains DQN on them (its sticky actions, 0.1, and
its difficulty ramping kept; no frame stacking: the ball's trail is a channel of its own)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from dqn.envs.registry import gym_make

RENDER_CELL_PX = 16  # 10x10 cells make 160x160 frames
RENDER_FPS = 15  # a MinAtar frame is a whole game tick: slower than Atari's 60 to be followed


class MinAtarFrames(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """MinAtar's boolean (height, width, channels) state as (channels, height, width) uint8 frames of 0 and
    255, so that they are stored as bytes and come out of the network's division by 255 as MinAtar's 0 and 1."""

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        super().__init__(env)
        height, width, channels = env.observation_space.shape
        self.observation_space = gym.spaces.Box(0, 255, (channels, height, width), dtype=np.uint8)
        self.metadata = {**env.metadata, "render_fps": RENDER_FPS}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            # MinAtar's env seeds its game's generator only; gymnasium's contract also seeds np_random
            self.unwrapped.np_random, _ = gym.utils.seeding.np_random(seed)
        return super().reset(seed=seed, options=options)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.moveaxis(observation, -1, 0), dtype=np.uint8) * np.uint8(255)

    def render(self) -> np.ndarray | None:
        """MinAtar's rgb_array frame (10x10 floats in [0, 1]) as uint8 pixels, each cell a square of
        RENDER_CELL_PX: a size video encoders take and people can see."""
        frame = self.env.render()
        if self.render_mode != "rgb_array":
            return frame
        pixels = np.round(np.asarray(frame) * 255).astype(np.uint8)
        return pixels.repeat(RENDER_CELL_PX, axis=0).repeat(RENDER_CELL_PX, axis=1)


def make_env(config, *, evaluation: bool = False, render_mode: str | None = None) -> gym.Env:
    """The same env for training and evaluation: MinAtar's rewards are 0 or 1, nothing to clip."""
    # gymnasium's passive checker would warn about MinAtar's own rendering (float frames, no fps), which
    # MinAtarFrames replaces; gymnasium's check_env passes on the stack (tests/test_gym_contract.py)
    env = gym_make(config.env_id, render_mode=render_mode, disable_env_checker=True)
    return gym.wrappers.RecordEpisodeStatistics(MinAtarFrames(env))
