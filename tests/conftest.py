"""What the tests share: the repository root on sys.path, and helpers that run the `dqn` command as a
user does and read what a run saved (test modules import them: `from conftest import dqn`)."""

import subprocess
import sys
import time
from pathlib import Path

# The course's helper modules (utils, replay_buffer, ...) sit at the repo root, beside dqn/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def dqn(*args, timeout=300, **kwargs) -> subprocess.CompletedProcess:
    """`python -m dqn ARGS` in a process of its own, as a user runs it: its exit code, and its stdout and
    stderr as text. kwargs go to subprocess.run (cwd, env, preexec_fn, ...)."""
    return subprocess.run([sys.executable, "-m", "dqn", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    """Bad input's answer: exit code 2 and one line on stderr, no traceback, holding each of needles."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n"), result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def wait_for(condition, process: subprocess.Popen, timeout: float = 120) -> None:
    """Until condition() holds, while process runs: fails with its output if it ends first or time runs out."""
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)


def saved_step(run_dir: Path) -> int:
    """The agent step of run_dir's checkpoint.pt."""
    import torch

    return torch.load(run_dir / "checkpoint.pt", weights_only=True)["step"]
