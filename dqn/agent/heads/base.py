"""What a head is: everything the agent knows of one kind of network head, in one object.

A head turns the body's features into the network's output (Q-values, and whatever its loss needs),
names the extra inputs its network takes (IQN's quantile fractions), computes its loss from a batch's
outputs, and estimates the weights it adds; its options and their checks are declared in
agent/registry.py, which the config is built from. The learner, the actors, loading and the Ray workers
know heads only through this interface (`heads.HEADS[config.head]`).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Generic, NamedTuple, Protocol, TypeVar

import torch
import torch.nn as nn

from dqn.agent.registry import HEAD_KINDS
from dqn.options import Option

if TYPE_CHECKING:
    from dqn.config import TrainConfig

# a dense layer of (in_features, out_features): nn.Linear, or a NoisyLinear with noisy nets
Dense = Callable[[int, int], nn.Module]


class HeadOutput(Protocol):
    """What a network returns, whatever its head: Q-values, on which the agent acts; a head's own
    output type (a NamedTuple) adds what its loss reads."""

    @property
    def q_values(self) -> torch.Tensor: ...  # (batch, n_actions)


class NetworkOutput(NamedTuple):
    """A network's output where its head gives Q-values alone."""

    q_values: torch.Tensor  # (batch, n_actions)


Output = TypeVar("Output", bound=HeadOutput)  # the output type of one kind of head


# what a network is asked for in a TD update, and when acting; a head may feed each its own inputs
ROLES = ("online", "target", "select", "act")


class Head(Generic[Output]):
    """One kind of head, whose network returns Output. Subclasses set name (its entry in
    registry.HEAD_KINDS) and define build, loss and weights; the rest have defaults for a head that
    takes no extra inputs."""

    name: str

    @property
    def options(self) -> tuple[Option, ...]:
        """Its config options, as the registry declares them."""
        return HEAD_KINDS[self.name].options

    def build(self, in_features: int, n_actions: int, options: SimpleNamespace, dense: Dense) -> nn.Module:
        """The head module: features (batch, in_features), plus the inputs of `inputs`, to an
        output whose first field is q_values (a bare Q-value tensor is read as such). options are
        the head's own, as `settings` gives them."""
        raise NotImplementedError

    def settings(self, values: dict | None = None) -> SimpleNamespace:
        """The head's options: those in values, the defaults for the rest."""
        values = values or {}
        unknown = set(values) - {option.name for option in self.options}
        if unknown:
            raise ValueError(f"the {self.name} head has no options {sorted(unknown)}")
        return SimpleNamespace(**{option.name: values.get(option.name, option.default) for option in self.options})

    def loss(self, outputs: Output, next_target: Output, next_online: Output | None, actions: torch.Tensor,
             returns: torch.Tensor, discounts: torch.Tensor, config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
        """Each sample's loss (the learner averages it, times importance weights) and its new
        priority, from the online network's outputs on s, the target network's on s' and, with
        Double DQN, the online network's on s' (None without). returns and discounts are the
        n-step ones (discounts 0 where the episode terminated)."""
        raise NotImplementedError

    def inputs(self, role: str, batch_size: int, config: TrainConfig,
               generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        """Extra inputs of the network for one of ROLES, drawn from generator; none by default.
        An evaluation passes none: the head must then act on its own deterministic default."""
        return {}

    def weights(self, in_features: int, n_actions: int, config: TrainConfig) -> int:
        """About how many weights the head holds (noisy layers count twice: a mean and a scale)."""
        raise NotImplementedError

    def describe(self, config: TrainConfig) -> str:
        return f"a {self.name} head"

    def outputs(self, online: nn.Module, target: nn.Module, obs: torch.Tensor, next_obs: torch.Tensor,
                config: TrainConfig, generator: torch.Generator | None = None) -> tuple[Output, Output, Output | None]:
        """What loss takes as its first three arguments: the online network's outputs on s (with
        gradients), the target network's on s' and, with Double DQN, the online network's on s'."""
        batch = len(obs)
        outputs = online(obs, **self.inputs("online", batch, config, generator))
        with torch.no_grad():
            next_target = target(next_obs, **self.inputs("target", batch, config, generator))
            next_online = (online(next_obs, **self.inputs("select", batch, config, generator))
                           if config.double_dqn else None)
        return outputs, next_target, next_online


def dense_weights(config: TrainConfig, *layers: tuple[int, int]) -> int:
    """The weights of dense layers of (in, out) features built by `Dense`: twice as many when noisy."""
    return (2 if config.noisy else 1) * sum(a * b for a, b in layers)
