"""The learner: online and target networks, their optimizer, and one gradient step per replay batch.

It knows no envs and writes no files: the loop hands it batches and saves its state_dict, so a
distributed learner can run it as it is.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from dqn.agent.augment import random_shift
from dqn.agent.heads import HEADS
from dqn.agent.losses import weighted_mean
from dqn.agent.networks import CNN_ENCODERS
from dqn.agent.noisy import reset_noise
from dqn.agent.policy import build_agent
from dqn.config import TrainConfig
from dqn.envs.registry import cnn_of
from dqn.errors import UserError
from dqn.machine.hardware import Runtime
from dqn.machine.system import check_fits_in_ram
from dqn.replay.buffer import Batch


class TrainingDiverged(UserError):
    """The loss stopped being a finite number."""


def training_bytes(config: TrainConfig, obs_shape: tuple[int, ...], n_actions: int) -> tuple[int, str]:
    """About the bytes that training the network of config takes, from its widest dense layers
    (an MLP's, or a CNN's dense layer) and its head's weights, and a description of that network."""
    head, cnn = HEADS[config.head], cnn_of(config)
    if cnn is not None:
        widths, network = [CNN_ENCODERS[cnn].dense_width], f"the {cnn} CNN"
    else:
        widths, network = [obs_shape[0], *config.hidden_sizes], f"an MLP with hidden_sizes {config.hidden_sizes}"
    body = [a * b for a, b in zip(widths, widths[1:])]
    if config.noisy:  # the body's last dense layer is noisy: a mean and a scale per weight
        body[-1:] = [2 * n for n in body[-1:]]
    # float32; training keeps four copies: the network, its target, Adam's two moments
    return 4 * 4 * (sum(body) + head.weights(widths[-1], n_actions, config)), f"{network} and {head.describe(config)}"


def check_network_fits(config: TrainConfig, obs_shape: tuple[int, ...], n_actions: int) -> None:
    """Refuse a network that the RAM cannot train, an MLP as wide as hidden_sizes asks or a head
    as large as its options ask, as the replay refuses a buffer_size too large."""
    needed, network = training_bytes(config, obs_shape, n_actions)
    check_fits_in_ram(needed, f"training {network}")


class Learner:
    """Trains the online network on replay batches with the loss of its head (heads.HEADS)."""

    def __init__(self, config: TrainConfig, obs_shape: tuple[int, ...], n_actions: int, runtime: Runtime):
        check_network_fits(config, obs_shape, n_actions)
        self.config, self.runtime = config, runtime
        self.device = torch.device(runtime.device)
        self.online = build_agent(config, obs_shape, n_actions).to(self.device)
        self.target = copy.deepcopy(self.online).requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=config.learning_rate,
                                          eps=config.adam_eps, fused=True)
        self.head = HEADS[config.head]
        # the augmentation's shifts, and the noisy layers' noise and the head's inputs (IQN's
        # quantile fractions), come from generators of their own, saved in state_dict, so they
        # resume exactly on any device
        self.augment_rng = torch.Generator().manual_seed(config.seed)
        self.noise_rng = torch.Generator().manual_seed(config.seed + 1)
        self.updates = 0

    def to_device(self, array: np.ndarray) -> torch.Tensor:
        """A replay array on the network's device; to a GPU through pinned memory, without waiting."""
        tensor = torch.as_tensor(array)
        if self.device.type == "cpu":
            return tensor
        return tensor.pin_memory().to(self.device, non_blocking=True)

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """The online network's Q-values of a batch of numpy observations, in the run's precision:
        what the actor acts on; with noisy nets, under noise drawn afresh for this acting step."""
        if self.config.noisy:
            reset_noise(self.online, self.noise_rng)
        inputs = self.head.inputs("act", len(obs), self.config, self.noise_rng)
        with self.runtime.autocast():
            return self.online.get_qvalues(obs, **inputs)

    def update(self, batch: Batch) -> tuple[dict[str, float], np.ndarray]:
        """One gradient step on a replay batch. Returns its metrics (loss, mean Q, gradient norm
        before clipping) and each sample's new priority."""
        cfg = self.config
        obs, actions, returns, next_obs, discounts = map(
            self.to_device, (batch.obs, batch.actions, batch.returns, batch.next_obs, batch.discounts))
        weights = None if batch.weights is None else self.to_device(batch.weights)
        if cfg.augment_shift_px:
            obs = random_shift(obs, cfg.augment_shift_px, self.augment_rng)
            next_obs = random_shift(next_obs, cfg.augment_shift_px, self.augment_rng)
        if cfg.noisy:  # fresh noise for each update, the target network's drawn apart from the online one's
            reset_noise(self.online, self.noise_rng)
            reset_noise(self.target, self.noise_rng)
        with self.runtime.autocast():
            outputs, next_target, next_online = self.head.outputs(self.online.network, self.target.network, obs,
                                                                  next_obs, cfg, self.noise_rng)
        losses, priorities = self.head.loss(outputs, next_target, next_online, actions, returns, discounts, cfg)
        loss = weighted_mean(losses, weights)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = list(self.online.parameters())
        grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        # checked before the step, so no non-finite number ever reaches the weights
        if not bool(torch.isfinite(loss) & torch.isfinite(outputs.q_values).all() & torch.isfinite(grad_norm)):
            raise TrainingDiverged(f"the loss ({loss.item()}), the Q-values or the gradient stopped being finite")
        if grad_norm > cfg.max_grad_norm:  # scaling is a pass over every gradient: only when it clips
            torch.nn.utils.clip_grads_with_norm_(params, cfg.max_grad_norm, grad_norm)
        self.optimizer.step()
        self.updates += 1
        metrics = {"loss": loss.item(), "q_mean": outputs.q_values.detach().mean().item(),
                   "grad_norm": grad_norm.item()}
        return metrics, priorities.cpu().numpy()

    @torch.no_grad()
    def sync_target(self) -> None:
        """Copy the online network into the target one, or with tau < 1 move it that far toward it."""
        if self.config.tau >= 1.0:
            self.target.load_state_dict(self.online.state_dict())
        else:
            for target_param, param in zip(self.target.parameters(), self.online.parameters()):
                target_param.lerp_(param, self.config.tau)

    def start_from(self, network: dict, target: dict | None = None, optimizer: dict | None = None,
                   updates: int = 0) -> None:
        """Begin with these weights (a warm start): the target a copy of network unless given; an
        optimizer state keeps its moments but takes this config's learning rate and epsilon."""
        self.online.load_state_dict(network)
        self.target.load_state_dict(network if target is None else target)
        if optimizer is not None:
            self.optimizer.load_state_dict(optimizer)
            for group in self.optimizer.param_groups:
                group.update(lr=self.config.learning_rate, eps=self.config.adam_eps)
        self.updates = updates

    def state_dict(self) -> dict:
        return {"online": self.online.state_dict(), "target": self.target.state_dict(),
                "optimizer": self.optimizer.state_dict(), "updates": self.updates,
                "augment_rng": self.augment_rng.get_state(), "noise_rng": self.noise_rng.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = state["updates"]
        self.augment_rng.set_state(state["augment_rng"])
        if "noise_rng" in state:  # checkpoints from before noisy nets, whose runs draw no noise, have none
            self.noise_rng.set_state(state["noise_rng"])
