"""Where a tenant is and how to sign in to it: one `Connection`, read from the emulator's
connection line (`--connection FILE`), a file of the same shape for a real tenant, the
spec's `sharepoint` section, or the usual environment variables.

Sign-in settings come in three layers, each overriding the one before (:func:`layered`):

1. the spec's `sharepoint.auth` (and the connectivity User and Password reference), as the
   rule book carries it, so `maforge plan SPEC` and a built package read the same defaults;
2. the connection file (`--connection FILE`);
3. the `AZURE_*` environment variables, so a CI job can change one setting without a file.

Secrets stay references: a `password` or `client_secret` in a connection file may be
`${env:NAME}` or `${file:PATH}`; only the emulator's own line carries its test password.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

_REFERENCE = re.compile(r"^\$\{(env|file):([^}]+)\}$")

# The sign-in settings a spec may give as defaults (Connection field names).
SIGN_IN_FIELDS = ("auth_method", "client_id", "certificate", "federated_token_file", "username", "password")
# Fields that hold a path to a file (or a reference that yields one), resolved against a base.
PATH_FIELDS = ("ca_bundle", "certificate", "federated_token_file")
# Environment variable → the field it overrides (AZURE_PASSWORD is taken by reference).
ENVIRONMENT = {
    "AZURE_TENANT_ID": "tenant_id",
    "AZURE_CLIENT_ID": "client_id",
    "AZURE_CLIENT_CERTIFICATE_PATH": "certificate",
    "AZURE_FEDERATED_TOKEN_FILE": "federated_token_file",
    "AZURE_USERNAME": "username",
}


class ConnectionError_(Exception):
    """A connection file or setting that cannot be used (named, with what to do)."""


def resolve_secret(value: str | None, base: Path | None = None) -> str | None:
    """The secret a `${env:NAME}` / `${file:PATH}` reference points at (plain values as is)."""
    if value is None:
        return None
    match = _REFERENCE.match(value)
    if not match:
        return value
    kind, target = match.groups()
    if kind == "env":
        if target not in os.environ:
            raise ConnectionError_(f"environment variable {target} is not set (referenced as ${{env:{target}}})")
        return os.environ[target]
    path = Path(target)
    if base is not None and not path.is_absolute():
        path = base / path
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConnectionError_(f"cannot read secret file {path}: {error.strerror or error}") from None


@dataclass(frozen=True, slots=True)
class Connection:
    """A tenant's endpoints and sign-in settings (no secret values, only references)."""

    tenant: str
    spo_url: str
    admin_url: str
    graph_url: str = "https://graph.microsoft.com"
    authority: str = ""
    tenant_id: str = ""
    ca_bundle: str | None = None  # extra CA to trust (the emulator's)
    client_id: str | None = None
    certificate: str | None = None  # PEM with certificate and private key
    username: str | None = None
    password: str | None = None  # a value only for the emulator's test user; else a reference
    auth_method: str | None = None  # certificate | password | device-code | managed-identity | federated
    federated_token_file: str | None = None
    public_client_id: str | None = None
    # The emulator can run its throttling windows and Retry-After F times faster
    # (`maforge emulator --time-scale F`); its connection line says so, and maforge scales the
    # service's documented 5-minute window by the same factor. A real tenant is always 1.
    time_scale: float = 1.0
    # The PeopleManager calls per 5 minutes this connection may spend; overrides the spec's
    # `sharepoint.budget` (a tenant shared with other tools may need less).
    calls_per_5_minutes: int | None = None
    base_dir: Path | None = None

    @property
    def is_emulator(self) -> bool:
        return self.spo_url.startswith("https://127.0.0.1:") or self.spo_url.startswith("https://localhost:")

    @property
    def sharepoint_scope(self) -> str:
        """The SharePoint resource scope. The real service's is https://TENANT.sharepoint.com;
        the emulator accepts that too, so the code path is the same."""
        return f"https://{self.tenant}.sharepoint.com/.default"

    @property
    def graph_scope(self) -> str:
        return "https://graph.microsoft.com/.default"

    def secret(self, value: str | None) -> str | None:
        return resolve_secret(value, self.base_dir)

    @classmethod
    def from_file(cls, path: Path) -> Connection:
        """Read a connection file: the emulator's JSON line, or the same keys for a real tenant."""
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConnectionError_(f"{path}: cannot read the connection file ({error.strerror or error})") from None
        try:
            try:  # a JSON object written over several lines (a hand-written file for a real tenant)
                data = json.loads(text)
            except json.JSONDecodeError:  # the emulator's line, perhaps followed by more output
                data = json.loads(text.splitlines()[0] if text else "")
        except (json.JSONDecodeError, IndexError):
            raise ConnectionError_(f"{path}: not a connection file (expected one JSON object, as `maforge emulator` prints)") from None
        if not isinstance(data, dict):
            raise ConnectionError_(f"{path}: not a connection file (expected a JSON object)")
        missing = [key for key in ("tenant", "spo_url", "admin_url") if not data.get(key)]
        if missing:
            raise ConnectionError_(f"{path}: the connection file lacks {', '.join(missing)}")
        known = {f for f in cls.__dataclass_fields__ if f != "base_dir"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConnectionError_(f"{path}: unknown keys in the connection file: {', '.join(unknown)}")
        values = {k: v for k, v in data.items() if v is not None}
        for key in ("time_scale", "calls_per_5_minutes"):
            if key in values and (isinstance(values[key], bool) or not isinstance(values[key], (int, float)) or values[key] <= 0):
                raise ConnectionError_(f"{path}: {key} must be a positive number, not {values[key]!r}")
        if "calls_per_5_minutes" in values:
            values["calls_per_5_minutes"] = int(values["calls_per_5_minutes"])
        # Paths in a connection file are relative to the file, not to wherever a command runs.
        base = path.parent.resolve()
        for key in PATH_FIELDS:
            value = values.get(key)
            if isinstance(value, str) and value and not value.startswith("${") and not Path(value).is_absolute():
                values[key] = str(base / value)
        return cls(**values, base_dir=base)

    def with_defaults(self, defaults: Mapping[str, str]) -> Connection:
        """Fill the sign-in settings this connection leaves out from ``defaults`` (the spec's,
        see :func:`spec_sign_in`); what the connection file says wins."""
        unknown = sorted(set(defaults) - set(SIGN_IN_FIELDS))
        if unknown:
            raise ConnectionError_(f"not sign-in settings: {', '.join(unknown)}")
        return replace(self, **{key: value for key, value in defaults.items() if value and not getattr(self, key)})

    def with_environment(self, environ: Mapping[str, str] | None = None) -> Connection:
        """Override settings from the usual Azure variables (AZURE_TENANT_ID, AZURE_CLIENT_ID,
        AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE, AZURE_USERNAME,
        AZURE_PASSWORD): the last layer, so a CI job changes one setting without a new file.
        AZURE_PASSWORD is kept as the reference `${env:AZURE_PASSWORD}`, never as its value."""
        env = os.environ if environ is None else environ
        changes: dict[str, str] = {field: env[name] for name, field in ENVIRONMENT.items() if env.get(name)}
        if env.get("AZURE_PASSWORD"):
            changes["password"] = "${env:AZURE_PASSWORD}"
        return replace(self, **changes)


def anchored(value: str, base: Path | None) -> str:
    """``value`` (a path, or a `${env:}`/`${file:}` reference) with a relative path, or the
    relative path of a `${file:}` reference, made absolute against ``base``: a spec's paths
    are relative to the spec, wherever the command runs. `${env:NAME}` is left as it is."""
    if base is None:
        return value
    match = _REFERENCE.match(value)
    if match is None:
        return value if Path(value).is_absolute() else str(base / value)
    kind, target = match.groups()
    if kind == "file" and not Path(target).is_absolute():
        return f"${{file:{base / target}}}"
    return value


def spec_sign_in(settings: Mapping[str, str], base: Path | None) -> dict[str, str]:
    """The spec's sign-in settings (the rule book's `sign_in` entry, Connection field names)
    as defaults for a connection: path settings and `${file:}` references resolved against
    ``base``, the spec's folder (None: the current folder, as for a built package)."""
    defaults = {key: value for key, value in settings.items() if key in SIGN_IN_FIELDS and isinstance(value, str) and value}
    if "password" in defaults and not _REFERENCE.match(defaults["password"]):
        del defaults["password"]  # a spec names its password by reference only; never carry a value
    for key in ("certificate", "federated_token_file", "password"):
        if key in defaults:
            defaults[key] = anchored(defaults[key], base)
    return defaults


def layered(connection_file: Path, defaults: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None) -> Connection:
    """The connection a command signs in with: the spec's ``defaults`` (:func:`spec_sign_in`),
    overridden by the connection file, overridden by the AZURE_* environment variables."""
    return Connection.from_file(connection_file).with_defaults(defaults or {}).with_environment(environ)
