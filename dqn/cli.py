"""The `dqn` command: train, evaluate, record, bench.

Every TrainConfig field is also a kebab-case flag of `dqn train`, with the field's help text and
the default preset's value. Bad input ends with one line on stderr, `dqn: error: ...`, naming the flag
as it was typed, and exit code 2 (an unknown or abbreviated flag with the closest known one; a bare
`dqn` with the help); Ctrl-C or SIGTERM with one line and exit code 130 or 143, except in training,
which saves a checkpoint first and exits with 0. Progress bars go to stderr, so that stdout holds only
results.

Arguments are parsed, and a new run's config and env id checked, before torch is imported: this module
and what it imports at the top load no torch, and each command imports its heavier modules when it runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import sys
import time
import typing
from pathlib import Path

from dqn import __version__
from dqn.agent.registry import HEAD_KINDS
from dqn.config import MAX_TORCH_THREADS, PRESETS, RESUME_OVERRIDES, TrainConfig, auto_or_int, preset_config
from dqn.envs.registry import FAMILY_KINDS
from dqn.errors import ConfigError, UserError
from dqn.evaluation.protocols import HOMEWORK_SEED, PROTOCOLS, Protocol
from dqn.machine.interrupts import Interrupted, interruptible

# other spellings of config flags: Ray's own word for where a cluster is (`ray start --address`)
FLAG_ALIASES = {"ray_address": ("--address",)}
DEFAULT_PRESET = "breakout"  # dqn train's config without --preset
GAMES_SEED = 0  # evaluate's and record's first game without --seed


class DefaultsShown(argparse.HelpFormatter):
    """Each option's help ends with its default, unless it has none to show or says it itself."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or not action.option_strings or any(action.default is no_default for no_default
                                                                    in (None, False, argparse.SUPPRESS)):
            return text
        return text + " (default: %(default)s)"


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus an error; we want just the error, on one line, with the flag as the
    user typed it. An unknown flag, or an abbreviated one (argparse's prefix matching is off: a typo
    must not quietly set another flag), gets the closest known one of its command as a suggestion."""

    def __init__(self, *args, **kwargs):
        self.flags: list[str] = []  # the option strings shown in --help, for suggestions
        self.commands: dict[str, OneLineParser] = {}  # a subcommand's parser by name
        self.typed: list[str] = []  # the command line, to name a flag as it was typed
        super().__init__(*args, formatter_class=DefaultsShown, allow_abbrev=False, **kwargs)

    def add_argument(self, *args, **kwargs) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        if action.help is not argparse.SUPPRESS:
            self.flags.extend(action.option_strings)
        return action

    def parse_args(self, args=None, namespace=None) -> argparse.Namespace:
        self.typed = list(sys.argv[1:] if args is None else args)
        for parser in self.commands.values():
            parser.typed = self.typed
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            self.commands.get(getattr(parsed, "command", None), self).unrecognized(unknown[0])
        return parsed

    def unrecognized(self, word: str) -> typing.NoReturn:
        """The error for an argument nothing takes, with the closest flag of this parser if there is one."""
        flag = word.split("=", 1)[0]
        closest = difflib.get_close_matches(flag.replace("_", "-"), self.flags, n=1) if flag.startswith("--") else []
        self.error(f"unrecognized argument {flag}" + (f"; did you mean {closest[0]}?" if closest else ""))

    def error(self, message: str) -> typing.NoReturn:
        # argparse's "argument --epsilon/--eval-epsilon: must be ..." as "--epsilon must be ...", the spelling typed
        flags, _, problem = message.partition(": ") if message.startswith("argument ") else ("", "", "")
        if problem:
            names = flags.removeprefix("argument ").split("/")
            flag = next((name for name in names if any(word.split("=", 1)[0] == name for word in self.typed)),
                        names[0])
            message = f"{flag} {problem}" if problem.startswith("must") else f"{flag}: {problem}"
        self.exit(2, error_line(message))


def error_line(message: str) -> str:
    """The one line of bad input, the same for every command."""
    return f"dqn: error: {message}\n"


class RemovedFlag(argparse.Action):
    """A flag that is gone: one line saying what to use instead."""

    def __init__(self, *args, instead: str, **kwargs):
        self.instead = instead
        super().__init__(*args, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is gone; use {self.instead}")


def parsed_as(parse: typing.Callable[[str], typing.Any], expects: str) -> typing.Callable[[str], typing.Any]:
    """A flag's type: parse, with "must be EXPECTS, got TEXT" for text it cannot read."""
    def read(text: str):
        try:
            return parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {expects}, got {text!r}") from None
    return read


