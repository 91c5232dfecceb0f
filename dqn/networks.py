"""Q-networks: a body chosen by the observation's shape and a plain or dueling head."""

from __future__ import annotations

import torch
import torch.nn as nn


def mlp_body(in_features: int, hidden_sizes: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden_sizes:
        layers += [nn.Linear(in_features, width), nn.ReLU()]
        in_features = width
    return nn.Sequential(*layers)


# (out channels, kernel, stride) of each convolution, then the width of the dense layer
CNN_ENCODERS = {
    # Mnih et al. 2015 (Nature): about 18.6 MFLOP per 84x84 observation
    "nature": ([(32, 8, 4), (64, 4, 2), (64, 3, 1)], 512),
    # Mnih et al. 2013 (NIPS workshop): about 3x fewer FLOPs, for CPUs without fast matrix units
    "nips": ([(16, 8, 4), (32, 4, 2)], 256),
}


def cnn_body(kind: str, in_channels: int, height: int, width: int) -> tuple[nn.Sequential, int]:
    """A DQN image encoder from CNN_ENCODERS; returns it with its output width."""
    convolutions, dense_width = CNN_ENCODERS[kind]
    layers: list[nn.Module] = []
    channels = in_channels
    for out_channels, kernel, stride in convolutions:
        layers += [nn.Conv2d(channels, out_channels, kernel_size=kernel, stride=stride), nn.ReLU()]
        channels = out_channels
    body = nn.Sequential(*layers, nn.Flatten())
    with torch.no_grad():
        out = body(torch.zeros(1, in_channels, height, width)).shape[1]
    body.extend([nn.Linear(out, dense_width), nn.ReLU()])
    return body, dense_width


class DuelingHead(nn.Module):
    """Q = V + A - mean_a A: the mean keeps V and A identifiable (Wang et al., 2016)."""

    def __init__(self, in_features: int, n_actions: int):
        super().__init__()
        self.value = nn.Linear(in_features, 1)
        self.advantage = nn.Linear(in_features, n_actions)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        advantage = self.advantage(features)
        return self.value(features) + advantage - advantage.mean(dim=1, keepdim=True)


class QNetwork(nn.Module):
    """Maps a batch of observations to one Q-value per action.

    uint8 image observations are divided by 255 here, so replay can keep frames as bytes.
    """

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int,
                 hidden_sizes: tuple[int, ...] = (128, 128), dueling: bool = False, cnn: str = "nature"):
        super().__init__()
        self.obs_shape = tuple(obs_shape)
        self.n_actions = n_actions
        if len(obs_shape) == 1:
            self.body = mlp_body(obs_shape[0], hidden_sizes)
            features = hidden_sizes[-1]
        elif len(obs_shape) == 3:
            self.body, features = cnn_body(cnn, *obs_shape)
            # oneDNN's convolutions run faster on channels-last (NHWC) weights and inputs
            self.body.to(memory_format=torch.channels_last)
        else:
            raise ValueError(f"no network for observations of shape {obs_shape}")
        self.head = DuelingHead(features, n_actions) if dueling else nn.Linear(features, n_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if obs.dim() == 4:
            obs = obs.contiguous(memory_format=torch.channels_last)
        obs = obs.float() / 255.0 if obs.dtype == torch.uint8 else obs.float()
        features = self.body(obs)
        # The head stays in float32 under bfloat16 autocast: bf16 would round close Q-values
        # into ties, and argmax would then favour action 0.
        with torch.autocast(features.device.type, enabled=False):
            return self.head(features.float())
