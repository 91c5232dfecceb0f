"""The course's `atari_wrappers` module. The implementations live in dqn.atari_wrappers."""

from dqn.atari_wrappers import (
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
