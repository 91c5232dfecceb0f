"""Deep Q-Networks for the Practical RL homework: library, CLI and notebook helpers.

The public names below import from `dqn` itself (`from dqn import load_agent`; training's entry points are
`dqn.train`'s: `from dqn.train import train`); each is loaded on first use, so `import dqn` stays light.
docs/api.md shows them at work.
"""

from importlib import import_module

__version__ = "0.1.0"

# public name -> the module that defines it
PUBLIC = {
    "TrainConfig": "dqn.config", "preset_config": "dqn.config", "PRESETS": "dqn.config",
    "load_agent": "dqn.train.loading", "TrainedAgent": "dqn.train.loading",
    "build_agent": "dqn.agent.policy", "DQNAgent": "dqn.agent.policy",
    "make_env": "dqn.envs.factory", "make_atari_env": "dqn.envs.families.atari",
    "play_episodes": "dqn.evaluation.games", "homework_score": "dqn.evaluation.games",
    "record_game": "dqn.evaluation.recording", "PROTOCOLS": "dqn.evaluation.protocols",
    "HEADS": "dqn.agent.heads",
}

__all__ = sorted(PUBLIC)


def __getattr__(name: str):
    if name not in PUBLIC:
        raise AttributeError(f"module 'dqn' has no attribute {name!r}")
    return getattr(import_module(PUBLIC[name]), name)
