"""The course's `framebuffer` module. The implementation lives in dqn.framebuffer."""

from dqn.framebuffer import FrameBuffer

__all__ = ["FrameBuffer"]
