"""The exception types that the CLI turns into a single line and exit code 2."""

from __future__ import annotations

import re
from collections.abc import Callable


class UserError(Exception):
    """Bad input from the user: a flag value, a path, a preset. The message names the problem."""


class ConfigError(UserError):
    """A bad config value. The message names config fields as the library knows them (learning_rate);
    `naming` says it with other names for them, as the command line says its flags (--learning-rate)."""

    def __init__(self, message: str, *fields: str):
        super().__init__(message)
        self.fields = fields

    def naming(self, name_of: Callable[[str], str]) -> str:
        if not self.fields:
            return str(self)
        pattern = r"\b(" + "|".join(map(re.escape, self.fields)) + r")\b"
        return re.sub(pattern, lambda match: name_of(match[1]), str(self))