whole_number = parsed_as(int, "a whole number")
number = parsed_as(float, "a number")


def positive_int(text: str) -> int:
    value = whole_number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def seed_int(text: str) -> int:
    value = whole_number(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**32), got {value}")
    return value


def probability(text: str) -> float:
    value = number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def threads(text: str) -> int | str:
    value = parsed_as(auto_or_int, "'auto' or a whole number")(text)
    if value != "auto" and not 0 < value <= MAX_TORCH_THREADS:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a number from 1 to {MAX_TORCH_THREADS}, got {value}")
    return value


def flag_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def resume_flags_text() -> str:
    """The flags a resumed run may change (config.RESUME_OVERRIDES), as a phrase: "--a, --b and --c"."""
    *others, last = [flag_name(name) for name in RESUME_OVERRIDES]
    return f"{', '.join(others)} and {last}"


def option_groups(parser: argparse.ArgumentParser) -> dict[str, argparse._ArgumentGroup]:
    """A --help section for the options of each kind of head and each env family, by option name."""
    owners: dict[str, list[str]] = {}
    for kind in HEAD_KINDS.values():
        for option in kind.options:
            owners.setdefault(option.name, []).append(f"{kind.name} heads")
    for family in FAMILY_KINDS.values():
        for option in family.options:
            owners.setdefault(option.name, []).append(f"{family.name} envs")
    titles = {name: "options of " + " and ".join(kinds) for name, kinds in owners.items()}
    groups = {title: parser.add_argument_group(title) for title in dict.fromkeys(titles.values())}  # in order
    return {name: groups[title] for name, title in titles.items()}


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """A flag per TrainConfig field; its help ends with the default preset's value (its default is None,
    so that a config holds only the flags given)."""
    hints = typing.get_type_hints(TrainConfig)
    defaults = preset_config(DEFAULT_PRESET)
    groups = option_groups(parser)
    for field in dataclasses.fields(TrainConfig):
        flags = [flag_name(field.name), *FLAG_ALIASES.get(field.name, ())]
        kind = hints[field.name]
        help_text = field.metadata["help"]
        if "default" not in help_text:
            value = getattr(defaults, field.name)
            shown = " ".join(map(str, value)) if isinstance(value, tuple) else "none" if value is None else value
            help_text += f" (default: {shown})".replace("%", "%%")
        kwargs = {"dest": field.name, "default": None, "help": help_text}
        group = groups.get(field.name, parser)
        if field.metadata["parse"] is not None:
            group.add_argument(*flags, type=parsed_as(field.metadata["parse"], field.metadata["expects"]),
                                metavar=f"{field.default}|N", **kwargs)
        elif kind is bool:
            group.add_argument(*flags, action=argparse.BooleanOptionalAction, **kwargs)
        elif kind == tuple[int, ...]:
            group.add_argument(*flags, type=whole_number, nargs="+", metavar="WIDTH", **kwargs)
        else:
            base = next(t for t in typing.get_args(kind) if t is not type(None)) if typing.get_args(kind) else kind
            group.add_argument(*flags, type={int: whole_number, float: number}.get(base, base),
                                metavar=base.__name__.upper(), **kwargs)


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="dqn", description="Deep Q-Networks: train, evaluate, record, bench.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # not required: a bare `dqn` gets the whole help (main), not argparse's one line
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    parser.commands = commands.choices

    train = commands.add_parser("train", help="train an agent and write a run folder")
    train.add_argument("--preset", help=f"starting config: {', '.join(sorted(PRESETS))} (default: "
                                        f"{DEFAULT_PRESET}; the defaults below are its values: see any preset's "
                                        "with --preset NAME --print-config)")
    train.add_argument("--print-config", action="store_true",
                       help="print the config, the preset with the flags given applied, as JSON and exit")
    train.add_argument("--resume", type=Path, metavar="RUN_DIR",
                       help="go on with this run from its checkpoint, with its own config "
                            f"(only {resume_flags_text()} may change)")
    train.add_argument("--init-from", type=Path, metavar="DIR",
                       help="a warm start: a new run whose networks begin with the weights of this run or model "
                            "folder (a run's checkpoint.pt: with its target network, optimizer state and agent-step "
                            "count; a model's best.pt: its network and agent-step count), its replay refilled by the "
                            "loaded agent first; the config is the folder's, with the flags given, unless --preset "
                            "is given. Not an exact resume (that is --resume); reads tensors only")
    train.add_argument("--refill-replay", action="store_true",
                       help="with --resume: go on without the checkpoint's replay file (a damaged or lost one), "
                            "the replay refilled before learning goes on, as in a run without --save-replay")
    train.add_argument("--out", type=Path, help="run folder to create (default: runs/PRESET-seedS-TIME)")
    train.add_argument("--quiet", action="store_true",
                       help="no progress bar (the run folder and how to watch it are still said at the start)")
    _add_config_flags(train)
    train.add_argument("--distributed", action="store_true",
                       help="Ape-X on Ray with an actor per core of this machine, unless --num-actors says how many")
    train.add_argument("--bf16", "--no-bf16", action=RemovedFlag, nargs=0, help=argparse.SUPPRESS,
                       instead="--precision bf16 (or --precision auto, the default: bf16 only where the "
                               "processor computes it natively)")
    train.add_argument("--dueling", "--no-dueling", action=RemovedFlag, nargs=0, help=argparse.SUPPRESS,
                       instead="--head dueling (or --head q)")

    evaluate = commands.add_parser("evaluate", help="play full games and report the scores")
    evaluate.add_argument("path", type=Path, help="a run folder or a checkpoint file")
    evaluate.add_argument("--games", type=positive_int, default=30, help="number of games")
    evaluate.add_argument("--seed", type=seed_int,
                          help=f"seed of the first game's reset (default: {GAMES_SEED}), and of the homework score's "
                               f"env (default: {HOMEWORK_SEED}, the course's)")
    _add_protocol_flags(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object (and no progress bar)")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluate.add_argument("--homework", action="store_true",
                          help="Atari: also the course's final score: 30 one-life episodes, greedy, "
                               f"unclipped, no random no-ops, env seeded once with --seed ({HOMEWORK_SEED} unless "
                               "given, as the course's notebook does), mean times 5")

    record = commands.add_parser("record", help="write mp4 videos of full games")
    record.add_argument("path", type=Path, help="a run folder or a checkpoint file")
    record.add_argument("--out", type=Path, required=True, help="folder for the videos")
    record.add_argument("--games", type=positive_int, default=1, help="number of games, one video each")
    record.add_argument("--seed", type=seed_int, default=GAMES_SEED, help="seed of the first game's reset")
    _add_protocol_flags(record)
    record.add_argument("--quiet", action="store_true", help="no progress bar")

    bench = commands.add_parser("bench", help="measure training speed on Breakout (Nature DQN settings, "
                                              "a preset's or a run's)")
    recipe = bench.add_mutually_exclusive_group()
    recipe.add_argument("--preset", help=f"time this preset's own settings ({', '.join(sorted(PRESETS))}) "
                                         "instead of the Nature DQN settings on the breakout preset's game and envs")
    recipe.add_argument("--config", type=Path, metavar="DIR",
                        help="time the recipe of this run or model folder (its config.json), e.g. models/breakout")
    bench.add_argument("--steps", type=positive_int, default=20_000, help="agent steps to time, after 1,000 of warm-up")
    bench.add_argument("--num-envs", type=positive_int,
                       help=f"envs stepped together (default: the preset's; without --preset the breakout "
                            f"preset's, {PRESETS['breakout']['num_envs']})")
    bench.add_argument("--json", action="store_true", help="print one JSON object (and no progress bar)")
    bench.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _add_protocol_flags(parser: argparse.ArgumentParser) -> None:
    """--protocol and the two settings a user may change in it, for evaluate and record."""
    parser.add_argument("--protocol", choices=PROTOCOLS, default="training",
                        help="how the games are played: " + "; ".join(f"{name}: {protocol.description}"
                                                                     for name, protocol in PROTOCOLS.items())
                             + " (default: %(default)s)")
    parser.add_argument("--t-max", type=positive_int,
                        help="step limit of one game, in agent steps (default: the protocol's, " +
                             ", ".join(f"{p.t_max_steps:,} for {name}" for name, p in PROTOCOLS.items()) + ")")
    parser.add_argument("--epsilon", "--eval-epsilon", type=probability,
                        help="chance of a random action at each agent step, 0 for greedy play (default: the "
                             "protocol's, " + ", ".join(f"{p.epsilon} for {name}" for name, p in PROTOCOLS.items())
                             + "; the Nature DQN paper's 0.05 varies deterministic games)")
    parser.add_argument("--torch-threads", type=threads, default="auto", metavar="auto|N",
                        help="torch threads for the network, or 'auto': 1, since play acts on one observation at a "
                             "time, and two commands side by side then take a core each instead of fighting over "
                             "both (default: %(default)s)")


