"""Write files so that a reader never sees half of one: write a temporary file beside the
target, flush it to disk, then rename it over the target (atomic on POSIX and Windows)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


@contextlib.contextmanager
def open_atomic(path: Path, *, mode: int = 0o644) -> Iterator[TextIO]:
    """A text handle whose content replaces ``path`` in one step when the block ends
    without an error; on an error (or a kill) ``path`` keeps its old content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise


def write_text_atomic(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` (UTF-8, newlines as given) in one step."""
    with open_atomic(path, mode=mode) as handle:
        handle.write(text)


MARKER = ".maforge-build"


class OutputDirectoryError(Exception):
    """The output folder holds files maforge did not write, or cannot be replaced."""


def replace_directory(target: Path, files: dict[str, str], marker_text: str) -> None:
    """Make ``target`` hold exactly ``files`` (relative path → UTF-8 text) in one step.

    Everything is written to a temporary folder beside ``target`` first; only when all of
    it is on disk does it take ``target``'s place, so a failure leaves ``target`` as it was.
    A folder that exists and holds anything but a previous maforge output is refused
    rather than replaced, so `--out .` can never wipe a checkout."""
    target = target.absolute()
    if target.exists():
        if not target.is_dir():
            raise OutputDirectoryError(f"{target} exists and is not a folder")
        if any(target.iterdir()) and not (target / MARKER).is_file():
            raise OutputDirectoryError(
                f"{target} holds files maforge did not write: choose an empty or new folder (maforge replaces the whole folder)"
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        for relative, text in {**files, MARKER: marker_text}.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
        os.chmod(staging, 0o755)
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.rmdir(retired)
            os.replace(target, retired)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
