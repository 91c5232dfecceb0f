"""The env families by name, readable without torch or OpenCV: which env ids each takes, its options and
their check, the kind of observation it gives and the network body it reads them with by default. A
family's envs are built by envs/families/NAME.py (make_env), imported on first use. The config adds each
family's options as fields (and so `dqn train` flags), and the command line checks an env id here before
it loads torch.

A new family is a module in envs/families/ and one FamilyKind below, as a new head is a module in
agent/heads/ and one HeadKind in agent/registry.py."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym

from dqn.errors import ConfigError, UserError
from dqn.options import Option

# ale-py's own limit, 30 minutes of play; evaluation protocols cap a game at it too
MAX_FRAMES_PER_GAME = 108_000
FRAME_SKIP = 4  # emulator frames per agent step (MaxAndSkipEnv)
ATARI_PREPROCESSINGS = ("nature", "homework")  # envs/families/atari.py's ATARI_PREPROCESSING, by name


@dataclass(frozen=True)
class FamilyKind:
    name: str
    description: str  # for --env-id's help
    module: str  # dqn.envs.families.<module>.make_env builds its envs
    takes: Callable[[str], bool]  # whether an env id is one of the family's
    # "image": (channels, height, width) uint8 frames, read by a CNN; "vector": (features,), read by an MLP
    observation: Literal["image", "vector"]
    cnn: str | None = None  # image families: the encoder (agent/registry.py's CNN_ENCODER_NAMES) of --cnn auto
    options: tuple[Option, ...] = ()
    check: Callable[[Any], None] = lambda config: None  # raises ConfigError naming the first bad option
    # makes the family's ids known to gymnasium; False if its package is absent (UserError for its own ids)
    register: Callable[[str], bool] = lambda env_id: False
    stacked_frames: Callable[[Any], int] = lambda config: 1  # frames of time an observation stacks
    observation_options: tuple[str, ...] = ()  # the options that change what the network sees
    cnns: tuple[str, ...] | None = None  # image families: the encoders its frames are large enough for; None: all

    def option_names(self) -> frozenset[str]:
        return frozenset(option.name for option in self.options)


def is_atari(env_id: str) -> bool:
    return env_id.startswith("ALE/") or "NoFrameskip" in env_id


def register_atari_envs(env_id: str) -> bool:
    try:
        import ale_py
    except ImportError:
        if is_atari(env_id):
            raise UserError(f"{env_id!r} needs ale-py: pip install ale-py") from None
        return False
    gym.register_envs(ale_py)
    return True


ATARI_OPTIONS = (
    Option("atari_preprocessing", str, "nature", "Atari frames: 'nature' (full screen, luminance, 84x84) or "
                                                 "'homework' (Breakout only: crop, red-heavy gray, 64x64)"),
    Option("frame_stack", int, 4, "Atari frames stacked into one observation"),
    Option("clip_rewards", bool, True, "Atari: train on the sign of the reward"),
    Option("noop_max", int, 30, "Atari: at most this many no-op agent steps at each game start (0 = none)"),
    Option("repeat_action_probability", float | None, None,
           "Atari: probability, at each emulator frame, that the previous action is repeated instead of the "
           "agent's (sticky actions), in training and evaluation; default: the env id's own, 0 for "
           "*NoFrameskip-v4, 0.25 for ALE/*-v5"),
)


def check_atari(config) -> None:
    if config.atari_preprocessing not in ATARI_PREPROCESSINGS:
        raise ConfigError("atari_preprocessing must be 'homework' or 'nature', got "
                          f"{config.atari_preprocessing!r}", "atari_preprocessing")
    if config.frame_stack <= 0:
        raise ConfigError(f"frame_stack must be positive, got {config.frame_stack}", "frame_stack")
    if config.noop_max < 0:
        raise ConfigError(f"noop_max must not be negative, got {config.noop_max}", "noop_max")
    sticky = config.repeat_action_probability
    if sticky is not None and not 0 <= sticky <= 1:
        raise ConfigError(f"repeat_action_probability must be in [0, 1], got {sticky:.12g}",
                          "repeat_action_probability")


def is_minatar(env_id: str) -> bool:
    return env_id.startswith("MinAtar/")


def register_minatar_envs(env_id: str) -> bool:
    if not is_minatar(env_id):
        return False  # MinAtar's package is only for its own ids (it imports pandas and seaborn)
    try:
        from minatar.gym import register_envs
    except ImportError:
        raise UserError(f"{env_id!r} needs MinAtar (GPL-3.0): pip install -e '.[minatar]'") from None
    if not any(known.startswith("MinAtar/") for known in gym.registry):
        register_envs()
    return True


FAMILY_KINDS: dict[str, FamilyKind] = {kind.name: kind for kind in (
    FamilyKind("atari", "Atari 2600 games of ale-py (*NoFrameskip-v4, ALE/*-v5), 4 emulator frames an agent step",
               "atari", is_atari, "image", "nature", ATARI_OPTIONS, check_atari, register_atari_envs,
               stacked_frames=lambda config: config.frame_stack,
               observation_options=("atari_preprocessing", "frame_stack")),
    # the Nature and NIPS CNNs' 8x8 convolution of stride 4 leaves 10x10 frames too small for the next one
    FamilyKind("minatar", "MinAtar's games (MinAtar/*-v1, Young and Tian 2019): 10x10 images of a channel an "
                          "object kind, sticky actions 0.1", "minatar", is_minatar, "image", "minatar",
               cnns=("minatar", "impala"), register=register_minatar_envs),
    # last: it takes every id the others do not
    FamilyKind("vector", "gymnasium's envs of vector observations and discrete actions, such as CartPole-v1",
               "vector", lambda env_id: True, "vector"),
)}


def family_of(env_id: str) -> FamilyKind:
    return next(kind for kind in FAMILY_KINDS.values() if kind.takes(env_id))


def cnn_of(config) -> str | None:
    """The image encoder config's network reads its observations with: --cnn, or with 'auto' its env family's
    (None for vector observations, which an MLP reads)."""
    family = family_of(config.env_id)
    if family.observation == "vector":
        return None
    return family.cnn if config.cnn == "auto" else config.cnn


def foreign_options(env_id: str, names: Iterable[str]) -> list[str]:
    """Those of names (config fields) that are options of another env family than env_id's."""
    every = frozenset().union(*(kind.option_names() for kind in FAMILY_KINDS.values()))
    return sorted((set(names) & every) - family_of(env_id).option_names())


