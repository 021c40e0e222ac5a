"""The errors a run reports as one line and exit 1 (a bad connection file, a sign-in or
SharePoint failure, a missing snapshot, a stale or foreign plan, an unreadable source)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from maforge.connectors.spo.auth import AuthError
from maforge.connectors.spo.connection import ConnectionError_
from maforge.connectors.spo.session import SpoError

from .applier import ApplyRefused
from .links import LinkStateError
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
    LinkStateError,
    RuleBookError,
    SnapshotError,
    SourceError,
    OSError,
)


# What to do next, per kind of failure: every error a command reports ends with a next step.
NEXT_STEPS: tuple[tuple[type[Exception], str], ...] = (
    (AuthError, "check the credentials the connection file names (certificate, AZURE_* variables) and run again with --verbose to see the sign-in requests"),
    (ConnectionError_, "fix the connection file: it holds the keys `maforge emulator` prints (see docs/troubleshooting.md)"),
    (SpoError, "run again with --verbose to see each request and its request id; a finished apply's journal keeps what was done"),
    (ApplyRefused, "nothing was written; make a new plan with `maforge plan --out` or use the connection the plan was made for"),
    (PlanError, "make a new plan with `maforge plan --out`"),
    (LinkStateError, "check the --state folder: `maforge state list` shows the joins it holds"),
    (RuleBookError, "build the connector again with `maforge build`"),
    (SnapshotError, "run a full `maforge import SPEC` first"),
    (SourceError, "fix the source file or the spec's `sources` entry it names"),
    (OSError, "check the path and its permissions"),
)
_HAS_NEXT_STEP = ("run ", "make ", "give ", "pass ", "fix ", "use ", "check ", "start ", "choose ", "confirm ", "raise ", "review ", "build ", "wait ", "add ", "remove ", "write ")


_HOST_IN_MESSAGE = re.compile(r"host='([^']+)', port=(\d+)")
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def unreachable(error: Exception) -> str | None:
    """For a connection that never got an answer (refused, no such host, timed out, TLS):
    which address, why, and what to check; None for any other error. Without this, urllib3's
    own text ("HTTPSConnectionPool(host=…): Max retries exceeded …") reached the user with
    OSError's advice about paths and permissions."""
    import requests

    if not isinstance(error, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        return None
    text = str(error)
    request = getattr(error, "request", None)
    address = None
    if request is not None and getattr(request, "url", None):
        parts = urlsplit(request.url)
        address = f"{parts.scheme}://{parts.netloc}"
    found = _HOST_IN_MESSAGE.search(text)
    if address is None and found:
        address = f"https://{found.group(1)}:{found.group(2)}"
    host = urlsplit(address).hostname if address else (found.group(1) if found else "")
    if isinstance(error, requests.exceptions.SSLError):
        why = "the TLS handshake failed: the certificate is not trusted, or it is not an HTTPS server"
    elif isinstance(error, requests.exceptions.Timeout) or "timed out" in text:
        why = "no answer in time"
    elif "refused" in text.lower():
        why = "connection refused"
    elif re.search(r"NameResolution|getaddrinfo|Name or service not known|nodename nor servname", text):
        why = "the name does not resolve"
    else:
        why = "no connection"
    if host in _LOCAL_HOSTS:
        hint = "is the emulator running (`maforge emulator`), and is admin_url in the connection file right?"
    else:
        hint = "check the network or proxy (HTTPS_PROXY), and that admin_url in the connection file names your tenant"
    return f"cannot reach {address or 'the server'} ({why}); {hint}"


def describe_failure(error: Exception) -> str:
    """The error's message, ending with the next step to take (unless it names one already)."""
    never_answered = unreachable(error)
    if never_answered is not None:
        return never_answered
    message = str(error).rstrip(". ")
    if isinstance(error, OSError) and error.filename and error.strerror:
        message = f"{error.filename}: {error.strerror}"
    lowered = message.lower()
    tail = lowered.rsplit(";", 1)[-1] if ";" in lowered else lowered[-120:]
    if any(marker in tail for marker in _HAS_NEXT_STEP):
        return message
    for kind, step in NEXT_STEPS:
        if isinstance(error, kind):
            return f"{message}; {step}"
    return message
