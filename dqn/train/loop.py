"""What every training loop shares, whatever makes its agent steps: the learner (dqn/agent/learner.py), the
schedule of metrics rows, evaluations and checkpoints, the progress bar, stop requests, and the disk and RAM
guards. It composes the parts that write the run folder: the metrics log (metrics.py), the evaluator
(evaluator.py) and the checkpointer (checkpointer.py), and gathers the checkpoint's state from the others. A
loop (single.Trainer in one process, apex.ApexTrainer on Ray) says how its actors play and how the learner
gets its batches."""

from __future__ import annotations

import errno
import os
import random
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import psutil
import torch

from dqn.agent.learner import Learner, TrainingDiverged
from dqn.agent.schedules import linear_decay
from dqn.config import TrainConfig
from dqn.envs.registry import family_of
from dqn.errors import UserError
from dqn.machine.files import deferred_thread_write_errors, naming_the_file
from dqn.machine.hardware import choose_runtime, resolve_threads
from dqn.machine.interrupts import stop_requests
from dqn.machine.system import is_enough_ram, reuse_freed_memory, size_text
from dqn.train.checkpointer import Checkpointer, global_rng_state, set_global_rng_state
from dqn.train.evaluator import Evaluator
from dqn.train.metrics import METRIC_FIELDS, MetricsLog
from dqn.train.plotting import save_training_curves
from dqn.train.progress import TrainingBar
from dqn.train.warm_start import WarmStart

if TYPE_CHECKING:
    from dqn.contracts import Actor, Replay


class WriteFailed(UserError):
    """A file of the run could not be written: a full disk, no permission, a removed folder."""


class LowMemory(UserError):
    """Available RAM fell under min_available_ram_gb; the run saved a checkpoint and stopped."""


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    updates: int
    best_eval: float | None
    stopped_early: bool
    wall_s: float
    interrupted_by: str | None = None  # "SIGINT" or "SIGTERM" when a stop request ended the run


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def multiples_crossed(before: int, after: int, every: int) -> int:
    """How many multiples of `every` lie in (before, after]."""
    return after // every - before // every


