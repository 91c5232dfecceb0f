"""What a config can name of the agent, readable without torch: each head's name, description, options
and their check (the head's implementation is heads/NAME.py, imported on first use of heads.HEADS), and
the CNN encoders (built in networks.py). The config's fields and `dqn train`'s flags are made from these,
so that the command line can parse and refuse its arguments before it imports torch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dqn.errors import ConfigError
from dqn.options import Option


@dataclass(frozen=True)
class HeadKind:
    """A head as the config knows it: its implementation is the head of the same name in
    dqn.agent.heads.<module>'s HEADS."""

    name: str
    description: str  # for --head's help: what it is, after whom
    module: str
    options: tuple[Option, ...] = ()
    check: Callable[[Any], None] = lambda config: None  # raises ConfigError naming the first bad option


C51_OPTIONS = (
    # the Rainbow paper's
    Option("n_atoms", int, 51, "c51 heads: atoms of each return distribution (at least 2)"),
    Option("v_min", float, -10.0, "c51 heads: the lowest atom, the smallest return the distribution can hold "
                                  "(returns are of clipped rewards on Atari)"),
    Option("v_max", float, 10.0, "c51 heads: the highest atom, the largest return the distribution can hold"),
)


def check_c51(config) -> None:
    if not (float("-inf") < config.v_min < config.v_max < float("inf") and config.n_atoms >= 2):
        raise ConfigError(f"c51 atoms need finite v_min < v_max and n_atoms >= 2, got v_min {config.v_min:g}, "
                          f"v_max {config.v_max:g}, n_atoms {config.n_atoms}", "v_min", "v_max", "n_atoms")


IQN_OPTIONS = (
    Option("iqn_quantile_samples", int, 64,
           "iqn head: fractions drawn per sample for the loss, N = N' (Dopamine's 64)"),
    Option("iqn_action_samples", int, 32, "iqn head: fractions whose mean quantile is Q when acting and "
                                          "picking the next action, K (Dopamine's 32)"),
    Option("iqn_embedding_dim", int, 64, "iqn head: cosines that embed a fraction (the paper's 64)"),
)


def check_iqn(config) -> None:
    for option in IQN_OPTIONS:
        if getattr(config, option.name) <= 0:
            raise ConfigError(f"{option.name} must be positive, got {getattr(config, option.name)}", option.name)


HEAD_KINDS: dict[str, HeadKind] = {kind.name: kind for kind in (
    HeadKind("q", "'q' (one linear layer)", "q"),
    HeadKind("dueling", "'dueling' (Q = V + A - mean(A), Wang et al. 2016)", "q"),
    HeadKind("c51", "'c51' (a distribution of returns on n_atoms atoms from v_min to v_max, Bellemare et al. "
                    "2017; trained on its cross-entropy, Q its mean)", "c51", C51_OPTIONS, check_c51),
    HeadKind("c51-dueling", "'c51-dueling' (C51 with the dueling split per atom, as in Rainbow)", "c51",
             C51_OPTIONS, check_c51),
    HeadKind("iqn", "'iqn' (implicit quantiles of the return, Dabney et al. 2018: trained on the quantile Huber "
                    "loss, Q the mean over sampled fractions)", "iqn", IQN_OPTIONS, check_iqn),
)}

CNN_ENCODER_NAMES = {
    "nature": "Mnih et al. 2015: 3 convolutions, 512 units",
    "nips": "Mnih et al. 2013: 2 convolutions, 256 units, about 3x fewer FLOPs",
    "impala": "Espeholt et al. 2018: 15 convolutions in residual stacks, about 6x the FLOPs",
    "minatar": "Young and Tian 2019: one 3x3 convolution of 16 channels, 128 units, for MinAtar's 10x10 images",
}

PAPER_SIGMA0 = 0.5  # noisy nets' initial noise scale, the paper's for factorised noise
