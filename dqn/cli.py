"""The `dqn` command: train, evaluate.

Every TrainConfig field is also a kebab-case flag of `dqn train`, with the field's help text.
Bad input ends with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import typing
from pathlib import Path

import numpy as np

from dqn.config import PRESETS, TrainConfig, preset_config
from dqn.errors import UserError


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus an error; we want just the error, on one line."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    hints = typing.get_type_hints(TrainConfig)
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        kind = hints[field.name]
        kwargs = {"dest": field.name, "default": None, "help": field.metadata["help"]}
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
        elif kind == tuple[int, ...]:
            parser.add_argument(flag, type=int, nargs="+", metavar="WIDTH", **kwargs)
        else:
            base = next(t for t in typing.get_args(kind) if t is not type(None)) if typing.get_args(kind) else kind
            parser.add_argument(flag, type=base, metavar=base.__name__.upper(), **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="dqn", description="Deep Q-Networks: train, evaluate.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    train = commands.add_parser("train", help="train an agent and write a run folder")
    train.add_argument("--preset", default="cartpole", help=f"starting config: {', '.join(sorted(PRESETS))}")
    train.add_argument("--out", type=Path, help="run folder to create (default: runs/PRESET-seedS-TIME)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_config_flags(train)

    evaluate = commands.add_parser("evaluate", help="play full games greedily and report the scores")
    evaluate.add_argument("path", type=Path, help="a run folder or a checkpoint file")
    evaluate.add_argument("--games", type=int, default=30, help="number of games")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the first game's reset")
    evaluate.add_argument("--t-max", type=int, default=10_000, help="step limit of one game, in agent steps")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def cmd_train(args: argparse.Namespace) -> None:
    from dqn.train import train

    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
                 if getattr(args, f.name) is not None}
    if "hidden_sizes" in overrides:
        overrides["hidden_sizes"] = tuple(overrides["hidden_sizes"])
    config = preset_config(args.preset, **overrides).validate()
    out = args.out or Path("runs") / f"{args.preset}-seed{config.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    result = train(config, out, progress=not args.quiet)
    best = "none" if result.best_eval is None else f"{result.best_eval:.1f}"
    print(f"trained {result.steps} agent steps ({result.updates} updates) in {result.wall_s:.1f} s; "
          f"best evaluation score {best}{' (reached stop score)' if result.stopped_early else ''}")
    print(f"run folder: {result.run_dir}  (evaluate with: dqn evaluate {result.run_dir})")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from dqn.envs import make_env
    from dqn.evaluation import play_episodes
    from dqn.train import load_agent

    if args.games <= 0:
        raise UserError(f"--games must be positive, got {args.games}")
    if args.t_max <= 0:
        raise UserError(f"--t-max must be positive, got {args.t_max}")
    agent, config, data = load_agent(args.path)
    env = make_env(config, evaluation=True)
    if env.observation_space.shape != agent.state_shape or env.action_space.n != agent.n_actions:
        raise UserError(f"checkpoint {data['path']} was trained for other observations or actions "
                        f"than {config.env_id} has")
    scores = play_episodes(env, agent, args.games, greedy=True, t_max=args.t_max, seed=args.seed,
                           full_games=True)
    report = {"mean_score": float(np.mean(scores)), "std_score": float(np.std(scores)),
              "scores": scores, "games": args.games, "seed": args.seed, "env_id": config.env_id,
              "checkpoint": str(data["path"]), "trained_steps": int(data["step"])}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{config.env_id}: {args.games} greedy games from {data['path']}: "
              f"mean {report['mean_score']:.1f} +- {report['std_score']:.1f} "
              f"(min {min(scores):.0f}, max {max(scores):.0f})")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        {"train": cmd_train, "evaluate": cmd_evaluate}[args.command](args)
    except UserError as exc:
        print(f"dqn: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
