"""Checkpoint files that a kill at any instant cannot leave half-written."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

from dqn.errors import UserError


def save_atomic(obj, path: Path) -> None:
    """Write to a temporary file beside path, flush it to disk, then rename over path.

    The rename is atomic, so path always holds either the previous complete file or the new one.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path: Path) -> dict:
    """Load a checkpoint, turning every way a file can be wrong into one UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, OSError, RuntimeError, ValueError) as exc:
        raise UserError(f"checkpoint {path} is truncated or corrupted ({type(exc).__name__})") from None
    if not isinstance(data, dict) or "config" not in data or "network" not in data:
        raise UserError(f"{path} is not a dqn checkpoint")
    return data
