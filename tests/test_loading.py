"""Agents load apart from training, older model files and configs included."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import dqn

from dqn.config import TrainConfig
from dqn.train.loading import load_agent

MODELS = Path(__file__).resolve().parents[1] / "models"
PRETRAINED = MODELS / "breakout"  # the shipped agent: the notebook's fallback
FIRST_PRETRAINED = MODELS / "breakout-dqn"  # the first agent shipped, saved before the split
needs_pretrained = pytest.mark.skipif(not (PRETRAINED / "best.pt").is_file(), reason="no models/breakout/best.pt")
needs_first = pytest.mark.skipif(not (FIRST_PRETRAINED / "best.pt").is_file(), reason="no models/breakout-dqn/best.pt")


@pytest.mark.parametrize("old_field, old, field, new", [
    ("bf16", True, "precision", "bf16"), ("bf16", False, "precision", "fp32"),  # before `precision`
    ("dueling", True, "head", "dueling"), ("dueling", False, "head", "q"),  # before `head`
])
def test_configs_with_fields_since_replaced_still_load(old_field, old, field, new):
    data = TrainConfig().to_dict()
    del data[field]
    data[old_field] = old
    assert getattr(TrainConfig.from_dict(data), field) == new


@needs_first
def test_the_pretrained_agent_from_before_the_split_loads():
    """Its config says `dueling` and `bf16`; its weights were saved before heads had names."""
    agent = load_agent(FIRST_PRETRAINED)
    assert agent.config.head == "dueling" and agent.config.precision == "bf16"
    assert agent.path == FIRST_PRETRAINED / "best.pt"
    assert agent.get_qvalues(np.zeros((2, 4, 84, 84), dtype=np.uint8)).shape == (2, 4)
    assert TrainConfig.load(FIRST_PRETRAINED / "config.json") == agent.config


@needs_pretrained
def test_the_shipped_agent_is_the_one_its_folder_describes():
    agent = load_agent(PRETRAINED)
    assert TrainConfig.load(PRETRAINED / "config.json") == agent.config
    assert agent.get_qvalues(np.zeros((2, 4, 84, 84), dtype=np.uint8)).shape == (2, 4)
    evaluation = json.loads((PRETRAINED / "evaluation.json").read_text())
    assert {report["trained_steps"] for report in evaluation.values()} == {agent.trained_steps}


@needs_pretrained
def test_the_pretrained_agent_evaluates_and_records(tmp_path):
    evaluated = dqn("evaluate", PRETRAINED, "--games", "1", "--t-max", "200", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["checkpoint"].endswith("best.pt")
    recorded = dqn("record", PRETRAINED, "--out", tmp_path, "--t-max", "50")
    assert recorded.returncode == 0, recorded.stderr
    assert (tmp_path / "game_01.mp4").stat().st_size > 0
    # any evaluation protocol can be filmed, its epsilon changed as in evaluate
    sticky = dqn("record", PRETRAINED, "--out", tmp_path / "sticky", "--protocol", "sticky", "--epsilon", "0.05",
                 "--t-max", "50")
    assert sticky.returncode == 0, sticky.stderr
    assert (tmp_path / "sticky" / "game_01.mp4").stat().st_size > 0
