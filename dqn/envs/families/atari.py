"""Atari 2600 games of ale-py: the course's wrapper stack, on the Nature paper's 84x84 frames or the
homework's 64x64 crop."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from dqn.envs import atari_wrappers as aw
from dqn.envs.framebuffer import FrameBuffer
from dqn.envs.registry import FRAME_SKIP, MAX_FRAMES_PER_GAME, gym_make

# name -> (frame size, crop, grayscale weights) of PreprocessAtariObs
ATARI_PREPROCESSING = {
    "homework": (64, aw.BREAKOUT_CROP, aw.RED_HEAVY),
    "nature": (84, None, aw.LUMINANCE),
}


def make_atari_env(env_id: str, *, clip_rewards: bool = True, episodic_life: bool = True,
                   noop_max: int = 0, preprocessing: str = "nature", frame_stack: int = 4,
                   dtype=np.uint8, render_mode: str | None = None,
                   repeat_action_probability: float | None = None,
                   max_frames_per_game: int = MAX_FRAMES_PER_GAME) -> gym.Env:
    """The course's wrapper stack, innermost first: [StickyAction], [NoopReset], MaxAndSkip(4),
    [EpisodicLife], FireReset, [ClipReward], PreprocessAtariObs, FrameBuffer(pytorch order).

    RecordEpisodeStatistics sits right above the raw env and its sticky actions, so
    info["episode"] carries the raw score of the whole game, before life losses and reward clipping.
    preprocessing: a key of ATARI_PREPROCESSING; "nature", the default, is the frames that the presets and
    the shipped agents train on, "homework" the notebook's.
    repeat_action_probability: sticky actions, per emulator frame; None keeps the env id's own
    (0 for *NoFrameskip-v4, 0.25 for ALE/*-v5). StickyActionEnv plays them instead of the ALE,
    so that a saved env goes on exactly. max_frames_per_game: the emulator truncates a game at
    this many frames, reset frames included.
    """
    options = {"max_num_frames_per_episode": max_frames_per_game, "repeat_action_probability": 0.0}
    if env_id.startswith("ALE/"):
        options["frameskip"] = 1  # ALE/*-v5 ids skip frames themselves; MaxAndSkip would skip again
    env = gym_make(env_id, render_mode=render_mode, **options)
    if repeat_action_probability is None:
        repeat_action_probability = gym.spec(env_id).kwargs["repeat_action_probability"]
    if repeat_action_probability > 0:
        env = aw.StickyActionEnv(env, repeat_action_probability)
    env = gym.wrappers.RecordEpisodeStatistics(env)
    if noop_max > 0:
        env = aw.NoopResetEnv(env, noop_max=noop_max)
    env = aw.MaxAndSkipEnv(env, skip=FRAME_SKIP)
    if episodic_life:
        env = aw.EpisodicLifeEnv(env)
    if "FIRE" in env.unwrapped.get_action_meanings():
        env = aw.FireResetEnv(env)
    if clip_rewards:
        env = aw.ClipRewardEnv(env)
    size, crop, weights = ATARI_PREPROCESSING[preprocessing]
    env = aw.PreprocessAtariObs(env, size=size, crop=crop, channel_weights=weights, dtype=dtype)
    return FrameBuffer(env, n_frames=frame_stack, dim_order="pytorch")


def make_env(config, *, evaluation: bool = False, render_mode: str | None = None) -> gym.Env:
    """config's game; evaluation scores raw, unclipped rewards.

    Evaluation keeps EpisodicLifeEnv so that each life starts with FIRE; a whole game is then played as
    several episodes, until `was_real_done` (evaluation/games.py)."""
    return make_atari_env(config.env_id, clip_rewards=config.clip_rewards and not evaluation,
                          noop_max=config.noop_max, preprocessing=config.atari_preprocessing,
                          frame_stack=config.frame_stack, render_mode=render_mode,
                          repeat_action_probability=config.repeat_action_probability)
