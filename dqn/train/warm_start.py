"""A warm start (`dqn train --init-from DIR`): a new run whose networks begin with the weights of another
run or model folder, and, where that folder has them, its target network, optimizer state, update count and
agent-step count, so that the schedules (epsilon, prioritized replay's exponent) go on where they were.

It is not an exact resume: the replay starts empty and is refilled by the loaded agent before learning goes
on, and the envs, the random generators and the folder's run history start afresh. Only tensors and plain
values are read (torch.load with weights_only): the pickled env states that a checkpoint carries for
`--resume` are never unpickled, so a folder from elsewhere runs no code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from dqn.agent.registry import HEAD_KINDS
from dqn.config import TrainConfig
from dqn.envs.registry import cnn_of, family_of
from dqn.errors import UserError
from dqn.train import checkpoint

# what makes two configs' networks the same function of the same observations; the env family's options
# that change the observations (Atari's frames) and the head's own (atoms, support, quantile embedding) are
# added for the family and head both name
NETWORK_FIELDS = ("env_id", "cnn", "hidden_sizes", "head", "noisy")


@dataclass
class WarmStart:
    """What a warm start takes from its source: the online network always; the rest where the source
    file has it (a run's checkpoint.pt has all; best.pt and a model folder only the network and step)."""

    source: Path  # the file read
    config: TrainConfig  # the source's config
    step: int  # agent steps the source was trained for
    network: dict
    target: dict | None = None
    optimizer: dict | None = None
    updates: int = 0

    @property
    def fresh(self) -> list[str]:
        """What the new run starts anew, in words."""
        fresh = ["the replay (refilled by the loaded agent before learning goes on)", "the envs",
                 "the random generators"]
        if self.target is None:
            fresh.append("the target network (a copy of the loaded one)")
        if self.optimizer is None:
            fresh.append("the optimizer state (Adam's moments)")
        return fresh

    def describe(self) -> dict:
        """The record of the warm start in config.json."""
        loaded = ["network"] + ["target network"] * (self.target is not None) + \
                 ["optimizer state", "update count"] * (self.optimizer is not None) + ["agent-step count"]
        return {"source": str(self.source), "agent_step": self.step, "loaded": loaded, "fresh": self.fresh}

    def announce(self, learning_at: int) -> str:
        """The line said at the start of the run."""
        return (f"warm start from {self.source} at agent step {self.step}: its {', '.join(self.describe()['loaded'])} "
                f"loaded; fresh: {'; '.join(self.fresh)}; learning goes on at agent step {learning_at}")


def source_file(path: Path) -> Path:
    """The file a warm start reads: a run folder's checkpoint.pt (its whole training state), else its
    best.pt (a model folder's agent), or the checkpoint file given."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"--init-from {path}: no such folder or file")
    if path.is_file():
        return path
    for name in ("checkpoint.pt", "best.pt"):
        if (path / name).is_file():
            return path / name
    raise UserError(f"--init-from {path}: the folder holds neither checkpoint.pt nor best.pt")


def read_warm_start(path: Path) -> WarmStart:
    """The warm start of a run folder, model folder or checkpoint file; UserError if it is none."""
    file = source_file(path)
    data = checkpoint.load(file)  # weights_only: no pickled env is ever run
    learner = data.get("learner")
    return WarmStart(source=file, config=TrainConfig.from_dict(data["config"]), step=int(data["step"]),
                     network=data["network"], target=learner and learner["target"],
                     optimizer=learner and learner["optimizer"], updates=learner["updates"] if learner else 0)


def warm_start_config(warm: WarmStart, **overrides) -> TrainConfig:
    """A new run's config that starts from the source's own, with overrides set (the flags given)."""
    return dataclasses.replace(warm.config, **overrides)


def check_same_network(warm: WarmStart, config: TrainConfig) -> None:
    """Refuse a config whose network or env differs from the source's, naming the first field that does."""
    names = (NETWORK_FIELDS + family_of(config.env_id).observation_options +
             tuple(option.name for option in HEAD_KINDS[config.head].options))
    for name in names:
        # cnn 'auto' is the family's encoder: the same network as naming it
        theirs, ours = ((cnn_of(warm.config), cnn_of(config)) if name == "cnn" else
                        (getattr(warm.config, name), getattr(config, name)))
        if theirs != ours:
            flag = "--" + name.replace("_", "-")
            raise UserError(f"--init-from {warm.source}: its {name} is {theirs!r}, this run's is {ours!r} "
                            f"(set {flag} to its value, or leave out --preset to start from its config)")
