"""Q-networks: a body chosen by the observation's shape and a head chosen by name (HEADS)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
import torch.nn as nn

from dqn.heads.distributional import atom_support, expected_q
from dqn.agent.noisy import NoisyLinear
from dqn.envs.spaces import is_image


class NetworkOutput(NamedTuple):
    """What a network says of a batch of observations."""

    q_values: torch.Tensor  # (batch, n_actions)
    logits: torch.Tensor | None = None  # distributional heads: (batch, n_actions, n_atoms)
    support: torch.Tensor | None = None  # distributional heads: the return each atom stands for, (n_atoms,)


# a dense layer of (in_features, out_features): nn.Linear, or a NoisyLinear
Dense = Callable[[int, int], nn.Module]


@dataclass(frozen=True)
class HeadOptions:
    """What a network's dense layers are, and what distributional heads are built with."""

    noisy_sigma0: float | None = None  # None: plain nn.Linear; else NoisyLinear with this sigma0
    # the defaults of TrainConfig's fields of the same names: the Rainbow paper's
    n_atoms: int = 51
    v_min: float = -10.0
    v_max: float = 10.0

    def dense(self, in_features: int, out_features: int) -> nn.Module:
        if self.noisy_sigma0 is None:
            return nn.Linear(in_features, out_features)
        return NoisyLinear(in_features, out_features, self.noisy_sigma0)


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


def q_head(in_features: int, n_actions: int, options: HeadOptions) -> nn.Module:
    """One Q-value per action, linear in the features: the head is that dense layer itself, so a
    plain one keeps the names `head.weight` and `head.bias` that older checkpoints have."""
    return options.dense(in_features, n_actions)


class DuelingHead(nn.Module):
    """Q = V + A - mean_a A: the mean keeps V and A identifiable (Wang et al., 2016)."""

    def __init__(self, in_features: int, n_actions: int, options: HeadOptions):
        super().__init__()
        self.value = options.dense(in_features, 1)
        self.advantage = options.dense(in_features, n_actions)

    def forward(self, features: torch.Tensor) -> NetworkOutput:
        advantage = self.advantage(features)
        return NetworkOutput(self.value(features) + advantage - advantage.mean(dim=1, keepdim=True))


class C51Head(nn.Module):
    """A distribution of the return of each action on n_atoms fixed atoms (Bellemare et al. 2017):
    logits (batch, n_actions, n_atoms), and as Q-values their means, on which the agent acts."""

    def __init__(self, in_features: int, n_actions: int, options: HeadOptions):
        super().__init__()
        self.n_actions, self.n_atoms = n_actions, options.n_atoms
        self.action_atoms = options.dense(in_features, n_actions * options.n_atoms)
        # rebuilt from the config on loading, so not saved with the weights
        self.register_buffer("support", atom_support(options.v_min, options.v_max, options.n_atoms),
                             persistent=False)

    def atom_logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.action_atoms(features).view(-1, self.n_actions, self.n_atoms)

    def forward(self, features: torch.Tensor) -> NetworkOutput:
        logits = self.atom_logits(features)
        return NetworkOutput(expected_q(logits, self.support), logits, self.support)


class C51DuelingHead(C51Head):
    """C51 with a dueling split per atom: logits = V + A - mean_a A, V of shape (batch, 1, n_atoms)
    (Hessel et al. 2018); action_atoms is the advantage stream."""

    def __init__(self, in_features: int, n_actions: int, options: HeadOptions):
        super().__init__(in_features, n_actions, options)
        self.value = options.dense(in_features, options.n_atoms)

    def atom_logits(self, features: torch.Tensor) -> torch.Tensor:
        advantage = super().atom_logits(features)
        return self.value(features).unsqueeze(1) + advantage - advantage.mean(dim=1, keepdim=True)


# The config's `head` names one of these: a module of (in_features, n_actions, HeadOptions)
# returning a NetworkOutput, or bare Q-values (a plain dense layer).
HEADS: dict[str, Callable[[int, int, HeadOptions], nn.Module]] = {
    "q": q_head, "dueling": DuelingHead, "c51": C51Head, "c51-dueling": C51DuelingHead}


class QNetwork(nn.Module):
    """Maps a batch of observations to a NetworkOutput: Q-values, and whatever else its head gives.

    uint8 image observations are divided by 255 here, so replay can keep frames as bytes.
    """

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int,
                 hidden_sizes: tuple[int, ...] = (128, 128), head: str = "q", cnn: str = "nature",
                 options: HeadOptions = HeadOptions()):
        super().__init__()
        self.obs_shape = tuple(obs_shape)
        self.n_actions = n_actions
        if is_image(obs_shape):
            self.body, features = cnn_body(cnn, *obs_shape, options.dense)
            # oneDNN's convolutions run faster on channels-last (NHWC) weights and inputs
            self.body.to(memory_format=torch.channels_last)
        else:
            self.body = mlp_body(obs_shape[0], hidden_sizes, options.dense)
            features = hidden_sizes[-1]
        # noisy nets make the dense layers noisy, as Rainbow does: the one that makes the
        # features and the head's
        self.head = HEADS[head](features, n_actions, options)

    def forward(self, obs: torch.Tensor) -> NetworkOutput:
        if obs.dim() == 4:
            obs = obs.contiguous(memory_format=torch.channels_last)
        obs = obs.float() / 255.0 if obs.dtype == torch.uint8 else obs.float()
        features = self.body(obs)
        # The head stays in float32 under bfloat16 autocast: bf16 would round close Q-values
        # into ties, and argmax would then favour action 0.
        with torch.autocast(features.device.type, enabled=False):
            output = self.head(features.float())
        return output if isinstance(output, NetworkOutput) else NetworkOutput(output)
