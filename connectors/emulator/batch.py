"""SharePoint REST `$batch` (spo-profiles-api.md §3).

Request parsing is lenient, as the clients in the wild require (§3.4): a MIME preamble before
the first boundary, LF or CRLF line ends, quoted or bare boundaries, header lines with or
without a space after the colon, changesets (recursed into), absolute inner URLs with or
without percent-encoding (`|` raw, `#` raw or `%23`), and leading blank lines before an
inner body.

The response is FLAT and CRLF: one `--batchresponse_<guid>` part per inner request, in
request order, also for requests that were inside a changeset; the outer status is 200
whatever the inner ones are. A changeset is not transactional.

Each inner request is authorised with the outer request's token (inner Authorization headers
are ignored) and counts against the PeopleManager budget on its own: a throttled inner request
is a 429 part with Retry-After while the others are served.

Limits: a batch of more than 100 requests (changeset parts included) is refused whole with a
400 before any of them runs: 200 list-item writes in one batch got "400 Client Error: Bad
Request for url: …/_api/$batch" (vgrem/office365-rest-python-client #367), and PnP Core SDK
(#284) and PnPjs (#3207) treat 100 as SharePoint's maximum. The body size limit, 1 MiB, is
limits.py's, checked before this handler runs.

Chosen where the reference is silent (UNVERIFIED): an inner request for another site than the
batch's own is a 400 part ("must target the same site"); a nested `$batch` is a 400 part; the
text of the over-100 refusal (#367's answer had no readable error body).
"""

from __future__ import annotations

import re
import uuid
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote

from . import server
from .server import CaseInsensitiveHeaders, Request, Response, route
from .sharepoint import FILE_NOT_FOUND, SITE, bad_request, error, fail, odata_format, site_kind

