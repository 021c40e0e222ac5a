"""The errors a run reports as one line and exit 1 (a bad connection file, a sign-in or
SharePoint failure, a missing snapshot, a stale or foreign plan, an unreadable source)."""

from __future__ import annotations

from maforge.connectors.spo.auth import AuthError
from maforge.connectors.spo.connection import ConnectionError_
from maforge.connectors.spo.session import SpoError

from .applier import ApplyRefused
from .plan import PlanError
from .rulebook import RuleBookError
from .snapshot import SnapshotError
from .sources import SourceError

RUN_ERRORS: tuple[type[Exception], ...] = (
    AuthError,
    ConnectionError_,
    SpoError,
    ApplyRefused,
    PlanError,
    RuleBookError,
    SnapshotError,
    SourceError,
    OSError,
)
