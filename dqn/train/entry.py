"""The entry points of training: train a config into a new run folder, or resume the run in one. A config
with num_actors > 0 trains on Ray (dqn/distributed/apex.py), any other in this process (single.py).

The loops and the checkpoint reader load torch (and a distributed loop Ray): they are imported once the
run folder is held, so that a run refused (its folder taken, Ray missing) is refused at once."""

from __future__ import annotations

import csv
import importlib.util
import sys
import typing
from pathlib import Path

from dqn.config import RESUME_OVERRIDES, TrainConfig
from dqn.errors import UserError
from dqn.train.run_lock import holding

if typing.TYPE_CHECKING:
    from dqn.train.loop import TrainingLoop, TrainResult
    from dqn.train.warm_start import WarmStart


def make_trainer(config: TrainConfig, run_dir: Path, progress: bool = True, resume_state: dict | None = None,
                 start_over: bool = False, warm_start: WarmStart | None = None) -> TrainingLoop:
    """The loop for config: on Ray with num_actors > 0 (Ray is imported for those runs only), else in this process."""
    if config.num_actors == 0:
        from dqn.train.single import Trainer

        return Trainer(config, run_dir, progress, resume_state, start_over, warm_start)
    if importlib.util.find_spec("ray") is None:
        raise UserError("num_actors > 0 trains on Ray, which is not installed: pip install -e '.[distributed]'")
    from dqn.distributed.apex import ApexTrainer

    return ApexTrainer(config, run_dir, progress, resume_state, start_over, warm_start)


def train(config: TrainConfig, run_dir: Path, progress: bool = True,
          warm_start: WarmStart | None = None) -> TrainResult:
    """A new run of config in run_dir, which must be new or empty and is held while the run writes to it;
    with warm_start, begun with the networks of its source (warm_start.py), which must be config's."""
    if warm_start is not None:
        from dqn.train.warm_start import check_same_network

        check_same_network(warm_start, config)  # before the run folder is made
    with holding(run_dir, new_run=True):  # before anything slow (Ray's start): a taken folder fails at once
        trainer = make_trainer(config, run_dir, progress, warm_start=warm_start)
        if warm_start is not None:
            print(f"dqn: {warm_start.announce(trainer.learning_starts_at)}", file=sys.stderr)
        announce(trainer)
        return trainer.train()


def announce(trainer: TrainingLoop) -> None:
    """Say on stderr, before a run trains, where it writes and how to watch it (with or without a progress bar)."""
    print(f"dqn: run folder {trainer.run_dir}; watch it with: tensorboard --logdir "
          f"{trainer.metrics_log.tensorboard_dir}", file=sys.stderr)


def last_logged_step(metrics_csv: Path) -> int:
    """The agent step of the last whole row of metrics.csv; 0 without one."""
    try:
        with open(metrics_csv, newline="") as f:
            # a row cut short by a kill lacks its last fields
            return max((int(row["step"]) for row in csv.DictReader(f) if None not in row.values()),
                       default=0)
    except (OSError, ValueError, csv.Error):
        return 0


def resume(run_dir: Path, progress: bool = True, refill_replay: bool = False, **changes) -> TrainResult:
    """Go on with the run in run_dir from its checkpoint, with the RESUME_OVERRIDES fields in changes
    set anew (total_steps, stop_score: train on to them; ray_address 'local' starts a Ray here); with refill_replay
    without the checkpoint's replay file (a damaged or lost one), refilling the replay as a run without
    save_replay does. A run stopped before its first checkpoint starts over from its config.json. Says
    on stderr where it goes on from, how many logged agent steps were lost with the process that
    stopped, and when the replay refills. run_dir is held while the run writes to it."""
    if set(changes) - set(RESUME_OVERRIDES):
        raise ValueError(f"resume cannot change {sorted(set(changes) - set(RESUME_OVERRIDES))}")
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"no run folder at {run_dir}")
    with holding(run_dir, new_run=False):  # before its checkpoint is read: a run may be writing it
        checkpoint_file, config_file = run_dir / "checkpoint.pt", run_dir / "config.json"
        if checkpoint_file.is_file() or not config_file.is_file():
            from dqn.train import checkpoint

            state = checkpoint.load(checkpoint_file)  # "no checkpoint at ..." when neither is there
            if "resume" not in state:
                raise UserError(f"{checkpoint_file} holds no training state to resume from")
            if "learner" not in state:
                raise UserError(f"{checkpoint_file} was written by a dqn from before the learner and actor were "
                                "split; go on with that version (this one can still evaluate and record it)")
            config, step = TrainConfig.from_dict(state["config"], **changes), state["step"]
            best_eval = state["resume"]["best_eval"]
            going_on = f"resuming {run_dir} from its checkpoint of agent step {step}"
            if refill_replay:  # go on as from a checkpoint without a replay file: the replay refills
                state["resume"]["replay_file"] = None
        else:
            state, config, step, best_eval = None, TrainConfig.load(config_file, **changes), 0, None
            going_on = (f"{run_dir} has no checkpoint.pt (it stopped before its first one): starting it over "
                        "from its config.json")
        if step >= config.total_steps:
            raise UserError(f"the run already has {step} of its {config.total_steps} agent steps; "
                            "pass a larger --total-steps to train on")
        if config.stop_score is not None and best_eval is not None and best_eval >= config.stop_score:
            raise UserError(f"the run already reached its stop score {config.stop_score:g} (best evaluation "
                            f"{best_eval:g}) at agent step {step}; to train on, raise it: dqn train --resume "
                            f"{run_dir} --stop-score HIGHER")
        lost = last_logged_step(run_dir / "metrics.csv") - step
        trainer = make_trainer(config, run_dir, progress, resume_state=state, start_over=state is None)
        if lost > 0:
            going_on += (f"; the {lost} agent steps logged after it in metrics.csv (and any after its last row) "
                         "were lost and are trained again")
        if trainer.refilling:
            going_on += f"; the replay refills first: learning goes on at agent step {trainer.learning_starts_at}"
        print(going_on, file=sys.stderr)
        announce(trainer)
        return trainer.train()
