"""What every training loop shares, whatever makes its agent steps: the learner (dqn/agent/learner.py), evaluation
and the best model, metrics.csv, TensorBoard and the progress bar, checkpoints gathered from each part's
state, and stop requests. A loop (train.Trainer in one process, apex.ApexTrainer on Ray) says how its
actors play and how the learner gets its batches. The loops are the only parts that know the run folder."""

from __future__ import annotations

import csv
import errno
import io
import os
import random
import sys
import time
import zipfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import torch
from tqdm import tqdm

from dqn.train import checkpoint
from dqn.config import TrainConfig
from dqn.envs.factory import make_env
from dqn.envs.spaces import is_image
from dqn.errors import UserError
from dqn.evaluation.games import play_episodes
from dqn.machine.hardware import choose_runtime, resolve_threads
from dqn.train.files import deferred_thread_write_errors, naming_the_file, write_atomic
from dqn.train.interrupts import stop_requests
from dqn.agent.learner import Learner, TrainingDiverged
from dqn.train.plotting import save_training_curves
from dqn.agent.schedules import linear_decay
from dqn.machine.system import free_disk_bytes, is_enough_ram, reuse_freed_memory, size_text

METRIC_FIELDS = ["step", "wall_s", "updates", "episodes", "train_score", "epsilon", "loss",
                 "q_mean", "grad_norm", "steps_per_s", "eval_mean", "eval_std",
                 "time_env_s", "time_act_s", "time_sample_s", "time_update_s"]


class WriteFailed(UserError):
    """A file of the run could not be written: a full disk, no permission, a removed folder."""


class LowMemory(UserError):
    """Available RAM fell under min_available_ram_gb; the run saved a checkpoint and stopped."""


# Evaluation games get seeds of their own, apart from the training envs' seed + 0 .. num_envs - 1.
EVAL_SEED_OFFSET = 10_000


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    updates: int
    best_eval: float | None
    stopped_early: bool
    wall_s: float
    interrupted_by: str | None = None  # "SIGINT" or "SIGTERM" when a stop request ended the run


def numpy_global_rng_state() -> dict:
    """np.random's state as plain Python values, so checkpoints load with weights_only=True."""
    state = np.random.get_state(legacy=False)
    state["state"]["key"] = state["state"]["key"].tolist()
    return state


