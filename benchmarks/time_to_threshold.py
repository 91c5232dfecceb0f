"""When did a Breakout run first pass the homework's threshold? Scores every evaluation snapshot.

For each network saved under RUN_DIR/snapshots (dqn train --keep-eval-snapshots, on in the breakout
preset): the homework's final score (30 one-life greedy episodes, unclipped, seed 9, times 5),
against agent steps and the run's wall-clock minutes at that step.

    python benchmarks/time_to_threshold.py runs/breakout-1 [--threshold 15] [--json out.json] [--until-step N]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from dqn.train.loading import load_agent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--threshold", type=float, default=15.0)
    parser.add_argument("--json", type=Path, help="also write the table here")
    parser.add_argument("--until-step", type=int, help="only snapshots up to this agent step")
    args = parser.parse_args()

    with open(args.run_dir / "metrics.csv") as f:
        wall_s = {int(r["step"]): float(r["wall_s"]) for r in csv.DictReader(f)}
    table = []
    for snapshot in sorted((args.run_dir / "snapshots").glob("step_*.pt")):
        agent = load_agent(snapshot)
        if args.until_step is not None and agent.trained_steps > args.until_step:
            break
        score = agent.homework_score(seed=9)
        row = {"step": agent.trained_steps, "minutes": round(wall_s[agent.trained_steps] / 60, 2),
               "homework_score": score}
        table.append(row)
        print(f"step {row['step']:>8}  {row['minutes']:6.1f} min  homework score {score:6.1f}", flush=True)
    passed = [r for r in table if r["homework_score"] >= args.threshold]
    if passed:
        print(f"first at or above {args.threshold}: step {passed[0]['step']}, {passed[0]['minutes']} minutes")
    else:
        print(f"no snapshot reached {args.threshold}")
    if args.json:
        args.json.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