class TrainingLoop(ABC):
    """A run of training: the schedule every loop shares. A loop builds its actor and replay in
    start_acting and makes its agent steps and updates in advance; what this class and its parts use of
    them is dqn.contracts.Actor and Replay, and a loop narrows both to its own kinds."""

    actor: Actor
    replay: Replay

    def __init__(self, config: TrainConfig, run_dir: Path, progress: bool = True,
                 resume_state: dict | None = None, start_over: bool = False, warm_start: WarmStart | None = None):
        """A new run in run_dir, or with resume_state (a checkpoint of this run) its continuation,
        or with start_over the run of run_dir again from step 0 (it has no checkpoint); a new run with
        warm_start begins with the networks of its source (warm_start.py). The entry points (entry.py)
        hold the folder, check that a new run's is empty and that a warm start's network is this
        config's before they build a loop."""
        self.config = cfg = config  # valid: a TrainConfig is checked as it is made
        self.run_dir = Path(run_dir)
        self.progress = progress
        reuse_freed_memory()
        seed_everything(cfg.seed)
        self.evaluator = Evaluator(cfg, self.run_dir)
        space = self.evaluator.env.observation_space  # the training envs' too: only rewards and lives differ
        images = family_of(cfg.env_id).observation == "image"
        self.runtime = choose_runtime(cfg.device, cfg.precision, self.learner_threads(images),
                                      image_observations=images)
        torch.set_num_threads(self.runtime.torch_threads)
        self.learner = Learner(cfg, space.shape, int(self.evaluator.env.action_space.n), self.runtime)
        # last, after every check that fails fast: a distributed loop starts processes here
        self.actor, self.replay = self.start_acting(space)
        self.checkpointer = Checkpointer(self.run_dir, cfg.save_replay)
        self.checkpointer.check_room_for_replay_files(self.replay)
        self.metrics_log = MetricsLog(self.run_dir, self.metric_fields)
        self.timers = dict.fromkeys(["env", "act", "sample", "update"], 0.0)
        self.window: dict[str, list[float]] = {"loss": [], "q_mean": [], "grad_norm": []}  # the learner's metrics
        self.wall_s_before = 0.0  # training time of earlier processes, for a resumed run
        self.learning_starts_at = cfg.learning_starts
        self.replay_refills = 0  # times a resume went on with an empty replay, over the run's processes
        self.refilling = False  # whether this process started so
        self.resumed = resume_state is not None
        self.warm_start_record = None  # what a warm start took and left, for config.json
        if resume_state is not None:
            self.restore(resume_state)
        if warm_start is not None:
            self.start_warm(warm_start)

    @property
    def step(self) -> int:
        """Agent steps so far (the actor's)."""
        return self.actor.steps

    @abstractmethod
    def start_acting(self, observation_space) -> tuple[Actor, Replay]:
        """The loop's actor and replay, for observations of observation_space."""

    @abstractmethod
    def advance(self) -> None:
        """Make agent steps, and the learner updates and target syncs that are due with them."""

    def learner_threads(self, image_observations: bool) -> int:
        """The learner's torch threads: the config's, `auto` resolved for this machine."""
        return resolve_threads(self.config.torch_threads, image_observations)

    metric_fields = METRIC_FIELDS  # the columns of metrics.csv; a loop may add its own after these

    def loop_metrics(self) -> dict:
        """The values of a loop's own metrics columns at this step."""
        return {}

    def describe(self) -> str:
        """Where the run trains, said at its start."""
        return self.runtime.describe()

    @abstractmethod
    def on_log_grid(self, step: int) -> bool:
        """Whether a straight run writes a metrics row at this step (a run's last row may be off it)."""

    # --- learning -------------------------------------------------------------------------
    def priority_beta(self) -> float:
        """Prioritized replay's importance-sampling exponent at this step."""
        cfg = self.config
        return linear_decay(cfg.priority_beta_start, 1.0, self.step, cfg.priority_beta_steps)

    def update(self, batch) -> np.ndarray:
        """One learner update on a replay batch; its metrics go to the next metrics row. Returns the
        batch's new priorities."""
        start = time.perf_counter()
        try:
            metrics, priorities = self.learner.update(batch)
        except TrainingDiverged as exc:
            raise TrainingDiverged(f"{exc} at agent step {self.step}; checkpoint.pt, if any, is from before") from None
        for key, value in metrics.items():
            self.window[key].append(value)
        self.timers["update"] += time.perf_counter() - start
        return priorities

    # --- the state saved --------------------------------------------------------------------
    def model_state(self) -> dict:
        """What loading.load_agent reads: the config and the online network, with its shapes."""
        online = self.learner.online
        return {"config": self.config.to_dict(), "network": online.state_dict(), "step": self.step,
                "obs_shape": online.state_shape, "n_actions": online.n_actions}

    def training_state(self) -> dict:
        """Everything a resume needs, gathered from the parts; the checkpointer adds its replay file."""
        state = self.model_state()
        state.update(
            learner=self.learner.state_dict(), actor=self.actor.state_dict(), rng=global_rng_state(),
            resume={"best_eval": self.evaluator.best_eval, "window": self.window, "timers": self.timers,
                    "wall_s": self.wall_s(), "learning_starts_at": self.learning_starts_at,
                    "replay_refills": self.replay_refills, "warm_start": self.warm_start_record})
        return state

    def save_checkpoint(self) -> None:
        """checkpoint.pt of this step, unless it is saved already."""
        self.checkpointer.save(self.step, self.replay, self.training_state)

    def restore(self, state: dict) -> None:
        """Continue from a checkpoint written by save_checkpoint."""
        self.learner.load_state_dict(state["learner"])
        self.actor.load_state_dict(state["actor"])
        resume = state["resume"]
        self.evaluator.best_eval = resume["best_eval"]
        self.window = {key: list(values) for key, values in resume["window"].items()}
        self.timers = dict(resume["timers"])
        self.wall_s_before = resume["wall_s"]
        # absent from checkpoints of older versions
        self.replay_refills = resume.get("replay_refills", 0)
        self.warm_start_record = resume.get("warm_start")
        if self.checkpointer.restore(state, self.replay):
            self.learning_starts_at = resume["learning_starts_at"]
        else:
            # an empty replay refills before learning goes on; the actor keeps its epsilon
            self.learning_starts_at = self.step + self.config.learning_starts
            if self.step > 0:  # at step 0 it was empty anyway
                self.refilling = True
                self.replay_refills += 1
        set_global_rng_state(state["rng"])

    def start_warm(self, warm: WarmStart) -> None:
        """Begin a new run with the networks (and what else it has) of a warm start's source, at its
        agent step; the replay refills before learning goes on, as after a resume without replay file."""
        try:
            self.learner.start_from(warm.network, warm.target, warm.optimizer, warm.updates)
        except (RuntimeError, ValueError, KeyError) as exc:
            raise UserError(f"--init-from {warm.source}: its network does not fit this run's: "
                            f"{str(exc).splitlines()[0]}") from None
        self.actor.steps = warm.step
        self.warm_start_record = warm.describe()
        self.learning_starts_at = warm.step + self.config.learning_starts

    # --- the loop -------------------------------------------------------------------------
    def wall_s(self) -> float:
        return self.wall_s_before + time.perf_counter() - self.start_time

    def train(self) -> TrainResult:
        """Train until total_steps, the stop score or a stop request (Ctrl-C, SIGTERM); low memory
        ends it with a checkpoint and LowMemory, a write that fails (a full disk, a removed folder)
        with WriteFailed, the last complete checkpoint left as it was."""
        print(f"dqn: training on {self.describe()}", file=sys.stderr)
        try:
            with deferred_thread_write_errors():
                return self.train_and_save()
        except OSError as exc:
            raise WriteFailed(self.write_failure(exc)) from None

    def write_failure(self, exc: OSError) -> str:
        """One line: the file, the cause, and how to go on."""
        # TensorBoard's writer names its file in bytes
        failed = f"cannot write {os.fsdecode(exc.filename or self.run_dir)}: {exc.strerror or exc}"
        remedy = "free space" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else "make it writable"
        if not self.run_dir.is_dir():
            return f"{failed}; the run folder is gone, so nothing is left to resume"
        nothing_saved = "nothing was saved: " if self.checkpointer.saved_step < 0 else ""
        return f"{failed}; {nothing_saved}{remedy}, then {self.checkpointer.how_to_go_on()}"

    def low_memory_message(self) -> str:
        cfg, replay = self.config, self.replay
        held = replay.nbytes * len(replay) / (replay.num_envs * replay.ring)  # RAM comes as slots are written
        return (f"available RAM fell under min_available_ram_gb ({cfg.min_available_ram_gb} GiB) at agent step "
                f"{self.step}; this process holds {size_text(psutil.Process().memory_info().rss)}, its replay "
                f"{size_text(held)} of the {size_text(replay.nbytes)} it grows to "
                f"with --buffer-size {cfg.buffer_size}; "
                f"checkpoint saved: free memory, then: dqn train --resume {self.run_dir}")

    def metrics_row(self, last_log_time: float, last_log_step: int, closes_window: bool) -> dict:
        """The metrics row of this step: counts, speed since the last row, time per phase, the
        learner's metrics averaged since the last row; closes_window starts a new average."""
        row = {"step": self.step, "wall_s": round(self.wall_s(), 3), "updates": self.learner.updates,
               "episodes": self.actor.episodes, "epsilon": round(self.actor.epsilon, 4),
               "steps_per_s": round((self.step - last_log_step) / max(time.perf_counter() - last_log_time, 1e-9), 1),
               "replay_refills": self.replay_refills}
        row.update({f"time_{k}_s": round(v, 3) for k, v in self.timers.items()})
        row.update(self.loop_metrics())
        if self.actor.game_scores:
            row["train_score"] = round(float(np.mean(self.actor.game_scores)), 3)
        for key, values in self.window.items():
            if values:
                row[key] = round(float(np.mean(values)), 6)
                if closes_window:
                    values.clear()
        return row

    def train_and_save(self) -> TrainResult:
        cfg = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.start_time = time.perf_counter()
        self.save_checkpoint()  # a new run's at step 0 first, so that a kill at any instant leaves one
        cfg.save(self.run_dir / "config.json", runtime=self.runtime, warm_start=self.warm_start_record)
        # a new run, warm-started or not, has no rows before it to keep
        self.metrics_log.open(self.step if self.resumed else 0, keep_row_at_step=self.on_log_grid(self.step))
        stopped_early = low_memory = False
        last_log_time, last_log_step = self.start_time, self.step
        stop_signal = []
        bar = TrainingBar(total=cfg.total_steps, initial=self.step, disable=not self.progress, desc="agent steps",
                          unit="step", dynamic_ncols=True)
        with stop_requests(stop_signal.append):
            try:
                while self.step < cfg.total_steps:
                    before = self.step
                    self.advance()
                    bar.update(self.step - before)
                    evaluated = cfg.eval_freq_steps and multiples_crossed(before, self.step, cfg.eval_freq_steps)
                    logged = multiples_crossed(before, self.step, cfg.log_freq_steps)
                    if logged or evaluated or self.step >= cfg.total_steps:
                        # a last row off the grid leaves the next one whole
                        row = self.metrics_row(last_log_time, last_log_step, closes_window=logged or evaluated)
                        if evaluated:
                            stopped_early = self.evaluator.evaluate_into(row, self.learner.online, self.model_state())
                        self.metrics_log.write(row)
                        best_eval = self.evaluator.best_eval
                        bar.set_postfix(eps=f"{self.actor.epsilon:.2f}", score=row.get("train_score", "-"),
                                        best_eval=best_eval if best_eval is not None else "-")
                        # evaluation time is not training speed
                        last_log_time, last_log_step = time.perf_counter(), self.step
                        # checked once per row: stop with a checkpoint before the system kills the process
                        low_memory = not is_enough_ram(cfg.min_available_ram_gb)
                    if multiples_crossed(before, self.step, cfg.checkpoint_freq_steps):
                        self.save_checkpoint()
                    if stopped_early or stop_signal or low_memory:
                        break
            finally:
                bar.close()
                self.metrics_log.close()
        self.save_checkpoint()
        if low_memory:
            raise LowMemory(self.low_memory_message())
        with naming_the_file(self.run_dir / "curves.png"):
            save_training_curves(self.metrics_log.path, self.run_dir / "curves.png",
                                 title=f"{cfg.env_id}, seed {cfg.seed}")
        self.actor.close()
        self.evaluator.close()
        return TrainResult(self.run_dir, self.step, self.learner.updates, self.evaluator.best_eval, stopped_early,
                           time.perf_counter() - self.start_time, stop_signal[0] if stop_signal else None)
