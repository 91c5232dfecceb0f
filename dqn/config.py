"""The training configuration: one typed dataclass, its presets, and its validation.

Every count says its unit in its name: `*_steps` are agent steps (one call of
`env.step` on the wrapped env; on Atari one agent step is 4 emulator frames).
A TrainConfig is validated as it is made (and made anew by dataclasses.replace), so every one there is
is valid. This module imports no torch: the command line builds and checks a config before it loads torch.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field, fields, make_dataclass
from pathlib import Path

from dqn.agent.registry import CNN_ENCODER_NAMES, HEAD_KINDS, PAPER_SIGMA0
from dqn.envs.registry import FAMILY_KINDS, family_of, foreign_options, option_misfit, settings_misfit
from dqn.errors import ConfigError, UserError
from dqn.evaluation.registry import PROTOCOLS
from dqn.machine.files import write_atomic

if typing.TYPE_CHECKING:
    from dqn.machine.hardware import Runtime


def _f(default, help: str, parse=None, expects: str | None = None, **kwargs):
    """A dataclass field whose help text becomes the CLI flag's --help; parse, if given, reads
    the flag's text (for fields that take a word or a number), and expects says what it takes."""
    if isinstance(default, (list, tuple)):
        kwargs["default_factory"] = lambda: tuple(default)
    else:
        kwargs["default"] = default
    return field(metadata={"help": help, "parse": parse, "expects": expects}, **kwargs)


# far more than any machine's cores: a larger number is a typo, and torch cannot take a huge one
MAX_TORCH_THREADS = 1024
PRECISIONS = ("auto", "fp32", "bf16")  # machine.hardware.choose_runtime resolves auto
# what a resumed run may change: how far to train (its steps, its stop score), on which Ray cluster (a
# distributed run), with how many torch threads (a run moved to another machine); nothing that changes what it learns
RESUME_OVERRIDES = ("total_steps", "stop_score", "ray_address", "torch_threads")


def auto_or_int(text: str) -> int | str:
    return "auto" if text == "auto" else int(text)


def heads_help() -> str:
    """--head's help: each head of the registry, said by itself."""
    *others, last = [kind.description for kind in HEAD_KINDS.values()]
    return f"the network's head: {', '.join(others)} or {last}"


def env_help() -> str:
    """--env-id's help: the env families, each said by itself."""
    *others, last = [f"{kind.name}: {kind.description}" for kind in FAMILY_KINDS.values()]
    return f"gymnasium environment id, of an env family ({'; '.join(others)}; or {last})"


def cnn_help() -> str:
    """--cnn's help: each encoder of the registry, said by itself, and what 'auto' picks."""
    encoders = ", ".join(f"'{name}' ({description})" for name, description in CNN_ENCODER_NAMES.items())
    *others, last = [f"{kind.cnn} on {kind.name}" for kind in FAMILY_KINDS.values() if kind.cnn]
    return f"image encoder: 'auto' (the env family's: {', '.join(others)} and {last}), {encoders}"


def shown(value) -> str:
    """A value as an error message says it: -1.0 as -1, as it was most likely typed."""
    return format(value, ".12g") if isinstance(value, float) else repr(value) if isinstance(value, str) else str(value)


