"""How the local stack's processes are asked to stop: signals noted by handlers that cannot block, output that
survives a vanished terminal, and children that die with the thread that started them.

A Python signal handler runs in the main thread between two bytecodes, wherever that thread is: inside
`threading.Event.wait`, a lock's acquire or a `print`. A handler that sets an Event takes the Event's lock, which
the interrupted frame may hold: a second SIGTERM during the first handler's `Event.set` deadlocked `udaconnect dev`
(seen with py-spy). So the handlers here only append to a list; `signal.set_wakeup_fd` has the interpreter's C
handler write a byte to a pipe, which wakes whoever waits in `StopSignals.wait` (a `select` on it).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

#: Each asks for a stop: Ctrl-C, `kill`, a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopRequested(RuntimeError):
    """A stop was asked for while something was still starting."""


class StopSignals:
    """`signals = StopSignals().install()`; `signals.wait(5)` is True once any stop signal arrived (or
    `request` was called), however many arrive and in whatever order. Install from the main thread."""

    def __init__(self, signums: tuple[int, ...] = STOP_SIGNALS) -> None:
        self.signums = signums
        self.received: list[int] = []  # the handlers' only effect
        self.reasons: list[str] = []
        self._reader, self._writer = os.pipe()
        os.set_blocking(self._reader, False)
        os.set_blocking(self._writer, False)  # a full pipe drops the byte instead of blocking the handler

    def install(self) -> StopSignals:
        for signum in self.signums:
            if signum == signal.SIGHUP and signal.getsignal(signum) == signal.SIG_IGN:
                continue  # `nohup udaconnect dev`: asked to outlive the terminal
            signal.signal(signum, self._note)
        signal.set_wakeup_fd(self._writer, warn_on_full_buffer=False)
        return self

    def _note(self, signum: int, _frame: object) -> None:
        self.received.append(signum)

    def ignore(self) -> None:
        """The stop is over: from now on these signals are ignored. Left to Python, its finalization restores their
        default action, and one arriving while the interpreter exits (a doubled Ctrl-C after a quick stop) would
        kill the process after a clean stop, with the signal's status instead of 0."""
        for signum in self.signums:
            signal.signal(signum, signal.SIG_IGN)

    def request(self, reason: str) -> None:
        """A stop asked for by the program itself (e.g. its terminal is gone); not for signal handlers."""
        self.reasons.append(reason)
        with contextlib.suppress(BlockingIOError):
            os.write(self._writer, b"\0")

    @property
    def requested(self) -> bool:
        return bool(self.received or self.reasons)

    def why(self) -> str:
        """What asked for the stop, e.g. 'SIGINT, SIGINT'."""
        return ", ".join([signal.Signals(s).name for s in self.received] + self.reasons)

    def __call__(self) -> bool:
        return self.requested

    def wait(self, timeout: float | None = None) -> bool:
        """Until a stop is asked for or `timeout` seconds pass; whether one was asked for."""
        if not self.requested:
            select.select([self._reader], [], [], timeout)
            with contextlib.suppress(BlockingIOError):
                os.read(self._reader, 512)
        return self.requested

    def as_event(self) -> threading.Event:
        """An Event set (from a thread of its own, never from a handler) once a stop is asked for."""
        event = threading.Event()

        def watch() -> None:
            while not self.wait(1.0):
                pass
            event.set()

        threading.Thread(target=watch, name="stop-signals", daemon=True).start()
        return event


class Console:
    """Lines for the terminal. Once it is gone (EPIPE: the `tee` of `udaconnect dev | tee log` died at Ctrl-C;
    EIO: the terminal was closed) every further line goes to `fallback`, and so do the file descriptors 1 and 2,
    so that nothing else writing there (a library's logging, the interpreter's last flush) fails; `gone` is told."""

    def __init__(self, fallback: Path, gone: Callable[[str], None] = lambda _: None) -> None:
        self.fallback, self.gone = fallback, gone
        self.lost = False

    def say(self, line: str, stream: TextIO | None = None) -> None:
        try:
            print(line, file=stream or sys.stdout, flush=True)
        except OSError as error:
            self._lose(error)
            with contextlib.suppress(OSError):
                print(line, file=stream or sys.stdout, flush=True)

    def _lose(self, error: OSError) -> None:
        if self.lost:
            return
        self.lost = True
        try:
            self.fallback.parent.mkdir(parents=True, exist_ok=True)
            target = os.open(self.fallback, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError:
            target = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                os.dup2(target, stream.fileno())
        os.close(target)
        self.gone(f"the terminal is gone ({error.strerror or error}); output continues in {self.fallback}")


def die_with_parent() -> None:
    """In a child, before exec: get SIGTERM when the thread that started it ends, however its process ends
    (Linux's PR_SET_PDEATHSIG; elsewhere a no-op). The thread, not the process: see LocalStack's supervisor."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass
