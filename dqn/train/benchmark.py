"""Training throughput on Breakout with the Nature DQN settings SB3 and CleanRL use by default.

84x84 luminance frames, the Nature CNN, batch 32, one update per 4 agent steps, learning from
agent step 1,000, plain DQN (no Double, Dueling or n-step), so the work per step is the same
as theirs; the engine (batched acting over the breakout preset's 4 envs, bfloat16, channels-last convolutions,
fused Adam, 2 threads, freed memory kept by malloc) is this project's.

With a preset, or the config of a run or model folder (its recipe), their own settings instead (head,
noisy, replay, n-step, envs...), timed the same way: only the warm-up, the length and the cadence of
evaluations, logs and checkpoints are the bench's.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from dqn.config import TrainConfig, preset_config
from dqn.errors import UserError
from dqn.machine.interrupts import Interrupted
from dqn.train.single import Trainer

WARMUP_STEPS = 1_000


# the Nature DQN settings timed without a preset, on the breakout preset's game and envs
NATURE_SETTINGS = dict(atari_preprocessing="nature", batch_size=32, train_freq_steps=4, gradient_steps=1,
                       buffer_size=100_000, double_dqn=False, head="q", n_step=1)


def recipe_config(folder: Path) -> TrainConfig:
    """The config a run or model folder was trained with (its config.json)."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise UserError(f"{folder} has no config.json: give a run folder or a model folder such as models/breakout")
    recipe = TrainConfig.load(path)
    if recipe.num_actors:
        raise UserError(f"{folder} trained with {recipe.num_actors} Ray actors; dqn bench times one-process recipes")
    return recipe


def bench_config(steps: int, num_envs: int | None = None, preset: str | None = None,
                 recipe: TrainConfig | None = None, **overrides) -> TrainConfig:
    """The config timed: the Nature DQN settings, or a preset's or a recipe's own, with overrides (config
    fields) on top; num_envs None: the preset's or recipe's."""
    total = WARMUP_STEPS + -(-steps // WARMUP_STEPS) * WARMUP_STEPS  # whole log rows
    settings = {} if preset or recipe else dict(NATURE_SETTINGS)
    if num_envs is not None:
        settings["num_envs"] = num_envs
    timing = dict(learning_starts=WARMUP_STEPS, total_steps=total, eval_freq_steps=0, stop_score=None,
                  log_freq_steps=WARMUP_STEPS, checkpoint_freq_steps=10 * total, keep_eval_snapshots=False,
                  save_replay=False)
    if recipe is not None:
        return TrainConfig(**{**recipe.to_dict(), **settings, **overrides, **timing})
    return preset_config(preset or "breakout", **settings, **overrides, **timing)


def run_benchmark(steps: int, num_envs: int | None = None, preset: str | None = None,
                  recipe_dir: Path | None = None, progress: bool = False, **overrides) -> dict:
    """Train for WARMUP + steps agent steps and time the part after warm-up; progress shows the
    training's bar on stderr."""
    recipe = recipe_config(recipe_dir) if recipe_dir is not None else None
    config = bench_config(steps, num_envs, preset, recipe, **overrides)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, Path(tmp) / "run", progress=progress)
        interrupted_by = trainer.train().interrupted_by
        if interrupted_by:  # training stops with a checkpoint to go on from; a benchmark just stops
            raise Interrupted(interrupted_by)
        with open(Path(tmp) / "run" / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
    # the first row at or past the warm-up: with several envs the loop may overshoot it
    start = next(r for r in rows if int(r["step"]) >= WARMUP_STEPS)
    end = rows[-1]
    timed_steps = int(end["step"]) - int(start["step"])
    seconds = float(end["wall_s"]) - float(start["wall_s"])
    updates = int(end["updates"]) - int(start["updates"])
    phases = {name: float(end[f"time_{name}_s"]) - float(start[f"time_{name}_s"])
              for name in ("env", "act", "sample", "update")}
    ms_per_step = {name: 1000 * t / timed_steps for name, t in phases.items()}
    ms_per_step["other"] = 1000 * seconds / timed_steps - sum(ms_per_step.values())
    return {
        **({"preset": preset} if preset else {}),  # without one, the output is as it always was
        **({"recipe": str(recipe_dir)} if recipe_dir is not None else {}),
        "env_id": config.env_id,
        "steps": timed_steps,
        "updates": updates,
        "seconds": seconds,
        "steps_per_s": timed_steps / seconds,
        "ms_per_update": 1000 * phases["update"] / max(updates, 1),
        "ms_per_step": ms_per_step,
        "replay_bytes_per_transition": trainer.replay.bytes_per_transition,
        "frame_bytes": int(trainer.replay.frames[0, 0].nbytes),
        "num_envs": config.num_envs, **trainer.runtime.to_dict(),
    }