def option_misfit(env_id: str, option: str) -> str:
    """Why option, one of foreign_options, does not fit env_id: "is for atari envs; CartPole-v1 is a vector env"."""
    owner = next(kind.name for kind in FAMILY_KINDS.values() if option in kind.option_names())
    return f"is for {owner} envs; {env_id} is a {family_of(env_id).name} env"


def settings_misfit(env_id: str, settings: Iterable[str]) -> str | None:
    """None if no one of settings (config fields, such as an evaluation protocol's) is an option of another env
    family than env_id's, else why (option_misfit)."""
    foreign = foreign_options(env_id, settings)
    return option_misfit(env_id, foreign[0]) if foreign else None


def check_env_id(env_id: str) -> None:
    """UserError, in one line, unless env_id is a gymnasium id of a family that can train on it."""
    family = family_of(env_id)
    family.register(env_id)
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as exc:
        # an id gymnasium does not know may still be one of ale-py's: look there before saying it is unknown
        if family.name != "vector" or not register_atari_envs(env_id) or env_id not in gym.registry:
            raise UserError(unknown_env_message(env_id, exc)) from None
        spec = gym.spec(env_id)
    if family.name == "vector" and "ale_py" in str(spec.entry_point):
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


def gym_make(env_id: str, **kwargs) -> gym.Env:
    """gym.make, with any failure (an unknown id, a missing optional dependency) as one UserError."""
    check_env_id(env_id)
    try:
        return gym.make(env_id, **kwargs)
    except Exception as exc:  # gymnasium raises many kinds here, e.g. DependencyNotInstalled
        raise UserError(f"cannot make env {env_id!r}: {exc}") from None
