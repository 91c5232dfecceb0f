"""Distributed training on Ray Core, as Ape-X (Horgan et al. 2018): actor processes with fixed epsilons
play and send their transitions, with priorities of their own, to one replay process; the learner,
the same learner.Learner as in one process, trains here on batches sampled from it, the next one
sampled while it trains, and publishes its weights every weight_sync_updates updates.

The config means what it means in one process. Learner updates, counted in agent steps played, are
due as the single-process loop makes them (gradient_steps every train_freq_steps after
learning_starts), target syncs after as many updates as it makes between two, and the actors play
at most about two calls each ahead of the learner: a config trains as much per agent step whether
the learner or the actors are the faster. The replay samples by priority with prioritized_replay
only (Ape-X's does: add --prioritized-replay). loop.TrainingLoop does the rest, with the same metrics
log, evaluator and checkpointer as the single-process loop (dqn/train/single.py), its peer.
"""

from __future__ import annotations

import logging
import os
import socket
import time

import numpy as np
import ray
from ray.exceptions import RayActorError

from dqn.distributed.workers import (
    CALLS_QUEUED,
    STEPS_PER_CALL,
    ActorFleet,
    ReplayClient,
    first_line,
    start_replay_server,
)
from dqn.errors import UserError
from dqn.machine.hardware import usable_cores
from dqn.replay.buffer import Batch, check_replay
from dqn.train.loop import TrainingLoop, TrainResult, multiples_crossed

# Ray's shared memory on a machine it starts: chunks of transitions, batches and weights pass
# through it, a few MB each, so a fixed size leaves the rest of the RAM to the replay
OBJECT_STORE_BYTES = 512 * 1024**2
CONNECT_TIMEOUT_S = 5


def check_reachable(address: str) -> None:
    """UserError at once if nothing answers at a HOST:PORT address: Ray itself retries for minutes."""
    host, _, port = address.rpartition(":")
    if not (host and port.isdigit()):
        return  # 'auto', ray://...: Ray's to resolve
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise UserError(f"no Ray cluster answers at ray_address {address} ({exc.strerror or exc}); start one "
                        "there with `ray start --head`, or give --ray-address local to start Ray here") from None


def start_ray(config) -> bool:
    """Start Ray on this machine, or join the cluster at config.ray_address, quietly (no dashboard,
    no usage stats, warnings only). Returns whether it did: a Ray this process already has (a
    test's, a notebook's) is used as it is, and left running."""
    started = not ray.is_initialized()
    if started:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # read by ray.init
        quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
        try:
            if config.ray_address not in (None, "local"):
                check_reachable(config.ray_address)
                ray.init(address=config.ray_address, **quiet)
            else:  # "local": a Ray of its own, even where RAY_ADDRESS or a `ray start` cluster is about.
                # A CPU per actor even where there are fewer cores: Ray would never start the others.
                ray.init(address="local", num_cpus=max(usable_cores(), config.num_actors),
                         object_store_memory=OBJECT_STORE_BYTES, include_dashboard=False, **quiet)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            joining = config.ray_address not in (None, "local")
            where = f"join Ray at {config.ray_address}" if joining else "start Ray"
            # Ray turns token authentication on by itself (2.59 on one machine, 2.61 everywhere)
            hint = ("; if the cluster was started with token authentication, set RAY_AUTH_MODE=token here too, "
                    "with the cluster's token in ~/.ray/auth_token" if joining and
                    os.environ.get("RAY_AUTH_MODE") != "token" else "")
            raise UserError(f"cannot {where}: {first_line(exc)}{hint}") from None
    cpus = ray.cluster_resources().get("CPU", 0)
    if cpus < config.num_actors:
        if started:
            ray.shutdown()
        raise UserError(f"num_actors {config.num_actors} needs a CPU each; the Ray cluster has {cpus:g}")
    return started


