"""Stage 2a: check a loaded spec against ``schemas/connector.schema.json``.

The JSON Schema is the single source of truth for the structure; this module only turns
jsonschema's findings into messages a MIM admin can act on, placed at the right line:
an unknown field points at the key and suggests the field meant, a wrong enum value lists
the allowed ones, a pattern failure explains the expected form with the schema's own
description.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from maforge.schemas import load_schema

from .diagnostics import Diagnostic, Severity
from .loader import Document, pointer_join
from .suggest import did_you_mean

_JSON_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}


def _python_type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    return "text"


@cache
def connector_validator() -> jsonschema.protocols.Validator:
    # The schema itself is checked against the 2020-12 metaschema by the test suite, not
    # here: that check costs more than validating a spec.
    schema = load_schema("connector")
    return jsonschema.validators.validator_for(schema)(schema)


def schema_default(def_name: str | None, prop: str) -> Any:
    """The ``default`` the schema documents for ``$defs/<def_name>/properties/<prop>`` (or a
    top-level property with ``def_name`` None): the model takes its defaults from here so
    the reference docs cannot disagree."""
    schema = load_schema("connector")
    holder = schema if def_name is None else schema["$defs"][def_name]
    return holder["properties"][prop].get("default")


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    root = load_schema("connector")
    seen = 0
    while "$ref" in schema and seen < 16:
        ref = schema["$ref"]
        target: Any = root
        for token in ref.lstrip("#/").split("/"):
            target = target[token]
        merged = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **merged}
        seen += 1
    return schema


def _known_properties(schema: dict[str, Any]) -> list[str]:
    schema = _resolve(schema)
    names = list(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        names.extend(n for n in _known_properties(part) if n not in names)
    return names


def _pointer(path: Iterable[Any]) -> str:
    pointer = ""
    for token in path:
        pointer = pointer_join(pointer, token)
    return pointer


def _field(pointer: str) -> str:
    """How a message names the value at ``pointer``: 'name', or item 3 of 'criteria'."""
    if not pointer:
        return "the spec"
    parent, name = pointer.rsplit("/", 1)
    if name.isdigit():
        container = parent.rsplit("/", 1)[-1] if parent else ""
        return f"item {int(name) + 1} of '{container}'" if container else f"item {int(name) + 1}"
    return f"'{name}'"


def _describe(schema: dict[str, Any]) -> str:
    text = _resolve(schema).get("description", "")
    first = text.split(". ")[0].rstrip(".")
    return first[:1].lower() + first[1:] if first else ""


class _Translator:
    def __init__(self, doc: Document):
        self.doc = doc

    def diag(self, message: str, pointer: str, *, key: bool = False, code: str = "MF100") -> Diagnostic:
        return Diagnostic(Severity.ERROR, code, message, self.doc.display, self.doc.position(pointer, key=key), pointer)

    def translate(self, error: ValidationError) -> Iterator[Diagnostic]:
        pointer = _pointer(error.absolute_path)
        kind = error.validator
        value = error.instance
        schema = error.schema if isinstance(error.schema, dict) else {}
        if kind in ("additionalProperties", "unevaluatedProperties"):
            known = _known_properties(schema)
            for name in value:
                if name in known:
                    continue
                patterns = schema.get("patternProperties", {})
                if patterns and any(re.search(p, name) for p in patterns):
                    continue
                where = "at the top of the spec" if not pointer else f"in {_field(pointer)}"
                hint = did_you_mean(name, known)
                if not hint and len(known) <= 12:
                    hint = f" (known fields: {', '.join(known)})"
                yield self.diag(f"unknown field '{name}' {where}{hint}", pointer_join(pointer, name), key=True, code="MF101")
            return
        if kind == "required":
            why = ""
            if "then" in error.absolute_schema_path:
                why = self._then_reason(error)
            for name in error.validator_value:
                if isinstance(value, dict) and name not in value:
                    where = "at the top of the spec" if not pointer else f"in {_field(pointer)}"
                    yield self.diag(f"missing required field '{name}' {where}{why}", pointer, key=bool(pointer), code="MF102")
            return
        if kind == "propertyNames":
            name = error.instance
            key_pointer = pointer_join(pointer, name)
            sub = error.validator_value
            yield self.diag(f"'{name}' is not a valid name here: {_describe(sub)}", key_pointer, key=True, code="MF103")
            return
        if kind == "const":
            if pointer == "/apiVersion":
                yield self.diag(
                    f"apiVersion is {value!r}; this maforge reads 'maforge/v1' specs (upgrade maforge, or set apiVersion: maforge/v1)",
                    pointer,
                    code="MF104",
                )
            elif pointer == "/kind":
                yield self.diag(f"kind is {value!r}; a connector spec has kind: Connector", pointer, code="MF104")
            else:
                yield self.diag(
                    f"{_field(pointer)} must be {json.dumps(error.validator_value)}, found {json.dumps(value)}", pointer, code="MF104"
                )
            return
        if kind == "enum":
            allowed = [str(v) for v in error.validator_value]
            hint = did_you_mean(str(value), allowed)
            yield self.diag(f"{value!r} is not one of: {', '.join(allowed)}{hint}", pointer, code="MF105")
            return
        if kind == "type":
            expected = error.validator_value
            names = [expected] if isinstance(expected, str) else list(expected)
            wanted = " or ".join(_JSON_TYPE_NAMES.get(n, n) for n in names)
            yield self.diag(f"{_field(pointer)} must be {wanted}, found {_python_type_name(value)}", pointer, code="MF106")
            return
        if kind == "pattern":
            resolved = _resolve(schema)
            if "secret given by reference" in resolved.get("description", ""):
                yield self.diag(
                    f"{_field(pointer)} holds a literal secret: give it by reference as ${{env:NAME}} or ${{file:PATH}}, "
                    "never in the spec (the spec is reviewed and committed)",
                    pointer,
                    code="MF230",
                )
                return
            yield self.diag(f"{value!r} is not a valid value for {_field(pointer)}: {_describe(schema)}", pointer, code="MF107")
            return
        if kind in ("minLength", "minProperties", "minItems"):
            if error.validator_value == 1:
                yield self.diag(f"{_field(pointer)} must not be empty", pointer, code="MF108")
            else:
                yield self.diag(f"{_field(pointer)} needs at least {error.validator_value} entries", pointer, code="MF108")
            return
        if kind in ("maxLength", "maxItems"):
            yield self.diag(f"{_field(pointer)} is longer than {error.validator_value}", pointer, code="MF108")
            return
        if kind in ("minimum", "maximum"):
            word = "at least" if kind == "minimum" else "at most"
            yield self.diag(f"{_field(pointer)} must be {word} {error.validator_value}, found {value!r}", pointer, code="MF109")
            return
        if kind == "uniqueItems":
            yield self.diag(f"{_field(pointer)} lists the same item more than once", pointer, code="MF110")
            return
        if kind == "not":
            yield from self._not_error(error, pointer)
            return
        if kind in ("oneOf", "anyOf"):
            yield from self._choice_error(error, pointer)
            return
        yield self.diag(error.message, pointer, code="MF199")

    def _then_reason(self, error: ValidationError) -> str:
        """For a failure inside an if/then, say which condition made it apply."""
        node: Any = load_schema("connector")
        for token in error.absolute_schema_path:
            if token == "then":
                condition = node.get("if", {}).get("properties", {})
                for name, rule in condition.items():
                    if "const" in rule:
                        return f" (required when {name} is {rule['const']})"
                    if "enum" in rule:
                        return f" (required when {name} is {' or '.join(rule['enum'])})"
                return ""
            if isinstance(node, dict) and token not in node and "$ref" in node:
                node = _resolve(node)
            try:
                node = node[token]
            except (KeyError, IndexError, TypeError):
                return ""
        return ""

    def _not_error(self, error: ValidationError, pointer: str) -> Iterator[Diagnostic]:
        forbidden = error.validator_value
        names: list[str] = []
        for part in forbidden.get("anyOf", [forbidden]):
            names.extend(part.get("required", []))
        present = [n for n in names if isinstance(error.instance, dict) and n in error.instance]
        reason = self._then_reason(error).replace("required when", "only allowed when") if "then" in error.absolute_schema_path else ""
        if "then" in error.absolute_schema_path:
            for name in present:
                spec_type = error.instance.get("type") if isinstance(error.instance, dict) else None
                yield self.diag(f"'{name}' does not apply to type {spec_type}", pointer_join(pointer, name), key=True, code="MF111")
            return
        for name in present:
            if pointer.startswith("/environments/"):
                message = f"an environment overlay cannot change '{name}': it is the same in every environment"
            else:
                message = f"'{name}' cannot be set here{reason}"
            yield self.diag(message, pointer_join(pointer, name), key=True, code="MF111")

    def _choice_error(self, error: ValidationError, pointer: str) -> Iterator[Diagnostic]:
        branches = error.validator_value
        value = error.instance
        # Branches that only say which keys are required: the choice is about keys.
        key_sets = [b.get("required") for b in branches]
        if all(key_sets) and not isinstance(value, dict):
            return  # the type check beside this choice already says it must be a mapping
        if all(key_sets) and isinstance(value, dict):
            choices = [k[0] for k in key_sets]
            present = [c for c in choices if c in value]
            if not present:
                yield self.diag(f"{_field(pointer)} needs one of: {', '.join(choices)}", pointer, code="MF112")
            else:
                yield self.diag(
                    f"{_field(pointer)} gives {' and '.join(present)}: give exactly one of {', '.join(choices)}", pointer, code="MF112"
                )
            return
        # Otherwise report the branch whose type matched (its errors are the real ones).
        by_branch: dict[int, list[ValidationError]] = {}
        for sub in error.context or []:
            by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
        shaped = [
            errors
            for errors in by_branch.values()
            if not any(e.validator == "type" and not e.relative_path for e in errors)
        ]
        if len(shaped) == 1:
            for sub in shaped[0]:
                yield from self.translate(sub)
            return
        wanted = " or ".join(_describe(b) or "another form" for b in branches)
        yield self.diag(f"{_field(pointer)} must be {wanted}, found {_python_type_name(value)}", pointer, code="MF112")


def check_schema(doc: Document) -> list[Diagnostic]:
    """All structural problems of ``doc``, one diagnostic each, in file order."""
    translator = _Translator(doc)
    seen: set[tuple[str | None, str]] = set()
    result: list[Diagnostic] = []
    for error in connector_validator().iter_errors(doc.data):
        for diag in translator.translate(error):
            marker = (diag.pointer, diag.message)
            if marker not in seen:
                seen.add(marker)
                result.append(diag)
    return sorted(result, key=Diagnostic.sort_key)
