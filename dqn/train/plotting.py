"""Smoothing and pictures of observations and training curves."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def smoothen(values, window: int = 100, std: float | None = None) -> np.ndarray:
    """Gaussian-kernel moving average, the same length as the input.

    Near the edges the kernel is renormalised over the points it covers, so short series
    (even one point) work and the ends are not pulled towards zero.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        return values
    width = min(window, values.size)
    std = width / 2 if std is None else std
    offsets = np.arange(width) - (width - 1) / 2
    kernel = np.exp(-0.5 * (offsets / std) ** 2)
    weighted = np.convolve(values, kernel, mode="same")
    coverage = np.convolve(np.ones_like(values), kernel, mode="same")
    return weighted / coverage


def img_by_obs(obs, state_dim) -> np.ndarray:
    """Stack the channels of a (C, H, W) observation top to bottom, for imshow."""
    return np.asarray(obs).reshape([-1, state_dim[2]])


def read_metrics(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _column(rows: list[dict], x: str, y: str) -> tuple[list[float], list[float]]:
    pairs = [(float(r[x]), float(r[y])) for r in rows if r.get(y) not in (None, "")]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def save_training_curves(metrics_csv: Path, png: Path, title: str = "") -> None:
    """Four panels: scores against agent steps and wall-clock minutes, TD loss, mean Q."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rows = read_metrics(metrics_csv)
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    ax = axes[0, 0]
    ax.plot(*_column(rows, "step", "train_score"), label="training games (raw score)")
    ax.plot(*_column(rows, "step", "eval_mean"), "o-", label="evaluation (greedy)")
    ax.set_xlabel("agent steps"), ax.set_ylabel("score"), ax.legend(), ax.grid(True)
    ax = axes[0, 1]
    minutes = [{**r, "minutes": float(r["wall_s"]) / 60} for r in rows]
    ax.plot(*_column(minutes, "minutes", "eval_mean"), "o-", color="C1")
    ax.set_xlabel("wall-clock minutes"), ax.set_ylabel("evaluation score"), ax.grid(True)
    ax = axes[1, 0]
    steps, loss = _column(rows, "step", "loss")
    ax.plot(steps, loss, alpha=0.3)
    ax.plot(steps, smoothen(loss, 20))
    ax.set_xlabel("agent steps"), ax.set_ylabel("TD loss"), ax.grid(True)
    ax = axes[1, 1]
    ax.plot(*_column(rows, "step", "q_mean"))
    ax.set_xlabel("agent steps"), ax.set_ylabel("mean Q(s, a) of sampled batches"), ax.grid(True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)
