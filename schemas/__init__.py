"""JSON Schemas that define maforge's file formats (shipped as package data)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def load_schema(name: str) -> dict[str, Any]:
    """Return the parsed JSON Schema ``<name>.schema.json`` shipped with maforge."""
    text = resources.files(__name__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)
