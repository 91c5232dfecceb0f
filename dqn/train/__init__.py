"""The run: the training loop, its parts (metrics, checkpoints, evaluation), the entry points, the run folder's files.

`from dqn.train import train, resume` gives the entry points, loaded on first use: the modules here that
the agent's parts read (checkpoint, files) must not pull the loop in with them.
"""

from importlib import import_module

ENTRY_POINTS = {"train": "dqn.train.entry", "resume": "dqn.train.entry"}


def __getattr__(name: str):
    if name not in ENTRY_POINTS:
        raise AttributeError(f"module 'dqn.train' has no attribute {name!r}")
    return getattr(import_module(ENTRY_POINTS[name]), name)
