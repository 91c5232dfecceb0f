"""Which env ids there are: Atari or not, and whether one can be trained on, said in one line if not.
Light (gymnasium, and ale-py only for ids that may be its own), so that the command line checks an id
before it loads torch."""

from __future__ import annotations

import difflib

import gymnasium as gym

from dqn.errors import UserError

# ale-py's own limit, 30 minutes of play; evaluation protocols cap a game at it too
MAX_FRAMES_PER_GAME = 108_000
FRAME_SKIP = 4  # emulator frames per agent step (MaxAndSkipEnv)


def is_atari(env_id: str) -> bool:
    return env_id.startswith("ALE/") or "NoFrameskip" in env_id


def register_atari_envs(env_id: str) -> bool:
    """Register ale-py's envs with gymnasium; False if ale-py is not installed (UserError for an Atari id).
    Called only for ids that may be ale-py's: a run on another env has no use for the emulator."""
    try:
        import ale_py
    except ImportError:
        if is_atari(env_id):
            raise UserError(f"{env_id!r} needs ale-py: pip install ale-py") from None
        return False
    gym.register_envs(ale_py)
    return True


def check_env_id(env_id: str) -> None:
    if is_atari(env_id):
        register_atari_envs(env_id)
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as exc:
        # an id gymnasium does not know may still be one of ale-py's: look there before saying it is unknown
        if is_atari(env_id) or not register_atari_envs(env_id) or env_id not in gym.registry:
            raise UserError(unknown_env_message(env_id, exc)) from None
        spec = gym.spec(env_id)
    if not is_atari(env_id) and "ale_py" in str(spec.entry_point):
        game = env_id.split("-")[0]
        raise UserError(f"{env_id!r} skips a random 2 to 4 frames a step itself; train on "
                        f"{game}NoFrameskip-v4 or ALE/{game}-v5")


def unknown_env_message(env_id: str, exc: Exception) -> str:
    """One line for an id gymnasium does not know: the closest id one can train on, else gymnasium's words."""
    trainable = [known for known, spec in gym.registry.items()
                 if is_atari(known) or "ale_py" not in str(spec.entry_point)]
    closest = difflib.get_close_matches(env_id, trainable, n=1)
    if closest:
        return f"unknown env id {env_id!r}; did you mean {closest[0]!r}?"
    return f"unknown env id {env_id!r} ({exc})"
