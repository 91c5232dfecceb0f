"""Network heads by the name the config's `head` field gives: HEADS, everything the agent knows of each
(heads/base.py says what that is). Each head is declared in agent/registry.py (name, options, checks:
what the config is built from, without torch) and implemented in heads/<its module>.py, imported here
on first use of HEADS."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from dqn.agent.registry import HEAD_KINDS

if TYPE_CHECKING:
    from dqn.agent.heads.base import Head

    HEADS: dict[str, Head]


def __getattr__(name: str) -> dict[str, Head]:
    if name != "HEADS":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    implementations = {head.name: head for module in dict.fromkeys(kind.module for kind in HEAD_KINDS.values())
                       for head in import_module(f"{__name__}.{module}").HEADS}
    globals()["HEADS"] = heads = {name: implementations[name] for name in HEAD_KINDS}  # in the registry's order
    return heads