def set_numpy_global_rng_state(state: dict) -> None:
    """The inverse of numpy_global_rng_state."""
    state = dict(state, state=dict(state["state"]))
    state["state"]["key"] = np.array(state["state"]["key"], dtype=np.uint32)
    np.random.set_state(state)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def check_run_dir(run_dir: Path) -> None:
    """Refuse to write into a folder that already holds a run: never overwrite one silently."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{run_dir} is a file, not a run folder; choose another --out")
    # a run killed as it started may have left an unfinished temporary file: nothing to keep
    if run_dir.exists() and any(not p.name.endswith(".tmp") for p in run_dir.iterdir()):
        raise UserError(f"run folder {run_dir} already exists and is not empty; choose another --out")


def multiples_crossed(before: int, after: int, every: int) -> int:
    """How many multiples of `every` lie in (before, after]."""
    return after // every - before // every


class TrainingLoop(ABC):
    """A run of training: the parts every loop shares. A loop builds its actor and replay in
    start_acting and makes its agent steps and updates in advance; the actor has steps, episodes,
    epsilon, game_scores, state_dict, load_state_dict and close (as actor.Actor), the replay __len__,
    nbytes, num_envs, ring, save and load (as replay.FrameReplay)."""

    def __init__(self, config: TrainConfig, run_dir: Path, progress: bool = True,
                 resume_state: dict | None = None, start_over: bool = False):
        """A new run in run_dir, or with resume_state (a checkpoint of this run) its continuation,
        or with start_over the run of run_dir again from step 0 (it has no checkpoint)."""
        self.config = cfg = config.validate()
        self.run_dir = Path(run_dir)
        if resume_state is None and not start_over:
            check_run_dir(self.run_dir)  # before anything slow: a taken folder fails at once
        self.progress = progress
        reuse_freed_memory()
        seed_everything(cfg.seed)
        self.eval_env = make_env(cfg, evaluation=True)
        space = self.eval_env.observation_space  # the training envs' too: only rewards and lives differ
        images = is_image(space.shape)
        self.runtime = choose_runtime(cfg.device, cfg.precision, self.learner_threads(images), image_observations=images)
        torch.set_num_threads(self.runtime.torch_threads)
        if cfg.augment_shift_px and not images:
            raise UserError(f"augment_shift_px shifts images; {cfg.env_id} has observations of shape {space.shape}")
        self.learner = Learner(cfg, space.shape, int(self.eval_env.action_space.n), self.runtime)
        # last, after every check that fails fast: a distributed loop starts processes here
        self.actor, self.replay = self.start_acting(space)
        if cfg.save_replay:
            self.check_room_for_replay_files()
        self.best_eval: float | None = None
        self.timers = dict.fromkeys(["env", "act", "sample", "update"], 0.0)
        self.window: dict[str, list[float]] = {"loss": [], "q_mean": [], "grad_norm": []}  # the learner's metrics
        self.wall_s_before = 0.0  # training time of earlier processes, for a resumed run
        self.learning_starts_at = cfg.learning_starts
        self.saved_step = -1
        if resume_state is not None:
            self.restore(resume_state)

    @property
    def step(self) -> int:
        """Agent steps so far (the actor's)."""
        return self.actor.steps

    @abstractmethod
    def start_acting(self, observation_space) -> tuple:
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

    def evaluate(self) -> list[float]:
        online = self.learner.online
        online.eval()  # noisy layers play with their mean weights, as a loaded agent does
        try:
            return play_episodes(self.eval_env, online, self.config.eval_games, greedy=True,
                                 t_max=self.config.eval_t_max, seed=self.config.seed + EVAL_SEED_OFFSET,
                                 full_games=True)
        finally:
            online.train()

    # --- saving ---------------------------------------------------------------------------
    def model_state(self) -> dict:
        """What loading.load_agent reads: the config and the online network, with its shapes."""
        online = self.learner.online
        return {"config": self.config.to_dict(), "network": online.state_dict(), "step": self.step,
                "obs_shape": online.state_shape, "n_actions": online.n_actions}

    def check_room_for_replay_files(self) -> None:
        """Refuse, before training, a --save-replay run that the disk cannot hold. A checkpoint's
        replay file is written before the previous one is removed: two of them at once."""
        already_there = len(list(self.run_dir.glob("replay_*.npz")))  # a resumed run's own
        needed = max(0, 2 - already_there) * self.replay.nbytes
        free = free_disk_bytes(self.run_dir)
        if needed > free:
            raise UserError(f"--save-replay needs room for two replay files of {size_text(self.replay.nbytes)} "
                            f"(a new one is written before the old one is removed): {size_text(needed)} more, "
                            f"but the disk of {self.run_dir} has {size_text(free)} free; free space, or train "
                            "without --save-replay")

    def save_checkpoint(self) -> None:
        """checkpoint.pt with everything a resume needs; the replay, when asked, in a file of its
        own written first. checkpoint.pt is renamed into place last, so it always names a
        complete replay file, whatever instant a kill comes at."""
        if self.saved_step == self.step:
            return
        replay_file = None
        # an empty replay (step 0) is not saved: it would be the buffer's size in zeros, and a
        # checkpoint without a replay file refills the replay anyway
        if self.config.save_replay and len(self.replay):
            replay_file = f"replay_{self.step:09d}.npz"
            self.replay.save(self.run_dir / replay_file)
        state = self.model_state()
        state.update(
            learner=self.learner.state_dict(), actor=self.actor.state_dict(),
            rng={"python": random.getstate(), "numpy": numpy_global_rng_state(), "torch": torch.get_rng_state()},
            resume={"best_eval": self.best_eval, "window": self.window, "timers": self.timers,
                    "wall_s": self.wall_s(), "learning_starts_at": self.learning_starts_at,
                    "replay_file": replay_file})
        try:
            checkpoint.save_atomic(state, self.run_dir / "checkpoint.pt")
        except OSError:
            if replay_file is not None:  # no checkpoint names it: give its room back
                (self.run_dir / replay_file).unlink(missing_ok=True)
            raise
        self.saved_step = self.step
        # older replays, and the temporary file of one a kill cut short
        for old in [*self.run_dir.glob("replay_*.npz"), *self.run_dir.glob("replay_*.npz.tmp")]:
            if old.name != replay_file:
                old.unlink()

    def restore(self, state: dict) -> None:
        """Continue from a checkpoint written by save_checkpoint."""
        self.learner.load_state_dict(state["learner"])
        self.actor.load_state_dict(state["actor"])
        resume = state["resume"]
        self.saved_step = self.step
        self.best_eval = resume["best_eval"]
        self.window = {key: list(values) for key, values in resume["window"].items()}
        self.timers = dict(resume["timers"])
        self.wall_s_before = resume["wall_s"]
        if resume["replay_file"] is not None:
            path = self.run_dir / resume["replay_file"]
            if not path.is_file():
                raise UserError(f"{path}, the replay named by the checkpoint, is missing")
            try:
                self.replay.load(path)
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
                raise UserError(f"{path} is truncated or corrupted ({type(exc).__name__})") from None
            self.learning_starts_at = resume["learning_starts_at"]
        else:
            # an empty replay refills before learning goes on; the actor keeps its epsilon
            self.learning_starts_at = self.step + self.config.learning_starts
        rng = state["rng"]
        random.setstate(rng["python"])
        set_numpy_global_rng_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])

    # --- the loop -------------------------------------------------------------------------
    def wall_s(self) -> float:
        return self.wall_s_before + time.perf_counter() - self.start_time

    def open_logs(self):
        """metrics.csv and TensorBoard; a resumed run drops what was logged after its checkpoint."""
        from torch.utils.tensorboard import SummaryWriter

        path = self.run_dir / "metrics.csv"
        self.config.save(self.run_dir / "config.json", runtime=self.runtime)
        rows = []  # a run at step 0, new or started over, keeps none
        if self.step > 0:
            try:
                with open(path, newline="") as f:
                    rows = [row for row in csv.DictReader(f) if int(row["step"]) < self.step or
                            int(row["step"]) == self.step and self.on_log_grid(self.step)]
            except (OSError, ValueError, TypeError) as exc:
                raise UserError(f"cannot read {path} to go on with it: {exc}") from None

        def write(f):
            text = io.StringIO()
            table = csv.DictWriter(text, fieldnames=self.metric_fields)
            table.writeheader()
            table.writerows(rows)
            f.write(text.getvalue().encode())

        write_atomic(path, write)
        metrics_file = open(path, "a", newline="")
        # a resumed run, or one started over, drops the points of the process it replaces
        writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.step + 1)
        return metrics_file, csv.DictWriter(metrics_file, fieldnames=self.metric_fields), writer

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
        if self.saved_step < 0:
            return f"{failed}; nothing was saved: {remedy}, then start the run again"
        return (f"{failed}; {remedy}, then go on from its checkpoint of agent step {self.saved_step} "
                f"with: dqn train --resume {self.run_dir}")

    def low_memory_message(self) -> str:
        cfg, replay = self.config, self.replay
        held = replay.nbytes * len(replay) / (replay.num_envs * replay.ring)  # RAM comes as slots are written
        return (f"available RAM fell under min_available_ram_gb ({cfg.min_available_ram_gb} GiB) at agent step "
                f"{self.step}; this process holds {size_text(psutil.Process().memory_info().rss)}, its replay "
                f"{size_text(held)} of the {size_text(replay.nbytes)} it grows to with --buffer-size {cfg.buffer_size}; "
                f"checkpoint saved: free memory, then: dqn train --resume {self.run_dir}")

    def metrics_row(self, last_log_time: float, last_log_step: int, closes_window: bool) -> dict:
        """The metrics row of this step: counts, speed since the last row, time per phase, the
        learner's metrics averaged since the last row; closes_window starts a new average."""
        row = {"step": self.step, "wall_s": round(self.wall_s(), 3), "updates": self.learner.updates,
               "episodes": self.actor.episodes, "epsilon": round(self.actor.epsilon, 4),
               "steps_per_s": round((self.step - last_log_step) / max(time.perf_counter() - last_log_time, 1e-9), 1)}
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

    def evaluate_into(self, row: dict) -> bool:
        """Evaluate, add the scores to row, save the snapshot and the best model; returns whether
        the stop score is reached."""
        cfg = self.config
        scores = self.evaluate()
        row["eval_mean"] = round(float(np.mean(scores)), 3)
        row["eval_std"] = round(float(np.std(scores)), 3)
        if cfg.keep_eval_snapshots:
            (self.run_dir / "snapshots").mkdir(exist_ok=True)
            checkpoint.save_atomic(self.model_state(), self.run_dir / "snapshots" / f"step_{self.step:08d}.pt")
        if self.best_eval is None or row["eval_mean"] > self.best_eval:
            self.best_eval = row["eval_mean"]
            checkpoint.save_atomic(self.model_state(), self.run_dir / "best.pt")
        return cfg.stop_score is not None and row["eval_mean"] >= cfg.stop_score

    def train_and_save(self) -> TrainResult:
        cfg = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.start_time = time.perf_counter()
        self.save_checkpoint()  # a new run's at step 0 first, so that a kill at any instant leaves one
        metrics_file, metrics, writer = self.open_logs()
        stopped_early = low_memory = False
        last_log_time, last_log_step = self.start_time, self.step
        stop_signal = []
        bar = tqdm(total=cfg.total_steps, initial=self.step, disable=not self.progress, unit="step",
                   dynamic_ncols=True)
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
                            stopped_early = self.evaluate_into(row)
                        with naming_the_file(self.run_dir / "metrics.csv"):
                            metrics.writerow(row)
                            metrics_file.flush()
                        with naming_the_file(self.run_dir / "tb"):
                            for key, value in row.items():
                                if key != "step":
                                    writer.add_scalar(key, value, self.step)
                        bar.set_postfix(eps=f"{self.actor.epsilon:.2f}", score=row.get("train_score", "-"),
                                        best_eval=self.best_eval if self.best_eval is not None else "-")
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
                metrics_file.close()
                writer.close()
        self.save_checkpoint()
        if low_memory:
            raise LowMemory(self.low_memory_message())
        with naming_the_file(self.run_dir / "curves.png"):
            save_training_curves(self.run_dir / "metrics.csv", self.run_dir / "curves.png",
                                 title=f"{cfg.env_id}, seed {cfg.seed}")
        self.actor.close()
        self.eval_env.close()
        return TrainResult(self.run_dir, self.step, self.learner.updates, self.best_eval, stopped_early,
                           time.perf_counter() - self.start_time, stop_signal[0] if stop_signal else None)



