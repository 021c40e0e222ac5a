"""SharePoint people search: `/_api/search/query` and `/_api/search/postquery` over the
People result source (spo-profiles-api.md §4.2).

What is emulated: query text `*` (every profile) optionally with `IndexDocId>N`, the People
source id, `selectproperties`, `rowlimit` (at most 500) and `startrow` (at most 50,000), sorted
by document id. A profile's DocId is its position in the tenant. Unlike the real index,
results are never stale (the real index lags behind profile changes).
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import unquote

from .server import Request, Response, route
from .sharepoint import NOMETADATA, SITE, VERBOSE, caller, error, json_response, odata_format, profile_values, read_denial, render_value

PEOPLE_SOURCE = "b09a7990-05ea-4af9-81ef-edfab16c4e31"
MAX_ROWS = 500
MAX_START_ROW = 50_000
_DOC_ID = re.compile(r"IndexDocId\s*>\s*(\d+)", re.IGNORECASE)


def _unquote(value: str) -> str:
    text = unquote(value or "").strip()
    return text[1:-1].replace("''", "'") if len(text) >= 2 and text[0] == text[-1] == "'" else text


def _run(request: Request, fmt: str, query_text: str, source: str, select: list[str], row_limit: int, start_row: int) -> Response:
    problem = read_denial(caller(request))
    if problem:
        return error(fmt, *problem)
    if source.strip("{}").lower() != PEOPLE_SOURCE:
        return error(fmt, 400, "-1, Microsoft.Office.Server.Search.REST.SearchServiceException", "Only the People result source is emulated.")
    if row_limit > MAX_ROWS or start_row > MAX_START_ROW or row_limit < 0 or start_row < 0:
        return error(fmt, 400, "-1, Microsoft.Office.Server.Search.REST.SearchServiceException", "RowLimit is at most 500 and StartRow at most 50000.")
    after = _DOC_ID.search(query_text)
    first_doc = int(after.group(1)) + 1 if after else 1
    state = request.state
    rows = []
    total = 0
    separator = state.multi_value_separator
    columns = select or ["AccountName", "PreferredName", "WorkEmail"]
    for index in range(first_doc, state.profile_count + 1):
        values = profile_values(state, index)
        if values is None:
            continue
        total += 1
        if total <= start_row or len(rows) >= row_limit:
            continue
        cells = [{"Key": name, "Value": render_value(values.get(name), separator), "ValueType": "Edm.String"} for name in columns]
        cells.append({"Key": "DocId", "Value": str(index), "ValueType": "Edm.Int64"})
        rows.append({"Cells": cells})
    # The keys, their order and their nulls are a recorded SPO answer's (tests/data/recordings/
    # pnpcore/WebTests/SearchBasicTest-0-00002.response.json): SpellingSuggestion is null there.
    relevant = {"GroupTemplateId": None, "ItemTemplateId": None, "Properties": [], "ResultTitle": None, "ResultTitleUrl": None, "RowCount": len(rows), "Table": {"Rows": rows}, "TotalRows": total, "TotalRowsIncludingDuplicates": total}
    primary = {"CustomResults": [], "QueryId": str(uuid.uuid4()), "QueryRuleId": "00000000-0000-0000-0000-000000000000", "RefinementResults": None, "RelevantResults": relevant, "SpecialTermResults": None}
    body = {"ElapsedTime": 1, "PrimaryQueryResult": primary, "Properties": [], "SecondaryQueryResults": [], "SpellingSuggestion": None, "TriggeredRules": []}
    if fmt == VERBOSE:
        primary["CustomResults"] = {"results": []}
        for row in rows:
            row["Cells"] = {"results": row["Cells"]}
        relevant["Table"]["Rows"] = {"results": rows}
        return json_response(fmt, 200, {"d": {"query": body}})
    return json_response(NOMETADATA if fmt != VERBOSE else fmt, 200, body)


@route("GET", SITE + r"/_api/search/query", "spo")
def search_query(request: Request) -> Response:
    query = request.query
    select = [s for s in _unquote(query.get("selectproperties", "")).split(",") if s]
    try:
        limit = int(query.get("rowlimit", "10"))
        start = int(query.get("startrow", "0"))
    except ValueError:
        return error(odata_format(request), 400, "-1, System.ArgumentException", "rowlimit and startrow are numbers.")
    return _run(request, odata_format(request), _unquote(query.get("querytext", "")), _unquote(query.get("sourceid", "")), select, limit, start)


@route("POST", SITE + r"/_api/search/postquery", "spo")
def search_postquery(request: Request) -> Response:
    fmt = odata_format(request)
    try:
        payload = request.json()
    except ValueError:
        return error(fmt, 400, "-1, System.ArgumentException", "The body is not JSON.")
    spec = payload.get("request", {}) if isinstance(payload, dict) else {}
    select = spec.get("SelectProperties", [])
    if isinstance(select, dict):
        select = select.get("results", [])
    return _run(request, fmt, str(spec.get("Querytext", "")), str(spec.get("SourceId", "")), list(select), int(spec.get("RowLimit", 10)), int(spec.get("StartRow", 0)))
