"""The training progress bar: agent steps, with the speed and ETA of the last few thousand of them."""

from __future__ import annotations

import time
from collections import deque

from tqdm import tqdm

# agent steps the bar's rate is measured over: long enough to hold several metrics rows, short enough
# that the ETA follows a change of speed (random play ending, learning starting) within a minute or so
RATE_WINDOW_STEPS = 5_000


class TrainingBar(tqdm):
    """tqdm over agent steps whose rate, and so its ETA, is that of the last window_steps agent steps.
    tqdm's own rate weighs its last few refreshes alike whatever their length, so one evaluation (a
    minute without a step) sent the ETA from minutes to hours; the average since the start, its other
    choice, holds on to the fast random play before learning starts for most of a run."""

    def __init__(self, *args, window_steps: int = RATE_WINDOW_STEPS, clock=time.monotonic, **kwargs):
        self.window_steps, self.clock = window_steps, clock
        self.samples: deque[tuple[float, int]] = deque()  # (time, agent steps) at each update
        super().__init__(*args, **kwargs)
        self.steps = self.n  # counted here too: a disabled tqdm counts nothing
        self.samples.append((clock(), self.steps))

    def update(self, n: int = 1):
        self.steps += n
        self.samples.append((self.clock(), self.steps))  # before tqdm's update, which may show the rate
        # keep the newest samples that still span window_steps
        while len(self.samples) > 2 and self.samples[-1][1] - self.samples[1][1] >= self.window_steps:
            self.samples.popleft()
        return super().update(n)

    def recent_rate(self) -> float | None:
        """Agent steps per second over the window; None before two updates apart in time."""
        if len(self.samples) < 2:
            return None
        (start_time, start_steps), (end_time, end_steps) = self.samples[0], self.samples[-1]
        return (end_steps - start_steps) / (end_time - start_time) if end_time > start_time else None

    @property
    def format_dict(self):
        shown = super().format_dict
        shown["rate"] = self.recent_rate()  # tqdm's ETA is (total - n) / rate
        return shown
