"""The Ray actors of distributed training (Ape-X, dqn/distributed/apex.py), and the driver's handles on them.

ReplayServer holds the run's one replay (replay.build_replay), with a ring for each env of every
actor: the actors send it their transitions themselves, the learner samples from it. ActorWorker
wraps an actor.Actor and its own copy of the network: it plays its envs with their fixed epsilons,
computes each transition's first priority with the learner's loss, and sends the transitions as
frames, not stacks. On the driver, ActorFleet starts the workers, hands them steps to play with
the newest weights and counts what they report; ReplayClient is the loop's view of the replay.
"""

from __future__ import annotations

import dataclasses
import sys
import time
import typing
import uuid
from collections import Counter, deque
from pathlib import Path

import numpy as np
import ray
import torch
from ray.exceptions import RayActorError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from tqdm import tqdm

from dqn.agent.actor import SCORE_WINDOW_GAMES, Actor, Transitions
from dqn.agent.heads import HEADS
from dqn.agent.noisy import reset_noise
from dqn.agent.policy import build_agent
from dqn.agent.schedules import apex_epsilons
from dqn.config import TrainConfig
from dqn.errors import UserError
from dqn.replay.buffer import Batch, FrameReplay, build_replay, frames_per_observation

# agent steps of each env per collect call, and at most between two sends of a worker
STEPS_PER_CALL = 50
# collect calls handed to each worker at once: it starts the next as it ends one
CALLS_QUEUED = 2
# a worker waits for the replay to take its older chunks rather than pile them up in memory
MAX_SENDS_IN_FLIGHT = 2
# Ray restarts a lost worker this many times; a worker lost more often (one that cannot start) is given up
MAX_RESTARTS = 10


def root_cause(exc: BaseException) -> BaseException:
    """The error raised in remote code, under the Ray task errors that carried it back."""
    while isinstance(exc, RayTaskError) and exc.cause is not None:
        exc = exc.cause
    return exc


def first_line(exc: BaseException) -> str:
    """The root cause's type and the first line of its message, for a one-line error (a Ray task
    error's own first line only names the task)."""
    exc = root_cause(exc)
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def raise_task_error(who: str, exc: RayTaskError) -> typing.NoReturn:
    """A worker's call failed with an error raised in it: the replay's loss goes to the loop, which
    says how to go on; any other error, which no restart mends, is one line."""
    if isinstance(root_cause(exc), RayActorError):  # the replay server it sends to is gone
        raise root_cause(exc) from None
    raise UserError(f"{who} failed: {first_line(exc)}") from None


@ray.remote(num_cpus=0)  # it waits on messages far more than it computes
class ReplayServer:
    """The replay of a distributed run, in a process of its own on the learner's machine."""

    def __init__(self, config: TrainConfig, obs_shape: tuple[int, ...], obs_dtype):
        self.replay = build_replay(config, obs_shape, obs_dtype, num_envs=config.num_actors * config.envs_per_actor)

    def add(self, rings: np.ndarray, steps: Transitions, td_errors: np.ndarray | None) -> None:
        """Store a worker's steps, row k into ring rings[k]; with td_errors, at those priorities."""
        self.replay.add_steps(rings, steps, **({} if td_errors is None else {"td_error": td_errors}))

    def cut_episodes(self, rings: np.ndarray) -> None:
        self.replay.cut_episodes(rings)

    def sample(self, batch_size: int, beta: float | None) -> Batch:
        if beta is not None:
            self.replay.beta = beta
        return self.replay.sample(batch_size)

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        self.replay.update_priorities(indices, td_errors)

    def stored_transitions(self) -> int:
        return int(self.replay.has_next.sum())

    def slots_written(self) -> int:
        return len(self.replay)

    def layout(self) -> tuple[int, int, int]:
        return self.replay.nbytes, self.replay.num_envs, self.replay.ring

    # a failed save or load comes back as its exception, so the loop reports it as for a local replay
    def save(self, path: str) -> Exception | None:
        try:
            self.replay.save(Path(path))
        except OSError as exc:
            return exc
        return None

    def load(self, path: str) -> Exception | None:
        try:
            self.replay.load(Path(path))
        except Exception as exc:  # the loop tells each kind of damaged file apart
            return exc
        return None


