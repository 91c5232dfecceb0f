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


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()  # the only one that may set signal handlers


@contextlib.contextmanager
def _handled_by(handler):
    """While inside, Ctrl-C and SIGTERM call handler(signal name); yields the function that puts the
    handlers from before back, as leaving does."""
    if not _on_main_thread():
        yield lambda: None
        return
    previous = {name: signal.getsignal(getattr(signal, name)) for name in STOP_SIGNALS}

    def restore():
        for name, handler_before in previous.items():
            signal.signal(getattr(signal, name), handler_before)

    try:  # a stop raised between the two settings still puts the first back
        for name in STOP_SIGNALS:
            signal.signal(getattr(signal, name), lambda signum, frame: handler(signal.Signals(signum).name))
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
def stops_held():
    """While inside, Ctrl-C and SIGTERM wait; the first that came is sent again on leaving, to the handler
    from before. For a few lines that a stop must not split, e.g. starting a process and keeping its handle."""
    held: list[str] = []
    try:
        with _handled_by(held.append):
            yield
    finally:
        if held:
            signal.raise_signal(getattr(signal, held[0]))


@contextlib.contextmanager
def interruptible():
    """While inside, Ctrl-C or SIGTERM raises Interrupted where the code is, so that cleanups
    (finally, except) run as for any error; SIGTERM would otherwise end the process without them."""
    if not _on_main_thread():
        yield
        return
    lost_stops: list[str] = []  # signals whose Interrupted a finalizer dropped, until one is raised
    resending = threading.Lock()  # taken to send one again, and to leave: nothing is sent once we have left
    in_hook = False

    def stop(signal_name: str):
        if in_hook:  # raised in the hook, it would be dropped as well; the stop it sends again will do
            return
        lost_stops.clear()
        raise Interrupted(signal_name)

    def send_again(signal_name: str):
        with resending:
            if lost_stops:
                os.kill(os.getpid(), getattr(signal, signal_name))

    hook_before = sys.unraisablehook

    def send_a_lost_stop_again(unraisable):
        nonlocal in_hook
        if not isinstance(unraisable.exc_value, Interrupted):
            hook_before(unraisable)
            return
        # The signal came while a finalizer (a __del__) ran, where Python drops what is raised. Sent again
        # a moment later from another thread, it is handled once the finalizer has returned.
        in_hook = True
        try:
            lost_stops.append(unraisable.exc_value.signal_name)
            threading.Timer(0.01, send_again, (unraisable.exc_value.signal_name,)).start()
        finally:
            in_hook = False

    sys.unraisablehook = send_a_lost_stop_again
    try:
        with _handled_by(stop) as restore:
            try:
                yield
            finally:
                with resending:
                    restore()  # from here no stop is raised, dropped or sent again
                    lost_before_the_end = lost_stops[:]
                    lost_stops.clear()
            if lost_before_the_end:  # the work ended before the stop sent again came
                raise Interrupted(lost_before_the_end[0])
    finally:
        sys.unraisablehook = hook_before
