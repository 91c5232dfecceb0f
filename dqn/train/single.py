"""Training in one process: the actor (dqn/agent/actor.py) steps its envs, the replay keeps their transitions,
and the learner trains on them in turn, on the schedule of the config; loop.TrainingLoop does the rest.
The peer of the Ray loop (dqn/distributed/apex.py); entry.py picks one of the two for a config."""

from __future__ import annotations

import time

import numpy as np

from dqn.agent.actor import Actor, Transitions
from dqn.replay.buffer import FrameReplay, build_replay
from dqn.train.loop import TrainingLoop, multiples_crossed


class Trainer(TrainingLoop):
    """The single-process loop: each agent step of every env, then the updates and target syncs due."""

    actor: Actor
    replay: FrameReplay

    def start_acting(self, observation_space) -> tuple[Actor, FrameReplay]:
        cfg = self.config
        return Actor(cfg, seed=cfg.seed), build_replay(cfg, observation_space.shape, observation_space.dtype,
                                                       num_envs=cfg.num_envs)

    def advance(self) -> None:
        cfg = self.config
        before = self.step
        self.collect()
        rounds = multiples_crossed(max(before, self.learning_starts_at), self.step, cfg.train_freq_steps)
        for _ in range(rounds * cfg.gradient_steps):
            self.learn()
        for _ in range(multiples_crossed(before, self.step, cfg.target_update_steps)):
            self.learner.sync_target()

    def collect(self) -> None:
        """One agent step of every env, stored in the replay."""
        start = time.perf_counter()
        actions = self.actor.act(self.learner.q_values)
        acted = time.perf_counter()
        self.store(self.actor.step(actions))
        self.timers["act"] += acted - start
        self.timers["env"] += time.perf_counter() - acted

    def store(self, transitions: Transitions) -> None:
        """Each env's transition into its own ring of the replay."""
        self.replay.add_steps(np.arange(len(transitions.actions)), transitions)

    def learn(self) -> None:
        """One update on a replay batch; its metrics go to the next metrics row, its priorities to the replay."""
        start = time.perf_counter()
        if self.config.prioritized_replay:
            self.replay.beta = self.priority_beta()
        batch = self.replay.sample(self.config.batch_size)
        self.timers["sample"] += time.perf_counter() - start
        priorities = self.update(batch)
        if batch.indices is not None:
            self.replay.update_priorities(batch.indices, priorities)

    def on_log_grid(self, step: int) -> bool:
        """Whether a straight run writes a metrics row at this step (a run's last row may be off it):
        the loop's own test, for the loop step that ends at `step`."""
        cfg = self.config
        before = step - cfg.num_envs
        return bool(multiples_crossed(before, step, cfg.log_freq_steps) or
                    cfg.eval_freq_steps and multiples_crossed(before, step, cfg.eval_freq_steps))
