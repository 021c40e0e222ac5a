"""What `maforge import` asks Microsoft Graph's users/delta to track, and when a `--delta`
import has to be a full import instead.

Graph's delta query reports a user as changed only when a *selected* property changed
("If a change occurs to a property that isn't selected, the resource for which that property
changed doesn't appear in the delta response", learn.microsoft.com/graph/delta-query-overview).
So the import selects every Entra property whose change can matter to the snapshot:

- id, userPrincipalName and accountEnabled: who exists, under which account, and whether
  SharePoint keeps a profile for them;
- the Entra properties SharePoint's own profile sync copies into the managed properties (the
  property catalogue's `syncedFromEntra`, spo-profile-properties.md §3.1), by their Graph names;
- every Graph field the spec's `graph-users` sources read.

The full import opens the delta round, and Graph carries its `$select` in every later link: the
select is fixed for the life of the watermark. The snapshot header records it with the time of
the full import (`full_import`), and a `--delta` whose spec needs another select, or whose full
import is older than `--full-after`, runs a full import instead.

Edits made in SharePoint itself (About me, skills, a custom property) are in no Graph feed at
all: only a full import sees them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from maforge.connectors.spo import catalogue
from maforge.durations import format_duration

from .rulebook import RuleBook
from .sources import graph_select

ALWAYS = ("id", "userPrincipalName", "accountEnabled")

# The sync's source attributes (as Microsoft's SharePoint docs spell them, the catalogue's
# `syncedFromEntra`) → the Graph user properties that hold them. Attributes Graph does not
# expose on users (ObjectSid, WWWHomePage, msExch…) have no entry: nothing to track.
_GRAPH_NAMES: dict[str, tuple[str, ...]] = {
    "userprincipalname": ("userPrincipalName",),
    "displayname": ("displayName",),
    "givenname": ("givenName",),
    "sn": ("surname",),
    "telephonenumber": ("businessPhones",),
    "proxyaddresses": ("proxyAddresses", "mail"),  # WorkEmail is the primary SMTP address
    "physicaldeliveryofficename": ("officeLocation",),
    "title": ("jobTitle",),
    "department": ("department",),
    "preferredlanguage": ("preferredLanguage",),
    "manager": ("manager",),  # a navigation property users/delta documents as selectable
    "msonline-usertype": ("userType",),
    "msonline-objectid": ("id",),
}
# Not in Microsoft's sync table (a 2020 issue says mobile numbers are not synced), tracked all
# the same: a needless re-read costs one call, a missed change costs a wrong snapshot.
_ALSO_TRACKED: dict[str, tuple[str, ...]] = {"cellphone": ("mobilePhone",)}


def tracked_properties(book: RuleBook) -> list[str]:
    """The `$select` of the import's users/delta round: ALWAYS first, then the rest sorted."""
    names: dict[str, str] = {name.lower(): name for name in ALWAYS}
    connector = book.connector()
    for prop in [*connector.profile_properties, "AccountName"]:
        known = catalogue.lookup(prop) or catalogue.case_match(prop)
        synced = (known.synced_from_entra or "").lower() if known else ""
        for name in (*_GRAPH_NAMES.get(synced, ()), *_ALSO_TRACKED.get(prop.lower(), ())):
            names.setdefault(name.lower(), name)
    for source in book.sources:
        if source.config.get("type") == "graph-users":
            for name in graph_select(source.config):
                names.setdefault(name.lower(), name)
    rest = sorted((name for key, name in names.items() if key not in {a.lower() for a in ALWAYS}), key=str.lower)
    return [*ALWAYS, *rest]


def delta_url(graph_url: str, select: Iterable[str]) -> str:
    """The first request of a users/delta round. Only `$select` is sent: users/delta documents
    no `$top` and refuses `$orderby` and `$expand`."""
    return f"{graph_url}/v1.0/users/delta?$select={','.join(select)}"


def full_import_reason(snapshot_path: Path, tenant: str, select: list[str], full_after: float | None, now: dt.datetime | None = None) -> str | None:
    """Why a `--delta` import must read everything instead, or None when the watermark can
    serve. A missing or damaged snapshot is not a reason here: the import reports it."""
    from .snapshot import SnapshotError, read_snapshot  # here: snapshot.py imports this module

    try:
        previous = read_snapshot(snapshot_path, tenant)
    except SnapshotError:
        return None
    if not previous.watermark:
        return None
    recorded = previous.full_import or {}
    if not isinstance(recorded.get("select"), list) or not isinstance(recorded.get("at"), str):
        return f"{snapshot_path} does not record what its delta link tracks (an older maforge wrote it)"
    before = {str(name).lower() for name in recorded["select"]}
    wanted = {name.lower() for name in select}
    if before != wanted:
        added = [name for name in select if name.lower() not in before]
        dropped = [str(name) for name in recorded["select"] if str(name).lower() not in wanted]
        parts = ([f"now also {', '.join(added)}"] if added else []) + ([f"no longer {', '.join(dropped)}"] if dropped else [])
        return f"the spec needs Graph to track other Entra properties than the last full import asked for ({'; '.join(parts)})"
    if full_after is not None:
        try:
            taken = dt.datetime.fromisoformat(recorded["at"].replace("Z", "+00:00"))
        except ValueError:
            return f"{snapshot_path} records no readable time of the last full import ({recorded['at']!r})"
        age = ((now or dt.datetime.now(dt.timezone.utc)) - taken).total_seconds()
        if age > full_after:
            return f"the last full import ran {format_duration(age)} ago, longer than --full-after {format_duration(full_after)}"
    return None
