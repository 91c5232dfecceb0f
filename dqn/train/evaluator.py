"""A run's evaluation: games played by an evaluation protocol (evaluation/protocols.py, the ones `dqn
evaluate` plays) on an evaluation env of its own, their scores in the metrics row, the
best model (best.pt) and, with --keep-eval-snapshots, one model per evaluation (snapshots/), and whether
the stop score is reached. A loop (dqn/train/loop.py) says when, and hands over the network and its model."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import numpy as np

from dqn.config import TrainConfig
from dqn.evaluation.protocols import PROTOCOLS, play_by_protocol, protocol_env
from dqn.train import checkpoint

if typing.TYPE_CHECKING:
    from dqn.agent.policy import DQNAgent

# Evaluation games get seeds of their own, apart from the training envs' seed + 0 .. num_envs - 1.
EVAL_SEED_OFFSET = 10_000


class Evaluator:
    """Evaluations of a run in run_dir; best_eval is the best mean score so far, None before any."""

    def __init__(self, config: TrainConfig, run_dir: Path):
        self.config = config
        self.run_dir = run_dir
        self.protocol = dataclasses.replace(PROTOCOLS[config.eval_protocol], t_max_steps=config.eval_t_max)
        self.env = protocol_env(config, config.eval_protocol)
        self.best_eval: float | None = None

    def play(self, network: DQNAgent) -> list[float]:
        """The scores of eval_games whole games of network by the run's protocol, seeded alike at every
        evaluation (the games' resets and the protocol's random actions)."""
        cfg = self.config
        network.eval()  # noisy layers play with their mean weights, as a loaded agent does
        try:
            return play_by_protocol(self.env, network, self.protocol, cfg.eval_games, seed=cfg.seed + EVAL_SEED_OFFSET)
        finally:
            network.train()

    def evaluate_into(self, row: dict, network: DQNAgent, model: dict) -> bool:
        """Play network, add the scores to row, save model (what loading.load_agent reads, of agent step
        model["step"]) as a snapshot and, when it scores best, as best.pt; returns whether the stop
        score is reached."""
        cfg = self.config
        scores = self.play(network)
        row["eval_mean"] = round(float(np.mean(scores)), 3)
        row["eval_std"] = round(float(np.std(scores)), 3)
        if cfg.keep_eval_snapshots:
            (self.run_dir / "snapshots").mkdir(exist_ok=True)
            checkpoint.save_atomic(model, self.run_dir / "snapshots" / f"step_{model['step']:08d}.pt")
        if self.best_eval is None or row["eval_mean"] > self.best_eval:
            self.best_eval = row["eval_mean"]
            checkpoint.save_atomic(model, self.run_dir / "best.pt")
        return cfg.stop_score is not None and row["eval_mean"] >= cfg.stop_score

    def close(self) -> None:
        self.env.close()
