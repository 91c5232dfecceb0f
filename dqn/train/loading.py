"""A trained agent from its run folder or checkpoint file, apart from training: evaluate, record, the
notebooks, the benchmarks and users' own code load an agent without importing the loop."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym

from dqn.agent.policy import DQNAgent, agent_options
from dqn.config import TrainConfig
from dqn.errors import UserError
from dqn.evaluation.protocols import PROTOCOLS, homework_final_score, play_by_protocol, protocol_env, set_up_agent
from dqn.evaluation.recording import record_game
from dqn.train import checkpoint


class TrainedAgent(DQNAgent):
    """A trained agent: the course's agent interface (get_qvalues, sample_actions) and act(obs), with what it
    was trained on (`config`) and where it comes from (`path`, the file; `trained_steps`, in agent steps).

    make_env builds the env it plays in, on the frames it was trained on; evaluate, homework_score and record
    play whole games in it by an evaluation protocol (dqn.evaluation.protocols.PROTOCOLS), as `dqn evaluate`
    and `dqn record` do.
    """

    def __init__(self, config: TrainConfig, obs_shape: tuple[int, ...], n_actions: int, path: Path,
                 trained_steps: int):
        super().__init__(obs_shape, n_actions, **agent_options(config))
        self.config, self.path, self.trained_steps = config, path, trained_steps

    def make_env(self, protocol: str = "training", render_mode: str | None = None) -> gym.Env:
        """The agent's game with its training wrappers (frames, frame stack, FIRE at reset) and raw rewards, the
        no-op starts and sticky actions of `protocol`: "training" (the training config's), "noop" or "sticky".

        On Atari an episode is a life, as in training: reset() after a lost life goes on with the game, and
        the step that ends the game carries info["episode"] (gymnasium's RecordEpisodeStatistics: "r" the
        game's raw score, "l" its length in emulator frames); reset(seed=s) starts a new game.
        """
        if protocol not in PROTOCOLS:
            raise UserError(f"unknown protocol {protocol!r}; the protocols: {', '.join(PROTOCOLS)}")
        env = protocol_env(self.config, protocol, render_mode)
        if env.observation_space.shape != self.state_shape or env.action_space.n != self.n_actions:
            env.close()
            raise UserError(f"checkpoint {self.path} was trained for other observations or actions "
                            f"than {self.config.env_id} has")
        return env

    def evaluate(self, protocol: str = "training", games: int = 1, seed: int = 0) -> list[float]:
        """The raw scores of `games` whole games (all lives) played as `protocol` says (its epsilon and step
        limit); the same seed plays the same games. What `dqn evaluate` reports."""
        env = self.make_env(protocol)
        try:
            return play_by_protocol(env, self, PROTOCOLS[protocol], games, seed)
        finally:
            env.close()

    def homework_score(self, seed: int = 9) -> float:
        """The course's final score: 30 one-life episodes of greedy play from one reset seeded `seed`, in one
        game after another, without no-op starts; their mean times 5 (`dqn evaluate --homework`)."""
        return homework_final_score(self, self.config, seed=seed)[0]

    def record(self, path: Path, protocol: str = "training", seed: int = 0) -> float:
        """Play one whole game as `protocol` says and write it to path as an H.264 mp4; return its score."""
        env = self.make_env(protocol, render_mode="rgb_array")
        set_up_agent(self, PROTOCOLS[protocol], seed)
        try:
            return record_game(self, env, path, seed=seed, t_max=PROTOCOLS[protocol].t_max_steps,
                               greedy=PROTOCOLS[protocol].greedy)
        finally:
            env.close()


def load_agent(path: Path) -> TrainedAgent:
    """The agent of a run folder (its best model, else its checkpoint) or of a checkpoint file, in eval mode."""
    path = Path(path)
    if path.is_dir():
        found = [p for p in (path / "best.pt", path / "checkpoint.pt") if p.is_file()]
        if not found:
            raise UserError(f"{path} holds neither best.pt nor checkpoint.pt")
        path = found[0]
    data = checkpoint.load(path)
    config = TrainConfig.from_dict(data["config"])
    agent = TrainedAgent(config, tuple(data["obs_shape"]), int(data["n_actions"]), path, int(data["step"]))
    try:
        agent.load_state_dict(data["network"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise UserError(f"checkpoint {path} does not match its own architecture: {str(exc).splitlines()[0]}") from None
    return agent.eval()
