"""random_shift on hand-computed images."""

import torch

from dqn.agent.augment import random_shift


def test_shift_moves_the_image_and_repeats_its_edges():
    image = torch.arange(9, dtype=torch.uint8).reshape(1, 1, 3, 3)  # rows 0 1 2 / 3 4 5 / 6 7 8
    generator = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(200):
        out = random_shift(image, 1, generator)
        assert out.dtype == torch.uint8 and out.shape == image.shape
        seen.add(tuple(out.flatten().tolist()))
    # a shift by one row down and one column right shows row 0 / column 0 twice
    assert (0, 0, 1, 0, 0, 1, 3, 3, 4) in seen
    # no shift, and one row up with the last row repeated
    assert tuple(range(9)) in seen and (3, 4, 5, 6, 7, 8, 6, 7, 8) in seen
    assert len(seen) == 9  # each of the 3 x 3 offsets


def test_the_channels_of_a_sample_move_together():
    frames = torch.arange(2 * 4 * 8 * 8, dtype=torch.float32).reshape(2, 4, 8, 8)
    frames[:, 1:] = frames[:, :1]  # 4 equal channels
    out = random_shift(frames, 2, torch.Generator().manual_seed(3))
    assert all(torch.equal(out[:, 0], out[:, k]) for k in range(1, 4))


def test_zero_pad_is_the_identity():
    frames = torch.rand(5, 4, 6, 6)
    assert torch.equal(random_shift(frames, 0, torch.Generator()), frames)
