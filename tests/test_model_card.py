"""benchmarks/model_card.py: the card's Hugging Face metadata holds the measured scores."""

import json
import sys
from pathlib import Path

import pytest
import yaml

from dqn.config import TrainConfig, preset_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import model_card  # noqa: E402


def report(protocol, scores, seed, **extra):
    mean = sum(scores) / len(scores)
    std = (sum((s - mean) ** 2 for s in scores) / len(scores)) ** 0.5
    return {"mean_score": mean, "std_score": std, "scores": scores, "games": len(scores), "seed": seed,
            "protocol": protocol, **extra}


def test_front_matter_carries_each_protocols_score_and_command_and_keeps_the_card(tmp_path):
    model = tmp_path / "breakout"
    model.mkdir()
    preset_config("rainbow", noisy=False).save(model / "config.json")
    (model / "evaluation.json").write_text(json.dumps({
        "noop": report("noop", [10.0, 30.0], 0),  # mean 20, std 10
        "sticky": report("sticky", [5.0, 5.0, 8.0, 2.0], 0),  # mean 5, std 2.12
        "training": report("training", [1.0], 9, homework_score=42.0)}))
    (model / "README.md").write_text("# My agent\n\nIt plays.\n")

    for _ in range(2):  # a second run replaces the block, never stacks another
        assert model_card.main([str(model), "--name", "Rainbow without noisy nets"]) == 0
        card = (model / "README.md").read_text()
        _, block, body = card.split("---\n", 2)
        assert body == "\n# My agent\n\nIt plays.\n"

    meta = yaml.safe_load(block)
    assert meta["library_name"] == "dqn"
    assert {"BreakoutNoFrameskip-v4", "c51", "dueling", "double-dqn", "prioritized-replay",
            "n-step-returns"} <= set(meta["tags"]) and "noisy-nets" not in meta["tags"]
    [model_entry] = meta["model-index"]
    assert model_entry["name"] == "Rainbow without noisy nets"
    [result] = model_entry["results"]
    assert result["dataset"] == {"name": "BreakoutNoFrameskip-v4", "type": "BreakoutNoFrameskip-v4"}
    values = [(m["type"], m["value"]) for m in result["metrics"]]
    assert values == [("mean_reward", "20.00 +/- 10.00"), ("mean_reward", "5.00 +/- 2.12"),
                      ("mean_reward", "1.00 +/- 0.00"), ("mean_reward", "42.00")]
    names = [m["name"] for m in result["metrics"]]
    assert names[0].endswith(f"2 games, seed 0: dqn evaluate {model.as_posix()} --protocol noop --games 2 --seed 0")
    assert names[3].endswith(f"dqn evaluate {model.as_posix()} --protocol training --games 1 --seed 9 --homework")


def test_a_model_folder_without_scores_is_one_line(tmp_path, capsys):
    assert model_card.main([str(tmp_path), "--name", "x"]) == 2
    assert capsys.readouterr().err == f"model_card: {tmp_path} has no config.json or evaluation.json\n"


MODELS = Path(__file__).resolve().parents[1] / "models"


# the shipped agent and the two before it, whose cards were written the same way
@pytest.mark.parametrize("model", ["breakout", "breakout-rainbow-1.4m", "breakout-rainbow-650k"])
def test_a_cards_metadata_is_its_measured_scores(model):
    if not (MODELS / model / "evaluation.json").is_file():
        pytest.skip(f"no models/{model}/evaluation.json")
    card = (MODELS / model / "README.md").read_text()
    name = yaml.safe_load(card.split("---\n", 2)[1])["model-index"][0]["name"]
    config = TrainConfig.load(MODELS / model / "config.json")
    evaluation = json.loads((MODELS / model / "evaluation.json").read_text())
    assert set(evaluation) == {"noop", "sticky", "training"}
    assert card.startswith(model_card.front_matter(f"models/{model}", name, config, evaluation) + "\n")


def test_an_unknown_protocol_in_the_scores_is_one_line(tmp_path):
    preset_config("rainbow").save(tmp_path / "config.json")
    (tmp_path / "evaluation.json").write_text(json.dumps({"greedy": report("greedy", [1.0], 0)}))
    with pytest.raises(SystemExit, match="unknown protocol 'greedy'"):
        model_card.main([str(tmp_path), "--name", "x"])


def test_the_homework_command_keeps_the_courses_seed_when_the_games_took_seed_0():
    """`dqn evaluate --homework` without --seed plays its games on seed 0 and the final score on seed 9: the
    card's command must then leave --seed out, since --seed 0 would move the final score to seed 0 too."""
    default = report("training", [1.0], 0, homework_score=42.0, homework_seed=9)
    assert model_card.evaluate_command("m", default) == "dqn evaluate m --protocol training --games 1 --homework"
    assert "env seeded 9" in model_card.metrics("m", {"training": default})[1]["name"]
    seeded = report("training", [1.0], 4, homework_score=42.0, homework_seed=4)
    expected = "dqn evaluate m --protocol training --games 1 --seed 4 --homework"
    assert model_card.evaluate_command("m", seeded) == expected
