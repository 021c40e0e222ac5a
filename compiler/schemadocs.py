"""The spec reference (docs/reference/spec.md), generated from schemas/connector.schema.json.

The schema is the single source of truth for what a spec may say; this module only renders
it, so the reference cannot drift: `maforge schema-docs --check` (and a test) fails when the
committed page differs from what the schema gives today.

Rendering: the top-level keys first, in schema order, then one section per definition in
`$defs` that some key refers to. Each section is a table of its keys (type, required,
default, description); a reference to a definition links to its section, a map (keys chosen
by the user, e.g. object type names) says what its values are, and the constraints JSON
Schema can express (enum, pattern, lengths, minimums) are spelled out."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

Node = dict[str, Any]

HEADER = """# Spec reference

Generated from `schemas/connector.schema.json` by `maforge schema-docs`; do not edit by hand
(a test fails when this page and the schema disagree). A spec is YAML or JSON; `maforge
validate` checks it against this schema and then the semantic rules.
"""


def render(schema: Node) -> str:
    """The whole reference page as Markdown."""
    defs: dict[str, Node] = schema.get("$defs", {})
    out: list[str] = [HEADER]
    if schema.get("description"):
        out += ["", _text(schema["description"])]
    out += ["", "## Top level", ""]
    out += _table(schema, defs)
    out += _rules(schema)
    for name in _referenced(schema, defs):
        node = defs[name]
        out += ["", f"## {name}", ""]
        if node.get("description"):
            out += [_text(node["description"]), ""]
        shape = _shape(node, defs)
        if shape:
            out += [f"Type: {shape}.", ""]
        out += _table(node, defs)
        out += _rules(node)
    return "\n".join(line.rstrip() for line in out).rstrip() + "\n"


def _referenced(schema: Node, defs: dict[str, Node]) -> list[str]:
    """Definitions reachable from the top level, in first-reference order (then the rest)."""
    seen: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.rsplit("/", 1)[1]
                if name not in seen and name in defs:
                    seen.append(name)
                    visit(defs[name])
            for key, value in node.items():
                if key != "$defs":
                    visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit({k: v for k, v in schema.items() if k != "$defs"})
    return seen + [name for name in defs if name not in seen]


def _properties(node: Node, defs: dict[str, Node]) -> tuple[dict[str, Node], set[str]]:
    """A node's own keys and required keys, with those of its allOf parts."""
    properties: dict[str, Node] = {}
    required: set[str] = set(node.get("required", []))
    for part in node.get("allOf", []):
        target = _resolve(part, defs)
        if "properties" in target and not part.get("if"):
            sub, req = _properties(target, defs)
            properties.update(sub)
            required |= req
    properties.update(node.get("properties", {}))
    return properties, required


def _table(node: Node, defs: dict[str, Node]) -> list[str]:
    properties, required = _properties(node, defs)
    if not properties:
        return []
    rows = ["| key | type | required | default | description |", "|---|---|---|---|---|"]
    for key, child in properties.items():
        default = child.get("default", _resolve(child, defs).get("default"))
        rows.append(
            "| "
            + " | ".join(
                (
                    f"`{key}`",
                    _shape(child, defs) or "any",
                    "yes" if key in required else "",
                    f"`{json.dumps(default, ensure_ascii=False)}`" if default is not None else "",
                    _cell(_describe(child, defs)),
                )
            )
            + " |"
        )
    return rows


def _describe(node: Node, defs: dict[str, Node]) -> str:
    text = node.get("description") or _resolve(node, defs).get("description") or ""
    limits = _limits(node)
    return f"{text} {limits}".strip() if limits else text


def _limits(node: Node) -> str:
    parts: list[str] = []
    if "enum" in node:
        parts.append("One of " + ", ".join(f"`{json.dumps(v, ensure_ascii=False)}`" for v in node["enum"]) + ".")
    if "const" in node:
        parts.append(f"Always `{json.dumps(node['const'], ensure_ascii=False)}`.")
    if "pattern" in node:
        parts.append(f"Matches `{node['pattern']}`.")
    for key, words in (("minLength", "at least {} character"), ("maxLength", "at most {} character"), ("minimum", "at least {}"), ("maximum", "at most {}"), ("minItems", "at least {} item"), ("minProperties", "at least {} entr")):
        if key in node:
            text = words.format(node[key])
            if text.endswith(("character", "item")) and node[key] != 1:
                text += "s"
            elif text.endswith("entr"):
                text += "y" if node[key] == 1 else "ies"
            parts.append(text[0].upper() + text[1:] + ".")
    if node.get("uniqueItems"):
        parts.append("No repeats.")
    return " ".join(parts)


