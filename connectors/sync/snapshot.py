"""The local snapshot of SharePoint profiles that `maforge plan --refresh=false` diffs against,
written by `maforge import`.

Format (JSON Lines, UTF-8, one file `snapshot.jsonl`):
- line 1, the header: {"format": "maforge-snapshot", "version": 1, "tenant", "properties":
  [the managed property names], "taken_at" (ISO 8601 UTC), "complete": true, "watermark"
  (the Graph delta link for the next `--delta`, or null), "full_import" ({"at": ISO 8601 UTC,
  "select": [the Graph properties its delta round tracks]} of the full import the watermark
  descends from; see delta.py), "profiles" (count)};
- then one line per profile: {"account": claims login, "upn", "id": Entra object id,
  "values": {property: text, or a list for multi-valued properties}}.
The file is written beside its final name and renamed into place only after a complete
run, so a watermark is never saved for a partial import.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maforge.atomic import open_atomic
from maforge.connectors.spo.people import PeopleClient, claims
from maforge.connectors.spo.session import SpoError, SpoSession, ThrottledTooLong

from .delta import delta_url
from .progress import Progress, notify

FORMAT = "maforge-snapshot"
VERSION = 1
CHUNK = 100


class SnapshotError(Exception):
    """A snapshot that is missing, truncated, or of another tenant or format."""


@dataclass(slots=True)
class Snapshot:
    tenant: str
    properties: list[str]
    taken_at: str
    watermark: str | None
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # account → {"upn", "id", "values"}
    full_import: dict[str, Any] | None = None  # {"at", "select"} of the full import the watermark descends from

    def values(self, account: str) -> dict[str, Any] | None:
        entry = self.profiles.get(account.lower())
        return entry["values"] if entry else None


def write_snapshot(snapshot: Snapshot, path: Path) -> None:
    """Write the whole snapshot beside ``path``, then rename it into place."""
    with open_atomic(path, mode=0o600) as handle:  # profile data: the owner's only
        header = {
            "format": FORMAT,
            "version": VERSION,
            "tenant": snapshot.tenant,
            "properties": snapshot.properties,
            "taken_at": snapshot.taken_at,
            "complete": True,
            "watermark": snapshot.watermark,
            "full_import": snapshot.full_import,
            "profiles": len(snapshot.profiles),
        }
        handle.write(json.dumps(header) + "\n")
        for account, entry in snapshot.profiles.items():
            line = {"account": entry.get("account", account), "upn": entry.get("upn"), "id": entry.get("id"), "values": entry["values"]}
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")


def read_snapshot(path: Path, tenant: str | None = None) -> Snapshot:
    try:
        handle = open(path, encoding="utf-8")
    except OSError as error:
        raise SnapshotError(f"{path}: no snapshot ({error.strerror or error}); run `maforge import` first") from None
    with handle:
        try:
            header = json.loads(handle.readline())
        except json.JSONDecodeError:
            raise SnapshotError(f"{path}: not a maforge snapshot") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("version") != VERSION or not header.get("complete"):
            raise SnapshotError(f"{path}: not a complete maforge snapshot of version {VERSION}")
        if tenant is not None and header.get("tenant") != tenant:
            raise SnapshotError(f"{path}: a snapshot of tenant {header.get('tenant')!r}, not {tenant!r}")
        snapshot = Snapshot(header["tenant"], header["properties"], header["taken_at"], header.get("watermark"), full_import=header.get("full_import"))
        pending: list[tuple[int, str]] = []  # (line number, line)
        try:
            for number, line in enumerate(handle, 2):
                if line.strip():
                    pending.append((number, line))
                    if len(pending) == BATCH_LINES:
                        _add_batch(snapshot, pending, path)
                        pending = []
        except (UnicodeDecodeError, OSError):
            _add_lines(snapshot, pending, path)  # a damaged line read before it is reported first, as ever
            raise
        _add_batch(snapshot, pending, path)
    if len(snapshot.profiles) != header.get("profiles"):
        raise SnapshotError(f"{path}: holds {len(snapshot.profiles)} profiles, its header says {header.get('profiles')}: it is truncated")
    return snapshot


BATCH_LINES = 1000  # profile lines parsed by one json.loads in read_snapshot
# "}" then "," with nothing but JSON whitespace between (a line holds no "\n"): where one
# line could end one object and start another. See _add_batch.
_OBJECT_THEN_COMMA = re.compile(r"\}[ \t\r]*,")


def _add_lines(snapshot: Snapshot, lines: list[tuple[int, str]], path: Path) -> None:
    """Profile lines into the snapshot one by one: a damaged line is named by its number."""
    for number, line in lines:
        try:
            entry = json.loads(line)
            snapshot.profiles[entry["account"].lower()] = entry
        except (json.JSONDecodeError, KeyError, AttributeError):
            raise SnapshotError(f"{path}:{number}: a damaged snapshot line; run a full `maforge import`") from None


def _add_batch(snapshot: Snapshot, lines: list[tuple[int, str]], path: Path) -> None:
    """_add_lines, with one json.loads for the whole batch, as a JSON array.

    Why: json.loads shares the key strings of the objects it makes in one call, never across
    calls. Line by line, every profile held its own copies of "account", "values" and every
    property name: 100,000 profiles took 257 MB and 0.68 s to parse; in batches of 1,000,
    141 MB and 0.41 s (tracemalloc, the benchmark's snapshot).

    The batch stands for its lines only when it parses to exactly one object per line and no
    line holds "}" then "," (_OBJECT_THEN_COMMA). Then every comma put between the lines is
    where the array separates its items: were one of them inside an item, some separator would
    have to come from a line's own text, right after the "}" ending an object, with only
    whitespace between, and in the same line (a line break there would be followed by the comma put
    after it, making two commas, which does not parse). So each line is exactly one of the
    objects, as json.loads(line) reads it. Anything else (a damaged line, a "}," inside some
    text, a line that is not an object) takes _add_lines, which raises what it always did."""
    if not lines:
        return
    joined = ",".join(line for _, line in lines)  # each line but the file's last ends in "\n"
    entries = None
    if not _OBJECT_THEN_COMMA.search(joined):
        try:
            entries = json.loads("[" + joined + "]")
        except (ValueError, RecursionError):  # JSONDecodeError is a ValueError; _add_lines says which line
            entries = None
    if entries is None or len(entries) != len(lines) or not all(type(entry) is dict for entry in entries):
        _add_lines(snapshot, lines, path)
        return
    profiles = snapshot.profiles
    for (number, _line), entry in zip(lines, entries):
        try:
            profiles[entry["account"].lower()] = entry
        except (KeyError, AttributeError):
            raise SnapshotError(f"{path}:{number}: a damaged snapshot line; run a full `maforge import`") from None


def record_applied(path: Path, tenant: str, values: dict[tuple[str, str], Any]) -> bool:
    """Bring the snapshot in line with what an apply wrote ({(account, property): value}), so
    `--delta` imports, which only see Entra ID changes, do not keep pre-apply values. False
    when there is no snapshot of this tenant to update."""
    try:
        snapshot = read_snapshot(path, tenant)
    except SnapshotError:
        return False
    for (account, prop), value in values.items():
        entry = snapshot.profiles.get(account.lower())
        if entry is not None and prop in snapshot.properties:
            entry["values"][prop] = value
    write_snapshot(snapshot, path)
    return True


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _delta_pages(session: SpoSession, url: str) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
    """Pages of Graph users from a delta URL, the last one with the new delta link."""
    while url:
        page = session.call("GET", url)
        yield page.get("value", []), page.get("@odata.deltaLink")
        url = page.get("@odata.nextLink")


def _user_count(session: SpoSession) -> int | None:
    """How many users Graph holds, for the progress bar's ETA; None when it will not say."""
    try:
        answer = session.request("GET", f"{session.connection.graph_url}/v1.0/users/$count", headers={"ConsistencyLevel": "eventual"})
        return int(answer.body.decode("ascii").strip()) if answer.status == 200 else None
    except (SpoError, ValueError, UnicodeDecodeError):
        return None


def _read_profiles(people: PeopleClient, users: list[dict[str, Any]], properties: list[str]) -> tuple[list[tuple[dict[str, Any], dict[str, Any] | None]], SpoError | None]:
    """The profiles of ``users``, read in `$batch` chunks on the session's threads, in order;
    and the error that stopped a chunk, if one did. What was read before the error is
    returned with it (a stopped full import keeps it for the next run to resume from)."""
    chunks = [users[i : i + CHUNK] for i in range(0, len(users), CHUNK)]

    def shaped(v: dict[str, Any] | None) -> dict[str, Any] | None:
        return {p: v.get(p, [] if p in people.multi_valued else "") for p in properties} if v is not None else None

    def read(chunk: list[dict[str, Any]]) -> tuple[list[tuple[dict[str, Any], dict[str, Any] | None]], SpoError | None]:
        accounts = [u["userPrincipalName"] for u in chunk]
        try:
            found = people.get_many(accounts)
        except ThrottledTooLong as stop:  # the parts answered before the stop still count
            answered = [(u, shaped(people.read_result(a, r))) for u, a, r in zip(chunk, accounts, stop.partial or []) if r is not None]
            return answered, stop
        except SpoError as error:
            return [], error
        return [(u, shaped(v)) for u, v in zip(chunk, found)], None

    pairs: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    errors: list[SpoError] = []
    for part, error in people.session.map(read, chunks):
        pairs.extend(part)
        if error is not None:
            errors.append(error)
    stop = next((e for e in errors if isinstance(e, ThrottledTooLong)), errors[0] if errors else None)
    return pairs, stop


PARTIAL_FORMAT = "maforge-import-partial"
PARTIAL_MAX_AGE = dt.timedelta(hours=24)  # older partial reads are stale: start over


def partial_path(out: Path) -> Path:
    """Where a full import keeps the profiles it has read until it completes."""
    return out.with_name("import.partial.jsonl")


class PartialImport:
    """The profiles a full import has read so far, one JSON line each, so that a run stopped
    by throttling (`--max-wait`), a fault or a kill resumes where it was instead of spending
    the tenant's budget on the same profiles again. Owner-only: it holds profile data."""

    def __init__(self, path: Path, tenant: str, properties: list[str]):
        self.path = path
        self.tenant = tenant
        self.properties = properties
        self.entries: dict[str, dict[str, Any]] = {}
        self._handle = None

    def load(self) -> str | None:
        """Take the entries of an earlier, unfinished import of the same tenant and
        properties; a note for the person when there was one, else None."""
        try:
            handle = open(self.path, encoding="utf-8")
        except OSError:
            return None
        with handle:
            try:
                header = json.loads(handle.readline())
            except json.JSONDecodeError:
                header = None
            if not isinstance(header, dict) or header.get("format") != PARTIAL_FORMAT or header.get("tenant") != self.tenant or header.get("properties") != self.properties:
                return f"{self.path} is from another import (tenant or properties differ); starting over"
            try:
                started = dt.datetime.fromisoformat(str(header.get("started_at")).replace("Z", "+00:00"))
            except ValueError:
                started = None
            if started is None or dt.datetime.now(dt.timezone.utc) - started > PARTIAL_MAX_AGE:
                return f"{self.path} is older than {PARTIAL_MAX_AGE.total_seconds() / 3600:.0f} h; starting over"
            for line in handle:
                try:
                    entry = json.loads(line)
                    self.entries[entry["account"].lower()] = entry
                except (json.JSONDecodeError, KeyError, AttributeError, TypeError):
                    continue  # a line a kill cut short: that profile is read again
        return f"resuming the import stopped at {header.get('started_at')}: {len(self.entries)} profiles already read are kept" if self.entries else None

    def open(self) -> None:
        resuming = bool(self.entries)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if resuming else os.O_TRUNC), 0o600)
        self._handle = os.fdopen(fd, "a" if resuming else "w", encoding="utf-8")
        if not resuming:
            self._handle.write(json.dumps({"format": PARTIAL_FORMAT, "version": 1, "tenant": self.tenant, "properties": self.properties, "started_at": _now()}) + "\n")
        elif self.path.stat().st_size and not self.path.read_bytes().endswith(b"\n"):
            self._handle.write("\n")
        self._handle.flush()

    def add(self, entries: list[dict[str, Any]]) -> None:
        if self._handle is None or not entries:
            return
        self._handle.write("".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries))
        self._handle.flush()

    def close(self, *, finished: bool) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if finished:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass


