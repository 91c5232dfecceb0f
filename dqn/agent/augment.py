"""Data augmentation of sampled observations."""

from __future__ import annotations

import torch


def random_shift(images: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image of a (batch, channels, height, width) batch by its own random offset of
    up to `pad` pixels along each axis, repeating the edge pixels into the uncovered border.

    This is DrQ's augmentation (Kostrikov et al., 2020: pad by replication, crop back at a random
    place): Q-values must not hinge on a one-pixel difference, which makes learning from few
    frames more data-efficient. All channels of one sample move together, so motion between
    stacked frames is kept.
    """
    n, c, h, w = images.shape
    offsets = torch.randint(-pad, pad + 1, (n, 2), generator=generator)
    rows = (torch.arange(h) + offsets[:, :1]).clamp(0, h - 1)
    cols = (torch.arange(w) + offsets[:, 1:]).clamp(0, w - 1)
    batch = torch.arange(n)[:, None, None, None]
    channels = torch.arange(c)[None, :, None, None]
    return images[batch, channels, rows[:, None, :, None], cols[:, None, None, :]]
