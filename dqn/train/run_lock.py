"""One writer per run folder. A training process holds an exclusive lock (flock) on a file inside its run
folder for as long as it writes there; a second one is refused at once, with the holder's pid and host.
The kernel drops the lock with its process, however that ends (kill -9, an out-of-memory kill), so
there is nothing stale to clean up; a lock file left behind locks nothing. Readers (evaluate, record)
take no lock: every file of a run is written whole, by a rename."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path

from dqn.errors import UserError

LOCK_FILE = ".dqn-train.lock"  # hidden: not a file of the run, and not one check_run_dir counts
HOLDER_WAIT_S = 0.5  # a holder writes its pid just after it takes the lock


class RunFolderInUse(UserError):
    """Another process is writing to the run folder."""


def check_run_dir(run_dir: Path) -> None:
    """Refuse a new run in a folder that already holds a run: never overwrite one silently."""
    # a run killed as it started may have left an unfinished temporary file: nothing to keep
    if any(not p.name.endswith(".tmp") and p.name != LOCK_FILE for p in run_dir.iterdir()):
        raise UserError(f"run folder {run_dir} already exists and is not empty; choose another --out")


@contextlib.contextmanager
def holding(run_dir: Path, new_run: bool):
    """Hold run_dir while inside: RunFolderInUse at once if another process holds it. A new run's
    folder is created (and must be empty but for leftovers of a kill); a folder created here that
    nothing was written to is removed again on the way out, as a run refused before it wrote leaves."""
    run_dir = Path(run_dir)
    if new_run and run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{run_dir} is a file, not a run folder; choose another --out")
    created = new_run and not run_dir.exists()
    fd = take(run_dir, create=new_run)
    try:
        if new_run:
            check_run_dir(run_dir)
        yield
    finally:
        if created:
            remove_if_unwritten(run_dir)
        os.close(fd)


def remove_if_unwritten(run_dir: Path) -> None:
    """Remove run_dir if it holds nothing but its lock file, which this process holds."""
    # OSError: the folder removed under the run, or another run's lock file just put in
    with contextlib.suppress(OSError):
        if [p.name for p in run_dir.iterdir()] == [LOCK_FILE]:
            # unlinked while still held: a process that opened it meanwhile finds it gone (see take)
            (run_dir / LOCK_FILE).unlink()
            run_dir.rmdir()


def take(run_dir: Path, create: bool) -> int:
    """The descriptor of run_dir's lock file, locked by this process, with its pid and host in it."""
    path = run_dir / LOCK_FILE
    while True:
        try:
            if create:
                run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by the processes this one starts
        except OSError as exc:  # a folder without write permission, a full disk
            if create and not run_dir.is_dir():
                raise UserError(cannot_create(run_dir, exc)) from None
            raise UserError(f"cannot write {exc.filename or path}: {exc.strerror or exc}; nothing was written: "
                            "make it writable, then run this again") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_holder(fd)
            os.close(fd)
            raise RunFolderInUse(f"run folder {run_dir} is in use by another dqn train ({holder}); "
                                 "one process writes to a run folder at a time: wait for it to end, or stop it "
                                 "first") from None
        try:
            still_there = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            still_there = False
        if still_there:
            break
        os.close(fd)  # the file of a holder that removed its empty folder on the way out: take the new one
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
    return fd


def cannot_create(run_dir: Path, exc: OSError) -> str:
    """One line for a run folder that could not be made: the part of its path that stands in the way."""
    existing = next(parent for parent in run_dir.parents if parent.exists())  # "." or "/" at worst
    if not existing.is_dir():
        return f"cannot create the run folder {run_dir}: {existing} is a file, not a folder; choose another --out"
    missing = existing / run_dir.relative_to(existing).parts[0]
    never_made = "" if missing == run_dir else f"{missing} does not exist and "
    return (f"cannot create the run folder {run_dir}: {never_made}nothing can be made in {existing} "
            f"({exc.strerror or exc}); choose another --out")


def read_holder(fd: int) -> str:
    """What the holder wrote in the lock file: "pid N on HOST"."""
    deadline = time.monotonic() + HOLDER_WAIT_S
    while True:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
        if text or time.monotonic() > deadline:
            return text or "pid unknown"
        time.sleep(0.02)
