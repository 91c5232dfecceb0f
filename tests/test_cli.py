"""The real `dqn` entry point, run as a user runs it, with tiny budgets."""

import csv
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import assert_one_line_error, dqn, wait_for

from dqn import cli
from dqn.config import RESUME_OVERRIDES, TrainConfig, preset_config

REPO = Path(__file__).resolve().parents[1]

SMOKE_FLAGS = ["--total-steps", "600", "--learning-starts", "200", "--train-freq-steps", "2",
               "--gradient-steps", "3", "--eval-freq-steps", "300", "--eval-games", "2",
               "--log-freq-steps", "100", "--checkpoint-freq-steps", "300", "--batch-size", "16",
               "--buffer-size", "1000", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The run folder of a CartPole smoke run, and what `dqn train --quiet` printed making it."""
    out = tmp_path_factory.mktemp("cli") / "run"
    result = dqn("train", "--preset", "cartpole", "--out", out, "--seed", "3", *SMOKE_FLAGS)
    assert result.returncode == 0, result.stderr
    assert "trained 600 agent steps (600 updates)" in result.stdout
    return out, result


@pytest.fixture(scope="module")
def run_dir(trained):
    return trained[0]


def test_train_says_its_run_folder_and_how_to_watch_it_before_training_even_quiet(trained):
    out, result = trained
    lines = result.stderr.splitlines()
    start = f"dqn: run folder {out}; watch it with: tensorboard --logdir {out / 'tb'}"
    assert start in lines, result.stderr
    assert lines.index(start) < next(i for i, line in enumerate(lines) if line.startswith("dqn: training on"))


def test_train_writes_the_run_folder(run_dir):
    for name in ["config.json", "metrics.csv", "checkpoint.pt", "best.pt", "curves.png"]:
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    config = json.loads((run_dir / "config.json").read_text())
    assert config["seed"] == 3 and config["total_steps"] == 600 and config["env_id"] == "CartPole-v1"


def test_metrics_rows_and_update_count(run_dir):
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [100, 200, 300, 400, 500, 600]
    # updates start after step 200, one round of 3 every 2 steps: 200 rounds by step 600
    assert [int(r["updates"]) for r in rows] == [0, 0, 150, 300, 450, 600]
    assert [bool(r["eval_mean"]) for r in rows] == [False, False, True, False, False, True]
    assert all(r["loss"] for r in rows[2:])
    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    assert checkpoint["step"] == 600 and checkpoint["learner"]["updates"] == 600


def test_evaluate_json_is_reproducible(run_dir):
    first = dqn("evaluate", run_dir, "--games", "3", "--seed", "5", "--json")
    second = dqn("evaluate", run_dir / "checkpoint.pt", "--games", "3", "--seed", "5", "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert {"mean_score", "std_score", "scores", "games", "seed"} <= set(report)
    assert report["games"] == 3 and report["seed"] == 5 and len(report["scores"]) == 3
    assert report["checkpoint"].endswith("best.pt")
    # best.pt is the model of the best evaluation; checkpoint.pt may differ, so compare each to itself
    again = json.loads(dqn("evaluate", run_dir, "--games", "3", "--seed", "5", "--json").stdout)
    assert again["scores"] == report["scores"]
    assert json.loads(second.stdout)["checkpoint"].endswith("checkpoint.pt")


def test_evaluate_protocol_and_its_defaults(run_dir):
    report = json.loads(dqn("evaluate", run_dir, "--games", "1", "--json").stdout)
    assert (report["protocol"], report["epsilon"], report["t_max"]) == ("training", 0.0, 10_000)
    result = dqn("evaluate", run_dir, "--games", "1", "--protocol", "training", "--eval-epsilon", "0.5",
                 "--t-max", "20")
    assert result.returncode == 0, result.stderr
    assert "1 epsilon 0.5 games (training protocol)" in result.stdout


@pytest.mark.parametrize("args, needle", [
    (["--preset", "nope"], "unknown preset 'nope'"),
    (["--env-id", "NoSuchEnv-v0"], "unknown env id 'NoSuchEnv-v0'"),
    (["--env-id", "Breakout-v5"], "unknown env id 'Breakout-v5'; did you mean 'ALE/Breakout-v5'?"),
    (["--learning_rate", "0.1"], "dqn: error: unrecognized argument --learning_rate; did you mean "
                                 "--learning-rate?"),
    # argparse's prefix matching is off: a typo must not set another flag
    (["--learning-rat", "3e-4"], "dqn: error: unrecognized argument --learning-rat; did you mean --learning-rate?"),
    (["--env-id", "Pendulum-v1"], "discrete"),
    (["--env-id", "Breakout-v4"], "'Breakout-v4' skips a random 2 to 4 frames a step itself; train on "
                                  "BreakoutNoFrameskip-v4 or ALE/Breakout-v5"),
    (["--learning-rate", "-1"], "dqn: error: --learning-rate must be > 0, got -1"),
    (["--learning-rate", "abc"], "dqn: error: --learning-rate must be a number, got 'abc'"),
    (["--total-steps", "1e6"], "dqn: error: --total-steps must be a whole number, got '1e6'"),
    (["--torch-threads", "two"], "dqn: error: --torch-threads must be 'auto' or a whole number, got 'two'"),
    (["--gamma", "1.5"], "--gamma must be in (0, 1], got 1.5"),
    (["--batch-size", "100", "--buffer-size", "10"],
     "--batch-size must not be larger than --buffer-size (10), got 100"),
    (["--total-steps", "-5"], "--total-steps must be positive"),
    (["--no-such-flag"], "--no-such-flag"),
    (["--seed", "-1"], "--seed must be in [0, 2**32)"),
    (["--seed", str(2**32)], "--seed must be in [0, 2**32)"),
    (["--min-available-ram-gb", "nan"], "--min-available-ram-gb must be a number of GiB >= 0"),
    (["--preset", "cartpole", "--hidden-sizes", "1000000000000"],
     "training an MLP with hidden_sizes (1000000000000,) and a q head needs"),
    (["--preset", "cartpole", "--head", "c51", "--n-atoms", "1000000000"],
     "an MLP with hidden_sizes (64, 64) and a c51 head of 1000000000 atoms needs"),
    (["--adam-eps", "0"], "--adam-eps must be > 0"),
    (["--stop-score", "10", "--eval-freq-steps", "0"], "--stop-score needs evaluations: set --eval-freq-steps > 0"),
    (["--preset", "cartpole", "--augment-shift-px", "4"],
         "--augment-shift-px shifts images; CartPole-v1 has vector observations"),
    (["--repeat-action-probability", "1.5"], "--repeat-action-probability must be in [0, 1]"),
    (["--preset", "cartpole", "--repeat-action-probability", "0.25"],
         "--repeat-action-probability is for atari envs; CartPole-v1 is a vector env"),
    (["--head", "wide"], "--head must be one of q, dueling, c51, c51-dueling, iqn, got 'wide'"),
    (["--head", "c51", "--v-min", "10"], "c51 atoms need finite --v-min < --v-max and --n-atoms >= 2, got --v-min 10, "
                                         "--v-max 10"),
    (["--head", "c51-dueling", "--n-atoms", "1"], "c51 atoms need finite --v-min < --v-max and --n-atoms >= 2"),
    (["--head", "iqn", "--iqn-action-samples", "0"], "--iqn-action-samples must be positive, got 0"),
    (["--noisy-sigma0", "0"], "--noisy-sigma0 must be > 0"),
    (["--dueling"], "--dueling is gone; use --head dueling"),
    (["--num-actors", "-1"], "--num-actors must not be negative, got -1"),
    (["--num-actors", "2", "--envs-per-actor", "0"], "--envs-per-actor must be positive, got 0"),
    (["--num-actors", "2", "--weight-sync-updates", "0"], "--weight-sync-updates must be positive, got 0"),
])
def test_bad_train_input_is_one_line_and_exit_2(tmp_path, args, needle):
    result = dqn("train", "--out", tmp_path / "run", *args)
    assert_one_line_error(result, needle)
    assert not (tmp_path / "run").exists()


@pytest.fixture
def without_ray(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "ray" else find_spec(name, *args))


def test_a_distributed_run_without_ray_installed_is_one_line(tmp_path, without_ray, capsys):
    assert cli.main(["train", "--preset", "cartpole", "--num-actors", "2", "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == ("dqn: error: num_actors > 0 trains on Ray, which is not installed: "
                                       "pip install -e '.[distributed]'\n")
    assert not (tmp_path / "run").exists()


def test_distributed_and_address_name_the_ape_x_flags_as_ray_does(tmp_path, without_ray, capsys):
    args = cli.build_parser().parse_args(["train", "--distributed", "--address", "10.0.0.1:6379"])
    assert args.distributed and args.ray_address == "10.0.0.1:6379"
    # --distributed alone asks for actors, one per core: without Ray installed, the same one line
    assert cli.main(["train", "--preset", "cartpole", "--distributed", "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.startswith("dqn: error: num_actors > 0 trains on Ray, which is not installed")


def test_out_that_is_a_file_is_refused(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("mine")
    assert_one_line_error(dqn("train", "--out", taken, *SMOKE_FLAGS), "is a file")
    assert taken.read_text() == "mine"


def test_existing_run_folder_is_never_overwritten(run_dir):
    before = (run_dir / "metrics.csv").read_bytes()
    result = dqn("train", "--out", run_dir, *SMOKE_FLAGS)
    assert_one_line_error(result, "already exists")
    assert (run_dir / "metrics.csv").read_bytes() == before


def test_bad_evaluate_input(tmp_path, run_dir):
    assert_one_line_error(dqn("evaluate", tmp_path / "missing"), "no checkpoint at")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    assert_one_line_error(dqn("evaluate", garbage), "truncated, corrupted")
    data = (run_dir / "checkpoint.pt").read_bytes()
    # a torch checkpoint is a zip archive; cutting it at different points fails in different ways
    for fraction in (0.1, 0.5, 0.9, 0.999):
        truncated = tmp_path / f"truncated{fraction}.pt"
        truncated.write_bytes(data[: int(len(data) * fraction)])
        assert_one_line_error(dqn("evaluate", truncated), "truncated, corrupted")
    assert_one_line_error(dqn("evaluate", run_dir, "--games", "0"), "dqn: error: --games must be positive")
    assert_one_line_error(dqn("evaluate", run_dir, "--seed", "-1"), "dqn: error: --seed must be in")
    # the flag as typed, of the two spellings
    assert_one_line_error(dqn("evaluate", run_dir, "--epsilon", "1.5"), "dqn: error: --epsilon must be in [0, 1]")
    assert_one_line_error(dqn("evaluate", run_dir, "--eval-epsilon=-0.1"), "--eval-epsilon must be in [0, 1], got -0.1")
    assert_one_line_error(dqn("evaluate", run_dir, "--gmes", "1"),
                          "unrecognized argument --gmes; did you mean --games?")
    assert_one_line_error(dqn("evaluate", run_dir, "--protocol", "nope"), "--protocol: invalid choice: 'nope'")
    assert_one_line_error(dqn("evaluate", run_dir, "--protocol", "sticky"),
                          "the sticky protocol is for atari envs; CartPole-v1 is a vector env")
    not_ours = tmp_path / "not_ours.pt"
    torch.save({"weights": torch.zeros(3)}, not_ours)
    assert_one_line_error(dqn("evaluate", not_ours), "not a dqn checkpoint (no config, network")
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    assert_one_line_error(dqn("evaluate", empty), "neither best.pt nor checkpoint.pt")


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_interrupted_training_saves_a_checkpoint(tmp_path, sig):
    import signal

    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "dqn", "train", "--preset", "cartpole", "--out", str(out),
                                "--total-steps", "1000000", "--stop-score", "1e9", "--log-freq-steps", "100"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = out / "metrics.csv"
    wait_for(lambda: metrics.is_file() and metrics.read_text().count("\n") >= 3, process)
    process.send_signal(getattr(signal, sig))
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "interrupted at agent step" in stderr and f"dqn train --resume {out}" in stderr and "trained" in stdout
    saved = torch.load(out / "checkpoint.pt", weights_only=True)
    assert 200 <= saved["step"] < 1_000_000


def test_bench_reports_speed_and_replay_bytes():
    result = dqn("bench", "--steps", "1000", "--num-envs", "8", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["steps"] == 1000 and report["num_envs"] == 8
    assert report["updates"] == 1000 // 4  # one update per 4 agent steps after warm-up
    assert report["steps_per_s"] > 0
    assert set(report["ms_per_step"]) == {"env", "act", "sample", "update", "other"}
    # each 84x84 frame stored once, plus a few bytes of action/reward/flags
    assert report["frame_bytes"] == 84 * 84
    assert report["replay_bytes_per_transition"] <= 1.05 * report["frame_bytes"]
    # what the speed was measured on, chosen by the defaults
    assert report["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert report["precision"] in ("fp32", "bf16") and report["torch_threads"] >= 1
    assert "preset" not in report  # without --preset, the output it always had


def test_bench_times_a_presets_own_settings():
    from dataclasses import fields

    from dqn.train.benchmark import bench_config

    # the whole command on the quickest preset: its game, envs and one update per agent step
    result = dqn("bench", "--preset", "cartpole", "--steps", "1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["preset"] == "cartpole" and report["env_id"] == "CartPole-v1" and report["num_envs"] == 1
    assert report["steps"] == 1000 and report["updates"] == 1000 and report["steps_per_s"] > 0
    assert set(report["ms_per_step"]) == {"env", "act", "sample", "update", "other"}
    # rainbow and breakout keep their head, noise, replay, n-step and envs: only the timing is the bench's
    timing = {"learning_starts", "total_steps", "eval_freq_steps", "stop_score", "log_freq_steps",
              "checkpoint_freq_steps", "keep_eval_snapshots", "save_replay"}
    for name in ("rainbow", "breakout", "cartpole"):
        config, own = bench_config(1, preset=name), preset_config(name)
        assert {f.name for f in fields(own) if getattr(config, f.name) != getattr(own, f.name)} <= timing, name
    rainbow = bench_config(1, preset="rainbow")
    assert (rainbow.head, rainbow.noisy, rainbow.prioritized_replay, rainbow.n_step) == ("c51-dueling", True, True, 3)
    assert bench_config(1, num_envs=8, preset="rainbow").num_envs == 8
    # a part taken out (benchmarks/rainbow_parts.py), the others kept
    without_noise = bench_config(1, preset="rainbow", noisy=False)
    assert not without_noise.noisy and without_noise.head == "c51-dueling" and without_noise.prioritized_replay
    # a shipped agent's recipe: everything but the timing is its config.json's
    recipe = TrainConfig.load(REPO / "models" / "breakout" / "config.json")
    config = bench_config(1, recipe=recipe)
    assert {f.name for f in fields(recipe) if getattr(config, f.name) != getattr(recipe, f.name)} <= timing
    assert ((config.buffer_size, config.learning_rate, config.batch_size, config.target_update_steps, config.noisy)
            == (1_000_000, 5e-4, 64, 8_000, False))


def test_bench_times_the_recipe_of_a_run_folder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    preset_config("cartpole", batch_size=16, save_replay=True).save(run / "config.json")
    result = dqn("bench", "--config", str(run), "--steps", "1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["recipe"] == str(run) and report["env_id"] == "CartPole-v1"
    assert report["steps"] == 1000 and report["updates"] == 1000
    assert not (run / "checkpoint.pt").exists()  # the folder is read, never trained in


def test_bench_refuses_a_folder_without_a_config(tmp_path):
    result = dqn("bench", "--config", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == f"dqn: error: {tmp_path} has no config.json: give a run folder or a model " \
                                     "folder such as models/breakout"


def test_a_cartpole_run_never_imports_the_emulator(tmp_path):
    """The emulator (and its banner) is ale-py's; only Atari ids need it."""
    argv = ["train", "--preset", "cartpole", "--out", str(tmp_path / "run"), "--total-steps", "200",
            "--eval-freq-steps", "100", "--eval-games", "1", "--quiet"]
    code = f"import sys; from dqn.cli import main; code = main({argv!r}); print(code, 'ale_py' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.stdout.splitlines()[-1] == "0 False", result.stderr
    assert "Arcade Learning Environment" not in result.stderr


def test_evaluate_shows_a_bar_over_games_on_stderr_unless_quiet_or_json(run_dir):
    shown = dqn("evaluate", run_dir, "--games", "2")
    assert shown.returncode == 0, shown.stderr
    assert "2/2" in shown.stderr and "game" in shown.stderr and "2/2" not in shown.stdout
    for flag in ("--quiet", "--json"):
        hidden = dqn("evaluate", run_dir, "--games", "2", flag)
        assert hidden.returncode == 0 and hidden.stderr == "", (flag, hidden.stderr)
    assert json.loads(hidden.stdout)["games"] == 2  # --json's stdout holds the JSON alone


def test_record_shows_a_bar_and_says_when_the_step_limit_cut_the_game(run_dir, tmp_path):
    cut = dqn("record", run_dir, "--out", tmp_path / "cut", "--t-max", "5")
    assert cut.returncode == 0, cut.stderr
    assert cut.stdout == (f"{tmp_path / 'cut' / 'game_01.mp4'}: score 5 (the game was cut at 5 agent steps, "
                          "the step limit: raise it with --t-max)\n")
    assert "1/1" in cut.stderr
    # CartPole ends its games by itself within 500 agent steps, under the protocol's 10,000
    whole = dqn("record", run_dir, "--out", tmp_path / "whole", "--quiet")
    # (SDL, which draws CartPole, may say something on stderr of its own)
    assert whole.returncode == 0 and "1/1" not in whole.stderr, whole.stderr
    assert re.fullmatch(r".*game_01\.mp4: score \d+\n", whole.stdout)


def test_bench_shows_the_training_bar_unless_quiet_or_json():
    shown = dqn("bench", "--preset", "cartpole", "--steps", "1")
    assert shown.returncode == 0, shown.stderr
    assert "2000/2000" in shown.stderr and "agent steps/s on CartPole-v1" in shown.stdout
    quiet = dqn("bench", "--preset", "cartpole", "--steps", "1", "--quiet")
    assert quiet.returncode == 0 and "2000/2000" not in quiet.stderr, quiet.stderr


def test_resume_of_a_run_at_its_stop_score_says_so_and_a_higher_one_trains_on(tmp_path):
    out = tmp_path / "run"
    # every evaluation reaches a stop score of 0: the run stops at its first, at agent step 300
    assert dqn("train", "--preset", "cartpole", "--out", out, *SMOKE_FLAGS, "--stop-score", "0").returncode == 0
    again = dqn("train", "--resume", out)
    assert_one_line_error(again, "the run already reached its stop score 0 (best evaluation ",
                          f"at agent step 300; to train on, raise it: dqn train --resume {out} --stop-score HIGHER")
    higher = dqn("train", "--resume", out, "--stop-score", "1e9", "--quiet")
    assert higher.returncode == 0, higher.stderr
    assert "trained 600 agent steps" in higher.stdout
    assert json.loads((out / "config.json").read_text())["stop_score"] == 1e9


def test_resume_help_lists_the_flags_resume_may_change():
    wide = dqn("train", "--help", env={**os.environ, "COLUMNS": "10000"})
    [line] = [line for line in wide.stdout.splitlines() if line.lstrip().startswith("--resume")]
    listed = re.findall(r"--[a-z-]+", re.search(r"\(only (.*) may change\)", line).group(1))
    assert listed == ["--" + name.replace("_", "-") for name in RESUME_OVERRIDES] and "--stop-score" in listed


def test_help_shows_defaults():
    wide = {**os.environ, "COLUMNS": "10000"}
    train = dqn("train", "--help", env=wide).stdout
    breakout = preset_config("breakout")
    assert f"agent steps to train for (default: {breakout.total_steps})" in train
    assert f"Adam learning rate (default: {breakout.learning_rate})" in train
    assert "(default: 30)" in dqn("evaluate", "--help", env=wide).stdout  # --games
    assert "(default: 20000)" in dqn("bench", "--help", env=wide).stdout  # --steps


def test_print_config_prints_the_preset_with_the_flags_and_makes_no_run(tmp_path):
    result = dqn("train", "--preset", "cartpole", "--seed", "7", "--hidden-sizes", "32", "32", "--print-config",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    expected = preset_config("cartpole", seed=7, hidden_sizes=(32, 32)).to_dict()
    assert json.loads(result.stdout) == json.loads(json.dumps(expected))
    assert list(tmp_path.iterdir()) == []  # no runs/ folder, no run


def test_a_bare_dqn_prints_usage_and_its_commands():
    result = dqn()
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("usage: dqn")
    for command in ("train", "evaluate", "record", "bench"):
        assert re.search(rf"^\s+{command}\s+\w", result.stderr, re.MULTILINE), command


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where no folder can be made")
def test_an_out_whose_parent_cannot_exist_is_named_as_such(tmp_path):
    result = dqn("train", "--preset", "cartpole", "--out", "/proc/nope/run", cwd=tmp_path)
    assert_one_line_error(result, "cannot create the run folder /proc/nope/run: /proc/nope does not exist and "
                                  "nothing can be made in /proc", "choose another --out")
    assert list(tmp_path.iterdir()) == []


def test_version():
    result = dqn("--version")
    assert result.returncode == 0 and result.stdout == f"dqn {cli.__version__}\n", result.stderr


def test_the_command_line_answers_and_refuses_before_it_loads_torch(tmp_path):
    """--help, --version and every refusal of bad input come before torch is imported (about 1 s of a
    2-core machine's time): argv is parsed, and a new run's config and env id checked, without it."""
    from dqn.train.run_lock import holding

    taken = tmp_path / "taken"
    answered = [["--version"], ["--help"], ["train", "--help"], ["evaluate", "--help"],
                ["train", "--learning-rate", "-1"], ["train", "--learning-rat", "3e-4"],
                ["train", "--torch-threads", "two"], ["train", "--head", "c51", "--v-min", "10"],
                ["train", "--preset", "cartpole", "--print-config"], ["train", "--env-id", "NoSuchEnv-v0"],
                ["train", "--resume", str(tmp_path / "nowhere")],
                ["train", "--preset", "cartpole", "--out", str(taken)],
                ["evaluate", "run", "--games", "0"], ["record", "run"], ["bench", "--steps", "0"]]
    code = ("import sys\nfrom dqn.cli import main\n"
            f"for argv in {answered!r}:\n"
            "    try:\n        code = main(argv)\n    except SystemExit as exc:\n        code = exc.code\n"
            "    print(argv, code, 'torch' in sys.modules, file=sys.stderr)\n")
    with holding(taken, new_run=True):  # a second writer is refused before torch too
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    verdicts = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert len(verdicts) == len(answered), result.stderr
    assert all(line.endswith(" False") for line in verdicts), result.stderr
    assert [line.split()[-2] for line in verdicts] == ["0"] * 4 + ["2"] * 4 + ["0"] + ["2"] * 6, result.stderr


def test_print_config_checks_the_env_id_as_training_does(tmp_path):
    assert_one_line_error(dqn("train", "--env-id", "NoSuchEnv-v0", "--print-config"),
                          "dqn: error: unknown env id 'NoSuchEnv-v0'")
    assert_one_line_error(dqn("train", "--env-id", "Breakout-v4", "--print-config"),
                          "'Breakout-v4' skips a random 2 to 4 frames a step itself")


def test_evaluate_plays_on_one_thread_and_scores_the_homework_on_the_courses_seed(monkeypatch, capsys):
    """Play acts on one observation at a time, on one thread, so that two evaluations side by side take a core
    each; the homework score's env is seeded with the course's 9 unless --seed says otherwise."""
    from dqn.evaluation import protocols

    seeds = []
    monkeypatch.setattr(protocols, "play_by_protocol",
                        lambda env, agent, protocol, games, seed, **_: [seeds.append(seed) or 0.0])
    monkeypatch.setattr(protocols, "homework_final_score",
                        lambda agent, config, seed, **_: (seeds.append(seed) or 15.0, [3.0]))
    threads = torch.get_num_threads()
    try:
        cases = (([], 0, 9, 1), (["--seed", "4", "--torch-threads", "2"], 4, 4, 2))
        for extra, games_seed, homework_seed, playing_threads in cases:
            seeds.clear()
            argv = ["evaluate", str(REPO / "models" / "breakout"), "--homework", "--games", "1", "--json", *extra]
            assert cli.main(argv) == 0
            report = json.loads(capsys.readouterr().out)
            assert (report["seed"], report["homework_seed"]) == (games_seed, homework_seed) and seeds == [games_seed,
                                                                                                         homework_seed]
            assert torch.get_num_threads() == playing_threads
    finally:
        torch.set_num_threads(threads)
