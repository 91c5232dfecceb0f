"""Noisy nets (Fortunato et al. 2017): linear layers whose weights carry learned Gaussian noise,
so the network explores by itself instead of by epsilon-greedy."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from dqn.agent.registry import PAPER_SIGMA0


def scaled_noise(size: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """f(e) = sign(e) sqrt(|e|) of standard normal e: the paper's factorised noise."""
    noise = torch.randn(size, device=device, generator=generator)
    return noise.sign() * noise.abs().sqrt()


class NoisyLinear(nn.Module):
    """y = (mu_w + sigma_w * eps_w) x + mu_b + sigma_b * eps_b, with factorised Gaussian noise
    eps_w[i, j] = f(e_i) f(e_j), eps_b[i] = f(e_i): in + out random numbers per sample instead
    of in * out. The noise stays fixed until reset_noise(); in eval mode only the means are used.

    The noise vectors are buffers saved in state_dict, so a checkpoint taken mid-training goes
    on with the very noise it had (exact resume); they cost in + out numbers.
    """

    def __init__(self, in_features: int, out_features: int, sigma0: float = PAPER_SIGMA0):
        super().__init__()
        self.in_features, self.out_features, self.sigma0 = in_features, out_features, sigma0
        self.weight_mu = nn.Parameter(torch.empty(out_features, in_features))
        self.weight_sigma = nn.Parameter(torch.empty(out_features, in_features))
        self.bias_mu = nn.Parameter(torch.empty(out_features))
        self.bias_sigma = nn.Parameter(torch.empty(out_features))
        self.register_buffer("noise_in", torch.zeros(in_features))
        self.register_buffer("noise_out", torch.zeros(out_features))
        self.reset_parameters()
        self.reset_noise()

    def reset_parameters(self) -> None:
        """The paper's initialisation for factorised noise, with p = in_features."""
        bound = 1 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight_mu, -bound, bound)
        nn.init.uniform_(self.bias_mu, -bound, bound)
        nn.init.constant_(self.weight_sigma, self.sigma0 * bound)
        nn.init.constant_(self.bias_sigma, self.sigma0 * bound)

    @torch.no_grad()
    def reset_noise(self, generator: torch.Generator | None = None) -> None:
        """Draw new noise, from generator (on its device), else from torch's global generator."""
        device = self.noise_in.device if generator is None else generator.device
        self.noise_in.copy_(scaled_noise(self.in_features, device, generator))
        self.noise_out.copy_(scaled_noise(self.out_features, device, generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return F.linear(x, self.weight_mu, self.bias_mu)
        # (sigma_w * outer(f_out, f_in)) x = f_out * (sigma_w (f_in * x)): the same sum without
        # building the noisy weight matrix: for the Nature CNN's 3136x512 layer in float32, 2.2x faster
        # when acting and 1.3x in an update; the rainbow preset 1.07x in all (benchmarks/RESULTS.md)
        noise = F.linear(x * self.noise_in, self.weight_sigma) * self.noise_out
        return F.linear(x, self.weight_mu, self.bias_mu + self.bias_sigma * self.noise_out) + noise

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, sigma0={self.sigma0}"


def reset_noise(module: nn.Module, generator: torch.Generator | None = None) -> None:
    """Resample the noise of every NoisyLinear in module (before each update and each acting step)."""
    for layer in module.modules():
        if isinstance(layer, NoisyLinear):
            layer.reset_noise(generator)
