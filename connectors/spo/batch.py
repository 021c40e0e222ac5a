"""SharePoint REST `$batch`, client side: build the multipart request, read the answer.

Request (make-batch-requests doc): top-level `application/http` parts for GETs, consecutive
writes grouped in one changeset; CRLF line endings; absolute inner URLs on the same site.
Answer: FLAT, one `application/http` part per request in request order, even for requests
sent in a changeset (spo-profiles-api.md §3.2).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

CRLF = "\r\n"


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
    headers: dict[str, str] = field(default_factory=dict)
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
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        results.append(BatchResult(int(status.group(1)), headers, payload.rstrip("\r\n").encode("utf-8")))
    return results
