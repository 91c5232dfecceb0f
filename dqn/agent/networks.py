"""Q-networks: a body chosen by the observation's rank (an MLP for (features,) vectors, a CNN encoder by name
for (channels, height, width) images) and a head chosen by name from heads.HEADS."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn as nn

from dqn.agent.heads import HEADS
from dqn.agent.heads.base import Dense, HeadOutput, NetworkOutput
from dqn.agent.noisy import NoisyLinear


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


def dqn_convolutions(layers: list[tuple[int, int, int]]) -> Callable[[int], list[nn.Module]]:
    """The DQN papers' plain stack: a ReLU convolution per (out channels, kernel, stride)."""
    def build(in_channels: int) -> list[nn.Module]:
        modules: list[nn.Module] = []
        for out_channels, kernel, stride in layers:
            modules += [nn.Conv2d(in_channels, out_channels, kernel_size=kernel, stride=stride), nn.ReLU()]
            in_channels = out_channels
        return modules
    return build


class ResidualBlock(nn.Module):
    """IMPALA's pre-activation block: x + conv(relu(conv(relu(x)))), 3x3 convolutions that keep the size."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(torch.relu(self.conv1(torch.relu(x))))


def impala_convolutions(in_channels: int) -> list[nn.Module]:
    """Espeholt et al. 2018: three stacks (16, 32, 32 channels) of a 3x3 convolution, a 3x3 max pool of
    stride 2 and two residual blocks; 84x84 frames come out as 32 x 11 x 11."""
    modules: list[nn.Module] = []
    for out_channels in (16, 32, 32):
        modules += [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
                    nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
                    ResidualBlock(out_channels), ResidualBlock(out_channels)]
        in_channels = out_channels
    return modules + [nn.ReLU()]


class CnnEncoder(NamedTuple):
    convolutions: Callable[[int], list[nn.Module]]  # built from the observation's channels
    dense_width: int  # units of the dense layer after them


CNN_ENCODERS = {  # by the names of registry.CNN_ENCODER_NAMES, which the config checks cnn against
    # Mnih et al. 2015 (Nature): about 18.6 MFLOP per 84x84 observation
    "nature": CnnEncoder(dqn_convolutions([(32, 8, 4), (64, 4, 2), (64, 3, 1)]), 512),
    # Mnih et al. 2013 (NIPS workshop): about 3x fewer FLOPs, for CPUs without fast matrix units
    "nips": CnnEncoder(dqn_convolutions([(16, 8, 4), (32, 4, 2)]), 256),
    # Espeholt et al. 2018, as Dopamine's and BBF's Atari agents use it: about 108 MFLOP, 5.8x the Nature CNN's
    "impala": CnnEncoder(impala_convolutions, 256),
    # Young and Tian 2019 (MinAtar): 10x10 images come out of the convolution as 16 x 8 x 8
    "minatar": CnnEncoder(dqn_convolutions([(16, 3, 1)]), 128),
}


def cnn_body(kind: str, in_channels: int, height: int, width: int,
             dense: Dense = nn.Linear) -> tuple[nn.Sequential, int]:
    """An image encoder from CNN_ENCODERS, its dense layer built by `dense`; returns it with its output width."""
    encoder = CNN_ENCODERS[kind]
    body = nn.Sequential(*encoder.convolutions(in_channels), nn.Flatten())
    with torch.no_grad():
        out = body(torch.zeros(1, in_channels, height, width)).shape[1]
    body.extend([dense(out, encoder.dense_width), nn.ReLU()])
    return body, encoder.dense_width


class QNetwork(nn.Module):
    """Maps a batch of observations (and whatever inputs its head takes) to its head's output:
    Q-values first, and whatever else the head's loss reads.

    uint8 image observations are divided by 255 here, so replay can keep frames as bytes. With
    noisy_sigma0, the dense layers are noisy, as Rainbow's: the one that makes the features and
    the head's. head_options set the head's own options (heads.base.Head.settings; the defaults
    for those not given).
    """

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int,
                 hidden_sizes: tuple[int, ...] = (128, 128), head: str = "q", cnn: str | None = "nature",
                 noisy_sigma0: float | None = None, head_options: dict | None = None):
        super().__init__()
        self.obs_shape = tuple(obs_shape)
        self.n_actions = n_actions
        dense = dense_layers(noisy_sigma0)
        if len(obs_shape) not in (1, 3):
            raise ValueError(f"observations must be (features,) vectors or (channels, height, width) images, "
                             f"not of shape {self.obs_shape}")
        if len(obs_shape) == 3:
            self.body, features = cnn_body(cnn, *obs_shape, dense)
            # oneDNN's convolutions run faster on channels-last (NHWC) weights and inputs
            self.body.to(memory_format=torch.channels_last)
        else:
            self.body = mlp_body(obs_shape[0], hidden_sizes, dense)
            features = hidden_sizes[-1]
        kind = HEADS[head]
        self.head = kind.build(features, n_actions, kind.settings(head_options), dense)

    def forward(self, obs: torch.Tensor, **head_inputs: torch.Tensor) -> HeadOutput:
        if obs.dim() == 4:
            obs = obs.contiguous(memory_format=torch.channels_last)
        obs = obs.float() / 255.0 if obs.dtype == torch.uint8 else obs.float()
        features = self.body(obs)
        # The head stays in float32 under bfloat16 autocast: bf16 would round close Q-values
        # into ties, and argmax would then favour action 0.
        with torch.autocast(features.device.type, enabled=False):
            output = self.head(features.float(), **head_inputs)
        return output if isinstance(output, tuple) else NetworkOutput(output)
