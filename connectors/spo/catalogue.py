"""The catalogue of default SharePoint Online user profile properties.

Used wherever maforge must know a property before touching a tenant: ``validate`` refuses
flows into system-maintained properties and warns about multi-valuedness that disagrees
with SharePoint; ``plan`` (later) reports what cannot be written. ``None`` in a field means
no public source established the fact; callers must treat it as unknown, not as false.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class ProfileProperty:
    name: str
    display_name: str | None
    type: str | None
    multi_valued: bool | None
    separator: str | None
    taxonomy: bool | None
    user_editable_default: bool | None
    synced_from_entra: str | None
    writable_via_people_manager: str  # yes | admin-only | no | unknown
    bulk_import_eligible: bool | None
    read_only_system: bool | None


@cache
def properties() -> dict[str, ProfileProperty]:
    """Default properties by exact name, in the order SharePoint returns them."""
    raw = json.loads(resources.files(__package__).joinpath("properties.json").read_text(encoding="utf-8"))
    result: dict[str, ProfileProperty] = {}
    for item in raw["properties"]:
        result[item["name"]] = ProfileProperty(
            name=item["name"],
            display_name=item.get("displayName"),
            type=item.get("type"),
            multi_valued=item.get("multiValued"),
            separator=item.get("separator"),
            taxonomy=item.get("taxonomy"),
            user_editable_default=item.get("userEditableDefault"),
            synced_from_entra=item.get("syncedFromEntra"),
            writable_via_people_manager=item.get("writableViaPeopleManager") or "unknown",
            bulk_import_eligible=item.get("bulkImportEligible"),
            read_only_system=item.get("readOnlySystem"),
        )
    return result


def lookup(name: str) -> ProfileProperty | None:
    """The default property ``name`` (exact spelling), or None for a custom property."""
    return properties().get(name)


def case_match(name: str) -> ProfileProperty | None:
    """A default property whose name differs from ``name`` only in case."""
    lowered = name.lower()
    return next((p for p in properties().values() if p.name.lower() == lowered), None)
