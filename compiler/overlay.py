"""Environment overlays: ``--env prod`` merges ``environments.prod`` into the spec.

The merge follows JSON Merge Patch (RFC 7396), so there is nothing maforge-specific to
learn: mappings merge key by key, any other value (lists included) replaces, and ``null``
removes. Positions travel with the values, so a problem in a value that came from the
overlay is reported at the overlay's line.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .loader import Document, NodeInfo, pointer_join


def available_environments(doc: Document) -> tuple[str, ...]:
    envs = doc.data.get("environments") if isinstance(doc.data, dict) else None
    return tuple(envs) if isinstance(envs, dict) else ()


def apply_environment(doc: Document, name: str) -> Document:
    """The document with environment ``name`` merged in (``KeyError`` if it has none)."""
    overlay = doc.data["environments"][name]
    if not isinstance(overlay, dict):
        raise TypeError(f"environment '{name}' is not a mapping")
    nodes = dict(doc.nodes)
    origins: dict[str, str] = {}
    data = _merge(doc.data, overlay, "", pointer_join("/environments", name), doc.nodes, nodes, origins)
    return replace(doc, data=data, nodes=nodes, origins=origins)


def _merge(
    base: Any, patch: Any, pointer: str, patch_pointer: str, source: dict[str, NodeInfo], nodes: dict[str, NodeInfo], origins: dict[str, str]
) -> Any:
    if not isinstance(patch, dict):
        _drop(nodes, pointer)
        _copy(source, patch_pointer, pointer, nodes)
        origins[pointer] = patch_pointer
        return patch
    result = dict(base) if isinstance(base, dict) else {}
    if not isinstance(base, dict):
        _drop(nodes, pointer)
        info = source.get(patch_pointer)
        if info is not None:
            nodes[pointer] = info
    for key, value in patch.items():
        child = pointer_join(pointer, key)
        child_patch = pointer_join(patch_pointer, key)
        if value is None:
            result.pop(key, None)
            _drop(nodes, child)
        else:
            result[key] = _merge(result.get(key), value, child, child_patch, source, nodes, origins)
    return result


def _drop(nodes: dict[str, NodeInfo], pointer: str) -> None:
    prefix = pointer + "/"
    for key in [k for k in nodes if k == pointer or k.startswith(prefix)]:
        del nodes[key]


def _copy(source: dict[str, NodeInfo], from_pointer: str, to_pointer: str, nodes: dict[str, NodeInfo]) -> None:
    prefix = from_pointer + "/"
    for key, info in source.items():
        if key == from_pointer:
            nodes[to_pointer] = info
        elif key.startswith(prefix):
            nodes[to_pointer + key[len(from_pointer):]] = info
