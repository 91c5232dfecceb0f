"""Draw an agent's whole training when it was trained in stretches of several runs, each a warm start
(`dqn train --init-from`) of the one before: the training score against agent steps and against the
minutes of all stretches together, and each stretch's evaluation scores.

Each run is cut at the agent step its successor started from (the `warm_start` record of the successor's
config.json), and its minutes go on from the minutes of its predecessor at that step.

    python benchmarks/agent_history.py models/breakout-rainbow-1.4m models/breakout --png models/breakout/curves.png
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path


def stretch_rows(run_dirs: list[Path]) -> list[tuple[Path, list[dict]]]:
    """Each run's metrics.csv rows up to where the next run started, with `minutes` counted from the first run's
    start (a resumed run's repeated rows: the last one kept)."""
    stretches, offset = [], 0.0
    for i, run_dir in enumerate(run_dirs):
        with open(run_dir / "metrics.csv") as f:
            rows = {int(r["step"]): r for r in csv.DictReader(f)}
        end = float("inf")
        if i + 1 < len(run_dirs):
            warm_start = json.loads((run_dirs[i + 1] / "config.json").read_text()).get("warm_start")
            if not warm_start:
                raise SystemExit(f"agent_history: {run_dirs[i + 1]} is no warm start of {run_dir}")
            end = warm_start["agent_step"]
        kept = [{"step": step, "minutes": offset + float(r["wall_s"]) / 60, "train_score": r["train_score"],
                 "eval_mean": r["eval_mean"]} for step, r in sorted(rows.items()) if step <= end]
        stretches.append((run_dir, kept))
        offset = kept[-1]["minutes"]
    return stretches


def draw(stretches: list[tuple[Path, list[dict]]], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_steps, by_minutes) = plt.subplots(1, 2, figsize=(12, 4.5))
    for run_dir, rows in stretches:
        protocol = json.loads((run_dir / "config.json").read_text()).get("eval_protocol") or "training"
        for column, label, style in (("train_score", "training score (last 20 games, epsilon 0.01)", "-"),
                                     ("eval_mean", f"its evaluations ({protocol} protocol)", "o")):
            points = [r for r in rows if r[column]]
            for ax, x in ((by_steps, "step"), (by_minutes, "minutes")):
                ax.plot([r[x] for r in points], [float(r[column]) for r in points], style, ms=3,
                        label=f"{run_dir.name}: {label}")
    by_steps.set_xlabel("agent steps (4 frames each)")
    by_minutes.set_xlabel("wall-clock minutes, all stretches")
    for ax in (by_steps, by_minutes):
        ax.axhline(250, color="gray", lw=0.8, ls="--")
        ax.set_ylabel("score of a whole game")
        ax.grid(True)
    by_steps.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run or model folders, first stretch first")
    parser.add_argument("--png", type=Path, required=True)
    args = parser.parse_args()
    stretches = stretch_rows(args.runs)
    for run_dir, rows in stretches:
        print(f"{run_dir}: agent steps {rows[0]['step']:,} to {rows[-1]['step']:,}, "
              f"minutes {rows[0]['minutes']:.1f} to {rows[-1]['minutes']:.1f}")
    draw(stretches, args.png)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
