"""Signing in to SharePoint Online and Microsoft Graph with msal.

One credential class per method the spec offers: certificate (recommended), username and
password (the service account the MIM connector also uses), device code (a person at a
terminal), managed identity, and a federated client assertion (a CI system's OIDC token read
from a file or environment variable, no secret). Each hands out bearer tokens by scope;
msal caches and renews them. Callers never see msal: they ask the session for a request.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from maforge.cachedir import cache_home, make_private_folder

from .connection import Connection, ConnectionError_

WELL_KNOWN_HOSTS = {"login.microsoftonline.com", "login.microsoft.com", "login.windows.net", "login.microsoftonline.us", "login.chinacloudapi.cn"}


class AuthError(Exception):
    """Sign-in failed; the message says why (with the AADSTS code Entra ID returned)."""


class TrustingSession(requests.Session):
    """A requests session that always verifies with the given CA bundle.

    requests lets REQUESTS_CA_BUNDLE override `Session.verify` (msal sets only that), which
    silently breaks trust in a private CA; passing verify on every call cannot be overridden."""

    def __init__(self, ca_bundle: str | None, port_for_bare_host: tuple[str, int] | None = None):
        super().__init__()
        self._ca_bundle = ca_bundle
        self._port = port_for_bare_host

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if self._ca_bundle and kwargs.get("verify") is None:
            kwargs["verify"] = self._ca_bundle
        if self._port is not None:
            parts = urlsplit(url)
            # msal's user-realm lookup drops the port of a local authority
            # (spo-profiles-api.md §7.3); put it back for the emulator's own host.
            if parts.scheme == "https" and parts.netloc == self._port[0]:
                url = urlunsplit(parts._replace(netloc=f"{self._port[0]}:{self._port[1]}"))
        return super().request(method, url, *args, **kwargs)


def http_session(connection: Connection) -> TrustingSession:
    parts = urlsplit(connection.authority or connection.spo_url)
    bare = (parts.hostname, parts.port) if connection.is_emulator and parts.hostname and parts.port else None
    return TrustingSession(connection.ca_bundle, bare)


def _authority(connection: Connection) -> str:
    if connection.authority:
        return connection.authority.rstrip("/")
    tenant = connection.tenant_id or f"{connection.tenant}.onmicrosoft.com"
    return f"https://login.microsoftonline.com/{tenant}"


def _discovery(authority: str) -> dict[str, Any]:
    host = urlsplit(authority).hostname or ""
    return {} if host in WELL_KNOWN_HOSTS else {"instance_discovery": False}


APP_ONLY_GUIDE = "docs/import-into-mim.md#the-app-registration"
_USE_CERTIFICATE = f"use app-only sign-in with a certificate instead (\"auth_method\": \"certificate\", see {APP_ONLY_GUIDE})"
# What to do when Entra ID refuses the password grant (ROPC) for a reason no password fixes:
# MFA or Conditional Access (ROPC cannot answer a challenge), or an authority it does not serve.
PASSWORD_GRANT_HINTS = {
    50076: f"MFA blocks the password grant (ROPC) for this account; {_USE_CERTIFICATE}",
    50079: f"MFA blocks the password grant (ROPC) for this account; {_USE_CERTIFICATE}",
    53003: f"Conditional Access blocks the password grant (ROPC) for this account; {_USE_CERTIFICATE}",
    9001023: "the password grant needs the tenant's own authority, not /common: give tenant_id (or authority) in the connection file",
}


def _check(result: dict[str, Any] | None, what: str, hints: dict[int, str] | None = None) -> str:
    """The access token of an msal result, or an AuthError with Entra's first line (and, for
    the AADSTS codes in ``hints``, what it means and what to do)."""
    if not result or "access_token" not in result:
        detail = (result or {}).get("error_description") or (result or {}).get("error") or "no token returned"
        first = str(detail).splitlines()[0]
        codes = (result or {}).get("error_codes") or []
        hint = next((hints[c] for c in codes if hints and c in hints), None)
        raise AuthError(f"{what} failed: {first.rstrip('. ')}; {hint}" if hint else f"{what} failed: {first}")
    return str(result["access_token"])


def certificate_credentials(pem_path: str) -> dict[str, str]:
    """msal's certificate credential from a PEM holding the certificate and its key."""
    try:
        data = Path(pem_path).read_bytes()
    except OSError as error:
        raise AuthError(f"cannot read certificate {pem_path}: {error.strerror or error}") from None
    try:
        certificate = x509.load_pem_x509_certificate(data)
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError:
        raise AuthError(f"{pem_path} must hold a PEM certificate and its unencrypted private key") from None
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    thumbprint = hashlib.sha1(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    return {"private_key": key_pem, "thumbprint": thumbprint}


class Credential:
    """Hands out bearer tokens by scope; subclasses pick the msal flow."""

    method = "abstract"

    def __init__(self, connection: Connection, http: TrustingSession):
        self.connection = connection
        self.http = http
        self.authority = _authority(connection)
        self._lock = threading.Lock()

    def token(self, scope: str) -> str:
        with self._lock:
            return self._token(scope)

    def _token(self, scope: str) -> str:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError


class CertificateCredential(Credential):
    method = "certificate"

    def __init__(self, connection: Connection, http: TrustingSession):
        super().__init__(connection, http)
        if not connection.client_id or not connection.certificate:
            raise AuthError("certificate sign-in needs a client id and a certificate (connection file, spec, or AZURE_CLIENT_ID / AZURE_CLIENT_CERTIFICATE_PATH)")
        path = connection.secret(connection.certificate)
        self.app = msal.ConfidentialClientApplication(
            connection.client_id,
            client_credential=certificate_credentials(path or ""),
            authority=self.authority,
            http_client=http,
            **_discovery(self.authority),
        )

    def _token(self, scope: str) -> str:
        return _check(self.app.acquire_token_for_client(scopes=[scope]), "certificate sign-in")


class FederatedCredential(Credential):
    """A client assertion issued by someone else (a CI system's OIDC token), read fresh on
    every renewal from a file or an environment variable."""

    method = "federated"

    def __init__(self, connection: Connection, http: TrustingSession, assertion: Callable[[], str] | None = None):
        super().__init__(connection, http)
        if not connection.client_id:
            raise AuthError("federated sign-in needs a client id (AZURE_CLIENT_ID)")
        self._assertion = assertion or self._read_assertion
        self.app = msal.ConfidentialClientApplication(
            connection.client_id,
            client_credential={"client_assertion": self._assertion},
            authority=self.authority,
            http_client=http,
            **_discovery(self.authority),
        )

    def _read_assertion(self) -> str:
        source = self.connection.federated_token_file
        if source:
            value = self.connection.secret(source) if source.startswith("${") else Path(source).read_text(encoding="utf-8").strip()
            if value:
                return value
        if os.environ.get("MAFORGE_FEDERATED_TOKEN"):
            return os.environ["MAFORGE_FEDERATED_TOKEN"]
        raise AuthError("federated sign-in needs the OIDC token: set AZURE_FEDERATED_TOKEN_FILE (or federatedTokenFile in the spec)")

    def _token(self, scope: str) -> str:
        return _check(self.app.acquire_token_for_client(scopes=[scope]), "federated sign-in")


class PublicCredential(Credential):
    """Delegated flows for a public client (no secret): password and device code. Tokens are
    cached on disk, owner-only, so a person signs in once."""

    def __init__(self, connection: Connection, http: TrustingSession, cache_dir: Path | None = None):
        super().__init__(connection, http)
        client_id = connection.public_client_id or connection.client_id
        if not client_id:
            raise AuthError(f"{self.method} sign-in needs a client id")
        self.cache_path = self._cache_path(cache_dir, client_id)
        self.cache = msal.SerializableTokenCache()
        if self.cache_path is not None and self.cache_path.exists():
            self.cache.deserialize(self.cache_path.read_text(encoding="utf-8"))
        self.app = msal.PublicClientApplication(client_id, authority=self.authority, http_client=http, token_cache=self.cache, **_discovery(self.authority))

    def _cache_path(self, cache_dir: Path | None, client_id: str) -> Path | None:
        base = cache_dir or cache_home()
        digest = hashlib.sha256(f"{self.authority}|{client_id}".encode()).hexdigest()[:16]
        return base / f"msal-{digest}.json"

    def _save(self) -> None:
        if self.cache_path is None or not self.cache.has_state_changed:
            return
        if self.cache_path.parent == cache_home():
            make_private_folder(self.cache_path.parent)
        else:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temp = self.cache_path.with_suffix(".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self.cache.serialize())
        os.replace(temp, self.cache_path)

    def _silent(self, scope: str) -> str | None:
        accounts = self.app.get_accounts(username=self.connection.username) if self.connection.username else self.app.get_accounts()
        if accounts:
            result = self.app.acquire_token_silent([scope], account=accounts[0])
            if result and "access_token" in result:
                return str(result["access_token"])
        return None


class PasswordCredential(PublicCredential):
    method = "password"

    def _token(self, scope: str) -> str:
        cached = self._silent(scope)
        if cached:
            return cached
        username = self.connection.username
        password = self.connection.secret(self.connection.password)
        if not username or not password:
            raise AuthError("password sign-in needs a username and a password (by reference: ${env:NAME} or ${file:PATH})")
        result = self.app.acquire_token_by_username_password(username, password, scopes=[scope])
        token = _check(result, "password sign-in", PASSWORD_GRANT_HINTS)
        self._save()
        return token


class DeviceCodeCredential(PublicCredential):
    method = "device-code"

    def __init__(self, connection: Connection, http: TrustingSession, cache_dir: Path | None = None, prompt: Callable[[str], None] | None = None):
        super().__init__(connection, http, cache_dir)
        self.prompt = prompt or (lambda message: print(message, file=sys.stderr, flush=True))

    def _token(self, scope: str) -> str:
        cached = self._silent(scope)
        if cached:
            return cached
        flow = self.app.initiate_device_flow(scopes=[scope])
        if "user_code" not in flow:
            raise AuthError(f"device code sign-in failed: {flow.get('error_description') or flow.get('error') or 'no device code'}")
        self.prompt(str(flow.get("message") or f"Open {flow.get('verification_uri')} and enter {flow['user_code']}"))
        token = _check(self.app.acquire_token_by_device_flow(flow), "device code sign-in")
        self._save()
        return token


class ManagedIdentityCredential(Credential):
    method = "managed-identity"

    def __init__(self, connection: Connection, http: TrustingSession):
        super().__init__(connection, http)
        identity = msal.UserAssignedManagedIdentity(client_id=connection.client_id) if connection.client_id else msal.SystemAssignedManagedIdentity()
        self.client = msal.ManagedIdentityClient(identity, http_client=http)

    def _token(self, scope: str) -> str:
        resource = scope.removesuffix("/.default")
        return _check(self.client.acquire_token_for_client(resource=resource), "managed identity sign-in")


CREDENTIALS: dict[str, type[Credential]] = {
    "certificate": CertificateCredential,
    "password": PasswordCredential,
    "device-code": DeviceCodeCredential,
    "managed-identity": ManagedIdentityCredential,
    "federated": FederatedCredential,
}


def credential_for(connection: Connection, method: str | None = None, http: TrustingSession | None = None) -> Credential:
    """The credential for ``method`` (default: the connection's, else certificate when a
    certificate is known, else password)."""
    chosen = method or connection.auth_method or ("certificate" if connection.certificate else "password" if connection.username else None)
    if chosen is None:
        raise AuthError("no sign-in method: give a certificate, a username and password, or choose device-code, managed-identity or federated")
    if chosen not in CREDENTIALS:
        raise AuthError(f"unknown sign-in method {chosen!r} (known: {', '.join(CREDENTIALS)})")
    try:
        return CREDENTIALS[chosen](connection, http or http_session(connection))
    except ConnectionError_ as error:
        raise AuthError(str(error)) from None


