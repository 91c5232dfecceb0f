"""Ctrl-C (SIGINT) and SIGTERM as clean stops: no traceback, no half-written file."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

STOP_SIGNALS = ("SIGINT", "SIGTERM")


class Interrupted(BaseException):
    """A stop signal arrived; the work was abandoned, its unfinished files removed. A BaseException, as
    KeyboardInterrupt is, so that an `except Exception` (ours or a library's) does not take it for an error."""

    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal_name = signal_name

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number (130 for SIGINT)."""
        return 128 + getattr(signal, self.signal_name)


@contextlib.contextmanager
def _handled_by(handler):
    """While inside, Ctrl-C and SIGTERM call handler(signal name); yields the function that puts the
    handlers from before back, as leaving does."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None  # signal handlers can only be set from the main thread
        return
    previous = {name: signal.getsignal(getattr(signal, name)) for name in STOP_SIGNALS}

    def restore():
        for name, handler_before in previous.items():
            signal.signal(getattr(signal, name), handler_before)

    for name in STOP_SIGNALS:
        signal.signal(getattr(signal, name), lambda signum, frame: handler(signal.Signals(signum).name))
    try:
        yield restore
    finally:
        restore()


@contextlib.contextmanager
def stop_requests(on_signal):
    """While inside, a first Ctrl-C (SIGINT) or SIGTERM calls on_signal(name) instead of stopping the
    process, e.g. so that training can finish its step and save a checkpoint it can resume from
    exactly; a second one gets the handler from before (see interruptible)."""

    def first_request(signal_name: str):
        restore()  # a second Ctrl-C stops at once, e.g. in the middle of a long evaluation
        on_signal(signal_name)

    with _handled_by(first_request) as restore:
        yield


@contextlib.contextmanager
def interruptible():
    """While inside, Ctrl-C or SIGTERM raises Interrupted where the code is, so that cleanups
    (finally, except) run as for any error; SIGTERM would otherwise end the process without them."""

    def stop(signal_name: str):
        raise Interrupted(signal_name)

    hook_before = sys.unraisablehook
    lost_stops: list[tuple[str, threading.Timer]] = []

    def send_a_lost_stop_again(unraisable):
        if not isinstance(unraisable.exc_value, Interrupted):
            hook_before(unraisable)
            return
        # The signal came while a finalizer (a __del__) ran, where Python drops what is raised. Sent again
        # a moment later from another thread, it is handled once the finalizer has returned.
        name = unraisable.exc_value.signal_name
        lost_stops.append((name, threading.Timer(0.01, os.kill, (os.getpid(), getattr(signal, name)))))
        lost_stops[-1][1].start()

    sys.unraisablehook = send_a_lost_stop_again
    try:
        with _handled_by(stop):
            yield
            if lost_stops:  # the work ended before the stop sent again came
                raise Interrupted(lost_stops[0][0])
    finally:
        for _, timer in lost_stops:
            timer.cancel()
        sys.unraisablehook = hook_before
