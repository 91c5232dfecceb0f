"""The notebooks, executed top to bottom as a student runs them: every assert cell must pass."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from run_notebook import execute, outputs_text, summary  # noqa: E402  the benchmark runs them the same way


def test_debug_notebook_passes_its_final_check():
    notebook = execute("homework_pytorch_debug.ipynb", timeout_s=900)
    text = outputs_text(notebook)
    assert "Well done!" in text  # the play_and_record test cell
    final = [line for line in text.splitlines() if line.startswith("final score:")]
    assert len(final) == 1 and float(final[0].split(":")[1]) > 300
    images = sum("image/png" in out.get("data", {}) for cell in notebook.cells
                 if cell.cell_type == "code" for out in cell.get("outputs", []))
    assert images >= 3  # the rendered env, the training plots, the value scatter


@pytest.mark.skipif(not (ROOT / "models" / "breakout" / "best.pt").is_file(),
                    reason="the main notebook's final score needs the pretrained agent in models/breakout")
def test_main_notebook_smoke_run_passes_every_assert():
    notebook = execute("homework_pytorch_main.ipynb", {"SMOKE": "True"}, timeout_s=900)
    text = outputs_text(notebook)
    assert "Formal tests seem fine" in text and "Well done!" in text and "Double DQN check passed" in text
    run = summary(text)
    assert run["stop_step"] == 300 and run["stop_reason"] == "the step cap (total_steps)"
    assert run["scored"].startswith("the pretrained agent")  # a 300-step agent cannot pass; the notebook says so
    assert run["final_score"] >= 15 and "Cool!" in text
    html = "".join(out.get("data", {}).get("text/html", "") for cell in notebook.cells
                   if cell.cell_type == "code" for out in cell.get("outputs", []))
    assert "<video" in html and "base64" in html  # the game is embedded, not linked
    images = sum("image/png" in out.get("data", {}) for cell in notebook.cells
                 if cell.cell_type == "code" for out in cell.get("outputs", []))
    assert images >= 10


def test_the_committed_main_notebook_shows_its_own_agent_passing():
    # The saved outputs are those of a run with the default budget (SMOKE = False), not of the smoke run.
    import nbformat
    notebook = nbformat.read(ROOT / "homework_pytorch_main.ipynb", as_version=4)
    run = summary(outputs_text(notebook))
    assert run["stop_reason"] == "the homework score reached 15" and 0 < run["stop_step"] < 10**6
    assert run["scored"] == "the agent trained in this notebook" and run["final_score"] >= 15
    html = "".join(out.get("data", {}).get("text/html", "") for cell in notebook.cells
                   if cell.cell_type == "code" for out in cell.get("outputs", []))
    assert "<video" in html