MAX_REQUESTS = 100
# A part carries only its own headers, their names upper-cased (CONTENT-TYPE, ETAG, LOCATION in
# every recorded part: tests/data/recordings/pnpcore/BrandingTests/SetChromeOptionsForCommunication
# Site-0-00003.response.json and the other batch recordings); the service headers are the outer
# answer's. Headers no recording shows inside a part (Retry-After, RateLimit-*) keep their case.
_UPPER_CASE = frozenset({"content-type", "etag", "location"})
_OUTER_ONLY = frozenset({"x-sharepointhealthscore", "microsoftsharepointteamservices", "sprequestguid", "request-id", "spclientservicerequestduration", "x-sp-serverstate", "content-length"})
_BOUNDARY = re.compile(r'boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_REQUEST_LINE = re.compile(r"^([A-Za-z]+)\s+(\S+)(?:\s+HTTP/\d(?:\.\d)?)?\s*$")


def boundary_of(content_type: str) -> str | None:
    found = _BOUNDARY.search(content_type or "")
    return (found.group(1) or found.group(2)) if found else None


def _headers(lines: list[str]) -> CaseInsensitiveHeaders:
    result = CaseInsensitiveHeaders()
    for line in lines:
        if ":" in line:
            name, _, value = line.partition(":")
            result[name.strip().lower()] = value.strip()
    return result


def split_parts(lines: list[str], boundary: str) -> list[tuple[CaseInsensitiveHeaders, list[str]]]:
    """The parts between `--boundary` lines: (headers, body lines); preamble and epilogue dropped."""
    opener, closer = "--" + boundary, "--" + boundary + "--"
    parts: list[tuple[CaseInsensitiveHeaders, list[str]]] = []
    current: list[str] | None = None
    for line in lines:
        stripped = line.rstrip()
        if stripped == closer:
            if current is not None:
                parts.append(_part(current))
            current = None
            break
        if stripped == opener:
            if current is not None:
                parts.append(_part(current))
            current = []
            continue
        if current is not None:
            current.append(line)
    else:
        if current is not None:
            parts.append(_part(current))
    return parts


def _part(lines: list[str]) -> tuple[CaseInsensitiveHeaders, list[str]]:
    head: list[str] = []
    i = 0
    while i < len(lines) and lines[i].strip() == "" and not head:
        i += 1  # blank lines before a part's headers
    while i < len(lines) and lines[i].strip() != "":
        head.append(lines[i])
        i += 1
    return _headers(head), lines[i + 1 :]


def inner_requests(lines: list[str], boundary: str) -> list[tuple[str, str, CaseInsensitiveHeaders, str] | str]:
    """(method, url, headers, body) per inner request, in order; a string for a part that
    could not be read (its error message)."""
    result: list[tuple[str, str, CaseInsensitiveHeaders, str] | str] = []
    for headers, body in split_parts(lines, boundary):
        content_type = (headers.get("content-type") or "").lower()
        if content_type.startswith("multipart/"):
            nested = boundary_of(headers.get("content-type") or "")
            if nested:
                result.extend(inner_requests(body, nested))
            else:
                result.append("A changeset without a boundary.")
            continue
        i = 0
        while i < len(body) and not body[i].strip():
            i += 1
        if i >= len(body):
            result.append("An empty part in the batch.")
            continue
        found = _REQUEST_LINE.match(body[i].strip())
        if not found:
            result.append(f"Not an HTTP request line: {body[i].strip()[:200]}")
            continue
        i += 1
        head: list[str] = []
        while i < len(body) and body[i].strip():
            head.append(body[i])
            i += 1
        rest = body[i:]
        while rest and not rest[0].strip():
            rest = rest[1:]  # the extra blank line(s) some clients write before a body
        while rest and not rest[-1].strip():
            rest = rest[:-1]
        result.append((found.group(1).upper(), found.group(2), _headers(head), "\r\n".join(rest)))
    return result


def _split_url(url: str) -> tuple[str, str]:
    """(path, query) of an absolute or relative URL; `#` is part of the path (a raw `#`
    in an account name is not a fragment here)."""
    text = url
    scheme = text.find("://")
    if scheme != -1:
        slash = text.find("/", scheme + 3)
        text = text[slash:] if slash != -1 else "/"
    path, _, query = text.partition("?")
    return path, query


def _status_line(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {status} {phrase}"


def _find_route(method: str, path: str) -> tuple[server.Route, re.Match[str]] | None:
    for candidate in server.ROUTES:
        found = candidate.pattern.fullmatch(path)
        if found is not None:
            return candidate, found
    return None


def run_inner(outer: Request, method: str, url: str, headers: CaseInsensitiveHeaders, body: str, prefix: str) -> Response:
    fmt = odata_format(outer) if "accept" not in headers else odata_format_of(headers)
    raw_path, raw_query = _split_url(url)
    path = unquote(raw_path)
    if path.lower().startswith("/_api") or path.lower().startswith("_api"):
        path = prefix + "/" + path.lstrip("/")
    if not path.lower().startswith(prefix.lower() + "/"):
        return error(fmt, *bad_request("All requests in a batch must target the same site as the batch."))
    if "accept" not in headers and outer.headers.get("accept"):
        headers["accept"] = outer.headers.get("accept")  # type: ignore[assignment]
    found = _find_route(method, path)
    if found is None:
        return fail(fmt, FILE_NOT_FOUND)
    candidate, match = found
    if candidate.kind != "spo" or candidate.handler is batch:
        return error(fmt, *bad_request("This request cannot be part of a batch."))
    if method not in candidate.methods:
        return error(fmt, 405, "-1, System.NotSupportedException", f"{method} is not supported here.")
    emulator = outer.emulator
    verdict = emulator.throttle.admit(outer.claims, candidate.counts)  # each part counts on its own
    if verdict is not None:
        return emulator.throttle.refusal(verdict, outer.claims, verbose=fmt == "verbose")
    inner = Request(
        method=method,
        target=raw_path + ("?" + raw_query if raw_query else ""),
        path=path,
        raw_path=raw_path,
        query={unquote(k): v for k, v in parse_qsl(raw_query, keep_blank_values=True)},
        headers=headers,
        body=body.encode("utf-8"),
        emulator=emulator,
        match=match,
        claims=outer.claims,
    )
    try:
        if getattr(candidate.handler, "batch_aware", False):
            return candidate.handler(inner, via="batch")  # type: ignore[call-arg]
        return candidate.handler(inner)
    except Exception as problem:  # one broken part must not sink the batch
        return error(fmt, 500, "-1, System.InvalidOperationException", f"emulator error: {type(problem).__name__}: {problem}")


def odata_format_of(headers: CaseInsensitiveHeaders) -> str:
    accept = (headers.get("accept") or "").lower()
    if "odata=verbose" in accept:
        return "verbose"
    if "odata=nometadata" in accept:
        return "nometadata"
    return "minimal"


@route("POST", SITE + r"/_api/\$batch", "spo")
def batch(request: Request) -> Response:
    fmt = odata_format(request)
    if site_kind(request) is None:
        return fail(fmt, FILE_NOT_FOUND)
    boundary = boundary_of(request.headers.get("content-type") or "")
    if not boundary:
        return error(fmt, *bad_request("The Content-Type of a batch must be multipart/mixed with a boundary."))
    try:
        text = request.body.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = request.body.decode("latin-1")
    lines = re.split(r"\r?\n", text)
    match = request.match
    prefix = f"/spo/{match.group('site')}{match.group('web') or ''}"  # type: ignore[union-attr]
    items = inner_requests(lines, boundary)
    if len(items) > MAX_REQUESTS:
        return error(fmt, *bad_request(f"The batch holds {len(items)} requests; a batch may hold at most {MAX_REQUESTS}."))
    marker = f"batchresponse_{uuid.uuid4()}"
    out: list[str] = []
    for item in items:
        if isinstance(item, str):
            response = error(fmt, *bad_request(item))
        else:
            response = run_inner(request, *item, prefix=prefix)
        out.append(f"--{marker}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n{_status_line(response.status)}\r\n")
        for name, value in response.headers.items():
            if name.lower() in _OUTER_ONLY:
                continue
            out.append(f"{name.upper() if name.lower() in _UPPER_CASE else name}: {value}\r\n")
        out.append("\r\n")
        out.append(response.body.decode("utf-8"))
        out.append("\r\n")
    out.append(f"--{marker}--\r\n")
    return Response(200, "".join(out).encode("utf-8"), {"Content-Type": f"multipart/mixed; boundary={marker}"})
