"""A run's checkpoint: checkpoint.pt and, with --save-replay, the replay file it names, written so that a
kill at any instant leaves a complete pair. Files only: a loop (dqn/train/loop.py) gathers the state
from its parts and puts it back; the process's random generators are gathered here."""

from __future__ import annotations

import random
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from dqn.errors import UserError
from dqn.machine.system import free_disk_bytes, size_text
from dqn.train import checkpoint

if TYPE_CHECKING:
    from dqn.contracts import Replay


def global_rng_state() -> dict:
    """The process's random generators (random, np.random, torch) as plain Python values and tensors, so
    that checkpoints load with weights_only=True."""
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"]["key"] = numpy_state["state"]["key"].tolist()
    return {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}


def set_global_rng_state(state: dict) -> None:
    """The inverse of global_rng_state."""
    random.setstate(state["python"])
    numpy_state = dict(state["numpy"], state=dict(state["numpy"]["state"]))
    numpy_state["state"]["key"] = np.array(numpy_state["state"]["key"], dtype=np.uint32)
    np.random.set_state(numpy_state)
    torch.set_rng_state(state["torch"])


class Checkpointer:
    """checkpoint.pt in run_dir, with a replay file beside it when save_replay; saved_step is the agent
    step of the last one saved or restored, -1 before any."""

    def __init__(self, run_dir: Path, save_replay: bool):
        self.run_dir = run_dir
        self.save_replay = save_replay
        self.saved_step = -1

    def check_room_for_replay_files(self, replay: Replay) -> None:
        """Refuse, before training, a --save-replay run that the disk cannot hold. A checkpoint's
        replay file is written before the previous one is removed: two of them at once."""
        if not self.save_replay:
            return
        already_there = len(list(self.run_dir.glob("replay_*.npz")))  # a resumed run's own
        needed = max(0, 2 - already_there) * replay.nbytes
        free = free_disk_bytes(self.run_dir)
        if needed > free:
            raise UserError(f"--save-replay needs room for two replay files of {size_text(replay.nbytes)} "
                            f"(a new one is written before the old one is removed): {size_text(needed)} more, "
                            f"but the disk of {self.run_dir} has {size_text(free)} free; free space, or train "
                            "without --save-replay")

    def save(self, step: int, replay: Replay, training_state: Callable[[], dict]) -> None:
        """checkpoint.pt of agent step `step` with training_state(), gathered only when step is not saved
        yet; its resume["replay_file"] names the replay's file, written first when save_replay.
        checkpoint.pt is renamed into place last, so it always names a complete replay file,
        whatever instant a kill comes at."""
        if self.saved_step == step:
            return
        replay_file = None
        # an empty replay (step 0) is not saved: it would be the buffer's size in zeros, and a
        # checkpoint without a replay file refills the replay anyway
        if self.save_replay and len(replay):
            replay_file = f"replay_{step:09d}.npz"
            replay.save(self.run_dir / replay_file)
        state = training_state()
        state["resume"]["replay_file"] = replay_file
        try:
            checkpoint.save_atomic(state, self.run_dir / "checkpoint.pt")
        except OSError:
            if replay_file is not None:  # no checkpoint names it: give its room back
                (self.run_dir / replay_file).unlink(missing_ok=True)
            raise
        self.saved_step = step
        # older replays, and the temporary file of one a kill cut short
        for old in [*self.run_dir.glob("replay_*.npz"), *self.run_dir.glob("replay_*.npz.tmp")]:
            if old.name != replay_file:
                old.unlink()

    def restore(self, state: dict, replay: Replay) -> bool:
        """Go on from a checkpoint written by save: its replay file, if it names one, loaded into replay.
        Returns whether it named one."""
        self.saved_step = state["step"]
        replay_file = state["resume"]["replay_file"]
        if replay_file is None:
            return False
        path = self.run_dir / replay_file
        if not path.is_file():
            raise UserError(f"{path}, the replay named by the checkpoint, is missing; {self.how_to_refill()}")
        try:
            replay.load(path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise UserError(f"{path} is truncated or corrupted ({type(exc).__name__}); "
                            f"{self.how_to_refill()}") from None
        return True

    def how_to_refill(self) -> str:
        """How a run whose replay file is lost goes on: from its checkpoint, the replay refilled."""
        return ("go on from the checkpoint with a refilled replay (as a run without --save-replay does): "
                f"dqn train --resume {self.run_dir} --refill-replay")

    def how_to_go_on(self) -> str:
        """How a run that failed goes on: from its last checkpoint, or from the start before one."""
        if self.saved_step < 0:
            return "start the run again"
        return f"go on from its checkpoint of agent step {self.saved_step} with: dqn train --resume {self.run_dir}"
