"""`dqn train --init-from`: a new run that begins with another run's networks, optimizer and agent-step count,
reading only tensors."""

import csv
import json
import pickle

import pytest
import torch

from dqn import cli
from dqn.config import preset_config
from dqn.train import checkpoint
from dqn.train.entry import make_trainer
from dqn.train.loading import load_agent
from dqn.train.warm_start import read_warm_start

SOURCE_FLAGS = ["--preset", "cartpole", "--seed", "3", "--quiet", "--eval-games", "3"]


def train(*args):
    """`dqn train *args` in this process; its exit code."""
    return cli.main(["train", *map(str, args)])


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A CartPole run trained to its stop score (475 in 3 greedy games)."""
    out = tmp_path_factory.mktemp("source") / "run"
    assert train("--out", out, *SOURCE_FLAGS) == 0
    return out


def greedy_score(path, games=10):
    return sum(load_agent(path).evaluate("training", games=games, seed=100)) / games


def test_a_warm_start_loads_the_sources_weights_optimizer_and_step(source, tmp_path):
    state = checkpoint.load(source / "checkpoint.pt")
    warm = read_warm_start(source)
    config = preset_config("cartpole", seed=3, total_steps=state["step"] + 2000, learning_rate=1e-4)
    trainer = make_trainer(config, tmp_path / "run", progress=False, warm_start=warm)
    learner = trainer.learner
    assert trainer.step == state["step"] > 0
    assert learner.updates == state["learner"]["updates"] > 0
    for name, tensor in state["network"].items():
        assert torch.equal(learner.online.state_dict()[name], tensor)
    for name, tensor in state["learner"]["target"].items():
        assert torch.equal(learner.target.state_dict()[name], tensor)
    adam = learner.optimizer.state_dict()
    for i, moments in state["learner"]["optimizer"]["state"].items():
        assert all(torch.equal(adam["state"][i][k], moments[k]) for k in moments)
    # the moments carry over, the learning rate is the new config's
    assert [group["lr"] for group in adam["param_groups"]] == [1e-4]
    # learning waits for the loaded agent to refill the replay
    assert trainer.learning_starts_at == state["step"] + config.learning_starts
    assert len(trainer.replay) == 0
    trainer.actor.close()
    trainer.evaluator.close()


def test_a_model_folder_gives_its_network_and_step_and_the_rest_starts_fresh(source, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    best = checkpoint.load(source / "best.pt")
    checkpoint.save_atomic(best, model / "best.pt")
    warm = read_warm_start(model)
    assert warm.source == model / "best.pt" and warm.step == best["step"]
    assert warm.target is None and warm.optimizer is None
    assert "the optimizer state (Adam's moments)" in warm.fresh


def test_a_warm_started_cartpole_agent_keeps_its_score(source, tmp_path):
    before = greedy_score(source / "best.pt")
    step = checkpoint.load(source / "checkpoint.pt")["step"]
    out = tmp_path / "warm"
    # 1,000 agent steps of refill, then 1,000 of learning; evaluated at the end
    assert train("--init-from", source, "--out", out, "--total-steps", step + 2000, "--eval-freq-steps", 2000,
                 "--stop-score", 1e9, "--seed", 5, "--quiet") == 0
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert int(rows[0]["step"]) > step  # the run's history starts where the source's ended
    assert int(rows[-1]["step"]) == step + 2000
    # updates go on from the source's count, and only after the refill
    source_updates = checkpoint.load(source / "checkpoint.pt")["learner"]["updates"]
    assert int(rows[-1]["updates"]) == source_updates + 1000
    after = greedy_score(out / "checkpoint.pt")
    assert before >= 475 and after >= 0.9 * before, (before, after)
    record = json.loads((out / "config.json").read_text())["warm_start"]
    assert record["source"] == str(source / "checkpoint.pt") and record["agent_step"] == step
    assert "optimizer state" in record["loaded"] and record["fresh"][0].startswith("the replay")


def test_a_resumed_warm_start_keeps_its_record(source, tmp_path):
    step = checkpoint.load(source / "checkpoint.pt")["step"]
    out = tmp_path / "warm"
    assert train("--init-from", source, "--out", out, "--total-steps", step + 1200, "--stop-score", 1e9,
                 "--quiet") == 0
    assert train("--resume", out, "--total-steps", step + 1400, "--quiet") == 0
    assert json.loads((out / "config.json").read_text())["warm_start"]["agent_step"] == step


@pytest.mark.parametrize("flags, field", [(["--head", "c51"], "head"), (["--hidden-sizes", "32"], "hidden_sizes"),
                                          (["--preset", "breakout"], "env_id")])
def test_a_source_of_another_network_or_env_is_refused_in_one_line(source, tmp_path, capsys, flags, field):
    out = tmp_path / "run"
    assert train("--init-from", source, "--out", out, *flags) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"its {field} is" in err and err.startswith("dqn: error: --init-from")
    assert not out.exists()
    # the config such a run would train is refused alike
    assert train("--init-from", source, "--print-config", *flags) == 2
    assert f"its {field} is" in capsys.readouterr().err


def test_a_missing_source_and_init_from_with_resume_are_refused(tmp_path, capsys):
    assert train("--init-from", tmp_path / "nothing") == 2
    assert "no such folder or file" in capsys.readouterr().err
    assert train("--init-from", tmp_path, "--resume", tmp_path) == 2
    assert "give one of the two" in capsys.readouterr().err


class Planted:
    """Unpickling this touches a file: the code a tampered checkpoint's env state could run."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_a_checkpoint_whose_env_state_would_run_code_is_warm_started_without_running_it(source, tmp_path):
    planted = tmp_path / "ran"
    state = checkpoint.load(source / "checkpoint.pt")
    blob = pickle.dumps(Planted(planted))
    state["actor"]["envs"] = [torch.frombuffer(bytearray(blob), dtype=torch.uint8)]
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    checkpoint.save_atomic(state, tampered / "checkpoint.pt")
    out = tmp_path / "warm"
    assert train("--init-from", tampered, "--out", out, "--total-steps", state["step"] + 200, "--quiet") == 0
    assert not planted.exists()
    pickle.loads(blob)  # what --resume would do with it
    assert planted.exists()
