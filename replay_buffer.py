"""The course's `replay_buffer` module. The implementation lives in dqn.replay.buffer."""

from dqn.replay.buffer import ReplayBuffer

__all__ = ["ReplayBuffer"]
