"""Deep Q-Networks for the Practical RL homework: library, CLI and notebook helpers."""

__version__ = "0.1.0"
