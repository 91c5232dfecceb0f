"""The notebooks, executed top to bottom as a student runs them: every assert cell must pass."""

import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
# the benchmark runs them the same way
from run_notebook import execute, outputs_text, run_cells, summary, with_overrides  # noqa: E402

NOTEBOOKS = ["homework_pytorch_main.ipynb", "homework_pytorch_debug.ipynb"]
# what must not reach a student in the saved outputs: a path of the machine that ran it, or a warning
LOCAL_PATH = re.compile(r"(?<![\w.])/(?:home|root|tmp|work|Users|usr)/|site-packages")
WARNING = re.compile(r"Warning|XDG_RUNTIME_DIR")


def test_debug_notebook_passes_its_final_check():
    notebook = execute("homework_pytorch_debug.ipynb", timeout_s=900)
    text = outputs_text(notebook)
    assert "Well done!" in text  # the play_and_record test cell
    final = [line for line in text.splitlines() if line.startswith("final score:")]
    assert len(final) == 1 and float(final[0].split(":")[1]) > 300
    images = sum("image/png" in out.get("data", {}) for cell in notebook.cells
                 if cell.cell_type == "code" for out in cell.get("outputs", []))
    assert images >= 3  # the rendered env, the training plots, the value scatter
    assert not LOCAL_PATH.search(text) and not WARNING.search(text)


@pytest.mark.skipif(not (ROOT / "models" / "breakout" / "best.pt").is_file(),
                    reason="the main notebook's smoke run scores the pretrained agent in models/breakout")
def test_main_notebook_smoke_run_passes_every_assert():
    # the final check plays the pretrained agent's 30 lives greedily, each up to the course's 10,000 agent steps
    notebook = execute("homework_pytorch_main.ipynb", {"SMOKE": "True"}, timeout_s=1800)
    text = outputs_text(notebook)
    assert "Formal tests seem fine" in text and "Well done!" in text and "Double DQN check passed" in text
    run = summary(text)
    assert run["stop_step"] == 300 and run["stop_reason"] == "the step cap"
    assert "| 300/300 [" in text  # the bar counts agent steps, to the cap
    assert run["scored"].startswith("the pretrained agent") and "SMOKE = True" in run["scored"]
    assert run["final_score"] >= 15 and "Cool!" in text
    html = "".join(out.get("data", {}).get("text/html", "") for cell in notebook.cells
                   if cell.cell_type == "code" for out in cell.get("outputs", []))
    assert "<video" in html and "base64" in html  # the game is embedded, not linked
    images = sum("image/png" in out.get("data", {}) for cell in notebook.cells
                 if cell.cell_type == "code" for out in cell.get("outputs", []))
    assert images >= 10


@pytest.mark.slow
def test_main_notebook_fails_its_final_check_when_its_own_agent_falls_short():
    # A 1,000-step budget cannot pass: the final check must score this agent, not swap in the pretrained one.
    notebook = with_overrides("homework_pytorch_main.ipynb", {"SMOKE": "False", "MAX_AGENT_STEPS": "1000"})
    with pytest.raises(CellExecutionError) as failure:
        run_cells(notebook, timeout_s=900)
    text = outputs_text(notebook)
    run = summary(text)
    assert run["stop_step"] == 1000 and run["stop_reason"] == "the step cap" and "| 1000/1000 [" in text
    assert run["scored"] == "the agent trained in this notebook" and run["final_score"] < 15
    assert failure.value.ename == "AssertionError" and "Cool!" not in text
    message = failure.value.evalue
    assert "not as cool as DQN can" in message and "after 1000 agent steps" in message
    assert "raise MAX_AGENT_STEPS" in message and "load_pretrained()" in message  # how to go on


def test_the_committed_main_notebook_shows_its_own_agent_passing():
    # The saved outputs are those of a run with the default budget (SMOKE = False), not of the smoke run.
    notebook = nbformat.read(ROOT / "homework_pytorch_main.ipynb", as_version=4)
    text = outputs_text(notebook)
    run = summary(text)
    assert run["stop_reason"] == "the homework score reached 15" and 0 < run["stop_step"] < 10**6
    assert run["scored"] == "the agent trained in this notebook" and run["final_score"] >= 15
    assert "/500000 [" in text  # the bar's total: the cap in agent steps
    html = "".join(out.get("data", {}).get("text/html", "") for cell in notebook.cells
                   if cell.cell_type == "code" for out in cell.get("outputs", []))
    assert "<video" in html


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_committed_outputs_hold_no_local_path_or_warning(name):
    text = outputs_text(nbformat.read(ROOT / name, as_version=4))
    assert not LOCAL_PATH.search(text), LOCAL_PATH.search(text).group(0)
    assert not WARNING.search(text), WARNING.search(text).group(0)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_colab_setup_cell_clones_installs_and_moves_into_the_repository(name, tmp_path):
    # Colab simulated: a google.colab module, this repository as REPO_URL, %pip recorded instead of run.
    setup = next(cell for cell in nbformat.read(ROOT / name, as_version=4).cells
                 if cell.cell_type == "code" and "REPO_URL = " in cell.source)
    assert setup.source.count('REPO_URL = "https://github.com/') == 1  # the one line a user edits
    source = re.sub(r'REPO_URL = "[^"]*"', f'REPO_URL = "{ROOT}"', setup.source)
    colab = ("import sys, types\n"
             "sys.modules['google.colab'] = types.ModuleType('google.colab')\n"
             "get_ipython().register_magic_function(lambda line: print('pip', line), 'line', 'pip')")
    # the setup cell twice, as a second "run all" does: the second time it stays where it is
    cells = [colab, source, source, "print(os.getcwd())"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell) for cell in cells])
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = outputs_text(notebook)
    assert text.count("pip install -q -e .") == 1
    assert text.strip().splitlines()[-1] == str(tmp_path / ROOT.name)
    assert (tmp_path / ROOT.name / "utils.py").is_file()
