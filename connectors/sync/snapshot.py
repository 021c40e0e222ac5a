"""The local snapshot of SharePoint profiles that `maforge plan --refresh=false` diffs against,
written by `maforge import`.

Format (JSON Lines, UTF-8, one file `snapshot.jsonl`):
- line 1, the header: {"format": "maforge-snapshot", "version": 1, "tenant", "properties":
  [the managed property names], "taken_at" (ISO 8601 UTC), "complete": true, "watermark"
  (the Graph delta link for the next `--delta`, or null), "profiles" (count)};
- then one line per profile: {"account": claims login, "upn", "id": Entra object id,
  "values": {property: text, or a list for multi-valued properties}}.
The file is written beside its final name and renamed into place only after a complete
run, so a watermark is never saved for a partial import.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maforge.atomic import open_atomic
from maforge.connectors.spo.people import PeopleClient, claims
from maforge.connectors.spo.session import SpoError, SpoSession

from .progress import Progress

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
        snapshot = Snapshot(header["tenant"], header["properties"], header["taken_at"], header.get("watermark"))
        for number, line in enumerate(handle, 2):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                snapshot.profiles[entry["account"].lower()] = entry
            except (json.JSONDecodeError, KeyError, AttributeError):
                raise SnapshotError(f"{path}:{number}: a damaged snapshot line; run a full `maforge import`") from None
    if len(snapshot.profiles) != header.get("profiles"):
        raise SnapshotError(f"{path}: holds {len(snapshot.profiles)} profiles, its header says {header.get('profiles')}: it is truncated")
    return snapshot


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


def _read_profiles(people: PeopleClient, users: list[dict[str, Any]], properties: list[str]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    chunks = [users[i : i + CHUNK] for i in range(0, len(users), CHUNK)]

    def read(chunk: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
        found = people.get_many([u["userPrincipalName"] for u in chunk])
        return [(u, {p: v.get(p, [] if p in people.multi_valued else "") for p in properties} if v is not None else None) for u, v in zip(chunk, found)]

    return [pair for part in people.session.map(read, chunks) for pair in part]


def import_profiles(
    session: SpoSession,
    properties: Iterable[str],
    multi_valued: Iterable[str],
    out: Path,
    *,
    delta: bool = False,
    progress: Progress | None = None,
) -> Snapshot:
    """Read every profile (or, with ``delta``, the ones Graph reports changed since the last
    snapshot) and write the snapshot to ``out``."""
    managed = sorted(set(properties) | {"AccountName"})
    people = PeopleClient(session, multi_valued)
    graph = session.connection.graph_url
    if delta:
        previous = read_snapshot(out, session.connection.tenant)
        if not previous.watermark:
            raise SnapshotError(f"{out}: the last import saved no watermark; run a full import first")
        if sorted(previous.properties) != managed:
            raise SnapshotError(f"{out}: the spec now manages other properties than the snapshot holds; run a full import")
        snapshot = Snapshot(previous.tenant, managed, _now(), None, dict(previous.profiles))
        url = previous.watermark
    else:
        snapshot = Snapshot(session.connection.tenant, managed, _now(), None)
        url = f"{graph}/v1.0/users/delta?$select=id,userPrincipalName,accountEnabled"
    tracker = progress or Progress("importing profiles", total=None if delta else _user_count(session))
    watermark = None
    # Entra object id → account, built once: deletions and renames arrive by id, page by page.
    by_id = {entry["id"]: account for account, entry in snapshot.profiles.items() if entry.get("id")}
    for users, delta_link in _delta_pages(session, url):
        for user in users:
            if "@removed" in user:
                gone = by_id.pop(user.get("id"), None)
                if gone is not None:
                    snapshot.profiles.pop(gone, None)
        present = [u for u in users if "@removed" not in u and u.get("userPrincipalName")]
        for user, values in _read_profiles(people, present, managed):
            account = claims(user["userPrincipalName"]).lower()
            renamed = by_id.get(user.get("id"))
            if renamed is not None and renamed != account:
                snapshot.profiles.pop(renamed, None)  # a renamed UPN: one person, one entry
            if values is None:
                snapshot.profiles.pop(account, None)
                by_id.pop(user.get("id"), None)
                continue
            snapshot.profiles[account] = {"account": claims(user["userPrincipalName"]), "upn": user["userPrincipalName"], "id": user.get("id"), "values": values}
            if user.get("id"):
                by_id[user["id"]] = account
        tracker.advance(len(users))
        watermark = delta_link or watermark
    snapshot.watermark = watermark
    write_snapshot(snapshot, out)
    tracker.finish()
    return snapshot
