"""The course's `atari_wrappers` module. The implementations live in dqn.envs.atari_wrappers."""

from dqn.envs.atari_wrappers import (
    AntiTorchWrapper,
    ClipRewardEnv,
    EpisodicLifeEnv,
    FireResetEnv,
    MaxAndSkipEnv,
    NoopResetEnv,
    PreprocessAtariObs,
)

__all__ = ["AntiTorchWrapper", "ClipRewardEnv", "EpisodicLifeEnv", "FireResetEnv", "MaxAndSkipEnv",
           "NoopResetEnv", "PreprocessAtariObs"]