@dataclass
class CommonConfig:
    """The fields of every run; TrainConfig adds the options of each head and each env family after them."""

    env_id: str = _f("CartPole-v1", env_help())
    seed: int = _f(0, "seed for python, numpy, torch and the environments")
    total_steps: int = _f(50_000, "agent steps to train for")
    buffer_size: int = _f(50_000, "replay capacity, in transitions (each episode's last frame takes one more slot)")
    prioritized_replay: bool = _f(False, "sample transitions in proportion to |TD error| ** priority_alpha "
                                         "(proportional prioritized replay)")
    priority_alpha: float = _f(0.5, "prioritized replay: how much priorities count (0 = uniform)")
    priority_beta_start: float = _f(0.4, "prioritized replay: importance-sampling exponent at agent step 0")
    priority_beta_steps: int = _f(1_000_000, "prioritized replay: agent steps over which that exponent rises "
                                             "linearly to 1")
    learning_starts: int = _f(1_000, "agent steps of random play before the first update")
    batch_size: int = _f(64, "transitions per gradient update")
    learning_rate: float = _f(1e-3, "Adam learning rate")
    adam_eps: float = _f(1e-8, "Adam epsilon")
    gamma: float = _f(0.99, "discount factor, in (0, 1]")
    num_envs: int = _f(1, "environments stepped together; one batched forward pass acts for all")
    n_step: int = _f(1, "rewards summed before bootstrapping (multi-step returns)")
    train_freq_steps: int = _f(1, "agent steps between two rounds of updates")
    gradient_steps: int = _f(1, "gradient updates per round")
    target_update_steps: int = _f(500, "agent steps between target network updates")
    tau: float = _f(1.0, "target update weight: 1 copies the online network, <1 is a Polyak average")
    eps_start: float = _f(1.0, "exploration epsilon at step 0 (ignored with noisy: epsilon is 0)")
    eps_end: float = _f(0.02, "exploration epsilon after the decay (ignored with noisy)")
    eps_decay_steps: int = _f(10_000, "agent steps (counted from step 0) over which epsilon decays linearly "
                                      "(ignored with noisy)")
    double_dqn: bool = _f(True, "pick the next action with the online network (Double DQN)")
    head: str = _f("q", heads_help())
    noisy: bool = _f(False, "noisy nets (Fortunato et al. 2017): the dense layers (the one after the CNN or "
                            "the MLP's last, and the head's) carry learned Gaussian noise, resampled before "
                            "each acting step and each update, and explore in place of epsilon-greedy: "
                            "epsilon is 0 after learning_starts and the eps_* fields are ignored; "
                            "evaluation uses the mean weights")
    noisy_sigma0: float = _f(PAPER_SIGMA0, "noisy nets: initial noise scale sigma0 (each sigma starts at "
                                  "sigma0 / sqrt(inputs))")
    loss: str = _f("huber", "TD loss: 'mse' (the course's formula) or 'huber'; c51 heads train on a "
                            "cross-entropy instead")
    max_grad_norm: float = _f(10.0, "gradient norm clip")
    hidden_sizes: tuple[int, ...] = _f((128, 128), "hidden layer widths of the MLP (vector observations)")
    cnn: str = _f("auto", cnn_help())
    augment_shift_px: int = _f(0, "images: shift each sampled observation by up to this many pixels "
                                  "(DrQ's random shift; 0 = off)")
    precision: str = _f("auto", "the network's arithmetic: 'fp32', 'bf16' (autocast, Q head in float32) or "
                                "'auto': bf16 where the hardware has it (CPUs with AVX512_BF16 or AMX, CUDA "
                                "GPUs that support it), fp32 elsewhere, where bf16 is emulated and slow")
    eval_freq_steps: int = _f(2_000, "agent steps between evaluations (0 = never)")
    eval_games: int = _f(10, "games per evaluation")
    eval_protocol: str = _f("training", "how evaluation games are played, as `dqn evaluate --protocol` plays them: "
                                        "'training' (the training env, greedy), 'noop' or 'sticky' (Atari)")
    eval_t_max: int = _f(1_000, "agent steps at most in one evaluation game (all lives on Atari)")
    keep_eval_snapshots: bool = _f(False, "also save the network of every evaluation under snapshots/")
    stop_score: float | None = _f(None, "stop training once an evaluation's mean score reaches this")
    log_freq_steps: int = _f(1_000, "agent steps between rows of metrics.csv")
    checkpoint_freq_steps: int = _f(10_000, "agent steps between checkpoints")
    save_replay: bool = _f(False, "also save the replay buffer with each checkpoint, for an exact resume "
                                  "(it takes about a frame's bytes per transition on disk)")
    min_available_ram_gb: float = _f(0.25, "save a checkpoint and stop when the machine's available RAM falls "
                                           "under this many GiB, checked at each metrics row (0 = never)")
    torch_threads: int | str = _f("auto", "torch intra-op threads, or 'auto': every usable physical core for "
                                          "image observations, 1 for vector ones (small networks run fastest on one)",
                                      parse=auto_or_int, expects="'auto' or a whole number")
    device: str = _f("auto", "'auto', 'cpu' or 'cuda'")
    num_actors: int = _f(0, "Ape-X on Ray (pip install -e '.[distributed]'): actor processes that play, each with "
                            "envs_per_actor envs of fixed epsilons from 0.4 to 0.4 ** 8, and send their "
                            "transitions with their priorities to one replay process, while the learner trains "
                            "in this one; 0 = train in one process with num_envs envs")
    envs_per_actor: int = _f(1, "with num_actors: envs each actor steps together (num_envs is the single-process "
                                "loop's and is ignored)")
    ray_address: str | None = _f(None, "with num_actors: the Ray cluster to join, as `ray start --head` printed it "
                                       "(HOST:PORT); default (or 'local'): start a Ray of its own on this machine, "
                                       "with at least one CPU per actor; --resume may change it")
    weight_sync_updates: int = _f(100, "with num_actors: learner updates between two publications of its weights, "
                                       "which the actors pull before their next steps")

    def __post_init__(self):
        self.validate()

    def validate(self) -> TrainConfig:
        """Raise ConfigError naming the first bad value (run as the config is made)."""
        def fail(requirement: str, *names: str, got: bool = True) -> typing.NoReturn:
            """ConfigError: "NAME REQUIREMENT, got VALUE" of the first name, the others named in requirement."""
            value = f", got {shown(getattr(self, names[0]))}" if got else ""
            raise ConfigError(f"{names[0]} {requirement}{value}", *names)

        for name in ("total_steps", "buffer_size", "batch_size", "train_freq_steps", "num_envs", "n_step",
                     "gradient_steps", "target_update_steps", "eval_games", "eval_t_max",
                     "log_freq_steps", "checkpoint_freq_steps", "envs_per_actor", "weight_sync_updates"):
            if getattr(self, name) <= 0:
                fail("must be positive", name)
        for name in ("learning_starts", "eps_decay_steps", "priority_beta_steps", "eval_freq_steps",
                     "augment_shift_px", "num_actors"):
            if getattr(self, name) < 0:
                fail("must not be negative", name)
        for name in ("learning_rate", "adam_eps", "noisy_sigma0", "max_grad_norm"):
            if not getattr(self, name) > 0:
                fail("must be > 0", name)
        for name in ("gamma", "tau"):
            if not 0 < getattr(self, name) <= 1:
                fail("must be in (0, 1]", name)
        for name in ("eps_start", "eps_end", "priority_alpha", "priority_beta_start"):
            if not 0 <= getattr(self, name) <= 1:
                fail("must be in [0, 1]", name)
        if self.batch_size > self.buffer_size:
            fail(f"must not be larger than buffer_size ({self.buffer_size})", "batch_size", "buffer_size")
        if not 0 <= self.seed < 2**32:
            fail("must be in [0, 2**32)", "seed")
        if not 0 <= self.min_available_ram_gb < float("inf"):
            fail("must be a number of GiB >= 0", "min_available_ram_gb")
        if self.stop_score is not None and self.eval_freq_steps == 0:
            fail("needs evaluations: set eval_freq_steps > 0", "stop_score", "eval_freq_steps", got=False)
        if self.cnn != "auto" and self.cnn not in CNN_ENCODER_NAMES:
            fail(f"must be 'auto' or one of {', '.join(CNN_ENCODER_NAMES)}", "cnn")
        if self.head not in HEAD_KINDS:
            fail(f"must be one of {', '.join(HEAD_KINDS)}", "head")
        HEAD_KINDS[self.head].check(self)
        if self.eval_protocol not in PROTOCOLS:
            fail(f"must be one of {', '.join(PROTOCOLS)}", "eval_protocol")
        misfit = settings_misfit(self.env_id, PROTOCOLS[self.eval_protocol].settings)
        if misfit:
            fail(f"{shown(self.eval_protocol)} {misfit}", "eval_protocol", got=False)
        family = family_of(self.env_id)
        for kind in FAMILY_KINDS.values():  # each family's options hold valid values, whichever the env
            kind.check(self)
        # an option that is off unless set, set for another family's env
        set_options = [option.name for kind in FAMILY_KINDS.values() for option in kind.options
                       if option.default is None and getattr(self, option.name) is not None]
        foreign = foreign_options(self.env_id, set_options)
        if foreign:
            fail(option_misfit(self.env_id, foreign[0]), foreign[0], got=False)
        if family.cnns is not None and self.cnn not in ("auto", *family.cnns):
            fail(f"must be 'auto' or one of {', '.join(family.cnns)} for {family.name} envs: the others need larger "
                 "frames", "cnn")
        if self.augment_shift_px and family.observation != "image":
            fail(f"shifts images; {self.env_id} has {family.observation} observations", "augment_shift_px", got=False)
        if self.loss not in ("mse", "huber"):
            fail("must be 'mse' or 'huber'", "loss")
        if self.precision not in PRECISIONS:
            fail(f"must be one of {', '.join(PRECISIONS)}", "precision")
        if self.torch_threads != "auto" and not (isinstance(self.torch_threads, int) and
                                                 0 < self.torch_threads <= MAX_TORCH_THREADS):
            fail(f"must be 'auto' or a number from 1 to {MAX_TORCH_THREADS}", "torch_threads")
        if self.device not in ("auto", "cpu", "cuda"):
            fail("must be 'auto', 'cpu' or 'cuda'", "device")
        if not self.hidden_sizes or min(self.hidden_sizes) <= 0:
            fail("must be positive widths", "hidden_sizes")
        if self.ray_address is not None and self.num_actors == 0:
            fail("is where the actors of a distributed run play: it needs num_actors > 0", "ray_address", "num_actors",
                 got=False)
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, **changes) -> TrainConfig:
        """The config of data (as to_dict or config.json has it, older field names included), with changes on top."""
        if not isinstance(data, dict):
            raise UserError("the checkpoint's config is not a mapping")
        known = {f.name for f in fields(cls)} | {"bf16", "dueling", "runtime", "warm_start"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"unknown config fields: {', '.join(unknown)}")
        data = dict(data)
        # config.json records the machine's choices and a warm start's source beside the config
        data.pop("runtime", None)
        data.pop("warm_start", None)
        if "bf16" in data:  # checkpoints from before `precision` existed
            data["precision"] = "bf16" if data.pop("bf16") else "fp32"
        if "dueling" in data:  # checkpoints from before `head` existed
            data["head"] = "dueling" if data.pop("dueling") else "q"
        if "hidden_sizes" in data:
            data["hidden_sizes"] = tuple(data["hidden_sizes"])
        return cls(**{**data, **changes})

    def save(self, path: Path, runtime: Runtime | None = None, warm_start: dict | None = None) -> None:
        """The config as JSON; with runtime, also what its `auto` fields chose on this machine; with
        warm_start, what a warm start (train/warm_start.py) took from where."""
        data = self.to_dict()
        if runtime is not None:
            data["runtime"] = runtime.to_dict()
        if warm_start is not None:
            data["warm_start"] = warm_start
        text = json.dumps(data, indent=2) + "\n"
        write_atomic(path, lambda f: f.write(text.encode()))

    @classmethod
    def load(cls, path: Path, **changes) -> TrainConfig:
        """The config of a run folder's config.json with changes (fields) on top; UserError if it is not one."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()), **changes)
        except (OSError, ValueError, TypeError) as exc:
            raise UserError(f"{path} is not a readable dqn config ({type(exc).__name__}: {exc})") from None


# every head's and env family's options, once each (heads may share them, as the two c51 heads do)
PART_OPTIONS = list({option.name: option for kind in [*HEAD_KINDS.values(), *FAMILY_KINDS.values()]
                     for option in kind.options}.values())
TrainConfig = make_dataclass("TrainConfig", [(option.name, option.type, _f(option.default, option.help))
                                             for option in PART_OPTIONS], bases=(CommonConfig,))
TrainConfig.__module__ = __name__  # pickled by name (Ray sends configs to its workers)
TrainConfig.__doc__ = """A run's whole configuration: CommonConfig's fields, then each head's and env family's
options."""


PRESETS: dict[str, dict] = {
    # Tuned on this 2-core CPU (seeds 0-6 stopped after 3 to 17 s of training, each then
    # scoring over 480 in 30 greedy games); stop_score ends training at the first evaluation
    # that is near perfect, since CartPole-v1 cannot score above 500.
    "cartpole": dict(
        env_id="CartPole-v1",
        total_steps=50_000,
        learning_rate=2.5e-3,
        batch_size=128,
        hidden_sizes=(64, 64),
        loss="mse",
        target_update_steps=1,
        tau=0.01,
        eps_decay_steps=5_000,
        eval_freq_steps=1_000,
        stop_score=475.0,
        # for c51 heads (--head c51): returns of a +1 reward a step, discounted by 0.99, lie in [0, 100]
        v_min=0.0,
        v_max=100.0,
    ),
    # Breakout on a 2-core CPU: Nature 84x84 frames (on the homework's 64x64 crop the Nature CNN never
    # sees the bottom 4 rows, where the paddle is: benchmarks/RESULTS.md), 3-step returns, Double and
    # Dueling DQN; precision and threads chosen from the machine. The learning rate and the fast epsilon
    # decay are the ones that passed the homework's 15 soonest (benchmarks/RESULTS.md).
    "breakout": dict(
        env_id="BreakoutNoFrameskip-v4",
        total_steps=2_000_000,
        buffer_size=200_000,
        learning_starts=10_000,
        batch_size=32,
        learning_rate=2.5e-4,
        adam_eps=1.5e-4,
        num_envs=4,
        n_step=3,
        train_freq_steps=4,
        target_update_steps=2_000,
        eps_decay_steps=50_000,
        eps_end=0.01,
        head="dueling",
        max_grad_norm=10.0,
        eval_freq_steps=25_000,
        eval_games=5,
        eval_t_max=10_000,
        log_freq_steps=5_000,
        checkpoint_freq_steps=25_000,
        keep_eval_snapshots=True,
    ),
}

# Rainbow (Hessel et al. 2018) on the breakout preset's game, envs, frames, replay size, evaluation and
# logging cadence, so that their runs compare; the paper's settings, except where marked, adapted to
# runs of 0.3 to 2.5M agent steps on a 2-core CPU (the paper trains 50M frames, 12.5M agent steps).
PRESETS["rainbow"] = dict(
    PRESETS["breakout"],
    head="c51-dueling",  # the distributional head with the dueling split per atom
    n_atoms=51,  # the paper's
    v_min=-10.0,  # the paper's support: returns of clipped rewards
    v_max=10.0,
    noisy=True,  # noisy dense layers explore: the eps_* fields inherited from breakout are ignored
    noisy_sigma0=0.5,  # the paper's
    double_dqn=True,  # next action chosen by the online network's mean
    n_step=3,  # the paper's, as breakout's
    prioritized_replay=True,
    priority_alpha=0.5,  # the paper's
    priority_beta_start=0.4,  # the paper's, rising to 1 ...
    priority_beta_steps=2_000_000,  # ... over the whole run, as the paper's does over its own
    learning_rate=6.25e-5,  # the paper's (breakout's: 2.5e-4)
    eps_decay_steps=100_000,  # for --no-noisy: 1 to 0.01 over 100k agent steps (breakout's: 50k)
    adam_eps=1.5e-4,  # the paper's, as breakout's
    batch_size=32,  # the paper's, as breakout's
    train_freq_steps=4,  # one update per 4 agent steps, the paper's, as breakout's
    learning_starts=20_000,  # the paper's 80k frames of history; random play costs no updates
    # Not the paper's 8,000 agent steps (32k frames): a quarter of it, breakout's, and Data-Efficient
    # Rainbow's 2,000 (van Hasselt et al. 2019), since runs here are 5 to 40 times shorter.
    target_update_steps=2_000,
    # Not the paper's 1M transitions: 200,000 at 84x84 take 1.4 GB, breakout's, which this machine holds.
    buffer_size=200_000,
)


# The MinAtar paper's DQN (Young and Tian 2019, its examples/dqn.py) on MinAtar's Breakout, one agent step a
# frame, except where marked; pip install -e '.[minatar]'.
PRESETS["minatar"] = dict(
    env_id="MinAtar/Breakout-v1",
    total_steps=5_000_000,  # the paper's 5M frames
    buffer_size=100_000,
    batch_size=32,
    learning_rate=2.5e-4,  # the paper's step size, here for Adam: the paper's RMSProp (centered) is not built in
    learning_starts=5_000,
    train_freq_steps=1,  # an update every frame
    target_update_steps=1_000,
    eps_start=1.0,
    eps_end=0.1,
    eps_decay_steps=100_000,  # the paper decays over the 100k frames after its 5k of random play
    double_dqn=False,  # the paper's plain DQN target
    loss="huber",
    gamma=0.99,
    eval_freq_steps=50_000,
    eval_games=10,
    eval_t_max=10_000,
    log_freq_steps=5_000,
    checkpoint_freq_steps=50_000,
)


def preset_config(name: str, **overrides) -> TrainConfig:
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; known presets: {', '.join(sorted(PRESETS))}")
    return TrainConfig(**{**PRESETS[name], **overrides})
