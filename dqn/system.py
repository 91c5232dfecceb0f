"""Facts about the machine that training needs to respect."""

from __future__ import annotations

import psutil


def available_ram_bytes() -> int:
    return int(psutil.virtual_memory().available)


def is_enough_ram(min_available_gb: float = 0.1) -> bool:
    """True while more than min_available_gb of RAM is free to allocate."""
    return available_ram_bytes() >= min_available_gb * 1024**3
