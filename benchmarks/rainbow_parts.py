"""What each of Rainbow's parts costs in training speed: `dqn bench` of the rainbow preset, of it
without each part in turn, with IQN's head in place of its own, with the IMPALA CNN, and of the
breakout preset, in rounds so that a slow minute of the machine falls on every variant alike.

    python benchmarks/rainbow_parts.py [--steps 3000] [--rounds 2] [--only NAME ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dqn.train.benchmark import run_benchmark

# name -> (preset, the fields that take the part out)
VARIANTS = {
    "rainbow": ("rainbow", {}),
    "rainbow - noisy (epsilon-greedy)": ("rainbow", {"noisy": False}),
    "rainbow - c51 (dueling Q head)": ("rainbow", {"head": "dueling"}),
    "rainbow - dueling (c51 head)": ("rainbow", {"head": "c51"}),
    "rainbow - prioritized replay": ("rainbow", {"prioritized_replay": False}),
    "rainbow - n-step (n = 1)": ("rainbow", {"n_step": 1}),
    "rainbow with an iqn head for c51-dueling": ("rainbow", {"head": "iqn"}),
    "rainbow - noisy, with an iqn head": ("rainbow", {"noisy": False, "head": "iqn"}),
    "rainbow - noisy, with the impala cnn": ("rainbow", {"noisy": False, "cnn": "impala"}),
    "breakout preset": ("breakout", {}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3_000, help="agent steps timed per run, after the warm-up")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), metavar="NAME",
                        help="time these variants alone: " + "; ".join(VARIANTS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    variants = {name: VARIANTS[name] for name in args.only or VARIANTS}
    results: dict[str, list[dict]] = {name: [] for name in variants}
    for round_ in range(args.rounds):
        for name, (preset, overrides) in variants.items():
            report = run_benchmark(args.steps, preset=preset, **overrides)
            results[name].append(report)
            print(f"round {round_ + 1} {name}: {report['steps_per_s']:.1f} agent steps/s, "
                  f"{report['ms_per_update']:.1f} ms per update, acting {report['ms_per_step']['act']:.2f} ms "
                  f"per agent step", flush=True)
    print("| variant | agent steps/s | ms per update | acting, ms per agent step |\n|---|---|---|---|")
    for name, reports in results.items():
        print(f"| {name} | " + " | ".join(", ".join(f"{r[key]:.{digits}f}" for r in reports) for key, digits in
                                         (("steps_per_s", 1), ("ms_per_update", 1))) +
              " | " + ", ".join(f"{r['ms_per_step']['act']:.2f}" for r in reports) + " |")
    print(f"processor: {reports[0]['cpu_model']} ({reports[0]['cpu_capability']}), {reports[0]['precision']}, "
          f"{reports[0]['torch_threads']} threads")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