class ReplayClient:
    """The loop's view of the ReplayServer: a contracts.Replay (len, nbytes, num_envs, ring, save, load, as
    FrameReplay's), and batches and priorities to and from the learner."""

    def __init__(self, server, name: str):
        self.server, self.name = server, name
        self.nbytes, self.num_envs, self.ring = ray.get(server.layout.remote())

    def __len__(self) -> int:
        return ray.get(self.server.slots_written.remote())

    def stored_transitions(self) -> int:
        return ray.get(self.server.stored_transitions.remote())

    def save(self, path: Path) -> None:
        error = ray.get(self.server.save.remote(str(path)))
        if error is not None:
            raise error

    def load(self, path: Path) -> None:
        error = ray.get(self.server.load.remote(str(path)))
        if error is not None:
            raise error

    def request_batch(self, batch_size: int, beta: float | None) -> ray.ObjectRef:
        """A batch the server samples while the caller goes on; ray.get it when needed."""
        return self.server.sample.remote(batch_size, beta)

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> ray.ObjectRef:
        return self.server.update_priorities.remote(indices, td_errors)

    def close(self) -> None:
        ray.kill(self.server)


def start_replay_server(config: TrainConfig, observation_space) -> ReplayClient:
    """A ReplayServer on this machine (the learner's), and the client for it. The server has a name of
    its own, by which workers find it: a handle among their arguments would keep Ray from restarting them."""
    here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
    name = f"dqn-replay-{uuid.uuid4().hex}"
    server = ReplayServer.options(name=name, scheduling_strategy=here).remote(config, observation_space.shape,
                                                                              observation_space.dtype)
    return ReplayClient(server, name)


