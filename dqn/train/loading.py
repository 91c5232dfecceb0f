"""A trained agent from its run folder or checkpoint file, apart from training: evaluate, record, the
notebooks and the benchmarks load an agent without importing the loop."""

from __future__ import annotations

from pathlib import Path

from dqn.train import checkpoint
from dqn.agent.policy import DQNAgent, build_agent
from dqn.config import TrainConfig
from dqn.errors import UserError


def load_agent(path: Path) -> tuple[DQNAgent, TrainConfig, dict]:
    """An agent from a run folder (its best model, else its checkpoint) or a checkpoint file,
    with its config and the file's contents (plus "path", the file it came from)."""
    path = Path(path)
    if path.is_dir():
        found = [p for p in (path / "best.pt", path / "checkpoint.pt") if p.is_file()]
        if not found:
            raise UserError(f"{path} holds neither best.pt nor checkpoint.pt")
        path = found[0]
    data = checkpoint.load(path)
    config = TrainConfig.from_dict(data["config"])
    agent = build_agent(config, tuple(data["obs_shape"]), int(data["n_actions"]))
    try:
        agent.load_state_dict(data["network"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise UserError(f"checkpoint {path} does not match its own architecture: {str(exc).splitlines()[0]}") from None
    agent.eval()
    data["path"] = path
    return agent, config, data
