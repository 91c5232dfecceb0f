"""Q-networks: a body chosen by the observation's kind (an MLP for vectors, a CNN for images) and a
head chosen by name from heads.HEADS."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from dqn.agent.heads import HEADS
from dqn.agent.heads.base import Dense, NetworkOutput
from dqn.agent.noisy import NoisyLinear
from dqn.envs.spaces import is_image


def dense_layers(noisy_sigma0: float | None) -> Dense:
    """How the network's noisy-capable dense layers are built: nn.Linear, or with noisy nets a
    NoisyLinear of that sigma0."""
    if noisy_sigma0 is None:
        return nn.Linear
    return lambda in_features, out_features: NoisyLinear(in_features, out_features, noisy_sigma0)


def mlp_body(in_features: int, hidden_sizes: tuple[int, ...], last: Dense = nn.Linear) -> nn.Sequential:
    """ReLU layers of hidden_sizes; the last one, which makes the head's features, built by `last`."""
    layers: list[nn.Module] = []
    for i, width in enumerate(hidden_sizes):
        layers += [(last if i == len(hidden_sizes) - 1 else nn.Linear)(in_features, width), nn.ReLU()]
        in_features = width
    return nn.Sequential(*layers)


# (out channels, kernel, stride) of each convolution, then the width of the dense layer
CNN_ENCODERS = {
    # Mnih et al. 2015 (Nature): about 18.6 MFLOP per 84x84 observation
    "nature": ([(32, 8, 4), (64, 4, 2), (64, 3, 1)], 512),
    # Mnih et al. 2013 (NIPS workshop): about 3x fewer FLOPs, for CPUs without fast matrix units
    "nips": ([(16, 8, 4), (32, 4, 2)], 256),
}


def cnn_body(kind: str, in_channels: int, height: int, width: int,
             dense: Dense = nn.Linear) -> tuple[nn.Sequential, int]:
    """A DQN image encoder from CNN_ENCODERS, its dense layer built by `dense`; returns it with its output width."""
    convolutions, dense_width = CNN_ENCODERS[kind]
    layers: list[nn.Module] = []
    channels = in_channels
    for out_channels, kernel, stride in convolutions:
        layers += [nn.Conv2d(channels, out_channels, kernel_size=kernel, stride=stride), nn.ReLU()]
        channels = out_channels
    body = nn.Sequential(*layers, nn.Flatten())
    with torch.no_grad():
        out = body(torch.zeros(1, in_channels, height, width)).shape[1]
    body.extend([dense(out, dense_width), nn.ReLU()])
    return body, dense_width


class QNetwork(nn.Module):
    """Maps a batch of observations (and whatever inputs its head takes) to its head's output:
    Q-values first, and whatever else the head's loss reads.

    uint8 image observations are divided by 255 here, so replay can keep frames as bytes. With
    noisy_sigma0, the dense layers are noisy, as Rainbow's: the one that makes the features and
    the head's. head_options set the head's own options (heads.base.Head.settings; the defaults
    for those not given).
    """

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int,
                 hidden_sizes: tuple[int, ...] = (128, 128), head: str = "q", cnn: str = "nature",
                 noisy_sigma0: float | None = None, head_options: dict | None = None):
        super().__init__()
        self.obs_shape = tuple(obs_shape)
        self.n_actions = n_actions
        dense = dense_layers(noisy_sigma0)
        if is_image(obs_shape):
            self.body, features = cnn_body(cnn, *obs_shape, dense)
            # oneDNN's convolutions run faster on channels-last (NHWC) weights and inputs
            self.body.to(memory_format=torch.channels_last)
        else:
            self.body = mlp_body(obs_shape[0], hidden_sizes, dense)
            features = hidden_sizes[-1]
        kind = HEADS[head]
        self.head = kind.build(features, n_actions, kind.settings(head_options), dense)

    def forward(self, obs: torch.Tensor, **head_inputs: torch.Tensor):
        if obs.dim() == 4:
            obs = obs.contiguous(memory_format=torch.channels_last)
        obs = obs.float() / 255.0 if obs.dtype == torch.uint8 else obs.float()
        features = self.body(obs)
        # The head stays in float32 under bfloat16 autocast: bf16 would round close Q-values
        # into ties, and argmax would then favour action 0.
        with torch.autocast(features.device.type, enabled=False):
            output = self.head(features.float(), **head_inputs)
        return output if isinstance(output, tuple) else NetworkOutput(output)
