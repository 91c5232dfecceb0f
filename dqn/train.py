"""The training loop: act epsilon-greedily in a few envs, store steps, learn from replay, log, save."""

from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import errno
import io
import os
import random
import sys
import time
import zipfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import torch
from tqdm import tqdm

from dqn import checkpoint
from dqn.agent import DQNAgent
from dqn.augment import random_shift
from dqn.config import TrainConfig
from dqn.envs import env_state, make_env, restore_env
from dqn.errors import UserError
from dqn.evaluation import play_episodes
from dqn.hardware import choose_runtime
from dqn.files import deferred_thread_write_errors, naming_the_file, write_atomic
from dqn.interrupts import stop_requests
from dqn.losses import loss_from_td_errors, td_errors, td_targets
from dqn.plotting import save_training_curves
from dqn.replay import FrameReplay, PrioritizedFrameReplay
from dqn.schedules import linear_decay
from dqn.system import available_ram_bytes, free_disk_bytes, is_enough_ram, reuse_freed_memory

METRIC_FIELDS = ["step", "wall_s", "updates", "episodes", "train_score", "epsilon", "loss",
                 "q_mean", "grad_norm", "steps_per_s", "eval_mean", "eval_std",
                 "time_env_s", "time_act_s", "time_sample_s", "time_update_s"]


class TrainingDiverged(UserError):
    """The loss stopped being a finite number."""


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


def build_agent(config: TrainConfig, obs_shape, n_actions: int) -> DQNAgent:
    if len(obs_shape) == 1:  # an MLP, as wide as hidden_sizes asks: refuse one that cannot fit, as the replay
        widths = [obs_shape[0], *config.hidden_sizes, n_actions]
        weights_bytes = 4 * sum(a * b for a, b in zip(widths, widths[1:]))
        # training keeps four copies: the network, its target, Adam's two moments
        if 4 * weights_bytes > 0.9 * available_ram_bytes():
            raise UserError(f"an MLP with hidden_sizes {config.hidden_sizes} needs {size_text(4 * weights_bytes)} "
                            f"to train, more than the {size_text(available_ram_bytes())} of RAM available")
    return DQNAgent(obs_shape, n_actions, hidden_sizes=config.hidden_sizes,
                    dueling=config.dueling, seed=config.seed, cnn=config.cnn)


