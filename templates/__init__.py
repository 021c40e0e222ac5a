"""Jinja2 templates maforge renders (starter specs, generated scripts, the rules extension);
shipped as package data."""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

import jinja2

from maforge import __version__
from maforge.cachedir import cache_home, make_private_folder


class _TemplateCache(jinja2.FileSystemBytecodeCache):
    """Compiled templates kept between runs, as Python keeps .pyc files: compiling the ~20
    templates of a build is most of a cold `maforge build` (0.15 s of about 0.4 s, cProfile).
    Jinja2 checks each entry against its template's source, so an edited template is compiled
    again. A cache that cannot be read or written is no cache, never an error."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, ValueError, EOFError):
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _cache_folder() -> Path | None:
    """A folder of maforge's cache home (cachedir.py) per maforge and Python version, only the
    user's own; None (no cache) when MAFORGE_NO_TEMPLATE_CACHE is set or
    the folder cannot be made."""
    if os.environ.get("MAFORGE_NO_TEMPLATE_CACHE"):
        return None
    try:
        folder = make_private_folder(cache_home() / f"templates-{__version__}-py{sys.version_info[0]}{sys.version_info[1]}")
        if hasattr(os, "getuid") and folder.stat().st_uid != os.getuid():
            return None  # compiled code from a folder another user owns is not run
        return folder
    except (OSError, RuntimeError):
        return None


@cache
def environment() -> jinja2.Environment:
    """The one Jinja2 environment for maforge's templates: strict about undefined names,
    and keeping trailing newlines so generated files end the way the template ends."""
    folder = _cache_folder()
    return jinja2.Environment(
        loader=jinja2.PackageLoader("maforge.templates", ""),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        bytecode_cache=_TemplateCache(str(folder)) if folder is not None else None,
    )
