"""`maforge emulator` as a process: where its files live and how it ends.

Without --state-dir the emulator keeps its certificates (the CA's private key and the app's
key among them) in a temporary folder it makes itself. That folder must go when the emulator
stops, however it is stopped: Ctrl+C (SIGINT), `kill` (SIGTERM, as `kill %1` in the guides
sends), a closed terminal (SIGHUP). Python's default action for SIGTERM and SIGHUP ends the
process without running `finally` blocks or context exits, so each of those signals is turned
into an exception that unwinds through the folder's clean-up. A folder the user named with
--state-dir is theirs and is never removed.
"""

from __future__ import annotations

import contextlib
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

from .server import EmulatorConfig, serve

TEMP_PREFIX = "maforge-emulator-"


class Stopped(Exception):
    """A stop signal arrived; raised in the main thread so clean-up code runs."""


def _stop_signals() -> list[signal.Signals]:
    """The signals that ask the emulator to stop (SIGHUP only where the platform has it)."""
    names = ("SIGINT", "SIGTERM", "SIGHUP")
    return [getattr(signal, name) for name in names if hasattr(signal, name)]


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    # A second signal while the folder is being removed must not cut the removal short.
    for each in _stop_signals():
        signal.signal(each, signal.SIG_IGN)
    raise Stopped(signal.Signals(signum).name)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP raise :class:`Stopped` (so `with` and
    `finally` clean-ups run); the previous handlers come back afterwards. A signal the parent
    set to be ignored (a shell's background job ignores SIGINT) stays ignored."""
    previous = {each: signal.getsignal(each) for each in _stop_signals()}
    for each, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(each, _raise_stopped)
    try:
        yield
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler if handler is not None else signal.SIG_DFL)


@contextlib.contextmanager
def working_folder() -> Iterator[Path]:
    """A private temporary folder for what the emulator writes when no --state-dir is given
    (the certificates among it), removed with everything in it when the block ends."""
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as folder:
        yield Path(folder)


def run_until_stopped(config: EmulatorConfig, announce: Callable[[str], None]) -> None:
    """Serve ``config`` until a stop signal, then remove the temporary folder (never the
    --state-dir folder). Returns normally: being stopped is how an emulator ends."""
    with contextlib.suppress(Stopped, KeyboardInterrupt), stop_on_signals(), working_folder() as folder:
        serve(config, folder, announce)
