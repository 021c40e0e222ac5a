"""Stable identities for what a build writes: GUIDs and timestamps.

A build must be byte-identical on any machine, so nothing here reads the clock or a random
source. GUIDs are UUIDv5 of a fixed namespace and the names that identify the element
(MA id, element kind, names), in MIM's spelling (upper case, braces). Renaming an element
therefore gives it a new id, like re-creating it in the UI; pin `mim.id` to keep an
existing MA's id.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone

from .model import ConnectorSpec, Partition, RunProfile

# Fixed forever: changing it changes every id maforge has ever written.
MAFORGE_NAMESPACE = uuid.UUID("6d2c8b1e-3f4a-5b6c-9d7e-8f90a1b2c3d4")

# Used when the spec sets no timestamp and SOURCE_DATE_EPOCH is not set.
DEFAULT_TIMESTAMP = "2000-01-01 00:00:00.000"


def mim_guid(*parts: str) -> str:
    """A GUID derived from ``parts``, spelled as MIM spells GUIDs."""
    return "{" + str(uuid.uuid5(MAFORGE_NAMESPACE, "\x1f".join(parts))).upper() + "}"


def ma_id(spec: ConnectorSpec) -> str:
    """The MA's GUID: pinned in the spec, or derived from its name."""
    return spec.mim.id or mim_guid("ma", spec.name)


def _element_id(spec: ConnectorSpec, key: str) -> str:
    return spec.mim.ids.get(key) or mim_guid(ma_id(spec), key)


# Element keys: the names `mim.ids` pins GUIDs by. Every emitter asks for ids through
# these functions, and `element_keys` lists them, so the two cannot disagree.


def partition_key(partition: Partition) -> str:
    return f"partition/{partition.key}"


def run_profile_key(profile: RunProfile) -> str:
    return f"run-profile/{profile.name}"


def filter_key(cs_object_type: str, index: int) -> str:
    return f"filter/{cs_object_type}/{index + 1}"


def join_key(cs_object_type: str, index: int) -> str:
    return f"join/{cs_object_type}/{index + 1}"


def projection_key(cs_object_type: str) -> str:
    return f"projection/{cs_object_type}"


def export_flow_key(cs_object_type: str, mv_object_type: str, target: str) -> str:
    return f"export-flow/{cs_object_type}/{mv_object_type}/{target}"


def import_flow_key(cs_object_type: str, mv_object_type: str, target: str) -> str:
    return f"import-flow/{cs_object_type}/{mv_object_type}/{target}"


def element_id(spec: ConnectorSpec, key: str) -> str:
    """The GUID of an element of this MA: pinned in `mim.ids`, or derived from its key."""
    return _element_id(spec, key)


def element_keys(spec: ConnectorSpec) -> set[str]:
    """Every element key this spec's MA has (what `mim.ids` may pin)."""
    keys = {partition_key(p) for p in spec.partitions} | {run_profile_key(r) for r in spec.run_profiles}
    for type_name in {a.cs_object_type for a in spec.connector_filter}:
        count = sum(1 for a in spec.connector_filter if a.cs_object_type == type_name)
        keys |= {filter_key(type_name, i) for i in range(count)}
    for type_name in {j.cs_object_type for j in spec.join}:
        count = sum(1 for j in spec.join if j.cs_object_type == type_name)
        keys |= {join_key(type_name, i) for i in range(count)}
    keys |= {projection_key(p.cs_object_type) for p in spec.projection}
    for export_set in spec.export_flows:
        keys |= {export_flow_key(export_set.cs_object_type, export_set.mv_object_type, f.target) for f in export_set.flows}
    for import_set in spec.import_flows:
        keys |= {import_flow_key(import_set.cs_object_type, import_set.mv_object_type, f.target) for f in import_set.flows}
    return keys


def build_timestamp(spec: ConnectorSpec, environ: dict[str, str] | None = None) -> str:
    """`YYYY-MM-DD HH:MM:SS.mmm` (UTC): the spec's `mim.timestamp`, else SOURCE_DATE_EPOCH,
    else a fixed date."""
    if spec.mim.timestamp:
        return spec.mim.timestamp
    env = os.environ if environ is None else environ
    epoch = env.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        try:
            moment = datetime.fromtimestamp(int(epoch), tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise ValueError(f"SOURCE_DATE_EPOCH={epoch!r} is not a number of seconds since 1970") from None
        return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    return DEFAULT_TIMESTAMP