@ray.remote(num_cpus=1, max_restarts=MAX_RESTARTS)
class ActorWorker:
    """Envs number index * K .. index * K + K - 1 of a distributed run (K = envs_per_actor), played
    together by an actor.Actor with their fixed epsilons and a network that takes the learner's
    published weights."""

    def __init__(self, config: TrainConfig, index: int, seed: int, epsilons: np.ndarray, replay_name: str):
        torch.set_num_threads(1)  # a worker per core: threads would only fight over it
        self.restarted = ray.get_runtime_context().was_current_actor_reconstructed
        if self.restarted:  # Ray restarted it: it must not replay the games its predecessor sent
            seed = int(np.random.SeedSequence().generate_state(1)[0]) % 2**31
        k = config.envs_per_actor
        self.config = cfg = dataclasses.replace(config, num_envs=k)
        self.actor = Actor(cfg, seed, epsilons=epsilons)
        space = self.actor.observation_space
        self.agent = build_agent(cfg, space.shape, self.actor.n_actions)
        self.noise_rng = torch.Generator().manual_seed(seed)
        self.head = HEADS[cfg.head]
        self.version = -1  # of the weights it plays with; -1: its own random ones
        self.rings = index * k + np.arange(k)
        # The steps of each env whose n-step window is still open, with their slots in `windows`,
        # which rebuilds their batch exactly as the replay will: it holds those open windows, the
        # steps between two sends (each may start an episode, which takes two slots) and the oldest stack.
        stack = frames_per_observation(cfg)
        ring = stack + 2 * (STEPS_PER_CALL + cfg.n_step)
        self.windows = FrameReplay(k * ring, space.shape, space.dtype, stack=stack, num_envs=k, n_step=cfg.n_step,
                                   gamma=cfg.gamma)
        self.unsent: list[deque] = [deque() for _ in range(k)]
        self.replay, self.sends = ray.get_actor(replay_name), []
        self.node = ray.get_runtime_context().get_node_id()  # a restarted worker is a new process: asks again
        # its predecessor's episodes, if any, end where they are in the replay (ordered before any add of ours)
        self.replay.cut_episodes.remote(self.rings)

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        if self.config.noisy:  # noise drawn afresh for each acting step, as the learner's
            reset_noise(self.agent, self.noise_rng)
        return self.agent.get_qvalues(obs, **self.head.inputs("act", len(obs), self.config, self.noise_rng))

    def collect(self, iterations: int, weights: list, version: int) -> dict:
        """Play `iterations` agent steps of every env, with the weights of `version` ([ray.put ref],
        pulled only if newer than its own); send the transitions whose priorities can be computed.
        Returns what the fleet counts."""
        if version > self.version:
            self.agent.load_state_dict(ray.get(weights[0]))
            self.version = version
        seconds = {"act": 0.0, "env": 0.0}  # acting includes the priorities and the sends
        episodes, ready = self.actor.episodes, []
        for i in range(iterations):
            start = time.perf_counter()
            actions = self.actor.act(self.q_values)
            acted = time.perf_counter()
            steps = self.actor.step(actions)
            seconds["act"] += acted - start
            seconds["env"] += time.perf_counter() - acted
            ready += self.store(steps)
            if (i + 1) % STEPS_PER_CALL == 0 or i + 1 == iterations:  # before `windows` overwrites their slots
                start = time.perf_counter()
                self.send(ready)
                ready = []
                seconds["act"] += time.perf_counter() - start
        scores = list(self.actor.game_scores)
        self.actor.game_scores.clear()  # each finished game is reported once
        report = {"steps": iterations * len(self.rings), "episodes": self.actor.episodes - episodes,
                  "game_scores": scores, "version": self.version, "restarted": self.restarted,
                  "node": self.node, **seconds}
        self.restarted = False
        return report

    def store(self, steps: Transitions) -> list[tuple]:
        """Keep each env's step in the open windows; returns (env, slot, frames of the step) of the
        steps whose n-step window is now complete: n steps on, or at the end of their episode."""
        depth = self.windows.frame_shape[0]
        slots = self.windows.add_steps(np.arange(len(self.rings)), steps)
        complete = []
        for env, slot in enumerate(slots):
            row = (steps.obs[env, -depth:], steps.actions[env], steps.rewards[env], steps.next_obs[env, -depth:],
                   steps.terminated[env], steps.truncated[env])
            self.unsent[env].append((env, slot, row))
            if steps.terminated[env] or steps.truncated[env]:
                complete += self.unsent[env]
                self.unsent[env].clear()
            elif len(self.unsent[env]) == self.config.n_step:
                complete.append(self.unsent[env].popleft())
        return complete

    @torch.no_grad()
    def priorities(self, envs: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """The transitions' first priorities: what the learner's loss says of them, with this
        worker's network as both the online and the target network."""
        batch = self.windows.batch_at(envs, slots)
        obs, actions, returns, next_obs, discounts = map(
            torch.as_tensor, (batch.obs, batch.actions, batch.returns, batch.next_obs, batch.discounts))
        network = self.agent.network
        _, priorities = self.head.loss(*self.head.outputs(network, network, obs, next_obs, self.config, self.noise_rng),
                                       actions, returns, discounts, self.config)
        return priorities.numpy()

    def send(self, complete: list[tuple]) -> None:
        """Send these steps to the replay, as frames, with their priorities if it samples by them."""
        if not complete:
            return
        envs, slots, rows = zip(*complete)
        envs, slots = np.array(envs), np.array(slots)
        steps = Transitions(*(np.stack(column) for column in zip(*rows)))
        td_errors = self.priorities(envs, slots) if self.config.prioritized_replay else None
        while len(self.sends) >= MAX_SENDS_IN_FLIGHT:
            done, self.sends = ray.wait(self.sends, num_returns=1)
            ray.get(done)  # a failed add fails this worker's call, with its cause
        self.sends.append(self.replay.add.remote(self.rings[envs], steps, td_errors))

    def flush(self) -> None:
        """Send every step not sent yet, its window cut short where it is, and wait until the
        replay holds them all."""
        self.send([step for unsent in self.unsent for step in unsent])
        for unsent in self.unsent:
            unsent.clear()
        ray.get(self.sends)
        self.sends = []


class ActorFleet:
    """The driver's side of the actor workers, a contracts.Actor: actor.Actor's counters (steps, episodes,
    epsilon, game_scores) summed over what they report. Workers start at the first dispatch, so that a
    resumed run's state can give them seeds of their own first."""

    def __init__(self, config: TrainConfig, replay: ReplayClient):
        self.config, self.replay = config, replay
        slots = config.num_actors * config.envs_per_actor
        # noisy nets explore by their noise, as in the single-process loop
        self.epsilons = np.zeros(slots) if config.noisy else apex_epsilons(slots)
        self.epsilon = float(self.epsilons.mean())
        self.steps = self.episodes = 0
        self.game_scores: deque[float] = deque(maxlen=SCORE_WINDOW_GAMES)
        self.generation = 0  # how many processes ran this run's workers before: the seeds differ each time
        self.workers: list = []
        self.calls: dict = {}  # collect call in flight -> (worker, agent steps it plays)
        self.weights, self.version = None, -1
        self.updates_at_version: dict[int, int] = {}  # learner updates behind each published version
        self.steps_in_flight = self.dispatched = 0  # agent steps of the calls in flight; calls handed out
        self.next_worker = 0  # the first asked at the next dispatch
        self.losses = np.zeros(config.num_actors, dtype=np.int64)  # times each worker was lost
        self.failed_through = np.zeros(config.num_actors, dtype=np.int64)  # calls of a loss already counted
        self.restarts = np.zeros(config.num_actors, dtype=np.int64)  # restarts seen in the workers' reports
        self.versions = np.full(config.num_actors, -1)  # of the weights of each worker's last report
        self.nodes: list[str | None] = [None] * config.num_actors  # the Ray node of each worker's last report

    @property
    def seeds(self) -> list[int]:
        """Worker j's envs get seeds seed + s for their slots s, as one process's envs would;
        each generation of workers the next N * K seeds."""
        cfg = self.config
        slots = cfg.num_actors * cfg.envs_per_actor
        return [cfg.seed + slots * self.generation + j * cfg.envs_per_actor for j in range(cfg.num_actors)]

    def start(self) -> None:
        k = self.config.envs_per_actor
        self.workers = [ActorWorker.remote(self.config, j, seed, self.epsilons[j * k:(j + 1) * k], self.replay.name)
                        for j, seed in enumerate(self.seeds)]

    def publish(self, state_dict: dict, updates: int) -> None:
        """Make these weights, after `updates` learner updates, the ones the workers pull before their
        next steps: one copy in Ray's object store."""
        self.weights = ray.put({name: tensor.detach().cpu() for name, tensor in state_dict.items()})
        self.version += 1
        self.updates_at_version[self.version] = updates
        for old in [v for v in self.updates_at_version if v < min(self.version, *self.versions[self.working])]:
            del self.updates_at_version[old]  # no worker plays them any more

    def updates_played(self) -> float | None:
        """The learner updates behind the weights of the working workers' last reports, on average;
        None before any report."""
        played = self.versions[(self.versions >= 0) & self.working]
        if not len(played):
            return None
        return float(np.mean([self.updates_at_version[v] for v in played]))

    @property
    def working(self) -> np.ndarray:
        """Which workers are not given up (lost more than MAX_RESTARTS times)."""
        return self.losses <= MAX_RESTARTS

    def dispatch(self, up_to_step: int, keeps_up) -> None:
        """Hand collect calls to the workers, up to CALLS_QUEUED each, while the steps handed out stay
        within up_to_step and keeps_up(agent step they reach) says the learner keeps up with them."""
        if not self.workers:
            self.start()
        k = self.config.envs_per_actor
        calls_of = Counter(j for j, _, _ in self.calls.values())
        # every worker's first call before any worker's second, which waits in its queue so that
        # the worker goes on while the driver is busy; in turns from the worker after the last served,
        # as a learner that keeps the actors waiting may let one call out at a time
        n = len(self.workers)
        for depth in range(CALLS_QUEUED):
            for j in [(self.next_worker + i) % n for i in range(n)]:
                worker = self.workers[j]
                if calls_of[j] > depth or not self.working[j]:
                    continue
                handed_out = self.steps + self.steps_in_flight
                iterations = min(STEPS_PER_CALL, -(-(up_to_step - handed_out) // k))
                if iterations <= 0 or not keeps_up(handed_out + iterations * k):
                    return
                self.dispatched += 1
                self.calls[worker.collect.remote(iterations, [self.weights], self.version)] = \
                    (j, iterations * k, self.dispatched)
                self.steps_in_flight += iterations * k
                calls_of[j] += 1
                self.next_worker = (j + 1) % n

    def receive(self, timeout: float | None) -> dict[str, float]:
        """Count the reports of the calls that have finished, waiting up to timeout seconds for
        one (None: as long as it takes). Returns the seconds they report acting and stepping envs."""
        seconds = {"act": 0.0, "env": 0.0}
        if not self.calls:
            return seconds
        finished, _ = ray.wait(list(self.calls), num_returns=1, timeout=timeout)
        if finished:  # and any other that has finished by now
            finished, _ = ray.wait(list(self.calls), num_returns=len(self.calls), timeout=0)
        for call in finished:
            j, steps, number = self.calls.pop(call)
            self.steps_in_flight -= steps
            try:
                report = ray.get(call)
            except RayTaskError as exc:  # raised in its code (an env's), or by the replay it sends to
                raise_task_error(f"actor {j}", exc)
            except RayActorError as exc:  # the worker was lost; Ray restarts it, and its next call pulls the weights
                self.lost(j, number, exc)
                continue
            self.steps += report["steps"]
            self.episodes += report["episodes"]
            self.game_scores.extend(report["game_scores"])
            self.versions[j] = report["version"]
            self.restarts[j] += report["restarted"]
            self.nodes[j] = report["node"]
            for phase in seconds:
                seconds[phase] += report[phase]
        return seconds

    def lost(self, j: int, call_number: int, exc: RayActorError) -> None:
        """Count a lost worker once, though each of its queued calls fails with it."""
        if call_number <= self.failed_through[j]:
            return  # queued before the loss already counted
        self.failed_through[j] = max([number for i, _, number in self.calls.values() if i == j], default=call_number)
        self.losses[j] += 1
        fate = "Ray restarts it" if self.working[j] else "the run goes on without it"
        tqdm.write(f"dqn: actor {j} was lost ({first_line(exc)}); {fate}", file=sys.stderr)
        if not self.working.any():
            raise UserError(f"every actor was lost more than {MAX_RESTARTS} times; "
                            "Ray's logs are under /tmp/ray/session_latest/logs") from None

    def drain(self) -> dict[str, float]:
        """Wait for the calls in flight, then have every worker send its unsent steps: the replay
        then holds the transition of every step counted (a checkpoint's replay file, the end of a run)."""
        seconds = {"act": 0.0, "env": 0.0}
        while self.calls:
            for phase, value in self.receive(timeout=None).items():
                seconds[phase] += value
        for j, worker in enumerate(self.workers):
            try:
                ray.get(worker.flush.remote())
            except RayTaskError as exc:
                raise_task_error(f"actor {j}", exc)
            except RayActorError:  # lost with its unsent steps; the others' are in
                pass
        return seconds

    def state_dict(self) -> dict:
        return {"steps": self.steps, "episodes": self.episodes, "game_scores": list(self.game_scores),
                "generation": self.generation, "seeds": self.seeds}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.episodes = state["steps"], state["episodes"]
        self.game_scores = deque(state["game_scores"], maxlen=SCORE_WINDOW_GAMES)
        self.generation = state["generation"] + 1

    def close(self) -> None:
        for worker in self.workers:
            ray.kill(worker)
        self.workers, self.calls, self.steps_in_flight = [], {}, 0
