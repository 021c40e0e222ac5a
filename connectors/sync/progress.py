"""Progress with an ETA: a redrawn line on a terminal, a plain line every few seconds in CI."""

from __future__ import annotations

import sys
import time
from typing import TextIO


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

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._shown >= self.interval:
            self._shown = now
            self._show(now)

    def _show(self, now: float, final: bool = False) -> None:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        if self.total:
            left = max(self.total - self.done, 0)
            eta = f", ETA {left / rate:.0f} s" if rate > 0 and not final else ""
            text = f"{self.label}: {self.done}/{self.total} ({100 * self.done / self.total:.0f} %), {rate:.0f}/s{eta}"
        else:
            text = f"{self.label}: {self.done}, {rate:.0f}/s"
        if final:
            text += f", {elapsed:.1f} s"
        if self.tty:
            self.stream.write("\r\x1b[2K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        self._show(time.monotonic(), final=True)
