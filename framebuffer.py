"""The course's `framebuffer` module. The implementation lives in dqn.envs.framebuffer."""

from dqn.envs.framebuffer import FrameBuffer

__all__ = ["FrameBuffer"]
