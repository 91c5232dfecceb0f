"""The notebooks, executed top to bottom as a student runs them: every assert cell must pass."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def execute(name: str) -> nbformat.NotebookNode:
    notebook = nbformat.read(ROOT / name, as_version=4)
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    return notebook


def outputs_text(notebook) -> str:
    return "\n".join(out.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                     for out in cell.get("outputs", []))


def test_debug_notebook_passes_its_final_check():
    notebook = execute("homework_pytorch_debug.ipynb")
    text = outputs_text(notebook)
    assert "Well done!" in text  # the play_and_record test cell
    final = [line for line in text.splitlines() if line.startswith("final score:")]
    assert len(final) == 1 and float(final[0].split(":")[1]) > 300
    images = sum("image/png" in out.get("data", {}) for cell in notebook.cells
                 if cell.cell_type == "code" for out in cell.get("outputs", []))
    assert images >= 3  # the rendered env, the training plots, the value scatter
