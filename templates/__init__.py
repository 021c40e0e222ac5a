"""Jinja2 templates maforge renders (starter specs, generated scripts); shipped as package data."""

from __future__ import annotations

from functools import cache

import jinja2


@cache
def environment() -> jinja2.Environment:
    """The one Jinja2 environment for maforge's templates: strict about undefined names,
    and keeping trailing newlines so generated files end the way the template ends."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("maforge.templates", ""),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
