"""Ape-X on Ray, on CartPole, with one local Ray for the whole module: the actors' priorities are the
learner's, every step played arrives in the replay once, a 2-actor run passes the debug notebook's
check, and a killed actor comes back with fresh weights while the learner goes on."""

import csv
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest
from conftest import wait_for

ray = pytest.importorskip("ray")

from dqn import cli  # noqa: E402
from dqn.agent.learner import Learner  # noqa: E402
from dqn.config import preset_config  # noqa: E402
from dqn.distributed.apex import ApexTrainer  # noqa: E402
from dqn.distributed.workers import ActorFleet, start_replay_server  # noqa: E402
from dqn.envs.factory import make_env  # noqa: E402
from dqn.errors import UserError  # noqa: E402
from dqn.machine.hardware import choose_runtime  # noqa: E402
from dqn.replay.buffer import build_replay  # noqa: E402


def start_local_ray():
    ray.init(address="local", num_cpus=2, object_store_memory=200 * 1024**2, include_dashboard=False,
             log_to_driver=False, logging_level=logging.WARNING)


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    start_local_ray()
    yield
    ray.shutdown()


# 2 actors of 2 envs, 3-step returns, priorities |TD error| ** 1, in float32 as the actors compute them
PRIORITIZED = preset_config("cartpole", num_actors=2, envs_per_actor=2, n_step=3, prioritized_replay=True,
                            priority_alpha=1.0, buffer_size=8_000, device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    """The fleet after 600 agent steps with the learner's first weights, drained, and its replay saved."""
    config = PRIORITIZED
    space = make_env(config).observation_space
    replay = start_replay_server(config, space)
    fleet = ActorFleet(config, replay)
    learner = Learner(config, space.shape, 2, choose_runtime("cpu", "fp32", 1, image_observations=False))
    fleet.publish(learner.online.state_dict(), 0)
    while fleet.steps < 600:
        fleet.dispatch(600, keeps_up=lambda step: True)
        fleet.receive(timeout=None)
    fleet.drain()
    path = tmp_path_factory.mktemp("replay") / "replay.npz"
    replay.save(path)
    local = build_replay(config, space.shape, space.dtype, num_envs=4)
    local.load(path)
    stored = replay.stored_transitions()
    fleet.close()
    replay.close()
    return fleet, stored, local, learner


def test_every_step_played_arrives_in_the_replay_once(played):
    fleet, stored, local, _ = played
    assert fleet.steps == 600 and fleet.episodes > 0
    assert stored == local.has_next.sum() == 600  # none lost; the rings never wrapped
    envs, slots = np.nonzero(local.has_next)
    obs = local.batch_at(envs, slots).obs
    assert len({row.tobytes() for row in obs}) == 600  # CartPole never shows a state twice: none counted twice
    per_ring = local.has_next.sum(axis=1)  # a worker's two envs step together: rings 0 and 1, 2 and 3
    assert per_ring[0] == per_ring[1] > 0 and per_ring[2] == per_ring[3] > 0


def test_actor_priorities_are_the_learners_td_errors_at_the_same_weights(played):
    _, _, local, learner = played
    envs, slots = np.nonzero(local.has_next)
    batch = local.batch_at(envs, slots)
    assert (batch.discounts == 0).any() and (batch.discounts == np.float32(0.99**3)).any()  # ends and whole windows
    local._flush()
    stored = local.tree.values(envs * local.ring + slots) - local.eps  # (|TD error| + eps) ** 1
    # the learner's target network is still its online one; update() returns the priorities from before its step
    _, recomputed = learner.update(batch)
    assert stored == pytest.approx(recomputed, rel=1e-4, abs=1e-5)
    assert stored.std() > 0.1 * stored.mean()  # a test of real numbers, not of equal constants


def test_two_actors_pass_the_debug_notebooks_check(tmp_path, capsys):
    config = preset_config("cartpole", num_actors=2)
    start = time.perf_counter()
    trainer = ApexTrainer(config, tmp_path / "run", progress=False)
    result = trainer.train()
    minutes = (time.perf_counter() - start) / 60
    assert result.stopped_early and minutes < 5, (result, minutes)
    assert result.updates > 0 and (tmp_path / "run" / "best.pt").is_file()
    capsys.readouterr()
    assert cli.main(["evaluate", str(tmp_path / "run"), "--games", "30", "--t-max", "1000", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["games"] == 30 and report["mean_score"] >= 300, report
    with open(tmp_path / "run" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    lags = [float(row["policy_lag_updates"]) for row in rows if row["policy_lag_updates"]]
    # weights published up to weight_sync_updates before a call was handed out, which the learner may
    # pass by its lag allowance while the call plays and the next waits: older than that is stale
    assert lags and max(lags) > 0 and all(0 <= lag <= config.weight_sync_updates + 2 * trainer.update_lag
                                          for lag in lags), (lags, trainer.update_lag)
    assert all(row["actor_restarts"] == "0" for row in rows)
    assert {row["actor_nodes"] for row in rows} == {"1"}  # one machine, one Ray node


def test_no_steps_are_handed_out_past_the_next_checkpoint(tmp_path):
    """So a checkpoint's drain adds no steps after the loop has logged the step it saves at."""
    config = preset_config("cartpole", num_actors=2, total_steps=5_000, checkpoint_freq_steps=1_000, stop_score=None,
                           eval_freq_steps=0)
    trainer = ApexTrainer(config, tmp_path / "run", progress=False)
    deadline = time.perf_counter() + 120
    try:
        while trainer.step < 1_000 or trainer.actor.calls:
            assert time.perf_counter() < deadline, trainer.step
            trainer.advance()
        assert trainer.step == 1_000
        trainer.actor.drain()  # what a checkpoint does first
        assert trainer.step == 1_000
    finally:
        trainer.actor.close()
        trainer.replay.close()


def test_rounds_of_more_updates_than_the_lag_allowance_do_not_stall_the_run(tmp_path):
    # 128 updates every 256 agent steps (an SB3 zoo CartPole setting): each round is due at once
    config = preset_config("cartpole", num_actors=2, train_freq_steps=256, gradient_steps=128, learning_starts=500,
                           total_steps=2_000, stop_score=None, eval_freq_steps=0)
    trainer = ApexTrainer(config, tmp_path / "run", progress=False)
    deadline = time.perf_counter() + 180
    try:
        while trainer.step < config.total_steps:
            assert time.perf_counter() < deadline, (trainer.step, trainer.learner.updates)
            trainer.advance()
        assert trainer.learner.updates >= 5 * 128
    finally:
        trainer.actor.close()
        trainer.replay.close()


def test_a_killed_actor_comes_back_with_fresh_weights_and_the_learner_goes_on(tmp_path):
    config = preset_config("cartpole", num_actors=2, total_steps=10**6, stop_score=None, weight_sync_updates=10)
    trainer = ApexTrainer(config, tmp_path / "run", progress=False)
    fleet = trainer.actor
    try:
        deadline = time.perf_counter() + 120
        while trainer.learner.updates < 100:
            assert time.perf_counter() < deadline, "no 100 updates in 2 minutes"
            trainer.advance()
        ray.kill(fleet.workers[0], no_restart=False)
        updates_at_kill, version_at_kill = trainer.learner.updates, fleet.version
        assert version_at_kill >= 10
        deadline = time.perf_counter() + 120
        while fleet.restarts[0] == 0:  # until the restarted worker reports
            assert time.perf_counter() < deadline, "the killed actor did not come back"
            trainer.advance()
        assert fleet.versions[0] >= version_at_kill  # a new process, playing the weights published since
        assert trainer.learner.updates > updates_at_kill and fleet.restarts[1] == 0
    finally:
        fleet.close()
        trainer.replay.close()


def test_a_lost_replay_process_ends_the_run_with_how_to_go_on(tmp_path):
    run = tmp_path / "run"
    config = preset_config("cartpole", num_actors=2, total_steps=10**6, stop_score=None)
    trainer = ApexTrainer(config, run, progress=False)

    def lost():  # as ray.get answers for a replay process that died: killed, it would take the actors with it
        raise ray.exceptions.RayActorError()

    trainer.replay.stored_transitions = lost  # the loop's first question to it, after the checkpoint of step 0
    with pytest.raises(UserError) as failure:
        trainer.train()
    assert str(failure.value) == ("the replay process was lost (RayActorError: The actor experienced an error before "
                                  f"finishing this task.); go on from its checkpoint of agent step 0 with: "
                                  f"dqn train --resume {run}")


def test_a_run_stopped_by_sigint_resumes_and_finishes_its_steps(tmp_path):
    run = tmp_path / "run"
    dqn = [sys.executable, "-m", "dqn", "train"]
    # its own Ray, though RAY_ADDRESS names another; in a session of its own, as a terminal's Ctrl-C reaches it
    first = subprocess.Popen([*dqn, "--preset", "cartpole", "--num-actors", "2", "--total-steps", "4000",
                              "--stop-score", "1e9", "--save-replay", "--out", str(run), "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                             env={**os.environ, "RAY_ADDRESS": "127.0.0.1:1"})
    metrics = run / "metrics.csv"
    wait_for(lambda: metrics.is_file() and len(metrics.read_text().splitlines()) >= 2, first)
    started = psutil.Process(first.pid).children(recursive=True)  # Ray's processes among them
    assert started
    os.killpg(first.pid, signal.SIGINT)  # after its first metrics row, at agent step 1000 or later
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0 and "SIGINT: interrupted at agent step" in err, err
    assert list(run.glob("replay_*.npz"))
    _, alive = psutil.wait_procs(started, timeout=30)
    alive = [p for p in alive if not ended(p)]
    assert not alive, [(p.pid, p.name()) for p in alive]  # no process left behind
    # it may go on on another cluster: here a Ray of its own again
    second = subprocess.run([*dqn, "--resume", str(run), "--ray-address", "local", "--quiet"], capture_output=True,
                            text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "resuming" in second.stderr and "trained 4000 agent steps" in second.stdout
    with open(run / "metrics.csv") as f:
        steps = [int(row["step"]) for row in csv.DictReader(f)]
    assert steps == sorted(steps) and steps[-1] == 4000


def ended(process: psutil.Process) -> bool:
    """Gone, or a zombie: ended but not yet reaped (a container's first process may never reap it)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("args, needle", [
    (["--ray-address", "127.0.0.1:1"], "no Ray cluster answers at ray_address 127.0.0.1:1"),
    (["--num-actors", "4", "--buffer-size", "8", "--batch-size", "4"],
     "buffer_size: capacity 8 is too small for 4 envs"),
])
def test_bad_distributed_input_is_one_line_before_ray_starts(tmp_path, args, needle):
    result = subprocess.run([sys.executable, "-m", "dqn", "train", "--preset", "cartpole", "--num-actors", "2", *args,
                             "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("dqn: error: "), result.stderr
    assert needle in lines[0] and not (tmp_path / "run").exists()


@pytest.mark.parametrize("auth_mode, hinted", [(None, True), ("token", False)])
def test_a_refused_join_says_how_to_pass_token_authentication(monkeypatch, auth_mode, hinted):
    """What a `ray start` cluster with token authentication answers a process without the token (seen with
    Ray 2.60 on two `ray start` nodes here): the error names the setting, unless it is set already."""
    from dqn.distributed import apex

    def refuse(**kwargs):
        raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.1:6379")

    monkeypatch.setattr(apex.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(apex.ray, "init", refuse)
    monkeypatch.setattr(apex, "check_reachable", lambda address: None)
    if auth_mode:
        monkeypatch.setenv("RAY_AUTH_MODE", auth_mode)
    else:
        monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    with pytest.raises(UserError) as error:
        apex.start_ray(preset_config("cartpole", num_actors=2, ray_address="10.0.0.1:6379"))
    message = str(error.value)
    assert message.startswith("cannot join Ray at 10.0.0.1:6379: ConnectionError: Failed to connect to Ray cluster")
    assert ("set RAY_AUTH_MODE=token" in message) == hinted, message


def test_a_single_process_run_never_imports_ray(tmp_path):
    script = ("import sys; from dqn import cli; "
              "rc = cli.main(['train', '--preset', 'cartpole', '--total-steps', '300', "
              f"'--out', r'{tmp_path / 'run'}', "
              "'--quiet']); assert 'ray' not in sys.modules, 'ray was imported'; sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_actors_of_a_lost_node_move_to_another_and_training_goes_on(tmp_path):
    """A simulated cluster: a head with no CPU for actors (the learner's and the replay's), and two
    one-CPU nodes, an actor on each; one node goes, another comes, and its actor restarts there."""
    from ray.cluster_utils import Cluster

    ray.shutdown()  # the module's Ray: this test has its cluster
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": 100 * 1024**2})
    nodes = [cluster.add_node(num_cpus=1, object_store_memory=100 * 1024**2) for _ in range(2)]
    trainer = None
    try:
        config = preset_config("cartpole", num_actors=2, total_steps=10**6, stop_score=None, weight_sync_updates=10,
                               ray_address=cluster.address)
        trainer = ApexTrainer(config, tmp_path / "run", progress=False)  # joins the cluster
        assert trainer.started_ray
        fleet = trainer.actor
        deadline = time.perf_counter() + 180
        while trainer.learner.updates < 100:
            assert time.perf_counter() < deadline, "no 100 updates in 3 minutes"
            trainer.advance()
        cluster.remove_node(nodes[0])
        cluster.add_node(num_cpus=1, object_store_memory=100 * 1024**2)
        updates_at_loss = trainer.learner.updates
        deadline = time.perf_counter() + 180
        while fleet.restarts.sum() == 0:  # until the moved worker reports
            assert time.perf_counter() < deadline, "the lost node's actor did not come back"
            trainer.advance()
        moved = int(np.argmax(fleet.restarts))
        assert fleet.versions[moved] >= 0 and trainer.learner.updates > updates_at_loss
        nodes_of_workers = {ray.get(worker.__ray_call__.remote(lambda self: ray.get_runtime_context().get_node_id()))
                            for worker in fleet.workers}
        assert nodes[0].node_id not in nodes_of_workers and len(nodes_of_workers) == 2
        assert set(fleet.nodes) == nodes_of_workers and trainer.loop_metrics()["actor_nodes"] == 2
    finally:
        if trainer is not None:
            trainer.actor.close()
            trainer.replay.close()
            trainer.stop_ray()
        cluster.shutdown()
        start_local_ray()  # the module's Ray again, for any test after this one


def test_a_head_with_inputs_of_its_own_trains_on_ray_unchanged(tmp_path):
    """IQN's actors draw the fractions they act on and compute first priorities with, as its learner does."""
    config = dataclasses.replace(PRIORITIZED, head="iqn", iqn_quantile_samples=8, iqn_action_samples=4,
                                 total_steps=1_500, learning_starts=500, stop_score=None, eval_freq_steps=500,
                                 eval_games=2)
    result = ApexTrainer(config, tmp_path / "run", progress=False).train()
    assert result.steps >= 1_500 and result.updates > 0 and (tmp_path / "run" / "best.pt").is_file()
