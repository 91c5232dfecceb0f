"""How Ape-X on Ray scales on this machine: Breakout agent steps/s and learner updates/s with N actors,
the learner on (the breakout preset's 1 update per 4 agent steps) and off (it never starts: the
actors' own speed, acting by their networks), beside the single-process loop (whose learner-off run
plays at random without a network: the envs' own speed); with the replay ratio reached and the policy lag.
Runs in rounds, so that a slow minute of the machine falls on every variant alike.

    python benchmarks/apex_scaling.py [--actors 1 2 4] [--steps 6000] [--rounds 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

from dqn.config import preset_config
from dqn.machine.hardware import cpu_capability, cpu_info
from dqn.train.entry import train

WARM_UP_STEPS = 2_000  # replay filled before the learner starts; left out of the timing
LOG_STEPS = 1_000  # a metrics row every so many agent steps; the first after the warm-up starts the clock


def measure(num_actors: int, learner_on: bool, steps: int) -> dict:
    """One short Breakout run; speeds from its metrics rows after the warm-up."""
    config = preset_config("breakout", num_actors=num_actors, total_steps=WARM_UP_STEPS + LOG_STEPS + steps,
                           learning_starts=WARM_UP_STEPS if learner_on else 10**9, log_freq_steps=LOG_STEPS,
                           eval_freq_steps=0, checkpoint_freq_steps=10**9, keep_eval_snapshots=False,
                           buffer_size=50_000)
    with tempfile.TemporaryDirectory() as tmp:
        train(config, Path(tmp) / "run", progress=False)
        with open(Path(tmp) / "run" / "metrics.csv") as f:
            rows = [row for row in csv.DictReader(f) if int(row["step"]) >= WARM_UP_STEPS + LOG_STEPS]
    first, last = rows[0], rows[-1]
    seconds = float(last["wall_s"]) - float(first["wall_s"])
    steps_done = int(last["step"]) - int(first["step"])
    updates = int(last["updates"]) - int(first["updates"])
    lags = [float(row["policy_lag_updates"]) for row in rows if row.get("policy_lag_updates")]
    return {"actors": num_actors, "learner": learner_on, "steps_per_s": steps_done / seconds,
            "updates_per_s": updates / seconds, "updates_per_step": updates / steps_done,
            "policy_lag_updates": sum(lags) / len(lags) if lags else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--steps", type=int, default=6_000, help="agent steps timed per run, after the warm-up "
                                                                 f"(at least {LOG_STEPS})")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.steps < LOG_STEPS:
        parser.error(f"--steps must be at least {LOG_STEPS}, the metrics rows' spacing")

    variants = [(n, on) for n in [0, *args.actors] for on in (True, False)]
    results: dict[str, list[dict]] = {}
    for round_ in range(args.rounds):
        for n, on in variants:
            name = (f"{n} actor{'s' * (n > 1)}, learner {'on' if on else 'off'}" if n else
                    "single process, learner on" if on else "single process, learner off (random play, no network)")
            report = measure(n, on, args.steps)
            results.setdefault(name, []).append(report)
            print(f"round {round_ + 1} {name}: {report['steps_per_s']:.1f} agent steps/s, "
                  f"{report['updates_per_s']:.1f} updates/s, lag {report['policy_lag_updates']}", flush=True)
    print("| variant | agent steps/s | updates/s | updates per agent step | policy lag, updates |\n"
          "|---|---|---|---|---|")
    for name, reports in results.items():
        cells = [", ".join(f"{r[key]:.{digits}f}" if r[key] is not None else "-" for r in reports)
                 for key, digits in (("steps_per_s", 1), ("updates_per_s", 1), ("updates_per_step", 3),
                                     ("policy_lag_updates", 0))]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"processor: {cpu_info()[0]} ({cpu_capability()})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