def _shape(node: Node, defs: dict[str, Node]) -> str:
    """A short type: `string`, [name](#name), list of …, map of … → …, one of …."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        return f"[{name}](#{name.lower()})"
    if "oneOf" in node or "anyOf" in node:
        return " or ".join(_shape(option, defs) or "any" for option in node.get("oneOf", node.get("anyOf", [])))
    kinds = node.get("type")
    if kinds is None and "enum" in node:
        kinds = sorted({_json_type(v) for v in node["enum"]})
    if kinds is None and "const" in node:
        kinds = _json_type(node["const"])
    if kinds is None and node.get("allOf"):
        refs = [_shape(part, defs) for part in node["allOf"] if "$ref" in part]
        if refs:
            return " and ".join(refs)
    names = [kinds] if isinstance(kinds, str) else list(kinds or [])
    shown: list[str] = []
    for kind in names:
        if kind == "array":
            items = node.get("items")
            shown.append(f"list of {_shape(items, defs) or 'any'}" if isinstance(items, dict) else "list")
        elif kind == "object" and isinstance(node.get("additionalProperties"), dict) and not node.get("properties"):
            keys = node.get("propertyNames")
            key_shape = _shape(keys, defs) if isinstance(keys, dict) else "name"
            shown.append(f"map of {key_shape} → {_shape(node['additionalProperties'], defs) or 'any'}")
        else:
            shown.append(str(kind))
    return " or ".join(shown)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if value is None:
        return "null"
    return "string" if isinstance(value, str) else "object"


def _rules(node: Node) -> list[str]:
    """Conditions the tables cannot show: if/then parts and forbidden combinations."""
    lines: list[str] = []
    for part in node.get("allOf", []):
        if "if" in part and "then" in part:
            lines.append(f"- When {_condition(part['if'])}: {_condition(part['then'], must=True)}.")
    if "not" in node:
        names = _required_only(node["not"])
        lines.append("- Not allowed: " + (" or ".join(f"`{n}`" for n in names) if names else _condition(node["not"])) + ".")
    return ["", "Rules:", "", *lines] if lines else []


def _condition(node: Node, must: bool = False) -> str:
    parts: list[str] = []
    for key, child in node.get("properties", {}).items():
        if "const" in child:
            parts.append(f"`{key}` is `{json.dumps(child['const'])}`")
        elif "enum" in child:
            parts.append(f"`{key}` is one of " + ", ".join(f"`{json.dumps(v)}`" for v in child["enum"]))
        elif child is False or child == {"not": {}}:
            parts.append(f"`{key}` is absent")
    constrained = set(node.get("properties", {}))
    required = [k for k in node.get("required", []) if must or k not in constrained]
    if required:
        parts.append(("must have " if must else "it has ") + ", ".join(f"`{k}`" for k in required))
    options = [_condition(option) for option in node.get("anyOf", []) + node.get("oneOf", [])]
    if options:
        parts.append(" or ".join(options))
    if "not" in node:
        names = _required_only(node["not"])
        parts.append("must not have " + " or ".join(f"`{n}`" for n in names) if names else f"must not match: {_condition(node['not'])}")
    return " and ".join(p for p in parts if p) or "(see the schema)"


def _required_only(node: Node) -> list[str]:
    """The key names of a node that only requires keys (directly or in anyOf), else []."""
    if set(node) == {"required"}:
        return list(node["required"])
    if set(node) == {"anyOf"} and all(set(o) == {"required"} for o in node["anyOf"]):
        return [name for option in node["anyOf"] for name in option["required"]]
    return []


def _resolve(node: Node, defs: dict[str, Node]) -> Node:
    ref = node.get("$ref") if isinstance(node, dict) else None
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return defs.get(ref.rsplit("/", 1)[1], {})
    return node if isinstance(node, dict) else {}


def _text(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return _text(text).replace("|", "\\|")


def stale(committed: str, schema: Node) -> bool:
    """Whether the committed page differs from what the schema renders today."""
    return committed.replace("\r\n", "\n") != render(schema)


__all__: Iterable[str] = ["render", "stale"]