def import_profiles(
    session: SpoSession,
    properties: Iterable[str],
    multi_valued: Iterable[str],
    out: Path,
    *,
    delta: bool = False,
    progress: Progress | None = None,
    select: Iterable[str],
) -> Snapshot:
    """Read every profile (or, with ``delta``, the ones Graph reports changed since the last
    snapshot) and write the snapshot to ``out``. A full import that stops before the end
    keeps what it read in ``partial_path(out)`` and the next full import resumes from it; the
    snapshot itself is replaced only by a complete run. ``select`` is what a full import asks
    Graph to track for later deltas (delta.py); a delta follows the watermark's own."""
    managed = sorted(set(properties) | {"AccountName"})
    people = PeopleClient(session, multi_valued)
    graph = session.connection.graph_url
    partial = None if delta else PartialImport(partial_path(out), session.connection.tenant, managed)
    if partial is not None:
        note = partial.load()
        if note:
            notify(note)
    if delta:
        previous = read_snapshot(out, session.connection.tenant)
        if not previous.watermark:
            raise SnapshotError(f"{out}: the last import saved no watermark; run a full import first")
        if sorted(previous.properties) != managed:
            raise SnapshotError(f"{out}: the spec now manages other properties than the snapshot holds; run a full import")
        snapshot = Snapshot(previous.tenant, managed, _now(), None, dict(previous.profiles), previous.full_import)
        url = previous.watermark
    else:
        snapshot = Snapshot(session.connection.tenant, managed, _now(), None)
        snapshot.full_import = {"at": snapshot.taken_at, "select": list(select)}
        url = delta_url(graph, snapshot.full_import["select"])
    tracker = progress or Progress("importing profiles", total=None if delta else _user_count(session))
    watermark = None
    # Entra object id → account, built once: deletions and renames arrive by id, page by page.
    by_id = {entry["id"]: account for account, entry in snapshot.profiles.items() if entry.get("id")}
    finished = False
    if partial is not None:
        partial.open()
    try:
        for users, delta_link in _delta_pages(session, url):
            for user in users:
                if "@removed" in user:
                    gone = by_id.pop(user.get("id"), None)
                    if gone is not None:
                        snapshot.profiles.pop(gone, None)
            present = [u for u in users if "@removed" not in u and u.get("userPrincipalName")]
            if partial is not None and partial.entries:
                # read before the last run stopped: kept, not read again
                kept = [partial.entries.get(claims(u["userPrincipalName"]).lower()) for u in present]
                for entry in kept:
                    if entry is not None:
                        snapshot.profiles[entry["account"].lower()] = entry
                present = [u for u, entry in zip(present, kept) if entry is None]
            fresh: list[dict[str, Any]] = []
            pairs, stopped = _read_profiles(people, present, managed)
            for user, values in pairs:
                account = claims(user["userPrincipalName"]).lower()
                renamed = by_id.get(user.get("id"))
                if renamed is not None and renamed != account:
                    snapshot.profiles.pop(renamed, None)  # a renamed UPN: one person, one entry
                if values is None:
                    snapshot.profiles.pop(account, None)
                    by_id.pop(user.get("id"), None)
                    continue
                entry = {"account": claims(user["userPrincipalName"]), "upn": user["userPrincipalName"], "id": user.get("id"), "values": values}
                snapshot.profiles[account] = entry
                fresh.append(entry)
                if user.get("id"):
                    by_id[user["id"]] = account
            if partial is not None:
                partial.add(fresh)
            if stopped is not None:
                raise stopped
            tracker.advance(len(users))
            watermark = delta_link or watermark
        snapshot.watermark = watermark
        write_snapshot(snapshot, out)
        finished = True
    except ThrottledTooLong as stop:
        if partial is None:
            raise ThrottledTooLong(f"{stop}; the snapshot in {out.parent} is unchanged: run the same delta import again later") from None
        raise ThrottledTooLong(f"{stop}; {len(snapshot.profiles)} profiles read so far are kept in {partial.path}: run the same import again to resume") from None
    except SpoError as error:
        if partial is None:
            raise
        raise SpoError(f"{error}; {len(snapshot.profiles)} profiles read so far are kept in {partial.path}: run the same import again to resume", error.status, error.code, error.request_id) from None
    finally:
        if partial is not None:
            partial.close(finished=finished)
        if finished:
            tracker.finish()
        else:
            tracker.close()
    return snapshot
