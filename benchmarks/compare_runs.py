"""Score the evaluation snapshots of training runs under one evaluation protocol, and draw the runs'
scores against agent steps and against wall-clock minutes side by side.

Each run's scores are kept in RUN_DIR/snapshot_scores_PROTOCOL.json, so a run that goes on later
scores only its new snapshots. Minutes are the run's own wall clock at each snapshot (metrics.csv),
its evaluations and checkpoints included.

    python benchmarks/compare_runs.py runs/breakout:breakout runs/rainbow:rainbow --protocol noop \\
        --games 10 --seed 1000 --png curves.png [--reference cleanrl] [--every 50000] [--jobs 2]
    python benchmarks/compare_runs.py RUN:LABEL ... --logged train_score --png curves.png   # plays nothing
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from dqn.evaluation.protocols import PROTOCOLS
from dqn.train.loading import load_agent

# Published Breakout scores under the noop protocol's wrappers, (agent steps, score): the points of
# CleanRL's benchmark pages (dqn_atari, c51_atari) that issue 13 quotes; their curves' other points
# are not stored here, so only these are drawn.
REFERENCES = {
    "cleanrl": {
        "CleanRL DQN (published)": [(2_000_000, 100), (2_500_000, 160)],
        "CleanRL C51 (published)": [(2_000_000, 210), (2_500_000, 300)],
    },
    # MinAtar's Breakout (one frame an agent step): the DQN curve of the MinAtar paper (Young and Tian 2019) as
    # its repository's README draws it (img/learning_curves.gif, read off the figure to about 0.4): returns of
    # the training episodes, averaged over 100 episodes and 30 seeds, the full action set of 6 actions
    "minatar": {
        "MinAtar paper's DQN (read off its figure)": [(250_000, 6.7), (500_000, 8.3), (1_000_000, 9.2),
                                                      (1_500_000, 9.4), (2_000_000, 9.6), (3_000_000, 9.9),
                                                      (4_000_000, 9.9), (5_000_000, 10.0)],
    },
}
FRAMES_PER_STEP = {"cleanrl": 4, "minatar": 1}  # of the game each reference is on


def logged_scores(run_dir: Path, column: str) -> list[dict]:
    """[{step, minutes, mean}] from the run's own metrics.csv at each of its evaluations: train_score
    (the last 20 training games) or eval_mean (the loop's greedy evaluation games). Nothing is played."""
    with open(run_dir / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["eval_mean"] and r[column]]
    return [{"step": int(r["step"]), "minutes": round(float(r["wall_s"]) / 60, 2), "mean": float(r[column])}
            for r in rows]


def score_snapshot(snapshot: Path, protocol: str, games: int, seed: int) -> tuple[str, int, list[float]]:
    """(file name, agent step, scores) of one snapshot's games under protocol."""
    agent = load_agent(snapshot)
    return snapshot.name, agent.trained_steps, agent.evaluate(protocol, games, seed)


def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)  # the jobs share the cores


def _score_args(args: tuple) -> tuple[str, int, list[float]]:
    return score_snapshot(*args)


def snapshot_scores(run_dir: Path, protocol: str, games: int, seed: int, every: int = 1,
                    jobs: int = 1) -> list[dict]:
    """[{step, minutes, mean, std}] for each snapshot of run_dir at a multiple of `every` agent steps,
    scored under protocol (cached); `jobs` snapshots are played at once, each on one torch thread."""
    cache = run_dir / f"snapshot_scores_{protocol}.json"
    known = json.loads(cache.read_text()) if cache.exists() else {}
    settings = {"games": games, "seed": seed}
    if known.get("settings") != settings:
        known = {"settings": settings, "scores": {}}
    with open(run_dir / "metrics.csv") as f:
        wall_s = {int(r["step"]): float(r["wall_s"]) for r in csv.DictReader(f)}  # a resumed step's last row
    todo = [(snapshot, protocol, games, seed) for snapshot in sorted((run_dir / "snapshots").glob("step_*.pt"))
            if snapshot.name not in known["scores"] and not int(snapshot.stem.split("_")[1]) % every]
    with multiprocessing.Pool(jobs, initializer=_one_torch_thread) if jobs > 1 else nullcontext() as pool:
        results = pool.imap(_score_args, todo) if pool else map(_score_args, todo)
        for name, step, scores in results:
            known["scores"][name] = {"step": step, "minutes": round(wall_s[step] / 60, 2),
                                     "mean": float(np.mean(scores)), "std": float(np.std(scores))}
            print(f"{run_dir.name} step {step:>8}: {np.mean(scores):6.1f} +- {np.std(scores):5.1f}", flush=True)
            cache.write_text(json.dumps(known, indent=1) + "\n")
    return sorted((row for row in known["scores"].values() if row["step"] % every == 0), key=lambda row: row["step"])


