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

from .model import ConnectorSpec

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


def element_id(spec: ConnectorSpec, kind: str, *names: str) -> str:
    """The GUID of an element of this MA (a partition, run profile, rule or flow)."""
    return mim_guid(ma_id(spec), kind, *names)


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
