"""Writing a run's files so that neither a kill nor a failed write leaves a half-written one,
and so that a failed write says which file it was."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path


@contextlib.contextmanager
def naming_the_file(path: Path):
    """An OSError raised inside that names no file (a full disk during write or flush) gets path."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(path)
        raise


def write_atomic(path: Path, write) -> None:
    """Call write(file) on a temporary file beside path, flush it to disk, then rename it over path.

    The rename is atomic, so path always holds either the previous complete file or the new one;
    a kill mid-write leaves only the temporary file behind. Any other failure (a full disk, Ctrl-C)
    removes the temporary file, giving its room back, and is raised; an OSError names path.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            exc.filename = str(path)  # the file the user knows, not its temporary
        raise


@contextlib.contextmanager
def deferred_thread_write_errors():
    """While inside, a thread ended by an OSError prints no traceback. TensorBoard writes its events
    in a thread of its own, which hands a failed write (a full disk) on to the main thread's next
    add_scalar, where the run ends with one line; the thread's traceback would only repeat it."""
    previous = threading.excepthook

    def hook(args):
        if not issubclass(args.exc_type, OSError):
            previous(args)

    threading.excepthook = hook
    try:
        yield
    finally:
        threading.excepthook = previous
