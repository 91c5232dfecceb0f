"""The training bar's rate and ETA follow the recent agent steps, not the average since the start."""

import io

import pytest

from dqn.train.progress import TrainingBar


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def advance(bar: TrainingBar, clock: Clock, steps: int, per_second: float, chunk: int = 4) -> None:
    """steps agent steps at per_second, reported chunk at a time as the loop does."""
    for _ in range(steps // chunk):
        clock.now += chunk / per_second
        bar.update(chunk)


def make_bar(clock: Clock, total: int = 2_000_000) -> TrainingBar:
    return TrainingBar(total=total, window_steps=1_000, clock=clock, file=io.StringIO(), mininterval=0, unit="step")


def test_the_rate_is_the_last_window_of_agent_steps():
    clock = Clock()
    bar = make_bar(clock)
    advance(bar, clock, 10_000, per_second=2_000)  # random play, before learning starts
    assert bar.recent_rate() == pytest.approx(2_000)
    advance(bar, clock, 2_000, per_second=250)  # learning: 8 times slower
    assert bar.recent_rate() == pytest.approx(250)
    # what is shown: that rate, and the steps left at it
    assert bar.format_dict["rate"] == pytest.approx(250)
    assert "250.00step/s" in str(bar)
    assert bar.format_meter(**bar.format_dict).count(bar.format_interval((2_000_000 - 12_000) / 250)) == 1


def test_an_evaluation_pause_sways_the_eta_only_until_the_window_passes_it():
    clock = Clock()
    bar = make_bar(clock)
    advance(bar, clock, 5_000, per_second=250)
    clock.now += 60  # an evaluation: a minute without a step
    advance(bar, clock, 4, per_second=250)
    # the window now holds the pause: slower, but not the hours tqdm's own smoothing made of it
    assert 10 < bar.format_dict["rate"] < 250
    advance(bar, clock, 1_000, per_second=250)
    assert bar.format_dict["rate"] == pytest.approx(250)


def test_a_disabled_bar_keeps_no_more_than_its_window():
    clock = Clock()
    bar = TrainingBar(total=100_000, window_steps=1_000, clock=clock, disable=True)
    advance(bar, clock, 50_000, per_second=1_000)
    assert len(bar.samples) <= 1_000 // 4 + 2
