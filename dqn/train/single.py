"""Training in one process: the actor (dqn/agent/actor.py) steps its envs, the replay keeps their transitions,
and the learner trains on them in turn, on the schedule of the config; loop.TrainingLoop does the rest.
Here too the entry points train and resume, which run a distributed config on Ray (dqn/distributed/apex.py)."""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

from dqn.train import checkpoint
from dqn.agent.actor import Actor, Transitions
from dqn.config import TrainConfig
from dqn.errors import UserError
from dqn.train.loop import TrainingLoop, TrainResult, multiples_crossed
from dqn.replay.buffer import FrameReplay, build_replay


class Trainer(TrainingLoop):
    """The single-process loop: each agent step of every env, then the updates and target syncs due."""

    def start_acting(self, observation_space) -> tuple[Actor, FrameReplay]:
        cfg = self.config
        return Actor(cfg, seed=cfg.seed), build_replay(cfg, observation_space.shape, observation_space.dtype,
                                                       num_envs=cfg.num_envs)

    def advance(self) -> None:
        cfg = self.config
        before = self.step
        self.collect()
        rounds = multiples_crossed(max(before, self.learning_starts_at), self.step, cfg.train_freq_steps)
        for _ in range(rounds * cfg.gradient_steps):
            self.learn()
        for _ in range(multiples_crossed(before, self.step, cfg.target_update_steps)):
            self.learner.sync_target()

    def collect(self) -> None:
        """One agent step of every env, stored in the replay."""
        start = time.perf_counter()
        actions = self.actor.act(self.learner.q_values)
        acted = time.perf_counter()
        self.store(self.actor.step(actions))
        self.timers["act"] += acted - start
        self.timers["env"] += time.perf_counter() - acted

    def store(self, transitions: Transitions) -> None:
        """Each env's transition into its own ring of the replay."""
        self.replay.add_steps(np.arange(len(transitions.actions)), transitions)

    def learn(self) -> None:
        """One update on a replay batch; its metrics go to the next metrics row, its priorities to the replay."""
        start = time.perf_counter()
        if self.config.prioritized_replay:
            self.replay.beta = self.priority_beta()
        batch = self.replay.sample(self.config.batch_size)
        self.timers["sample"] += time.perf_counter() - start
        priorities = self.update(batch)
        if batch.indices is not None:
            self.replay.update_priorities(batch.indices, priorities)

    def on_log_grid(self, step: int) -> bool:
        """Whether a straight run writes a metrics row at this step (a run's last row may be off it):
        the loop's own test, for the loop step that ends at `step`."""
        cfg = self.config
        before = step - cfg.num_envs
        return bool(multiples_crossed(before, step, cfg.log_freq_steps) or
                    cfg.eval_freq_steps and multiples_crossed(before, step, cfg.eval_freq_steps))


def make_trainer(config: TrainConfig, run_dir: Path, progress: bool = True, resume_state: dict | None = None,
                 start_over: bool = False) -> TrainingLoop:
    """The loop for config: on Ray with num_actors > 0 (Ray is imported for those runs only), else in this process."""
    if config.num_actors == 0:
        return Trainer(config, run_dir, progress, resume_state, start_over)
    if importlib.util.find_spec("ray") is None:
        raise UserError("num_actors > 0 trains on Ray, which is not installed: pip install -e '.[distributed]'")
    from dqn.distributed.apex import ApexTrainer

    return ApexTrainer(config, run_dir, progress, resume_state, start_over)



def train(config: TrainConfig, run_dir: Path, progress: bool = True) -> TrainResult:
    return make_trainer(config, run_dir, progress).train()


def last_logged_step(metrics_csv: Path) -> int:
    """The agent step of the last whole row of metrics.csv; 0 without one."""
    try:
        with open(metrics_csv, newline="") as f:
            # a row cut short by a kill lacks its last fields
            return max((int(row["step"]) for row in csv.DictReader(f) if None not in row.values()),
                       default=0)
    except (OSError, ValueError, csv.Error):
        return 0


# what a resumed run may change: how far to train, on which Ray cluster (a distributed run), with how many
# torch threads (a run moved to another machine); nothing that changes what it learns
RESUME_OVERRIDES = ("total_steps", "ray_address", "torch_threads")


def resume(run_dir: Path, progress: bool = True, **changes) -> TrainResult:
    """Go on with the run in run_dir from its checkpoint, with the RESUME_OVERRIDES fields in changes
    set anew (total_steps: train on to it; ray_address 'local' starts a Ray here). A run
    stopped before its first checkpoint starts over from its config.json. Says on stderr where it
    goes on from, and how many logged agent steps were lost with the process that stopped."""
    if set(changes) - set(RESUME_OVERRIDES):
        raise ValueError(f"resume cannot change {sorted(set(changes) - set(RESUME_OVERRIDES))}")
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"no run folder at {run_dir}")
    checkpoint_file, config_file = run_dir / "checkpoint.pt", run_dir / "config.json"
    if checkpoint_file.is_file() or not config_file.is_file():
        state = checkpoint.load(checkpoint_file)  # "no checkpoint at ..." when neither is there
        if "resume" not in state:
            raise UserError(f"{checkpoint_file} holds no training state to resume from")
        if "learner" not in state:
            raise UserError(f"{checkpoint_file} was written by a dqn from before the learner and actor were split; "
                            "go on with that version (this one can still evaluate and record it)")
        config, step = TrainConfig.from_dict(state["config"]), state["step"]
        going_on = f"resuming {run_dir} from its checkpoint of agent step {step}"
    else:
        state, config, step = None, TrainConfig.load(config_file), 0
        going_on = f"{run_dir} has no checkpoint.pt (it stopped before its first one): starting it over from its config.json"
    config = dataclasses.replace(config, **changes).validate()
    if step >= config.total_steps:
        raise UserError(f"the run already has {step} of its {config.total_steps} agent steps; "
                        "pass a larger --total-steps to train on")
    lost = last_logged_step(run_dir / "metrics.csv") - step
    trainer = make_trainer(config, run_dir, progress, resume_state=state, start_over=state is None)
    if lost > 0:
        going_on += (f"; the {lost} agent steps logged after it in metrics.csv (and any after its last row) "
                     "were lost and are trained again")
    print(going_on, file=sys.stderr)
    return trainer.train()
