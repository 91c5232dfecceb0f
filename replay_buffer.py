"""The course's `replay_buffer` module. The implementation lives in dqn.replay."""

from dqn.replay import ReplayBuffer

__all__ = ["ReplayBuffer"]
