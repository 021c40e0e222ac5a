"""Sources of desired state, one interface: `rows(source)` yields one dict per row, streamed.

CSV and JSON Lines are read row by row; a JSON array file is parsed once; Microsoft Graph
users are paged with `@odata.nextLink`. An empty CSV cell is an absent value (as MIM treats
an empty attribute), not the empty string.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote
from typing import Any

from .values import Value

GRAPH_SELECT = "id,userPrincipalName,mail,displayName,givenName,surname,accountEnabled,department,jobTitle,officeLocation,mobilePhone,businessPhones,employeeId,userType"


class SourceError(Exception):
    """A source that cannot be read; names the source and what is wrong."""


def rows(source: dict[str, Any], base_dir: Path, session: Any = None) -> Iterator[dict[str, Value]]:
    kind = source["type"]
    if kind == "graph-users":
        if session is None:
            raise SourceError(f"source '{source['name']}' reads Microsoft Graph: it needs a connection (--connection)")
        yield from _graph_users(source, session)
        return
    path = base_dir / source["path"]
    try:
        handle = open(path, encoding=source.get("encoding") or "utf-8", newline="")
    except OSError as error:
        raise SourceError(f"source '{source['name']}': cannot open {path}: {error.strerror or error}") from None
    with handle:
        try:
            if kind == "csv":
                yield from _csv_rows(handle, source.get("delimiter") or ",")
            elif kind == "jsonl":
                for number, line in enumerate(handle, 1):
                    if line.strip():
                        item = json.loads(line)
                        if not isinstance(item, dict):
                            raise SourceError(f"source '{source['name']}': line {number} of {path} is not a JSON object")
                        yield item
            elif kind == "json":
                data = json.load(handle)
                items = data.get("value", data) if isinstance(data, dict) else data
                if not isinstance(items, list):
                    raise SourceError(f"source '{source['name']}': {path} holds no JSON array of objects")
                yield from (item for item in items if isinstance(item, dict))
            else:
                raise SourceError(f"source '{source['name']}': unknown type {kind!r}")
        except (json.JSONDecodeError, UnicodeDecodeError, csv.Error) as error:
            raise SourceError(f"source '{source['name']}': {path} cannot be read: {error}") from None


def graph_select(source: dict[str, Any]) -> list[str]:
    """The Graph user properties a graph-users source asks for: id, userPrincipalName and its
    `fields` (or a default set). A nested field, `onPremisesExtensionAttributes.extensionAttribute3`,
    selects its whole object: Graph cannot select part of one."""
    fields = source.get("fields")
    if not fields:
        return GRAPH_SELECT.split(",")
    return list(dict.fromkeys(["id", "userPrincipalName", *(name.split(".", 1)[0] for name in fields)]))


def _csv_rows(handle: Any, delimiter: str) -> Iterator[dict[str, Value]]:
    """The rows of a CSV file as csv.DictReader gives them (the first line names the columns;
    blank lines are skipped; a short row's missing cells are absent, a long row's extra ones
    dropped), with trimmed column names and empty cells as None.

    A row of exactly the header's width, under distinct names (every row of a well-formed
    file), is made in one step from names trimmed once per file: dict(zip(...)) instead of
    DictReader's dict and a second comprehension that trimmed every name again, measured
    0.75 s → 0.51 s for 100,000 rows of 17 columns. Any other row takes DictReader's way."""
    reader = csv.reader(handle, delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return
    names = [name.strip().lstrip("\ufeff") for name in header]
    width = len(header)
    distinct = len(set(names)) == width
    for cells in reader:
        if not cells:
            continue
        if distinct and len(cells) == width:
            yield dict(zip(names, [cell or None for cell in cells]))  # csv gives text: "" → None
            continue
        row: dict[str | None, Any] = dict(zip(header, cells))
        if width < len(cells):
            row[None] = cells[width:]
        else:
            for name in header[len(cells) :]:
                row[name] = None
        yield {k.strip().lstrip("\ufeff"): (v if v != "" else None) for k, v in row.items() if k is not None}


def _graph_users(source: dict[str, Any], session: Any) -> Iterator[dict[str, Value]]:
    url = f"{session.connection.graph_url}/v1.0/users?$select={','.join(graph_select(source))}&$top=999"
    if source.get("filter"):
        url += "&$filter=" + quote(source["filter"], safe="'(),=")
    nested = [name for name in source.get("fields") or () if "." in name]
    while url:
        page = session.call("GET", url)
        for user in page.get("value", []):
            yield _flatten(source, user, nested) if nested else user
        url = page.get("@odata.nextLink")


def _flatten(source: dict[str, Any], user: dict[str, Any], nested: list[str]) -> dict[str, Value]:
    """The row of one Graph user with each nested field as a value of its own, under the name
    the spec gives it (`onPremisesExtensionAttributes.extensionAttribute3`); the objects they
    come from leave the row unless the spec lists them too."""
    row = dict(user)
    by_lower = {key.lower(): key for key in user}
    for name in nested:
        outer, inner = name.split(".", 1)
        found = user.get(by_lower.get(outer.lower(), outer))
        if found is None:
            row[name] = None
            continue
        inner_key = {key.lower(): key for key in found}.get(inner.lower()) if isinstance(found, dict) else None
        if inner_key is None:
            has = f"it has {', '.join(found)}" if isinstance(found, dict) else "it is not an object"
            raise SourceError(f"source '{source['name']}': field '{name}': Graph's {outer} has no {inner} ({has}); fix the field in the spec's `fields`")
        row[name] = found[inner_key]
    for name in {n.split(".", 1)[0].lower() for n in nested} - {f.lower() for f in source.get("fields") or ()}:
        row.pop(by_lower.get(name, name), None)
    return row
