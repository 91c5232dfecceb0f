"""Facts about the machine that training needs to respect."""

from __future__ import annotations

import ctypes
import shutil
from pathlib import Path

import psutil

from dqn.errors import UserError

# mallopt parameters, from glibc's malloc.h
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3


def available_ram_bytes() -> int:
    return int(psutil.virtual_memory().available)


def size_text(n_bytes: float) -> str:
    """A size in the largest decimal unit it reaches: 1.55 MB, 7.07 GB."""
    unit, scale = next(((unit, scale) for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)) if n_bytes >= scale),
                       ("bytes", 1))
    return f"{n_bytes / scale:.3g} {unit}"


def check_fits_in_ram(needed_bytes: float, what: str) -> None:
    """UserError, before anything is allocated, if `what` needs more than 90% of the RAM available now."""
    available = available_ram_bytes()
    if needed_bytes > 0.9 * available:
        raise UserError(f"{what} needs {size_text(needed_bytes)}, "
                        f"more than the {size_text(available)} of RAM available")


def free_disk_bytes(path: Path) -> int:
    """Free bytes on the disk where path is, or would be once created."""
    path = Path(path).absolute()
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


def is_enough_ram(min_available_gb: float = 0.1) -> bool:
    """True while more than min_available_gb of RAM is free to allocate."""
    return available_ram_bytes() >= min_available_gb * 1024**3


def reuse_freed_memory() -> bool:
    """Stop glibc from handing freed tensor memory back to the OS after every update.

    By default each multi-MB tensor (activations, gradients, bf16 weight copies) is a fresh
    mmap, and the next allocation pays for page faults on every page: about a third of
    the time of a Nature-CNN update on this CPU. Blocks under 32 MB (glibc's largest allowed
    threshold) now come from the heap, and up to 256 MB of freed heap is kept, for the whole
    process. Returns whether glibc took all three settings; elsewhere than glibc it does nothing.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return all(libc.mallopt(option, value) == 1 for option, value in
               [(M_MMAP_THRESHOLD, 32 << 20), (M_TRIM_THRESHOLD, 256 << 20), (M_TOP_PAD, 64 << 20)])
