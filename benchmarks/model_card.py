"""Write the Hugging Face metadata of a model card from the model's measured scores.

MODEL_DIR/evaluation.json maps each protocol (noop, sticky, training) to what
`dqn evaluate MODEL_DIR --protocol P --games N --seed S --json` printed (with `--homework` for the
homework's score). This script puts the YAML block that the Hub reads (tags and a model-index with
one mean_reward per protocol) at the top of MODEL_DIR/README.md, replacing the one there, so the
numbers in the card are the measured ones. The card's text below the block is left as it is.

    python benchmarks/model_card.py models/breakout --name "Rainbow without noisy nets"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dqn.config import TrainConfig
from dqn.evaluation.protocols import PROTOCOLS


def evaluate_command(model_dir: str, report: dict) -> str:
    """The `dqn evaluate` command that reproduces report. With --homework, --seed seeds the games and the final
    score alike; without it, the games take seed 0 and the final score the course's seed 9."""
    command = f"dqn evaluate {model_dir} --protocol {report['protocol']} --games {report['games']}"
    if "homework_score" not in report:
        return command + f" --seed {report['seed']}"
    if report.get("homework_seed", report["seed"]) == report["seed"]:
        return command + f" --seed {report['seed']} --homework"
    return command + " --homework"


def metrics(model_dir: str, evaluation: dict) -> list[dict]:
    """One mean_reward per protocol over full games; the homework's own score (30 one-life
    episodes, times 5) as well where it was measured."""
    found = []
    for protocol, report in evaluation.items():
        if protocol not in PROTOCOLS:
            raise SystemExit(f"model_card: evaluation.json names an unknown protocol {protocol!r}")
        found.append({"name": f"mean_reward, {protocol} protocol ({PROTOCOLS[protocol].description}); "
                              f"{report['games']} games, seed {report['seed']}: {evaluate_command(model_dir, report)}",
                      "value": f"{report['mean_score']:.2f} +/- {report['std_score']:.2f}"})
        if "homework_score" in report:
            found.append({"name": "the course's final score (30 one-life episodes, greedy, env seeded "
                                  f"{report.get('homework_seed', report['seed'])}, mean times 5): "
                                  f"{evaluate_command(model_dir, report)}",
                          "value": f"{report['homework_score']:.2f}"})
    return found


def tags(config: TrainConfig) -> list[str]:
    parts = {"double-dqn": config.double_dqn, "dueling": "dueling" in config.head, "c51": config.head.startswith("c51"),
             "n-step-returns": config.n_step > 1, "prioritized-replay": config.prioritized_replay,
             "noisy-nets": config.noisy}
    return ["reinforcement-learning", "deep-reinforcement-learning", "deep-q-learning", "atari", config.env_id,
            *[tag for tag, used in parts.items() if used]]


def _quoted(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid YAML scalar, whatever it holds


def front_matter(model_dir: str, name: str, config: TrainConfig, evaluation: dict) -> str:
    lines = ["---", "library_name: dqn", "tags:", *[f"- {_quoted(tag)}" for tag in tags(config)],
             "model-index:", f"- name: {_quoted(name)}", "  results:", "  - task:",
             "      type: reinforcement-learning", "      name: reinforcement-learning", "    dataset:",
             f"      name: {config.env_id}", f"      type: {config.env_id}", "    metrics:"]
    for metric in metrics(model_dir, evaluation):
        lines += ["    - type: mean_reward", f"      value: {_quoted(metric['value'])}",
                  f"      name: {_quoted(metric['name'])}", "      verified: false"]
    return "\n".join(lines + ["---"]) + "\n"


def without_front_matter(card: str) -> str:
    if card.startswith("---\n"):
        end = card.find("\n---\n", 4)
        if end >= 0:
            return card[end + len("\n---\n"):].lstrip("\n")
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, help="holds config.json, evaluation.json and README.md")
    parser.add_argument("--name", required=True, help="the model's name in the model-index")
    args = parser.parse_args(argv)
    missing = [f for f in ("config.json", "evaluation.json") if not (args.model_dir / f).is_file()]
    if missing:
        print(f"model_card: {args.model_dir} has no {' or '.join(missing)}", file=sys.stderr)
        return 2
    config = TrainConfig.load(args.model_dir / "config.json")
    evaluation = json.loads((args.model_dir / "evaluation.json").read_text())
    card_path = args.model_dir / "README.md"
    body = without_front_matter(card_path.read_text()) if card_path.exists() else ""
    model_dir = args.model_dir.as_posix()
    card_path.write_text(front_matter(model_dir, args.name, config, evaluation) + "\n" + body)
    print(f"wrote {card_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
