"""An option that a part brings to the config: a head's (agent/registry.py) or an env family's
(envs/registry.py). Each becomes a TrainConfig field and a flag of `dqn train`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Option:
    name: str
    type: Any
    default: Any
    help: str
