"""What the parts need of each other, as typing.Protocols: what a training loop (train/loop.py) needs of its
actor and its replay, and what evaluation (evaluation/games.py, protocols.py, recording.py, analysis.py) and
the notebooks need of an agent that plays. Any class with these members fits, without inheriting from them;
tests/test_contracts.py checks that the real ones do.

Torch-free and light to import: numpy and Path are imported for type checkers only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np


class Actor(Protocol):
    """What TrainingLoop uses of its actor: its counters and its state. agent.actor.Actor (one process) and
    distributed.workers.ActorFleet (Ape-X) are ones; each loop calls more of its own kind (single.Trainer
    act and step, apex.ApexTrainer dispatch, receive, drain, publish)."""

    steps: int  # agent steps of all envs together; a warm start sets it to its source's

    @property
    def episodes(self) -> int:
        """Episodes ended so far, as training sees them (on Atari a lost life ends one)."""

    @property
    def epsilon(self) -> float:
        """The chance of a random action of the last actions chosen (with one epsilon an env, their mean)."""

    @property
    def game_scores(self) -> Sequence[float]:
        """The raw scores of the last whole games played, oldest first; the training score is their mean."""

    def state_dict(self) -> dict:
        """Everything a resume needs to go on as the actor would have, for a checkpoint."""

    def load_state_dict(self, state: dict) -> None:
        """Go on from a state_dict of this run."""

    def close(self) -> None:
        """Close the envs (or stop the processes) it plays in."""


class Replay(Protocol):
    """What TrainingLoop and its Checkpointer use of a replay: its size, for the RAM and disk checks, and
    its file. replay.buffer.FrameReplay and PrioritizedFrameReplay (one process) and
    distributed.workers.ReplayClient (Ape-X) are ones; each loop samples its own kind (single.Trainer
    add_steps, sample, update_priorities; apex.ApexTrainer request_batch, update_priorities). The course's
    replay.buffer.ReplayBuffer is not one: it is the notebooks' (add, sample, len)."""

    @property
    def nbytes(self) -> int:
        """The bytes of its arrays once full: its RAM then, and about the size of its file."""

    @property
    def num_envs(self) -> int:
        """How many rings it has, one for each env that adds to it."""

    @property
    def ring(self) -> int:
        """Slots of each ring."""

    def __len__(self) -> int:
        """Slots written so far, of num_envs * ring."""

    def save(self, path: Path) -> None:
        """Write the whole replay, with its sampling generator, to path (an .npz file), atomically."""

    def load(self, path: Path) -> None:
        """Read a file written by save: OSError, ValueError, KeyError or zipfile.BadZipFile if it is damaged."""


class PlayingAgent(Protocol):
    """What games.play_episodes, recording.record_game and analysis.play_and_log_episode use of an agent: the
    course's agent interface. agent.policy.DQNAgent, train.loading.TrainedAgent and the notebooks' own
    DQNAgent classes are ones."""

    def get_qvalues(self, states) -> np.ndarray:
        """The Q-values of a batch of observations (array-like, (batch, *shape)), as (batch, n_actions)."""

    def sample_actions(self, qvalues: np.ndarray) -> np.ndarray:
        """An action for each row of qvalues (batch, n_actions): epsilon-greedy at the agent's epsilon."""


class SeedableAgent(PlayingAgent, Protocol):
    """A PlayingAgent whose sample_actions explores at its `epsilon` with its `rng`, so that an evaluation
    protocol (protocols.set_up_agent, play_by_protocol) sets both and the same seed plays the same games.
    DQNAgent and TrainedAgent are ones; the notebooks' agents, which draw from np.random, are not."""

    epsilon: float  # the chance of a random action
    rng: np.random.Generator  # sample_actions's draws
