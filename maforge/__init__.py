"""maforge: connector-as-code for MIM 2016 and SharePoint Online user profiles.

The installed package holds ``maforge.compiler``, ``maforge.connectors``,
``maforge.templates`` and ``maforge.schemas``. In a source checkout those folders sit at
the top of the repository (the project's layout), one level above this one; adding that
level to ``__path__`` lets ``python -m maforge`` and the test suite run from a checkout
exactly as they run from an installed wheel.
"""

from __future__ import annotations

from pathlib import Path as _Path

__version__ = "0.1.0"

_checkout_root = _Path(__file__).resolve().parent.parent
if (_checkout_root / "compiler" / "__init__.py").is_file() and (_checkout_root / "pyproject.toml").is_file():
    __path__.append(str(_checkout_root))  # type: ignore[name-defined]  # noqa: F821
