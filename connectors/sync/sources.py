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
                reader = csv.DictReader(handle, delimiter=source.get("delimiter") or ",")
                for row in reader:
                    yield {k.strip().lstrip("\ufeff"): (v if v != "" else None) for k, v in row.items() if k is not None}
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


def _graph_users(source: dict[str, Any], session: Any) -> Iterator[dict[str, Value]]:
    fields = source.get("fields")
    select = ",".join(dict.fromkeys(["id", "userPrincipalName", *fields])) if fields else GRAPH_SELECT
    url = f"{session.connection.graph_url}/v1.0/users?$select={select}&$top=999"
    if source.get("filter"):
        url += "&$filter=" + quote(source["filter"], safe="'(),=")
    while url:
        page = session.call("GET", url)
        for user in page.get("value", []):
            yield user
        url = page.get("@odata.nextLink")
