"""Network heads by the name the config's `head` field gives: everything the agent knows of each
(heads/base.py says what that is). A head module defines HEADS, the heads it holds; adding a head
is a module and its name in HEAD_MODULES."""

from importlib import import_module

from dqn.agent.heads.base import Head

HEAD_MODULES = ("q", "c51", "iqn")

HEADS: dict[str, Head] = {head.name: head for module in HEAD_MODULES
                          for head in import_module(f"dqn.agent.heads.{module}").HEADS}
