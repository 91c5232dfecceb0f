"""Checkpoint files that a kill at any instant cannot leave half-written."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

from dqn.errors import UserError


REQUIRED_KEYS = ("config", "network", "step", "obs_shape", "n_actions")


def write_atomic(path: Path, write) -> None:
    """Call write(file) on a temporary file beside path, flush it to disk, then rename it over path.

    The rename is atomic, so path always holds either the previous complete file or the new one;
    a kill mid-write leaves only the temporary file behind.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_atomic(obj, path: Path) -> None:
    """torch.save, atomically (see write_atomic)."""
    write_atomic(path, lambda f: torch.save(obj, f))


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
