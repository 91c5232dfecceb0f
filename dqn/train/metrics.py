"""A run's metrics log: each row of metrics goes to metrics.csv and to TensorBoard (tb/). A loop
(dqn/train/loop.py) makes the rows; this part writes them, and trims a resumed run's log to its checkpoint."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from dqn.errors import UserError
from dqn.machine.files import naming_the_file, write_atomic

METRIC_FIELDS = ["step", "wall_s", "updates", "episodes", "train_score", "epsilon", "loss",
                 "q_mean", "grad_norm", "steps_per_s", "eval_mean", "eval_std",
                 "time_env_s", "time_act_s", "time_sample_s", "time_update_s", "replay_refills"]


class MetricsLog:
    """metrics.csv, with the columns `fields`, and TensorBoard's events, in run_dir: open, write rows, close."""

    def __init__(self, run_dir: Path, fields: list[str]):
        self.path = run_dir / "metrics.csv"
        self.tensorboard_dir = run_dir / "tb"
        self.fields = fields
        self.file = self.table = self.tensorboard = None

    def open(self, step: int, keep_row_at_step: bool) -> None:
        """Open both for a run at agent step `step`: a resumed one keeps the rows before it (and the
        one at it when keep_row_at_step), dropping those logged after its checkpoint."""
        from torch.utils.tensorboard import SummaryWriter

        rows = []  # a run at step 0, new or started over, keeps none
        if step > 0:
            try:
                with open(self.path, newline="") as f:
                    rows = [row for row in csv.DictReader(f) if int(row["step"]) < step or
                            int(row["step"]) == step and keep_row_at_step]
            except (OSError, ValueError, TypeError) as exc:
                raise UserError(f"cannot read {self.path} to go on with it: {exc}") from None

        def write(f):
            text = io.StringIO()
            table = csv.DictWriter(text, fieldnames=self.fields)
            table.writeheader()
            table.writerows(rows)
            f.write(text.getvalue().encode())

        write_atomic(self.path, write)
        self.file = open(self.path, "a", newline="")
        self.table = csv.DictWriter(self.file, fieldnames=self.fields)
        # a resumed run, or one started over, drops the points of the process it replaces
        self.tensorboard = SummaryWriter(str(self.tensorboard_dir), purge_step=step + 1)

    def write(self, row: dict) -> None:
        """The row of agent step row["step"], to both; a failed write names its file."""
        with naming_the_file(self.path):
            self.table.writerow(row)
            self.file.flush()
        with naming_the_file(self.tensorboard_dir):
            for key, value in row.items():
                if key != "step":
                    self.tensorboard.add_scalar(key, value, row["step"])

    def close(self) -> None:
        self.file.close()
        self.tensorboard.close()
