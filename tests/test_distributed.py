"""Ape-X on Ray, on CartPole, with one local Ray for the whole module: the actors' priorities are the
learner's, every step played arrives in the replay once, a 2-actor run passes the debug notebook's
check, and a killed actor comes back with fresh weights while the learner goes on."""

import csv
import json
import logging
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from dqn import cli  # noqa: E402
from dqn.apex import ApexTrainer  # noqa: E402
from dqn.config import preset_config  # noqa: E402
from dqn.envs import make_env  # noqa: E402
from dqn.hardware import choose_runtime  # noqa: E402
from dqn.learner import Learner  # noqa: E402
from dqn.ray_workers import ActorFleet, start_replay_server  # noqa: E402
from dqn.replay import build_replay  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, object_store_memory=200 * 1024**2, include_dashboard=False, log_to_driver=False,
             logging_level=logging.WARNING)
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
    fleet.publish(learner.online.state_dict())
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
    result = ApexTrainer(config, tmp_path / "run", progress=False).train()
    minutes = (time.perf_counter() - start) / 60
    assert result.stopped_early and minutes < 5, (result, minutes)
    assert result.updates > 0 and (tmp_path / "run" / "best.pt").is_file()
    capsys.readouterr()
    assert cli.main(["evaluate", str(tmp_path / "run"), "--games", "30", "--t-max", "1000", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["games"] == 30 and report["mean_score"] >= 300, report


def test_a_killed_actor_comes_back_with_fresh_weights_and_the_learner_goes_on(tmp_path):
    config = preset_config("cartpole", num_actors=2, total_steps=10**6, stop_score=None, weight_sync_updates=10)
    trainer = ApexTrainer(config, tmp_path / "run", progress=False)
    fleet = trainer.actor
    try:
        while trainer.learner.updates < 100:
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


def test_a_run_stopped_by_sigint_resumes_and_finishes_its_steps(tmp_path):
    run = tmp_path / "run"
    dqn = [sys.executable, "-m", "dqn", "train"]
    first = subprocess.Popen([*dqn, "--preset", "cartpole", "--num-actors", "2", "--total-steps", "4000", "--stop-score",
                              "1e9", "--save-replay", "--out", str(run), "--quiet"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.perf_counter() + 120
    while not (run / "metrics.csv").is_file() or len((run / "metrics.csv").read_text().splitlines()) < 2:
        assert time.perf_counter() < deadline and first.poll() is None, first.communicate()
        time.sleep(0.5)
    first.send_signal(signal.SIGINT)  # after its first metrics row, at agent step 1000 or later
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0 and "SIGINT: interrupted at agent step" in err, err
    assert list(run.glob("replay_*.npz"))
    second = subprocess.run([*dqn, "--resume", str(run), "--quiet"], capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "resuming" in second.stderr and "trained 4000 agent steps" in second.stdout
    with open(run / "metrics.csv") as f:
        steps = [int(row["step"]) for row in csv.DictReader(f)]
    assert steps == sorted(steps) and steps[-1] == 4000


@pytest.mark.parametrize("args, needle", [
    (["--ray-address", "127.0.0.1:1"], "no Ray cluster answers at ray_address 127.0.0.1:1"),
    (["--num-actors", "4", "--buffer-size", "8", "--batch-size", "4"], "buffer_size: capacity 8 is too small for 4 envs"),
])
def test_bad_distributed_input_is_one_line_before_ray_starts(tmp_path, args, needle):
    result = subprocess.run([sys.executable, "-m", "dqn", "train", "--preset", "cartpole", "--num-actors", "2", *args,
                             "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("dqn: error: "), result.stderr
    assert needle in lines[0] and not (tmp_path / "run").exists()


def test_a_single_process_run_never_imports_ray(tmp_path):
    script = ("import sys; from dqn import cli; "
              f"rc = cli.main(['train', '--preset', 'cartpole', '--total-steps', '300', '--out', r'{tmp_path / 'run'}', "
              "'--quiet']); assert 'ray' not in sys.modules, 'ray was imported'; sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
