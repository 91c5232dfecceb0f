"""docs/api.md's examples run as written: its python blocks in order, in one namespace as a reader pasting them
would have, from a folder that holds the repository's models/ (so the files they write land in tmp_path)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api.md"


@pytest.mark.skipif(not (ROOT / "models" / "breakout" / "best.pt").is_file(), reason="no models/breakout/best.pt")
def test_the_api_examples_run_as_written(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", API.read_text(), re.S)
    assert len(blocks) == 6  # play (twice), score, record, train, gymnasium's contract
    (tmp_path / "models").symlink_to(ROOT / "models")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{API}, python block {i + 1}", "exec"), namespace)
    printed = capsys.readouterr().out
    # the three-line game and the step-by-step game are the same game
    [score] = namespace["agent"].evaluate(games=1, seed=0)
    assert f"[{score}]" in printed and f"score {score} in" in printed
    assert (tmp_path / "breakout.mp4").stat().st_size > 0
    assert (tmp_path / "runs" / "cartpole-api" / "best.pt").is_file()
