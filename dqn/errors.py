"""The one exception type that the CLI turns into a single line and exit code 2."""


class UserError(Exception):
    """Bad input from the user: a flag value, a path, a preset. The message names the problem."""
