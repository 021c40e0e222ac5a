"""maforge's per-user cache folder: $XDG_CACHE_HOME/maforge, or ~/.cache/maforge.

It holds sign-in token caches (connectors/spo/auth.py) and compiled templates
(templates/__init__.py). Tokens are secrets, so the folder is the user's own (0700) whoever
creates it first."""

from __future__ import annotations

import os
from pathlib import Path


def cache_home() -> Path:
    """Where maforge caches things for this user; not created here."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "maforge"


def make_private_folder(folder: Path) -> Path:
    """``folder`` and every missing folder between it and the cache home, each owner-only."""
    home = cache_home()
    home.parent.mkdir(parents=True, exist_ok=True)
    for part in [home, *reversed([p for p in folder.parents if home in p.parents]), folder] if folder != home else [home]:
        part.mkdir(exist_ok=True, mode=0o700)
    return folder
