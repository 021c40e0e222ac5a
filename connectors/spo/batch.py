"""SharePoint REST `$batch`, client side: build the multipart request, read the answer.

Request (make-batch-requests doc): top-level `application/http` parts for GETs, consecutive
writes grouped in one changeset; CRLF line endings; absolute inner URLs on the same site.
Answer: FLAT, one `application/http` part per request in request order, even for requests
sent in a changeset (spo-profiles-api.md §3.2).

Limits (docs/emulator.md, "`$batch` and request limits"): SharePoint refuses a `$batch` of more
than 100 requests, and any REST request whose body is over 1 MiB (its OData reader's quota):
a 400 for the whole request. :func:`take` fills a batch up to neither limit, and
:func:`oversized` finds the parts that could not be sent even alone.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from requests.structures import CaseInsensitiveDict

CRLF = "\r\n"
MAX_REQUEST_BYTES = 1_048_576  # the largest body SharePoint reads in one REST request (1 MiB)


@dataclass(frozen=True, slots=True)
class BatchPart:
    method: str
    url: str  # absolute, on the batch's site
    body: Any = None  # JSON-serialisable, or None

    @property
    def is_read(self) -> bool:
        return self.method.upper() == "GET"


@dataclass(slots=True)
class BatchResult:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)  # looked up without regard to case
    body: bytes = b""

    def json(self) -> Any:
        text = self.body.decode("utf-8-sig").strip()
        return json.loads(text) if text else None


def _http_part(part: BatchPart) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary", "", f"{part.method.upper()} {part.url} HTTP/1.1"]
    lines.append("Accept: application/json;odata=nometadata")
    if part.body is not None:
        payload = json.dumps(part.body, ensure_ascii=False)
        lines += ["Content-Type: application/json;odata=nometadata", "", payload]
    else:
        lines.append("")
    return CRLF.join(lines) + CRLF


def build_batch(boundary: str, site_url: str, parts: list[BatchPart]) -> bytes:
    """The multipart body for ``parts`` (answers come back in the same order)."""
    out: list[str] = []
    index = 0
    while index < len(parts):
        part = parts[index]
        if part.is_read:
            out.append(f"--{boundary}{CRLF}{_http_part(part)}")
            index += 1
            continue
        changeset = f"changeset_{uuid.uuid4()}"
        out.append(f"--{boundary}{CRLF}Content-Type: multipart/mixed; boundary={changeset}{CRLF}{CRLF}")
        while index < len(parts) and not parts[index].is_read:
            out.append(f"--{changeset}{CRLF}{_http_part(parts[index])}")
            index += 1
        out.append(f"--{changeset}--{CRLF}")
    out.append(f"--{boundary}--{CRLF}")
    return "".join(out).encode("utf-8")


_SAMPLE_BOUNDARY = f"batch_{uuid.UUID(int=0)}"  # as long as session.batch's batch_<uuid4>
_CLOSING = len(f"--{_SAMPLE_BOUNDARY}--{CRLF}")


def _worst_case_size(part: BatchPart) -> int:
    """Bytes ``part`` adds to a batch body at most: its encoding, plus a changeset of its own
    for a write (build_batch only ever groups writes, which saves bytes). Boundaries made by
    uuid4 have a fixed length, so a sample boundary measures them exactly."""
    alone = build_batch(_SAMPLE_BOUNDARY, "", [part])
    return len(alone) - _CLOSING


def oversized(parts: Sequence[BatchPart], max_bytes: int = MAX_REQUEST_BYTES) -> dict[int, int]:
    """The parts that cannot be sent even alone in a `$batch`: index → the body size they
    would make. Send them not at all; :func:`not_sent` is their result."""
    sizes = {index: _worst_case_size(part) + _CLOSING for index, part in enumerate(parts)}
    return {index: size for index, size in sizes.items() if size > max_bytes}


def take(parts: Sequence[BatchPart], indices: Sequence[int], max_requests: int, max_bytes: int = MAX_REQUEST_BYTES) -> list[int]:
    """The longest prefix of ``indices`` (into ``parts``) that makes one `$batch` within both
    limits: at most ``max_requests`` parts, a body of at most ``max_bytes``. Sizes are upper
    bounds, so a batch may end a few hundred bytes early, never late. At least one index is
    taken: set aside :func:`oversized` parts first."""
    chosen: list[int] = []
    used = _CLOSING
    for index in indices[: max(1, max_requests)]:
        size = _worst_case_size(parts[index])
        if chosen and used + size > max_bytes:
            break
        chosen.append(index)
        used += size
    return chosen


def not_sent(size: int, max_bytes: int = MAX_REQUEST_BYTES) -> BatchResult:
    """The result of an :func:`oversized` part: never sent, so nothing was written. Status
    413 (Payload Too Large) with SharePoint's error shape, so callers report it like any
    refused request, with a message that says what to change."""
    message = (
        f"not sent: this request would make a $batch body of {size:,} bytes, and SharePoint refuses "
        f"request bodies over {max_bytes:,} bytes; shorten the value"
    )
    body = json.dumps({"odata.error": {"code": "maforge", "message": {"lang": "en-US", "value": message}}}).encode("utf-8")
    return BatchResult(413, {"content-type": "application/json"}, body)


_STATUS = re.compile(r"^HTTP/1\.[01] (\d{3})")


def parse_batch(body: bytes, content_type: str) -> list[BatchResult]:
    """The sub-responses of a flat `$batch` answer, in order."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    text = body.decode("utf-8", "replace")
    boundary = match.group(1) if match else (text.lstrip().splitlines()[0][2:].strip() if text.strip() else "")
    results: list[BatchResult] = []
    for chunk in text.split(f"--{boundary}"):
        chunk = chunk.lstrip("\r\n")
        if not chunk or chunk.startswith("--"):
            continue
        # The part's MIME headers, a blank line, the embedded status line and headers, a
        # blank line, the body.
        pieces = re.split(r"\r?\n\r?\n", chunk, maxsplit=2)
        if len(pieces) < 2:
            continue
        head = pieces[1]
        payload = pieces[2] if len(pieces) > 2 else ""
        lines = head.splitlines()
        if not lines:
            continue
        status = _STATUS.match(lines[0])
        if status is None:
            continue
        headers: CaseInsensitiveDict = CaseInsensitiveDict()  # `Retry-After` or `RETRY-AFTER`, as sent
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip()] = value.strip()
        results.append(BatchResult(int(status.group(1)), headers, payload.rstrip("\r\n").encode("utf-8")))
    return results
