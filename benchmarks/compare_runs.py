"""Score the evaluation snapshots of training runs under one evaluation protocol, and draw the runs'
scores against agent steps and against wall-clock minutes side by side.

Each run's scores are kept in RUN_DIR/snapshot_scores_PROTOCOL.json, so a run that goes on later
scores only its new snapshots. Minutes are the run's own wall clock at each snapshot (metrics.csv),
its evaluations and checkpoints included.

    python benchmarks/compare_runs.py runs/breakout:breakout runs/rainbow:rainbow --protocol noop \\
        --games 10 --seed 1000 --png curves.png [--reference cleanrl]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from dqn.envs import make_env
from dqn.evaluation import play_episodes
from dqn.loading import load_agent
from dqn.protocols import PROTOCOLS, protocol_config

# Published Breakout scores under the noop protocol's wrappers, (agent steps, score): the points of
# CleanRL's benchmark pages (dqn_atari, c51_atari) that issue 13 quotes; their curves' other points
# are not stored here, so only these are drawn.
REFERENCES = {
    "cleanrl": {
        "CleanRL DQN (published)": [(2_000_000, 100), (2_500_000, 160)],
        "CleanRL C51 (published)": [(2_000_000, 210), (2_500_000, 300)],
    },
}


def snapshot_scores(run_dir: Path, protocol: str, games: int, seed: int) -> list[dict]:
    """[{step, minutes, mean, std}] for each snapshot of run_dir, scored under protocol (cached)."""
    cache = run_dir / f"snapshot_scores_{protocol}.json"
    known = json.loads(cache.read_text()) if cache.exists() else {}
    settings = {"games": games, "seed": seed}
    if known.get("settings") != settings:
        known = {"settings": settings, "scores": {}}
    with open(run_dir / "metrics.csv") as f:
        wall_s = {int(r["step"]): float(r["wall_s"]) for r in csv.DictReader(f)}  # a resumed step's last row
    for snapshot in sorted((run_dir / "snapshots").glob("step_*.pt")):
        if snapshot.name in known["scores"]:
            continue
        agent, config, data = load_agent(snapshot)
        spec = PROTOCOLS[protocol]
        env = make_env(protocol_config(config, protocol), evaluation=True)
        agent.epsilon, agent.rng = spec.epsilon, np.random.default_rng(seed)
        scores = play_episodes(env, agent, games, greedy=spec.epsilon == 0, t_max=spec.t_max_steps,
                               seed=seed, full_games=True)
        env.close()
        step = int(data["step"])
        known["scores"][snapshot.name] = {"step": step, "minutes": round(wall_s[step] / 60, 2),
                                          "mean": float(np.mean(scores)), "std": float(np.std(scores))}
        print(f"{run_dir.name} step {step:>8}: {np.mean(scores):6.1f} +- {np.std(scores):5.1f}", flush=True)
        cache.write_text(json.dumps(known, indent=1) + "\n")
    return sorted(known["scores"].values(), key=lambda row: row["step"])


def draw(curves: dict[str, list[dict]], references: dict[str, list[tuple[int, float]]], protocol: str,
         png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_steps, by_minutes) = plt.subplots(1, 2, figsize=(12, 4.5))
    for label, rows in curves.items():
        by_steps.plot([r["step"] for r in rows], [r["mean"] for r in rows], "o-", ms=3, label=label)
        by_minutes.plot([r["minutes"] for r in rows], [r["mean"] for r in rows], "o-", ms=3, label=label)
    for label, points in references.items():
        by_steps.plot(*zip(*points), "s--", alpha=0.6, label=label)
    by_steps.set_xlabel("agent steps (4 frames each)")
    by_minutes.set_xlabel("wall-clock minutes (this machine)")
    for ax in (by_steps, by_minutes):
        ax.set_ylabel(f"mean score, {protocol} protocol")
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
    parser.add_argument("--reference", choices=REFERENCES, help="also draw these published curves (by steps)")
    args = parser.parse_args()

    curves = {}
    for spec in args.runs:
        run_dir, _, label = spec.partition(":")
        curves[label or Path(run_dir).name] = snapshot_scores(Path(run_dir), args.protocol, args.games, args.seed)
    print("| run | " + " | ".join(f"{r['step'] // 1000}k" for r in max(curves.values(), key=len)) + " |")
    for label, rows in curves.items():
        print(f"| {label} | " + " | ".join(f"{r['mean']:.1f} ({r['minutes']:.0f} min)" for r in rows) + " |")
    if args.png:
        draw(curves, REFERENCES.get(args.reference, {}), args.protocol, args.png)
        print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
