"""Join state: which SharePoint profile each person is joined to, kept between runs.

MIM's joins are sticky. Join and projection rules apply only to disconnectors: once a
profile is joined it stays joined until it is disconnected (a connector filter, a
deprovisioning, a deleted profile), whatever later happens to the values the join rule
compared ("connector" state, ms694717). So when HR changes a user's UPN, MIM keeps the join
and exports the new values to the same profile. maforge keeps the same links here, Terraform
style, in `<state folder>/links.json`:

    {"format": "maforge-links", "version": 1, "serial": 7, "connector": "…", "tenant": "…",
     "updated": "2026-12-03T10:00:00Z",
     "links": {"hr/E1001": {"account": "i:0#.f|membership|…", "rows": ["hr/E1001", "badge/B7"]}}}

A person is named by the source row that projected it (`<source>/<key>`); `rows` are every
source row that contributed to it at the last apply, so a row that has gone since is a
leaver. `serial` grows by one with every write: a plan records the serial it was made
against, and an apply on a changed state is refused as stale.

The file is written atomically (a temporary file, then a rename), so a killed run leaves the
previous state as it was. It holds account names (personal data): readable by the owner only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maforge.atomic import write_text_atomic

LINKS_FILE = "links.json"
FORMAT = "maforge-links"
VERSION = 1


class LinkStateError(Exception):
    """A links file that cannot be read, or belongs to another connector or tenant."""


@dataclass(frozen=True, slots=True)
class Link:
    account: str  # the profile's claims login, as SharePoint spells it
    rows: tuple[str, ...]  # the source rows (`source/key`) that made the person at the last apply

    def to_json(self) -> dict[str, Any]:
        return {"account": self.account, "rows": list(self.rows)}


@dataclass(slots=True)
class LinkState:
    connector: str
    tenant: str
    serial: int = 0
    links: dict[str, Link] = field(default_factory=dict)  # person id → link
    updated: str | None = None
    plan: str | None = None  # the plan that last changed it (a re-run of that plan is not stale)

    def by_account(self) -> dict[str, str]:
        """Profile account (case-folded) → person id."""
        return {link.account.casefold(): person for person, link in self.links.items()}

    def apply(self, changes: Iterable[Mapping[str, Any]], plan: str | None = None) -> LinkState:
        """The state after a plan's join changes (`plan.joins`): `join` adds or replaces a
        link, `disconnect` removes one; the serial grows by one."""
        links = dict(self.links)
        for change in changes:
            person = str(change["person"])
            if change["action"] == "disconnect":
                links.pop(person, None)
            else:
                rows = change.get("rows")
                links[person] = Link(str(change["account"]), tuple(rows) if rows is not None else (person,))
        return LinkState(self.connector, self.tenant, self.serial + 1, links, _now(), plan)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "serial": self.serial,
            "connector": self.connector,
            "tenant": self.tenant,
            "updated": self.updated,
            "plan": self.plan,
            "links": {person: link.to_json() for person, link in sorted(self.links.items())},
        }


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def links_path(state_dir: Path) -> Path:
    return state_dir / LINKS_FILE


def read_links(state_dir: Path, connector: str | None, tenant: str | None) -> LinkState:
    """The join state in ``state_dir``; an empty state (serial 0) when there is none yet.
    ``connector`` and ``tenant`` guard against another connector's state (None: take the
    file's own, for `maforge state`)."""
    path = links_path(state_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if connector is None or tenant is None:
            raise LinkStateError(f"{path}: no join state here; an apply of a plan writes one (or give --state DIR)") from None
        return LinkState(connector, tenant)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LinkStateError(f"{path}: not a readable join state ({error}); restore it from a backup, or remove it to join every profile again by the join rules") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise LinkStateError(f"{path}: not a maforge join state (no \"format\": \"{FORMAT}\"); remove it to join every profile again by the join rules")
    if data.get("version") != VERSION:
        raise LinkStateError(f"{path}: join state version {data.get('version')!r}, this maforge reads {VERSION}; use the maforge that wrote it")
    connector = connector if connector is not None else str(data.get("connector"))
    tenant = tenant if tenant is not None else str(data.get("tenant"))
    if str(data.get("tenant", "")).casefold() != tenant.casefold() or data.get("connector") != connector:
        raise LinkStateError(
            f"{path}: the join state of connector {data.get('connector')!r} on tenant {data.get('tenant')!r}, not {connector!r} on {tenant!r}; "
            "use another --state folder for each connector and tenant"
        )
    try:
        links = {str(person): Link(str(entry["account"]), tuple(str(r) for r in (entry["rows"] if entry.get("rows") is not None else (person,)))) for person, entry in data["links"].items()}
        return LinkState(connector, tenant, int(data["serial"]), links, data.get("updated"), data.get("plan"))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise LinkStateError(f"{path}: a damaged join state ({type(error).__name__}: {error}); restore it from a backup, or remove it to join every profile again by the join rules") from None


def links_digest(state: LinkState, exclude: Iterable[str] = ()) -> str:
    """A fingerprint of the links (person → profile) outside ``exclude``: a plan records it
    for the links it relies on without changing them, so an apply can tell they still hold."""
    skip = set(exclude)
    digest = hashlib.sha256()
    for person in sorted(state.links):
        if person not in skip:
            digest.update(f"{person}\t{state.links[person].account.casefold()}\n".encode())
    return digest.hexdigest()


def find_links(state: LinkState, wanted: str) -> list[str]:
    """The people a `maforge state` argument names: a person id (`hr/E1001`), or a profile by
    claims login or UPN (case-insensitive)."""
    if wanted in state.links:
        return [wanted]
    folded = wanted.casefold()
    return [person for person, link in state.links.items() if link.account.casefold() in (folded, f"i:0#.f|membership|{folded}") or person.casefold() == folded]


def write_links(state_dir: Path, state: LinkState) -> None:
    """Replace the join state in one step (owner-only: it names every joined profile)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(links_path(state_dir), json.dumps(state.to_json(), ensure_ascii=False, indent=1) + "\n", mode=0o600)


__all__ = ["LINKS_FILE", "Link", "LinkState", "LinkStateError", "find_links", "links_digest", "links_path", "read_links", "write_links"]
