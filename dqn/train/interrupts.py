"""Ctrl-C (SIGINT) and SIGTERM as clean stops: no traceback, no half-written file."""

from __future__ import annotations

import contextlib
import signal
import threading

STOP_SIGNALS = ("SIGINT", "SIGTERM")


class Interrupted(Exception):
    """A stop signal arrived; the work was abandoned, its unfinished files removed."""

    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal_name = signal_name

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number (130 for SIGINT)."""
        return 128 + getattr(signal, self.signal_name)


@contextlib.contextmanager
def stop_requests(on_signal):
    """While inside, a first Ctrl-C (SIGINT) or SIGTERM calls on_signal(name) instead of stopping the
    process, e.g. so that training can finish its step and save a checkpoint it can resume from
    exactly; a second one gets the handler from before (see interruptible)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = {}

    def restore():
        for name in STOP_SIGNALS:
            signal.signal(getattr(signal, name), previous[name])

    def handler(signum, frame):
        restore()  # a second Ctrl-C stops at once, e.g. in the middle of a long evaluation
        on_signal(signal.Signals(signum).name)

    for name in STOP_SIGNALS:
        previous[name] = signal.signal(getattr(signal, name), handler)
    try:
        yield
    finally:
        restore()


@contextlib.contextmanager
def interruptible():
    """While inside, Ctrl-C or SIGTERM raises Interrupted where the code is, so that cleanups
    (finally, except) run as for any error; SIGTERM would otherwise end the process without them."""

    def stop(signal_name: str):
        raise Interrupted(signal_name)

    with stop_requests(stop):
        yield
