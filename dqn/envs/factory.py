"""Building environments from a config, with clear errors for ids that cannot be trained on."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np

from dqn.envs import atari_wrappers as aw
from dqn.envs.framebuffer import FrameBuffer
from dqn.envs.ids import FRAME_SKIP, MAX_FRAMES_PER_GAME, check_env_id, is_atari
from dqn.errors import UserError

# name -> (frame size, crop, grayscale weights) of PreprocessAtariObs
ATARI_PREPROCESSING = {
    "homework": (64, aw.BREAKOUT_CROP, aw.RED_HEAVY),
    "nature": (84, None, aw.LUMINANCE),
}


def gym_make(env_id: str, **kwargs) -> gym.Env:
    """gym.make, with any failure (an unknown id, a missing optional dependency) as one UserError."""
    check_env_id(env_id)
    try:
        return gym.make(env_id, **kwargs)
    except Exception as exc:  # gymnasium raises many kinds here, e.g. DependencyNotInstalled
        raise UserError(f"cannot make env {env_id!r}: {exc}") from None


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
    """A training env, or with evaluation=True one that scores raw, unclipped rewards.

    Evaluation keeps EpisodicLifeEnv on Atari so that each life starts with FIRE; a whole
    game is then played as several episodes, until `was_real_done` (see evaluation.py).
    """
    env_id = config.env_id
    if is_atari(env_id):
        return make_atari_env(env_id, clip_rewards=config.clip_rewards and not evaluation,
                              noop_max=config.noop_max, preprocessing=config.atari_preprocessing,
                              frame_stack=config.frame_stack, render_mode=render_mode,
                              repeat_action_probability=config.repeat_action_probability)
    if config.repeat_action_probability is not None:
        raise UserError(f"repeat_action_probability sets Atari's sticky actions; {env_id!r} is not an Atari env")
    env = gym_make(env_id, render_mode=render_mode)
    if not isinstance(env.action_space, gym.spaces.Discrete):
        env.close()
        raise UserError(f"env {env_id!r} has action space {env.action_space}; DQN needs a discrete one")
    if len(env.observation_space.shape or ()) != 1:
        env.close()
        raise UserError(f"env {env_id!r} has observations of shape {env.observation_space.shape}; "
                        "only vector observations and Atari screens are supported")
    return gym.wrappers.RecordEpisodeStatistics(env)


def env_state(env: gym.Env) -> bytes:
    """Everything needed to go on exactly where env is: its wrapper chain pickled, plus what
    pickling an Atari env loses (ale-py rebuilds the emulator from its constructor arguments):
    the emulator state with its RNG, and the env's np_random."""
    raw = env.unwrapped
    emulator = raw.clone_state(include_rng=True) if hasattr(raw, "clone_state") else None
    return pickle.dumps((env, emulator, raw.np_random.bit_generator.state))


def restore_env(state: bytes) -> gym.Env:
    """The env saved by env_state, in the same state."""
    env, emulator, rng_state = pickle.loads(state)
    if emulator is not None:
        env.unwrapped.restore_state(emulator)
    env.unwrapped.np_random.bit_generator.state = rng_state
    return env
