"""Atari wrappers in the spirit of OpenAI baselines, for the gymnasium API.

Usual order, innermost first: StickyActionEnv, NoopResetEnv, MaxAndSkipEnv, EpisodicLifeEnv,
FireResetEnv, ClipRewardEnv, PreprocessAtariObs, FrameBuffer (see dqn.envs.families.atari.make_atari_env).

Each wrapper records its constructor's arguments (gymnasium.utils.RecordConstructorArgs), so that
``gymnasium.make(env.spec)`` re-creates a whole stack.

Gymnasium 1.x wrappers no longer forward unknown attributes, so read an inner
wrapper's attribute through the stack with
``env.get_wrapper_attr("was_real_done")``.
"""

from __future__ import annotations

from typing import Any

import cv2
import gymnasium as gym
import numpy as np
from gymnasium.spaces import Box

NOOP = 0
FIRE = 1


class MaxAndSkipEnv(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Repeat each action ``skip`` times and return the pixel-wise max of the
    last two raw frames.

    Skipping makes the agent act at a human-like rate and saves compute; the
    max removes the flicker of Atari sprites that are drawn only on every
    other frame. Rewards of the skipped frames are summed so none is lost.
    If the episode ends early, the step stops there: a finished env must not
    be stepped again, and the max is taken over the frames of this step only
    (a single frame if the very first one ended the episode).
    """

    def __init__(self, env: gym.Env, skip: int = 4):
        gym.utils.RecordConstructorArgs.__init__(self, skip=skip)
        gym.Wrapper.__init__(self, env)
        if skip < 1:
            raise ValueError(f"skip must be >= 1, got {skip}")
        self.skip = skip

    def step(self, action):
        total_reward = 0.0
        previous = obs = None
        for _ in range(self.skip):
            previous = obs
            obs, reward, terminated, truncated, info = self.env.step(action)
            total_reward += float(reward)
            if terminated or truncated:
                break
        if previous is not None:
            obs = np.maximum(previous, obs)
        return obs, total_reward, terminated, truncated, info


class EpisodicLifeEnv(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Make the loss of a life look like the end of an episode.

    This helps value estimation (losing a life is bad, and bootstrapping
    stops there), while the game itself only restarts at a real game over:
    reset() after a lost life just takes one no-op step and continues from
    the current state, so the agent still gets to see later parts of the game.

    ``was_real_done`` is True when the last episode end was a real game over
    (or a truncation); evaluation code uses it to score whole games.

    reset(seed=s) always starts a new game from that seed, whatever came
    before (gymnasium's contract: the same seed, the same first observation);
    reset() without a seed goes on with the game while it has lives left.
    """

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        self.lives = 0
        # True until the first step, so the first reset() is a real one.
        self.was_real_done = True

    def _ale_lives(self) -> int:
        return int(self.env.unwrapped.ale.lives())

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.was_real_done = bool(terminated or truncated)
        lives = self._ale_lives()
        # lives == 0 is the real game over, already reported by the env.
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        # a seed asks for a new game: without this, the FIRE steps of the last reset (FireResetEnv) would
        # leave a life in progress, and a second reset(seed=s) would go on with it
        if self.was_real_done or seed is not None:
            obs, info = self.env.reset(seed=seed, options=options)
        else:
            obs, _, terminated, truncated, info = self.env.step(NOOP)
            # The no-op can itself end the game; stepping on would be illegal.
            if terminated or truncated:
                obs, info = self.env.reset(options=options)
        self.lives = self._ale_lives()
        return obs, info


class FireResetEnv(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Press FIRE (then action 2) on reset, for games that wait for FIRE.

    In Breakout the ball is only served after FIRE; without it a fresh agent
    can sit forever doing nothing. If the game ends during these steps the env
    is reset again. The observation returned is always the last one the env
    actually produced.
    """

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        meanings = env.unwrapped.get_action_meanings()
        assert len(meanings) >= 3 and meanings[FIRE] == "FIRE", (
            f"FireResetEnv needs FIRE at action 1 and at least 3 actions, got {meanings}"
        )

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        for action in (FIRE, 2):
            obs, _, terminated, truncated, info = self.env.step(action)
            if terminated or truncated:
                # No seed here: re-seeding would replay the same ending.
                obs, info = self.env.reset(options=options)
        return obs, info


class ClipRewardEnv(gym.RewardWrapper, gym.utils.RecordConstructorArgs):
    """Replace the reward by its sign (-1.0, 0.0 or 1.0).

    Score scales differ a lot between games; clipping lets one learning rate
    and one network work for all of them, at the cost of ignoring magnitude.
    """

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.RewardWrapper.__init__(self, env)

    def reward(self, reward) -> float:
        return float(np.sign(reward))


class StickyActionEnv(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Sticky actions (Machado et al. 2018): at each step, with repeat_action_probability the
    previous step's action is played again instead of the agent's. Below MaxAndSkipEnv a step
    is one emulator frame, as in the ALE's own sticky actions, and each game starts from NOOP.

    The ALE can do this itself, but keeps the previous action out of the state it clones, so a
    restored env would forget it. Here it is an attribute, pickled with the wrapper chain, and
    the draws come from the env's np_random, which dqn.envs.factory.env_state saves: exact resume holds.
    """

    def __init__(self, env: gym.Env, repeat_action_probability: float):
        gym.utils.RecordConstructorArgs.__init__(self, repeat_action_probability=repeat_action_probability)
        gym.Wrapper.__init__(self, env)
        if not 0 <= repeat_action_probability <= 1:
            raise ValueError(f"repeat_action_probability must be in [0, 1], got {repeat_action_probability}")
        self.repeat_action_probability = repeat_action_probability
        self.last_action = NOOP

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self.last_action = NOOP
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        if self.np_random.random() >= self.repeat_action_probability:
            self.last_action = action
        return self.env.step(self.last_action)


class NoopResetEnv(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Start each episode with a random number (1..noop_max) of no-ops.

    Atari games are deterministic; random no-ops give varied start states so
    the agent cannot just memorise one trajectory. The count is drawn from
    the env's own RNG, so reset(seed=...) makes it reproducible.
    """

    def __init__(self, env: gym.Env, noop_max: int = 30):
        gym.utils.RecordConstructorArgs.__init__(self, noop_max=noop_max)
        gym.Wrapper.__init__(self, env)
        if noop_max < 1:
            raise ValueError(f"noop_max must be >= 1, got {noop_max}")
        self.noop_max = noop_max
        meanings = env.unwrapped.get_action_meanings()
        assert meanings[NOOP] == "NOOP", f"NoopResetEnv needs NOOP at action 0, got {meanings}"

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        # Drawn after the reset so a new seed applies to this very count.
        noops = int(self.np_random.integers(1, self.noop_max + 1))
        for _ in range(noops):
            obs, _, terminated, truncated, info = self.env.step(NOOP)
            if terminated or truncated:
                obs, info = self.env.reset(options=options)
        return obs, info


class AntiTorchWrapper(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Turn channel-first (C, H, W) observations back into (H, W, C) images.

    PyTorch wants channels first; image viewers and gymnasium.utils.play want
    them last.
    """

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        self.observation_space = Box(
            low=np.transpose(space.low, (1, 2, 0)),
            high=np.transpose(space.high, (1, 2, 0)),
            dtype=space.dtype,
        )

    def observation(self, observation):
        return np.ascontiguousarray(np.transpose(observation, (1, 2, 0)))


# Rows 32-195 and columns 8-151 of Breakout's 210x160 screen: without the score, the top
# wall, the side walls and the empty strip under the paddle.
BREAKOUT_CROP = (slice(32, 196), slice(8, 152))
RED_HEAVY = (0.8, 0.1, 0.1)  # bricks, ball and paddle are red-ish; the red channel separates them best
LUMINANCE = (0.299, 0.587, 0.114)


class PreprocessAtariObs(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Crop, grayscale and resize the RGB screen into one (1, size, size) channel.

    The homework's settings (the defaults) crop what carries no information for Breakout,
    weight red heavily, and shrink to 64x64. `nature` settings are the DQN paper's: the full
    screen, luminance, 84x84. With dtype float32 pixels are in [0, 1] (the notebook's
    observations); with uint8 they stay bytes in [0, 255], which replay stores 4x smaller
    and the network divides by 255.
    """

    def __init__(self, env: gym.Env, size: int = 64, crop=BREAKOUT_CROP,
                 channel_weights=RED_HEAVY, dtype=np.float32):
        gym.utils.RecordConstructorArgs.__init__(self, size=size, crop=crop, channel_weights=channel_weights,
                                                 dtype=dtype)
        gym.ObservationWrapper.__init__(self, env)
        self.size = size
        self.crop = crop
        self.channel_weights = np.asarray(channel_weights, dtype=np.float32)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.uint8):
            raise ValueError(f"dtype must be float32 or uint8, got {self.dtype}")
        high = 1.0 if self.dtype == np.float32 else 255
        self.img_size = (1, size, size)
        self.observation_space = Box(0, high, self.img_size, dtype=self.dtype)

    def _to_gray_scale(self, rgb: np.ndarray) -> np.ndarray:
        return rgb.astype(np.float32) @ self.channel_weights

    def observation(self, img: np.ndarray) -> np.ndarray:
        if self.crop is not None:
            img = img[self.crop]
        gray = self._to_gray_scale(img)
        small = cv2.resize(gray, (self.size, self.size), interpolation=cv2.INTER_AREA)
        if self.dtype == np.uint8:
            return np.round(small).astype(np.uint8)[None]
        return (small / 255.0).astype(np.float32)[None]
