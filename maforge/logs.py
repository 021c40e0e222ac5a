"""`--verbose` logging, and the one place secrets are taken out of it.

Every log line maforge (or a library it uses) writes goes through one handler on stderr whose
formatter passes the finished text, traceback included, through :func:`redact`. Nothing
logs a request or response body; the HTTP trace (logger ``maforge.http``, written by
connectors/spo/session.py) holds method, URL, status, time, request id, retries and waits.
msal and urllib3 stay at WARNING even with ``--verbose``: msal's debug output can hold
token-endpoint answers, urllib3's holds every URL with its query string.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable

REDACTED = "[redacted]"

# Names of fields whose value is a secret wherever they appear: query strings, form bodies,
# JSON, Python reprs, headers. `assertion` covers client_assertion; `code` the authorization
# and device codes; `sig` a SAS signature.
_SECRET_NAMES = (
    r"access_token|refresh_token|id_token|client_secret|client_assertion|assertion|password|passwd|pwd"
    r"|device_code|code|sig|secret|api[-_]?key|private_key|token|x-identity-header|identity_header"
)
_NAME = rf"(?<![\w-])(?:{_SECRET_NAMES})(?![\w-])"
_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # A PEM private key, whole or cut short.
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL), "[redacted private key]"),
    # Authorization (and Proxy-Authorization) header values: "Bearer …", "Basic …", anything.
    (re.compile(r"(?i)((?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?)((?:bearer|basic|negotiate|ntlm|pop)\s+)?[^'\",\r\n}]+"), lambda m: m.group(1) + (m.group(2) or "") + REDACTED),
    # A scheme and credential anywhere else: "Bearer eyJ…".
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]{8,}=*"), r"\1 " + REDACTED),
    # JSON and reprs: "password": "…", 'access_token': '…'.
    (re.compile(rf"(?i)(['\"]{_NAME}['\"]\s*:\s*)(['\"])(?:\\.|(?!\2).)*\2"), r"\1\2" + REDACTED + r"\2"),
    # Query strings, form bodies and key=value text: password=…, client_assertion=….
    (re.compile(rf"(?i)({_NAME}=)[^&\s'\"]+"), r"\1" + REDACTED),
    # Credentials in a URL: https://user:secret@host.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+@"), r"\1" + REDACTED + "@"),
    # Any JWT (access, id and federated tokens, client assertions): header.claims.signature.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[redacted jwt]"),
)


def redact(text: str) -> str:
    """``text`` without the secrets it may carry: Authorization headers, bearer and basic
    credentials, JWTs (tokens and client assertions), PEM private keys, credentials in URLs,
    and the values of secret-named fields (password, client_secret, client_assertion,
    access_token, refresh_token, id_token, code, device_code, sig, token...) in query
    strings, form bodies, JSON and reprs."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    """Formats a record as usual, then redacts the whole text (message and traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (a test runner swaps it)."""

    maforge_verbose = True

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # noqa: D401 - a property standing in for the attribute
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


QUIET_LOGGERS = ("msal", "urllib3", "requests")


def configure_logging(verbose: bool) -> None:
    """With ``verbose``: maforge's loggers (``maforge.http``: every request) at DEBUG on
    stderr, through the redacting formatter; other libraries' warnings through the same
    handler; msal and urllib3 kept at WARNING. Without: maforge logs nothing (the default),
    and a handler an earlier in-process run installed is removed."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "maforge_verbose", False)]:
        root.removeHandler(handler)
    package = logging.getLogger("maforge")
    if not verbose:
        package.setLevel(logging.NOTSET)
        return
    handler = _StderrHandler()
    handler.setFormatter(RedactingFormatter("%(name)s: %(message)s"))
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    package.setLevel(logging.DEBUG)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
