"""Execute a notebook top to bottom, as a student runs it, with its parameters overridden.

    python benchmarks/run_notebook.py homework_pytorch_main.ipynb --set SEED=1 --out runs/nb-seed1.ipynb
    python benchmarks/run_notebook.py homework_pytorch_main.ipynb --set MAX_AGENT_STEPS=200_000

As papermill does, the overrides go in a new cell right after the cell tagged "parameters". Prints one
JSON line: wall-clock minutes, the agent step the training stopped at, the final score and which
agent it scored (parsed from the notebook's own output), and the error of the cell that failed, if one did
(a final check that fails is a result too: the notebook is still written).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from dqn.machine.hardware import cpu_capability, cpu_info

ROOT = Path(__file__).resolve().parents[1]


def with_overrides(name: str, overrides: dict[str, str] | None = None) -> nbformat.NotebookNode:
    notebook = nbformat.read(ROOT / name, as_version=4)
    if overrides:
        at = next(i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", []))
        lines = "\n".join(f"{key} = {value}" for key, value in overrides.items())
        notebook.cells.insert(at + 1, nbformat.v4.new_code_cell(lines))
    return notebook


def run_cells(notebook: nbformat.NotebookNode, timeout_s: int = 3600) -> None:
    """Fills the notebook's outputs in place, those before a failing cell too, and raises CellExecutionError."""
    NotebookClient(notebook, timeout=timeout_s, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()


def execute(name: str, overrides: dict[str, str] | None = None, timeout_s: int = 3600) -> nbformat.NotebookNode:
    notebook = with_overrides(name, overrides)
    run_cells(notebook, timeout_s)
    return notebook


def outputs_text(notebook) -> str:
    return "\n".join(out.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                     for out in cell.get("outputs", []))


def summary(text: str) -> dict:
    stop = re.search(r"stopped at agent step (\d+): (.*)", text)
    final = re.search(r"final score: ([\d.]+)", text)
    scored = re.search(r"scoring (.*)", text)
    return {"stop_step": int(stop.group(1)) if stop else None, "stop_reason": stop.group(2) if stop else None,
            "final_score": float(final.group(1)) if final else None,
            "scored": scored.group(1) if scored else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter to override, as Python source (repeatable)")
    parser.add_argument("--out", type=Path, help="where to write the executed notebook")
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    notebook = with_overrides(args.notebook, overrides)
    start = time.perf_counter()
    try:
        run_cells(notebook)
        failed = None
    except CellExecutionError as error:
        failed = f"{error.ename}: {error.evalue}"
    minutes = (time.perf_counter() - start) / 60
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, args.out)
    print(json.dumps({"notebook": args.notebook, "overrides": overrides, "minutes": round(minutes, 1),
                      **summary(outputs_text(notebook)), "failed": failed,
                      "cpu": cpu_info()[0], "torch_kernels": cpu_capability()}))


if __name__ == "__main__":
    main()