class ApexTrainer(TrainingLoop):
    """The distributed loop: its actor is an ActorFleet, its replay a ReplayClient."""

    actor: ActorFleet
    replay: ReplayClient

    def __init__(self, *args, **kwargs):
        self.started_ray = False
        try:
            super().__init__(*args, **kwargs)
        except BaseException:  # a bad file, a full disk, Ctrl-C: no Ray left behind
            self.stop_ray()
            raise
        cfg = self.config
        # the schedule counts from here: a resumed run's earlier updates are behind it
        self.start_step, self.start_updates = self.step, self.learner.updates
        self.updates_per_target_sync = max(1, cfg.target_update_steps * cfg.gradient_steps // cfg.train_freq_steps)
        # The learner may be behind by the queued calls of every actor before they wait for it, and by
        # n_step more steps of every env: so many are played before the first transitions can be sent.
        ahead_steps = cfg.num_actors * cfg.envs_per_actor * (CALLS_QUEUED * STEPS_PER_CALL + cfg.n_step)
        self.update_lag = max(cfg.gradient_steps, ahead_steps * cfg.gradient_steps // cfg.train_freq_steps)
        self.next_batch = None  # sampled while the learner trains on the one before
        self.priorities_sent = None  # the last priority update, checked at the next
        self.replay_ready = False
        self.actor.publish(self.learner.online.state_dict(), self.learner.updates)

    def start_acting(self, observation_space) -> tuple[ActorFleet, ReplayClient]:
        cfg = self.config
        check_replay(cfg, observation_space.shape, observation_space.dtype, cfg.num_actors * cfg.envs_per_actor)
        self.started_ray = start_ray(cfg)
        replay = start_replay_server(cfg, observation_space)
        return ActorFleet(cfg, replay), replay

    def stop_ray(self) -> None:
        if self.started_ray:
            ray.shutdown()
            self.started_ray = False

    def learner_threads(self, image_observations: bool) -> int:
        """`auto` on a Ray started here: no more than the cores the actors leave (each takes one)."""
        threads = super().learner_threads(image_observations)
        cfg = self.config
        if cfg.torch_threads != "auto" or cfg.ray_address not in (None, "local"):
            return threads
        return min(threads, max(1, usable_cores() - cfg.num_actors))

    def describe(self) -> str:
        cfg = self.config
        return (f"{super().describe()} for the learner; {cfg.num_actors} actors of {cfg.envs_per_actor} "
                f"env{'s' * (cfg.envs_per_actor > 1)} on Ray ({cfg.ray_address or 'this machine'})")

    def train(self) -> TrainResult:
        try:
            return super().train()
        except RayActorError as exc:  # the workers' are handled where they come: this is the replay's
            raise UserError(f"the replay process was lost ({first_line(exc)}); "
                            f"{self.checkpointer.how_to_go_on()}") from None
        finally:
            self.actor.close()
            self.replay.close()
            self.stop_ray()

    # --- the schedule ---------------------------------------------------------------------
    def updates_due(self, step: int) -> int:
        """The learner updates due at agent step `step`, as the single-process loop makes them."""
        cfg = self.config
        start = max(self.learning_starts_at, self.start_step)
        return self.start_updates + max(0, multiples_crossed(start, step, cfg.train_freq_steps)) * cfg.gradient_steps

    def keeps_up(self, step: int) -> bool:
        """Whether the learner is close enough to the updates due at `step` for the actors to play to it.
        A learner with nothing due now always is: else a round of more updates than update_lag would
        never come due, and the run would wait forever."""
        updates = self.learner.updates
        return updates >= self.updates_due(self.step) or self.updates_due(step) <= updates + self.update_lag

    def can_learn(self) -> bool:
        if self.learner.updates >= self.updates_due(self.step):
            return False
        if not self.replay_ready:  # the actors' first transitions may still be on their way
            self.replay_ready = self.replay.stored_transitions() > 0
        return self.replay_ready

    def advance(self) -> None:
        fleet = self.actor
        # no further than the next checkpoint, counted before these reports: a checkpoint's drain
        # then adds no steps behind the logs' back
        every = self.config.checkpoint_freq_steps
        up_to_step = min(self.config.total_steps, (self.step // every + 1) * every)
        self.add_times(fleet.receive(timeout=0))
        fleet.dispatch(up_to_step, self.keeps_up)
        if self.can_learn():
            self.learn()
        elif fleet.calls:  # nothing to learn from yet: wait for the actors
            self.add_times(fleet.receive(timeout=None))

    def add_times(self, seconds: dict[str, float]) -> None:
        for phase, value in seconds.items():
            self.timers[phase] += value

    def learn(self) -> None:
        """One update on the prefetched batch, the next one requested first; its priorities go to the
        replay; the target synced and the weights published when due."""
        cfg = self.config
        start = time.perf_counter()
        beta = self.priority_beta() if cfg.prioritized_replay else None
        if self.next_batch is None:
            self.next_batch = self.replay.request_batch(cfg.batch_size, beta)
        # arrays from Ray's shared memory are read-only, which torch warns of: the learner gets copies
        batch = Batch(**{name: None if array is None else np.array(array)
                         for name, array in vars(ray.get(self.next_batch)).items()})
        self.next_batch = self.replay.request_batch(cfg.batch_size, beta)
        self.timers["sample"] += time.perf_counter() - start
        priorities = self.update(batch)
        if batch.indices is not None:
            if self.priorities_sent is not None:
                ray.get(self.priorities_sent)
            self.priorities_sent = self.replay.update_priorities(batch.indices, priorities)
        if self.learner.updates % self.updates_per_target_sync == 0:
            self.learner.sync_target()
        if self.learner.updates % cfg.weight_sync_updates == 0:
            self.actor.publish(self.learner.online.state_dict(), self.learner.updates)

    metric_fields = TrainingLoop.metric_fields + ["policy_lag_updates", "actor_restarts", "actor_nodes"]

    def loop_metrics(self) -> dict:
        """How many updates old the weights the actors last played with are, on average; how many
        times Ray restarted an actor; on how many Ray nodes the working actors last reported from."""
        fleet, played = self.actor, self.actor.updates_played()
        lag = {} if played is None else {"policy_lag_updates": round(self.learner.updates - played, 1)}
        nodes = {node for node, working in zip(fleet.nodes, fleet.working) if working and node}
        return {**lag, "actor_restarts": int(fleet.restarts.sum()), "actor_nodes": len(nodes)}

    def on_log_grid(self, step: int) -> bool:
        return True  # rows come at whatever step the actors' reports reach; a resumed run's come after it

    def save_checkpoint(self) -> None:
        """As the loop's, once the replay holds the transition of every agent step counted."""
        self.add_times(self.actor.drain())
        super().save_checkpoint()