def draw(curves: dict[str, list[dict]], references: dict[str, list[tuple[int, float]]], what: str,
         png: Path, frames_per_step: int = 4) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_steps, by_minutes) = plt.subplots(1, 2, figsize=(12, 4.5))
    for label, rows in curves.items():
        by_steps.plot([r["step"] for r in rows], [r["mean"] for r in rows], "o-", ms=3, label=label)
        by_minutes.plot([r["minutes"] for r in rows], [r["mean"] for r in rows], "o-", ms=3, label=label)
    for label, points in references.items():
        by_steps.plot(*zip(*points), "s--", alpha=0.6, label=label)
    by_steps.set_xlabel(f"agent steps ({frames_per_step} frame{'s' * (frames_per_step > 1)} each)")
    by_minutes.set_xlabel("wall-clock minutes (this machine)")
    for ax in (by_steps, by_minutes):
        ax.set_ylabel(what)
        ax.grid(True)
        ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="RUN_DIR or RUN_DIR:LABEL")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="noop")
    parser.add_argument("--games", type=int, default=10, help="games per snapshot")
    parser.add_argument("--seed", type=int, default=1000, help="seed of each snapshot's first game")
    parser.add_argument("--png", type=Path, help="draw the curves here")
    parser.add_argument("--every", type=int, default=1, help="only snapshots at multiples of this many agent steps")
    parser.add_argument("--jobs", type=int, default=1, help="snapshots played at once (one core each)")
    parser.add_argument("--logged", choices=["train_score", "eval_mean"],
                        help="draw this column of each run's metrics.csv instead of playing the snapshots")
    parser.add_argument("--reference", choices=REFERENCES, help="also draw these published curves (by steps)")
    parser.add_argument("--at-minutes", type=float, nargs="+", metavar="M",
                        help="also print each run's last score by each of these minutes of its wall clock")
    args = parser.parse_args()

    curves = {}
    for spec in args.runs:
        run_dir, _, label = spec.partition(":")
        curves[label or Path(run_dir).name] = (logged_scores(Path(run_dir), args.logged) if args.logged else
                                               snapshot_scores(Path(run_dir), args.protocol, args.games, args.seed,
                                                               args.every, args.jobs))
    print("| run | " + " | ".join(f"{r['step'] // 1000}k" for r in max(curves.values(), key=len)) + " |")
    for label, rows in curves.items():
        print(f"| {label} | " + " | ".join(f"{r['mean']:.1f} ({r['minutes']:.0f} min)" for r in rows) + " |")
    if args.at_minutes:
        print("| run | " + " | ".join(f"by {m:g} min" for m in args.at_minutes) + " |")
        for label, rows in curves.items():
            cells = []
            for minutes in args.at_minutes:
                done = [r for r in rows if r["minutes"] <= minutes]
                cells.append(f"{done[-1]['mean']:.1f} ({done[-1]['step'] // 1000}k)" if done else "-")
            print(f"| {label} | " + " | ".join(cells) + " |")
    if args.png:
        what = {"train_score": "mean score of the last 20 training games", "eval_mean": "the run's own evaluation",
                None: f"mean score, {args.protocol} protocol"}[args.logged]
        draw(curves, REFERENCES.get(args.reference, {}), what, args.png, FRAMES_PER_STEP.get(args.reference, 4))
        print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