def check_run_dir(run_dir: Path) -> None:
    """Refuse to write into a folder that already holds a run: never overwrite one silently."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{run_dir} is a file, not a run folder; choose another --out")
    # a run killed as it started may have left an unfinished temporary file: nothing to keep
    if run_dir.exists() and any(not p.name.endswith(".tmp") for p in run_dir.iterdir()):
        raise UserError(f"run folder {run_dir} already exists and is not empty; choose another --out")


def size_text(n_bytes: float) -> str:
    """A size in the largest decimal unit it reaches: 1.55 MB, 7.07 GB."""
    unit, scale = next(((unit, scale) for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)) if n_bytes >= scale),
                       ("bytes", 1))
    return f"{n_bytes / scale:.3g} {unit}"


def multiples_crossed(before: int, after: int, every: int) -> int:
    """How many multiples of `every` lie in (before, after]."""
    return after // every - before // every


class Trainer:
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
        self.envs = [make_env(cfg) for _ in range(cfg.num_envs)]
        self.eval_env = make_env(cfg, evaluation=True)
        space = self.envs[0].observation_space
        self.runtime = choose_runtime(cfg.device, cfg.precision, cfg.torch_threads,
                                      image_observations=len(space.shape) == 3)
        self.device = torch.device(self.runtime.device)
        torch.set_num_threads(self.runtime.torch_threads)
        n_actions = int(self.envs[0].action_space.n)
        stack = cfg.frame_stack if len(space.shape) == 3 else 1
        if cfg.augment_shift_px and len(space.shape) != 3:
            raise UserError(f"augment_shift_px shifts images; {cfg.env_id} has observations of shape {space.shape}")

        needed = FrameReplay.bytes_needed(cfg.buffer_size, space.shape, space.dtype, stack)
        available = available_ram_bytes()
        if needed > 0.9 * available:
            raise UserError(f"a replay of {cfg.buffer_size} transitions needs {needed / 1e9:.1f} GB, "
                            f"more than the {available / 1e9:.1f} GB of RAM available")
        try:
            replay_kind, options = ((PrioritizedFrameReplay, {"alpha": cfg.priority_alpha})
                                    if cfg.prioritized_replay else (FrameReplay, {}))
            self.replay = replay_kind(cfg.buffer_size, space.shape, space.dtype, stack=stack,
                                      num_envs=cfg.num_envs, n_step=cfg.n_step, gamma=cfg.gamma,
                                      seed=cfg.seed, **options)
        except ValueError as exc:
            raise UserError(f"buffer_size: {exc}") from None
        if cfg.save_replay:
            self.check_room_for_replay_files()
        self.agent = build_agent(cfg, space.shape, n_actions).to(self.device)
        self.target = copy.deepcopy(self.agent).requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.agent.parameters(), lr=cfg.learning_rate,
                                          eps=cfg.adam_eps, fused=True)
        self.augment_rng = torch.Generator().manual_seed(cfg.seed)
        self.step = 0
        self.updates = 0
        self.best_eval: float | None = None
        self.timers = dict.fromkeys(["env", "act", "sample", "update"], 0.0)
        self.episodes = 0
        self.game_scores: deque[float] = deque(maxlen=20)
        self.window: dict[str, list[float]] = {"loss": [], "q_mean": [], "grad_norm": []}
        self.wall_s_before = 0.0  # training time of earlier processes, for a resumed run
        self.learning_starts_at = cfg.learning_starts
        self.saved_step = -1
        self.obs = np.stack([env.reset(seed=cfg.seed + i)[0] for i, env in enumerate(self.envs)])
        if resume_state is not None:
            self.restore(resume_state)

    def autocast(self):
        if self.runtime.precision != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def to_device(self, array: np.ndarray) -> torch.Tensor:
        """A replay array on the network's device; to a GPU through pinned memory, without waiting."""
        tensor = torch.as_tensor(array)
        if self.device.type == "cpu":
            return tensor
        return tensor.pin_memory().to(self.device, non_blocking=True)

    # --- learning -------------------------------------------------------------------------
    def update(self) -> tuple[float, float, float]:
        """One gradient step on a replay batch; returns (loss, mean Q, grad norm)."""
        cfg = self.config
        start = time.perf_counter()
        if cfg.prioritized_replay:
            self.replay.beta = linear_decay(cfg.priority_beta_start, 1.0, self.step, cfg.priority_beta_steps)
        batch = self.replay.sample(cfg.batch_size)
        obs, actions, returns, next_obs, discounts = map(
            self.to_device, (batch.obs, batch.actions, batch.returns, batch.next_obs, batch.discounts))
        weights = None if batch.weights is None else self.to_device(batch.weights)
        if cfg.augment_shift_px:
            obs = random_shift(obs, cfg.augment_shift_px, self.augment_rng)
            next_obs = random_shift(next_obs, cfg.augment_shift_px, self.augment_rng)
        mid = time.perf_counter()
        with self.autocast():
            q_values = self.agent(obs).float()
            with torch.no_grad():
                next_q_target = self.target(next_obs).float()
                next_q_online = self.agent(next_obs).float() if cfg.double_dqn else None
        targets = td_targets(returns, discounts, next_q_target, next_q_online)
        errors = td_errors(q_values, actions, targets)
        loss = loss_from_td_errors(errors, cfg.loss, weights)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = list(self.agent.parameters())
        grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        # checked before the step, so no non-finite number ever reaches the weights
        if not bool(torch.isfinite(loss) & torch.isfinite(q_values).all() & torch.isfinite(grad_norm)):
            raise TrainingDiverged(f"the loss ({loss.item()}), the Q-values or the gradient stopped being finite "
                                   f"at agent step {self.step}; checkpoint.pt, if any, is from before")
        if grad_norm > cfg.max_grad_norm:  # scaling is a pass over every gradient: only when it clips
            torch.nn.utils.clip_grads_with_norm_(params, cfg.max_grad_norm, grad_norm)
        self.optimizer.step()
        if batch.indices is not None:
            self.replay.update_priorities(batch.indices, errors.detach().cpu().numpy())
        self.updates += 1
        end = time.perf_counter()
        self.timers["sample"] += mid - start
        self.timers["update"] += end - mid
        return loss.item(), q_values.detach().mean().item(), grad_norm.item()

    @torch.no_grad()
    def update_target(self) -> None:
        if self.config.tau >= 1.0:
            self.target.load_state_dict(self.agent.state_dict())
        else:
            for target_param, param in zip(self.target.parameters(), self.agent.parameters()):
                target_param.lerp_(param, self.config.tau)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Actions for all envs: uniform before learning starts, then epsilon-greedy."""
        cfg = self.config
        if self.step < cfg.learning_starts:
            self.agent.epsilon = 1.0
            return self.agent.rng.integers(self.agent.n_actions, size=len(obs))
        self.agent.epsilon = linear_decay(cfg.eps_start, cfg.eps_end, self.step, cfg.eps_decay_steps)
        with self.autocast():
            qvalues = self.agent.get_qvalues(obs)
        return self.agent.sample_actions(qvalues)

    def evaluate(self) -> list[float]:
        return play_episodes(self.eval_env, self.agent, self.config.eval_games, greedy=True,
                             t_max=self.config.eval_t_max, seed=self.config.seed + EVAL_SEED_OFFSET,
                             full_games=True)

    # --- saving ---------------------------------------------------------------------------
    def model_state(self) -> dict:
        return {"config": self.config.to_dict(), "network": self.agent.state_dict(),
                "step": self.step, "obs_shape": self.agent.state_shape,
                "n_actions": self.agent.n_actions}

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
            target=self.target.state_dict(), optimizer=self.optimizer.state_dict(),
            updates=self.updates, best_eval=self.best_eval,
            rng={"python": random.getstate(), "numpy": numpy_global_rng_state(),
                 "torch": torch.get_rng_state(), "agent": self.agent.rng.bit_generator.state,
                 "augment": self.augment_rng.get_state()},
            resume={"episodes": self.episodes, "game_scores": list(self.game_scores),
                    "window": self.window, "timers": self.timers, "wall_s": self.wall_s(),
                    "learning_starts_at": self.learning_starts_at, "obs": torch.from_numpy(self.obs.copy()),
                    # pickled envs stay an opaque byte tensor: plain loads (weights_only) never run them
                    "envs": [torch.frombuffer(bytearray(env_state(env)), dtype=torch.uint8) for env in self.envs],
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
        resume = state["resume"]
        self.agent.load_state_dict(state["network"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.updates, self.best_eval = state["step"], state["updates"], state["best_eval"]
        self.saved_step = self.step
        self.episodes = resume["episodes"]
        self.game_scores.extend(resume["game_scores"])
        self.window = {key: list(values) for key, values in resume["window"].items()}
        self.timers = dict(resume["timers"])
        self.wall_s_before = resume["wall_s"]
        self.obs = resume["obs"].numpy().copy()
        for env in self.envs:
            env.close()
        self.envs = [restore_env(blob.numpy().tobytes()) for blob in resume["envs"]]
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
            # an empty replay refills before learning goes on; the agent keeps its epsilon
            self.learning_starts_at = self.step + self.config.learning_starts
        rng = state["rng"]
        random.setstate(rng["python"])
        set_numpy_global_rng_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        self.agent.rng.bit_generator.state = rng["agent"]
        self.augment_rng.set_state(rng["augment"])

    # --- the loop -------------------------------------------------------------------------
    def step_envs(self, obs: np.ndarray, actions: np.ndarray) -> tuple[list[float], int]:
        """Step every env once, store the transitions; returns finished games' raw scores and
        the number of learner episodes that ended."""
        scores, episodes = [], 0
        for i, env in enumerate(self.envs):
            next_obs, reward, terminated, truncated, info = env.step(int(actions[i]))
            self.replay.add(i, obs[i], actions[i], reward, next_obs, terminated, truncated)
            if "episode" in info:
                scores.append(float(info["episode"]["r"]))
            if terminated or truncated:
                episodes += 1
                next_obs, _ = env.reset()
            obs[i] = next_obs
        return scores, episodes

    def wall_s(self) -> float:
        return self.wall_s_before + time.perf_counter() - self.start_time

    def on_log_grid(self, step: int) -> bool:
        """Whether a straight run writes a metrics row at this step (a run's last row may be off it):
        the loop's own test, for the loop step that ends at `step`."""
        cfg = self.config
        before = step - cfg.num_envs
        return bool(multiples_crossed(before, step, cfg.log_freq_steps) or
                    cfg.eval_freq_steps and multiples_crossed(before, step, cfg.eval_freq_steps))

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
            table = csv.DictWriter(text, fieldnames=METRIC_FIELDS)
            table.writeheader()
            table.writerows(rows)
            f.write(text.getvalue().encode())

        write_atomic(path, write)
        metrics_file = open(path, "a", newline="")
        # a resumed run, or one started over, drops the points of the process it replaces
        writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.step + 1)
        return metrics_file, csv.DictWriter(metrics_file, fieldnames=METRIC_FIELDS), writer

    def train(self) -> TrainResult:
        """Train until total_steps, the stop score or a stop request (Ctrl-C, SIGTERM); low memory
        ends it with a checkpoint and LowMemory, a write that fails (a full disk, a removed folder)
        with WriteFailed, the last complete checkpoint left as it was."""
        print(f"dqn: training on {self.runtime.describe()}", file=sys.stderr)
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

    def train_and_save(self) -> TrainResult:
        cfg = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.start_time = time.perf_counter()
        self.save_checkpoint()  # a new run's at step 0 first, so that a kill at any instant leaves one
        metrics_file, metrics, writer = self.open_logs()
        stopped_early = low_memory = False
        last_log_time, last_log_step = self.start_time, self.step
        obs = self.obs
        stop_signal = []
        bar = tqdm(total=cfg.total_steps, initial=self.step, disable=not self.progress, unit="step",
                   dynamic_ncols=True)
        with stop_requests(stop_signal.append):
            try:
                while self.step < cfg.total_steps:
                    t0 = time.perf_counter()
                    actions = self.act(obs)
                    t1 = time.perf_counter()
                    scores, ended = self.step_envs(obs, actions)
                    self.timers["act"] += t1 - t0
                    self.timers["env"] += time.perf_counter() - t1
                    self.game_scores.extend(scores)
                    self.episodes += ended
                    before, self.step = self.step, self.step + cfg.num_envs
                    bar.update(cfg.num_envs)

                    rounds = multiples_crossed(max(before, self.learning_starts_at), self.step, cfg.train_freq_steps)
                    for _ in range(rounds * cfg.gradient_steps):
                        for key, value in zip(self.window, self.update()):
                            self.window[key].append(value)
                    for _ in range(multiples_crossed(before, self.step, cfg.target_update_steps)):
                        self.update_target()

                    evaluated = cfg.eval_freq_steps and multiples_crossed(before, self.step, cfg.eval_freq_steps)
                    logged = multiples_crossed(before, self.step, cfg.log_freq_steps)
                    if logged or evaluated or self.step >= cfg.total_steps:
                        now = time.perf_counter()
                        row = {"step": self.step, "wall_s": round(self.wall_s(), 3),
                               "updates": self.updates, "episodes": self.episodes,
                               "epsilon": round(self.agent.epsilon, 4),
                               "steps_per_s": round((self.step - last_log_step) / max(now - last_log_time, 1e-9), 1)}
                        row.update({f"time_{k}_s": round(v, 3) for k, v in self.timers.items()})
                        if self.game_scores:
                            row["train_score"] = round(float(np.mean(self.game_scores)), 3)
                        for key, values in self.window.items():
                            if values:
                                row[key] = round(float(np.mean(values)), 6)
                                if logged or evaluated:  # a last row off the grid leaves the next one whole
                                    values.clear()
                        if evaluated:
                            scores = self.evaluate()
                            row["eval_mean"] = round(float(np.mean(scores)), 3)
                            row["eval_std"] = round(float(np.std(scores)), 3)
                            if cfg.keep_eval_snapshots:
                                (self.run_dir / "snapshots").mkdir(exist_ok=True)
                                checkpoint.save_atomic(self.model_state(),
                                                       self.run_dir / "snapshots" / f"step_{self.step:08d}.pt")
                            if self.best_eval is None or row["eval_mean"] > self.best_eval:
                                self.best_eval = row["eval_mean"]
                                checkpoint.save_atomic(self.model_state(), self.run_dir / "best.pt")
                            if cfg.stop_score is not None and row["eval_mean"] >= cfg.stop_score:
                                stopped_early = True
                        with naming_the_file(self.run_dir / "metrics.csv"):
                            metrics.writerow(row)
                            metrics_file.flush()
                        with naming_the_file(self.run_dir / "tb"):
                            for key, value in row.items():
                                if key != "step":
                                    writer.add_scalar(key, value, self.step)
                        bar.set_postfix(eps=f"{self.agent.epsilon:.2f}",
                                        score=row.get("train_score", "-"),
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
        for env in [*self.envs, self.eval_env]:
            env.close()
        return TrainResult(self.run_dir, self.step, self.updates, self.best_eval, stopped_early,
                           time.perf_counter() - self.start_time, stop_signal[0] if stop_signal else None)


def train(config: TrainConfig, run_dir: Path, progress: bool = True) -> TrainResult:
    return Trainer(config, run_dir, progress).train()


def last_logged_step(metrics_csv: Path) -> int:
    """The agent step of the last whole row of metrics.csv; 0 without one."""
    try:
        with open(metrics_csv, newline="") as f:
            # a row cut short by a kill lacks its last fields
            return max((int(row["step"]) for row in csv.DictReader(f) if row[METRIC_FIELDS[-1]] is not None),
                       default=0)
    except (OSError, ValueError, csv.Error):
        return 0


def resume(run_dir: Path, total_steps: int | None = None, progress: bool = True) -> TrainResult:
    """Go on with the run in run_dir from its checkpoint, optionally to a new total_steps. A run
    stopped before its first checkpoint starts over from its config.json. Says on stderr where it
    goes on from, and how many logged agent steps were lost with the process that stopped."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"no run folder at {run_dir}")
    checkpoint_file, config_file = run_dir / "checkpoint.pt", run_dir / "config.json"
    if checkpoint_file.is_file() or not config_file.is_file():
        state = checkpoint.load(checkpoint_file)  # "no checkpoint at ..." when neither is there
        if "resume" not in state:
            raise UserError(f"{checkpoint_file} holds no training state to resume from")
        config, step = TrainConfig.from_dict(state["config"]), state["step"]
        going_on = f"resuming {run_dir} from its checkpoint of agent step {step}"
    else:
        state, config, step = None, TrainConfig.load(config_file), 0
        going_on = f"{run_dir} has no checkpoint.pt (it stopped before its first one): starting it over from its config.json"
    if total_steps is not None:
        config = dataclasses.replace(config, total_steps=total_steps).validate()
    if step >= config.total_steps:
        raise UserError(f"the run already has {step} of its {config.total_steps} agent steps; "
                        "pass a larger --total-steps to train on")
    lost = last_logged_step(run_dir / "metrics.csv") - step
    trainer = Trainer(config, run_dir, progress, resume_state=state, start_over=state is None)
    if lost > 0:
        going_on += (f"; the {lost} agent steps logged after it in metrics.csv (and any after its last row) "
                     "were lost and are trained again")
    print(going_on, file=sys.stderr)
    return trainer.train()


def load_agent(path: Path) -> tuple[DQNAgent, TrainConfig, dict]:
    """An agent from a run folder (its best model, else its checkpoint) or a checkpoint file."""
    path = Path(path)
    if path.is_dir():
        found = [p for p in (path / "best.pt", path / "checkpoint.pt") if p.is_file()]
        if not found:
            raise UserError(f"{path} holds neither best.pt nor checkpoint.pt")
        path = found[0]
    data = checkpoint.load(path)
    config = TrainConfig.from_dict(data["config"])
    agent = build_agent(config, tuple(data["obs_shape"]), int(data["n_actions"]))
    try:
        agent.load_state_dict(data["network"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise UserError(f"checkpoint {path} does not match its own architecture: {str(exc).splitlines()[0]}") from None
    agent.eval()
    data["path"] = path
    return agent, config, data
