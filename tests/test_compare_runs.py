"""benchmarks/compare_runs.py: each snapshot of a run scored once, the same whether played one at a
time or several at once."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import compare_runs  # noqa: E402

TINY = ["--preset", "cartpole", "--total-steps", "600", "--learning-starts", "200", "--eval-freq-steps", "200",
        "--eval-games", "1", "--checkpoint-freq-steps", "600", "--buffer-size", "1000", "--keep-eval-snapshots",
        "--quiet"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("compare") / "run"
    done = subprocess.run([sys.executable, "-m", "dqn", "train", *TINY, "--out", str(run)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return run


def test_snapshots_scored_in_parallel_as_one_at_a_time_and_cached(run_dir, tmp_path, monkeypatch):
    twin = tmp_path / "twin"
    shutil.copytree(run_dir, twin)
    alone = compare_runs.snapshot_scores(run_dir, "training", games=2, seed=0)
    together = compare_runs.snapshot_scores(twin, "training", games=2, seed=0, jobs=2)
    assert [r["step"] for r in alone] == [200, 400, 600]
    assert alone == together
    assert all(r["mean"] > 0 and r["minutes"] >= 0 for r in alone)  # CartPole scores 1 a step
    # a second call plays nothing: the scores come from the run's cache
    monkeypatch.setattr(compare_runs, "score_snapshot", lambda *args: pytest.fail("played again"))
    assert compare_runs.snapshot_scores(run_dir, "training", games=2, seed=0, jobs=1) == alone
    assert compare_runs.snapshot_scores(run_dir, "training", games=2, seed=0, every=400) == alone[1:2]
