"""Progress with an ETA: a redrawn line on a terminal, a plain line every few seconds in CI.

Throttling waits are part of a long run, so they show here too: `notify` puts a message
("SharePoint asked us to wait 118 s; resuming at 10:42:07") on its own line, and the progress
line carries it while the wait lasts, so a person (or a CI log) can tell a waiting run from a
stuck one.
"""

from __future__ import annotations

import sys
import threading
import time
import weakref
from typing import TextIO

_ACTIVE: list[weakref.ref[Progress]] = []  # progress lines in use, the newest last
_LOCK = threading.Lock()


def notify(message: str, stream: TextIO | None = None) -> None:
    """Show ``message`` through the progress line in use, or as a line on stderr."""
    with _LOCK:
        live = [ref for ref in _ACTIVE if ref() is not None and not getattr(ref().stream, "closed", False)]
        _ACTIVE[:] = live
        active = live[-1]() if live else None
    if active is not None:
        active.note(message)
        return
    target = stream or sys.stderr
    target.write(message + "\n")
    target.flush()


class Progress:
    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None, interval: float = 5.0):
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = 0.2 if self.tty else interval
        self.done = 0
        self.started = time.monotonic()
        self._shown = 0.0
        self._waiting: str | None = None
        self._lock = threading.Lock()
        with _LOCK:
            _ACTIVE.append(weakref.ref(self))

    def advance(self, count: int = 1) -> None:
        with self._lock:
            self.done += count
            self._waiting = None  # work moves again
            now = time.monotonic()
            if now - self._shown >= self.interval:
                self._shown = now
                self._show(now)

    def note(self, message: str) -> None:
        """A throttling wait (or anything a person should see at once): its own line, and
        the progress line says it until the work moves again."""
        with self._lock:
            self._waiting = message
            if self.tty:
                self.stream.write("\r\x1b[2K")
            self.stream.write(f"{self.label}: {message}\n")
            self.stream.flush()
            if self.tty:
                self._show(time.monotonic())

    def _show(self, now: float, final: bool = False) -> None:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        if self.total:
            left = max(self.total - self.done, 0)
            eta = f", ETA {left / rate:.0f} s" if rate > 0 and not final and not self._waiting else ""
            text = f"{self.label}: {self.done}/{self.total} ({100 * self.done / self.total:.0f} %), {rate:.0f}/s{eta}"
        else:
            text = f"{self.label}: {self.done}, {rate:.0f}/s"
        if self._waiting and not final:
            text += " (waiting: throttled)"
        if final:
            text += f", {elapsed:.1f} s"
        if self.tty:
            self.stream.write("\r\x1b[2K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        with self._lock:
            self._show(time.monotonic(), final=True)
        self.close()

    def close(self) -> None:
        """Stop receiving notes (also when the run stops early)."""
        with _LOCK:
            _ACTIVE[:] = [ref for ref in _ACTIVE if ref() is not None and ref() is not self]