def _chosen_protocol(args: argparse.Namespace) -> Protocol:
    """--protocol, with the --epsilon and --t-max given instead of its own."""
    chosen = {"epsilon": args.epsilon, "t_max_steps": args.t_max}
    return dataclasses.replace(PROTOCOLS[args.protocol], **{k: v for k, v in chosen.items() if v is not None})


def cmd_train(args: argparse.Namespace) -> None:
    from dqn.envs.registry import check_env_id, foreign_options, option_misfit

    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
                 if getattr(args, f.name) is not None}
    if args.resume is not None:
        if args.init_from is not None:
            raise UserError("--init-from starts a new run from another's weights; --resume goes on with a run: "
                            "give one of the two")
        if args.print_config:
            raise UserError(f"--print-config shows a new run's config; a run's own is {args.resume / 'config.json'}")
        others = sorted(set(overrides) - set(RESUME_OVERRIDES)) + [name for name in ("preset", "out")
                                                                   if getattr(args, name) is not None]
        others += ["distributed"] * args.distributed
        if others:
            raise UserError(f"--resume goes on with the run's own config; only {resume_flags_text()} may change, "
                            f"not {flag_name(others[0])}")
        from dqn.train.entry import resume

        result = resume(args.resume, progress=not args.quiet, refill_replay=args.refill_replay,
                        **{name: overrides[name] for name in RESUME_OVERRIDES if name in overrides})
    else:
        if args.refill_replay:
            raise UserError("--refill-replay goes with --resume: a new run's replay fills anyway")
        if "hidden_sizes" in overrides:
            overrides["hidden_sizes"] = tuple(overrides["hidden_sizes"])
        if args.distributed and "num_actors" not in overrides:
            from dqn.machine.hardware import usable_cores

            overrides["num_actors"] = usable_cores()
        warm = None
        if args.init_from is not None:
            from dqn.train.warm_start import read_warm_start, warm_start_config

            warm = read_warm_start(args.init_from)
        if warm is not None and args.preset is None:
            name, config = "warm", warm_start_config(warm, **overrides)
        else:
            name = args.preset or DEFAULT_PRESET
            config = preset_config(name, **overrides)
        check_env_id(config.env_id)  # before torch loads, and for --print-config too
        foreign = foreign_options(config.env_id, overrides)  # flags given that this env would ignore
        if foreign:
            raise UserError(f"{flag_name(foreign[0])} {option_misfit(config.env_id, foreign[0])}")
        if args.print_config:
            if warm is not None:
                from dqn.train.warm_start import check_same_network

                check_same_network(warm, config)  # a training run's entry point checks its own
            print(json.dumps(config.to_dict(), indent=2))
            return
        from dqn.train.entry import train

        out = args.out or Path("runs") / f"{name}-seed{config.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
        result = train(config, out, progress=not args.quiet, warm_start=warm)
    if result.interrupted_by:
        print(f"{result.interrupted_by}: interrupted at agent step {result.steps}; saved "
              f"{result.run_dir / 'checkpoint.pt'} (go on with: dqn train --resume {result.run_dir})", file=sys.stderr)
    best = "none" if result.best_eval is None else f"{result.best_eval:.1f}"
    print(f"trained {result.steps} agent steps ({result.updates} updates) in {result.wall_s:.1f} s; "
          f"best evaluation score {best}{' (reached stop score)' if result.stopped_early else ''}")
    print(f"run folder: {result.run_dir}  (evaluate with: dqn evaluate {result.run_dir})")


def load_agent_and_env(path: Path, render_mode: str | None = None, protocol: str = "training",
                       torch_threads: int | str = "auto"):
    """The agent of a run folder or checkpoint, playing on torch_threads threads ('auto': 1), and an
    evaluation env of the protocol it can play."""
    import torch

    from dqn.train.loading import load_agent

    torch.set_num_threads(1 if torch_threads == "auto" else torch_threads)
    agent = load_agent(path)
    return agent, agent.make_env(protocol, render_mode)


def cmd_evaluate(args: argparse.Namespace) -> None:
    import numpy as np

    from dqn.evaluation.games import HOMEWORK_LIVES
    from dqn.evaluation.progress import GamesBar
    from dqn.evaluation.protocols import homework_config, homework_final_score, play_by_protocol

    agent, env = load_agent_and_env(args.path, protocol=args.protocol, torch_threads=args.torch_threads)
    config = agent.config
    if args.homework:
        homework_config(config)  # refused before the games, not after
    protocol = _chosen_protocol(args)
    shown = not (args.quiet or args.json)
    seed = GAMES_SEED if args.seed is None else args.seed
    with GamesBar(args.games, shown) as bar:
        scores = play_by_protocol(env, agent, protocol, args.games, seed, on_step=bar.on_step, on_game=bar.on_game)
    report = {"mean_score": float(np.mean(scores)), "std_score": float(np.std(scores)),
              "scores": scores, "games": args.games, "seed": seed, "protocol": args.protocol,
              "epsilon": protocol.epsilon, "t_max": protocol.t_max_steps,
              "env_id": config.env_id,
              "checkpoint": str(agent.path), "trained_steps": agent.trained_steps}
    if args.homework:
        report["homework_seed"] = HOMEWORK_SEED if args.seed is None else args.seed
        with GamesBar(HOMEWORK_LIVES, shown, unit="life") as bar:
            report["homework_score"], report["homework_per_life"] = homework_final_score(
                agent, config, seed=report["homework_seed"], on_step=bar.on_step, on_game=bar.on_game)
    if args.json:
        print(json.dumps(report))
    else:
        policy = "greedy" if protocol.greedy else f"epsilon {protocol.epsilon}"
        print(f"{config.env_id}: {args.games} {policy} games ({args.protocol} protocol) from {agent.path}: "
              f"mean {report['mean_score']:.1f} +- {report['std_score']:.1f} "
              f"(min {min(scores):.0f}, max {max(scores):.0f})")
        if args.homework:
            print(f"homework final score (30 lives, seed {report['homework_seed']}, times 5): "
                  f"{report['homework_score']:.1f}")


def cmd_record(args: argparse.Namespace) -> None:
    from dqn.evaluation.progress import GamesBar
    from dqn.evaluation.protocols import set_up_agent
    from dqn.evaluation.recording import record_game

    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out} is a file, not a folder")
    agent, env = load_agent_and_env(args.path, render_mode="rgb_array", protocol=args.protocol,
                                    torch_threads=args.torch_threads)
    protocol = _chosen_protocol(args)
    set_up_agent(agent, protocol, args.seed)
    paths = [args.out / f"game_{i + 1:02d}.mp4" for i in range(args.games)]
    existing = [p for p in paths if p.exists()]
    if existing:
        raise UserError(f"{existing[0]} already exists; choose another --out")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        with GamesBar(args.games, not args.quiet) as bar:
            for i, path in enumerate(paths):
                score = record_game(agent, env, path, seed=args.seed + i, t_max=protocol.t_max_steps,
                                    greedy=protocol.greedy, on_step=bar.on_step, on_game=bar.on_game)
                _, steps, cut = bar.last_game
                bar.write(f"{path}: score {score:.0f}" + (f" (the game was cut at {steps} agent steps, the step "
                                                           "limit: raise it with --t-max)" if cut else ""))
    except OSError as exc:  # a full disk, a removed folder: record_game left no partial video
        raise UserError(f"cannot write {exc.filename}: {exc.strerror}") from None


def cmd_bench(args: argparse.Namespace) -> None:
    from dqn.train.benchmark import run_benchmark

    report = run_benchmark(args.steps, args.num_envs, args.preset, args.config,
                           progress=not (args.quiet or args.json))
    if args.json:
        print(json.dumps(report))
    else:
        preset = f" ({args.preset} preset)" if args.preset else f" ({args.config}'s recipe)" if args.config else ""
        print(f"{report['steps_per_s']:.1f} agent steps/s on {report['env_id']}{preset} "
              f"({report['replay_bytes_per_transition']:.0f} replay bytes per transition); "
              f"time per agent step: " + ", ".join(f"{k} {v:.2f} ms" for k, v in report["ms_per_step"].items()))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # a bare `dqn`: its usage and commands, as a mistake
        parser.print_help(sys.stderr)
        return 2
    try:
        with interruptible():
            {"train": cmd_train, "evaluate": cmd_evaluate, "record": cmd_record,
             "bench": cmd_bench}[args.command](args)
    except UserError as exc:
        # dqn train's config is made of its flags: a bad value is named as its flag
        named_as_flags = isinstance(exc, ConfigError) and args.command == "train"
        sys.stderr.write(error_line(exc.naming(flag_name) if named_as_flags else exc))
        return 2
    except Interrupted as exc:
        print(f"dqn {args.command}: stopped by {exc.signal_name}; no half-written file was left", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
