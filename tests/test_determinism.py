"""The same seed gives the same run, to the bit, on CPU; the loop's evaluation plays noisy nets'
mean weights."""

import csv

import torch

from dqn.config import preset_config
from dqn.train.single import Trainer

TIMING = {"wall_s", "steps_per_s", "time_env_s", "time_act_s", "time_sample_s", "time_update_s"}


def run(tmp_path, name, seed):
    config = preset_config("cartpole", seed=seed, total_steps=1_500, learning_starts=500,
                           eval_freq_steps=500, eval_games=2, log_freq_steps=250, device="cpu")
    trainer = Trainer(config, tmp_path / name, progress=False)
    trainer.train()
    with open(tmp_path / name / "metrics.csv") as f:
        rows = [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]
    return rows, trainer.learner.online.state_dict()


def test_same_seed_same_run(tmp_path):
    rows_a, weights_a = run(tmp_path, "a", seed=7)
    rows_b, weights_b = run(tmp_path, "b", seed=7)
    rows_c, weights_c = run(tmp_path, "c", seed=8)
    assert rows_a == rows_b
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert rows_a != rows_c
    assert not all(torch.equal(weights_a[k], weights_c[k]) for k in weights_a)


def test_the_loops_evaluation_plays_the_mean_weights_of_noisy_nets(tmp_path):
    config = preset_config("cartpole", noisy=True, head="c51", v_min=0.0, v_max=100.0, eval_games=2, device="cpu")
    trainer = Trainer(config, tmp_path / "run", progress=False)
    online, training_mode_seen = trainer.learner.online, []
    play = online.get_qvalues
    online.get_qvalues = lambda states: training_mode_seen.append(online.training) or play(states)
    trainer.evaluator.play(online)
    assert training_mode_seen and not any(training_mode_seen)
    assert online.training  # and training goes on with its noise
