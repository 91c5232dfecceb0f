"""The two kinds of observation the agent takes: images (channels, height, width), stacked frames of
Atari, read by a CNN; and vectors (features,), as CartPole's, read by an MLP."""

from __future__ import annotations


def is_image(obs_shape: tuple[int, ...]) -> bool:
    """True for (channels, height, width) images, False for (features,) vectors; ValueError otherwise."""
    if len(obs_shape) not in (1, 3):
        raise ValueError(f"observations must be (features,) vectors or (channels, height, width) images, "
                         f"not of shape {tuple(obs_shape)}")
    return len(obs_shape) == 3
