"""Checkpoint files that a kill at any instant cannot leave half-written."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import torch

from dqn.errors import UserError
from dqn.machine.files import write_atomic

REQUIRED_KEYS = ("config", "network", "step", "obs_shape", "n_actions")


def save_atomic(obj, path: Path) -> None:
    """torch.save, atomically (see write_atomic)."""
    # serialised in memory first: torch reports a failed file write as a RuntimeError, a plain
    # file write reports it as the OSError (ENOSPC, EACCES, ...) that the caller turns into a message
    data = io.BytesIO()
    torch.save(obj, data)
    write_atomic(path, lambda f: f.write(data.getbuffer()))


def load(path: Path) -> dict:
    """Load a checkpoint, turning every way a file can be wrong into one UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}")
    try:
        # weights_only: a checkpoint holds tensors and plain values, and loading runs no code
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, OSError, RuntimeError, ValueError) as exc:
        raise UserError(f"checkpoint {path} is truncated, corrupted or not a dqn checkpoint "
                        f"({type(exc).__name__})") from None
    missing = [key for key in REQUIRED_KEYS if not isinstance(data, dict) or key not in data]
    if missing:
        raise UserError(f"{path} is not a dqn checkpoint (no {', '.join(missing)})")
    return data
