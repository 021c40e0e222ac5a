"""Entra ID as the emulator speaks it: OpenID discovery, JWKS, instance discovery, user realm,
the v2.0 token endpoint (client credentials with a certificate assertion, a client secret or a
federated assertion; password; device code; refresh token), the device-code endpoint, and
managed identity (IMDS, and the App Service variant).

The password grant is as strict as Entra's: it needs a tenant or `organizations` authority
(AADSTS9001023 at /common and /consumers), and while `EmulatorConfig.mfa_required` is on (the
default; `maforge emulator --no-mfa` turns it off) the test user is under MFA, so the right
password gets AADSTS50076 instead of a token. Device-code tokens record MFA and are not affected.

Sources: spo-profiles-api.md §1.2, §7 and §10 (what msal 1.39 sends and expects). Error
bodies have Entra's shape: `error`, `error_description` ("AADSTS<code>: <text>" followed by
Trace ID, Correlation ID and Timestamp lines, CRLF-separated), `error_codes`, `timestamp`,
`trace_id`, `correlation_id`, `error_uri`. Where a code or text below is marked
*unverified*, it was chosen from memory of the real service, not from the reference.

How a client reaches it (see the tests for working examples):

* the emulator's own authority (`Emulator.authority`, https with a port), with msal's
  `instance_discovery=False` (or `validate_authority=False`), and an `http_client` that trusts
  the emulator's CA and ignores `REQUESTS_CA_BUNDLE`;
* or the production authority `https://login.microsoftonline.com/<tenant>` with an
  `http_client` that routes that host to the emulator and keeps the `Host` header. Every URL
  this module hands out (discovery, token endpoint, device-code endpoint) is built from the
  request's `Host` when that is a known Entra host or the emulator itself, so such a client
  never sees the emulator's address and signs its assertions for the canonical endpoint.

Emulator-only additions (no counterpart in Entra), all under `/_emulator/`:

* a stand-in OIDC issuer for workload identity federation (GitHub Actions' role): its keypair
  is held here, `GET|POST /_emulator/federated-token?subject=…&audience=…` (or
  :func:`mint_federated_token`) returns `{"value": <jwt>}` as GitHub's token request does, and
  the registered app carries a federated credential that trusts this issuer;
* `GET|POST /_emulator/devicelogin?user_code=…`: approve a device code (the emulator has no
  browser). Device codes are also approved automatically after the first poll, so msal's
  device flow completes unattended; set `entra_state(emulator).auto_approve = False` to
  drive approval by hand.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from .certs import thumbprints
from .server import GRAPH_RESOURCE_ID, SHAREPOINT_RESOURCE_ID, Request, Response, route
from .tokens import TokenError, b64url, b64url_decode, parse_jwt, verify_rs256

# Hosts msal treats as Entra (its WELL_KNOWN_AUTHORITY_HOSTS, the public-cloud subset).
LOGIN_HOSTS = frozenset({"login.microsoftonline.com", "login.microsoft.com", "login.windows.net", "sts.windows.net"})
CANONICAL_LOGIN = "https://login.microsoftonline.com"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
FEDERATED_AUDIENCE = "api://AzureADTokenExchange"
FEDERATED_SUBJECT = "repo:maforge/maforge:environment:emulator"
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
CLOCK_SKEW = 300  # seconds of leeway on assertion times (Entra allows some; 5 min is a guess)

# Application permissions (roles) and delegated permissions (scp) the tenant has consented to.
APP_ROLES = {
    "spo": ["Sites.FullControl.All", "User.ReadWrite.All", "TermStore.ReadWrite.All"],
    "graph": ["User.Read.All"],
}
DELEGATED_SCOPES = {
    "spo": ["AllSites.FullControl", "AllSites.Manage", "User.ReadWrite.All", "TermStore.ReadWrite.All", "MyFiles.Write"],
    "graph": ["User.Read", "User.Read.All", "email", "openid", "profile"],
}
_NAMESPACE = uuid.UUID("9d3f2a1c-7b6e-4f58-a0c4-2e8d51b7c3f9")


# ---------------------------------------------------------------------------- registrations


@dataclass(slots=True)
class FederatedCredential:
    """A federated identity credential on an app: assertions from `issuer` about `subject`
    for one of `audiences` are accepted (matching is case-sensitive, as Entra's is). The
    real service fetches the issuer's keys from its discovery document; the emulator has no
    network, so the keys are registered with the credential."""

    name: str
    issuer: str
    subject: str
    audiences: list[str]
    keys: list[rsa.RSAPublicKey]


@dataclass(slots=True)
class App:
    client_id: str
    display_name: str
    kind: str  # "confidential", "public" or "managed" (a managed identity's service principal)
    object_id: str
    certificates: list[x509.Certificate] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    federated: list[FederatedCredential] = field(default_factory=list)


@dataclass(slots=True)
class DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    scopes: list[str]
    expires_at: float
    approved: bool = False
    polls: int = 0


@dataclass(slots=True)
class RefreshGrant:
    client_id: str
    username: str


class EntraState:
    """The emulated directory's app registrations and the flows in progress, per emulator."""

    def __init__(self, emulator) -> None:
        state = emulator.state
        self.emulator = emulator
        self.lock = threading.Lock()
        self.device_code_interval = 5  # seconds; what Entra returns
        self.device_code_lifetime = 900
        self.auto_approve = True
        self.identity_header = secrets.token_urlsafe(24)  # App Service's IDENTITY_HEADER
        self.device_codes: dict[str, DeviceCode] = {}
        self.refresh_tokens: dict[str, RefreshGrant] = {}
        # Emulator-only: every secret that crossed this Entra (tokens and codes it issued,
        # assertions, passwords and client secrets it received), so a test can grep a run's
        # files and logs for them (reliability/secrets.py).
        self.secrets_seen: list[str] = []
        # The stand-in OIDC issuer for federated credentials (GitHub Actions' role).
        self.issuer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.issuer_kid = uuid.uuid4().hex
        self.issuer = f"{emulator.base_url}/_emulator/oidc"
        self._jwks_certificate: x509.Certificate | None = None

        certificate = x509.load_pem_x509_certificate(emulator.certs.app_pem.read_bytes())
        tenant = state.tenant
        self.apps: dict[str, App] = {}
        self.add(App(state.client_id, "maforge emulator (certificate)", "confidential", _id(f"sp/{state.client_id}"), certificates=[certificate],
                     federated=[FederatedCredential("emulator-ci", self.issuer, FEDERATED_SUBJECT, [FEDERATED_AUDIENCE], [self.issuer_key.public_key()])]))
        self.add(App(state.secret_client_id, "maforge emulator (secret)", "confidential", _id(f"sp/{state.secret_client_id}"), secrets=[state.client_secret]))
        self.add(App(state.public_client_id, "maforge emulator (public client)", "public", _id(f"sp/{state.public_client_id}")))
        self.managed_identity = App(_id(f"managed-identity/{tenant}"), "maforge-emulator-vm", "managed", _id(f"managed-identity-sp/{tenant}"))
        self.add(self.managed_identity)
        self.user_object_id = _id(f"user/{state.username.lower()}")

    def add(self, app: App) -> App:
        self.apps[app.client_id.lower()] = app
        return app

    def remember(self, *values: object) -> None:
        """Record secrets that crossed the wire (see `secrets_seen`); empty values are skipped."""
        with self.lock:
            self.secrets_seen.extend(str(v) for v in values if isinstance(v, str) and v)

    def app(self, client_id: str) -> App | None:
        return self.apps.get(client_id.strip().lower())

    def jwks_certificate(self) -> x509.Certificate:
        """A self-signed certificate around the token-signing key, for the JWKS `x5c`."""
        with self.lock:
            if self._jwks_certificate is None:
                key = self.emulator.minter.key
                name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "accounts.accesscontrol.windows.net")])
                now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
                self._jwks_certificate = (
                    x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                    .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + dt.timedelta(days=365))
                    .sign(key, hashes.SHA256())
                )
            return self._jwks_certificate


_STATES_LOCK = threading.Lock()


def entra_state(emulator) -> EntraState:
    """The Entra registrations of one emulator (created on first use, after it started)."""
    found = emulator.__dict__.get("_entra_state")
    if found is None:
        with _STATES_LOCK:
            found = emulator.__dict__.get("_entra_state")
            if found is None:
                found = EntraState(emulator)
                emulator._entra_state = found
    return found


def _id(name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, name))


def mint_federated_token(emulator, subject: str = FEDERATED_SUBJECT, audience: str = FEDERATED_AUDIENCE, lifetime: int = 300, *, issuer: str | None = None) -> str:
    """A "CI OIDC token" from the emulator's stand-in issuer (what GitHub Actions hands a job),
    for use as a federated client assertion."""
    entra = entra_state(emulator)
    now = int(time.time())
    claims = {"iss": issuer or entra.issuer, "sub": subject, "aud": audience, "iat": now, "nbf": now, "exp": now + lifetime, "jti": str(uuid.uuid4())}
    token = _sign({"alg": "RS256", "typ": "JWT", "kid": entra.issuer_kid}, claims, entra.issuer_key)
    entra.remember(token)
    return token


def _sign(header: dict, claims: dict, key: rsa.RSAPrivateKey) -> str:
    signing_input = f"{b64url(json.dumps(header, separators=(',', ':')).encode())}.{b64url(json.dumps(claims, separators=(',', ':')).encode())}"
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


# ---------------------------------------------------------------------------- errors


class EntraError(Exception):
    def __init__(self, status: int, error: str, code: int, text: str, **extra: object):
        super().__init__(f"AADSTS{code}: {text}")
        self.status, self.error, self.code, self.text, self.extra = status, error, code, text, extra


def _error_response(request: Request, problem: EntraError) -> Response:
    trace_id = str(uuid.uuid4())
    correlation_id = request.headers.get("client-request-id") or str(uuid.uuid4())
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    description = f"AADSTS{problem.code}: {problem.text}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {stamp}"
    body = {
        "error": problem.error,
        "error_description": description,
        "error_codes": [problem.code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"{CANONICAL_LOGIN}/error?code={problem.code}",
        **problem.extra,
    }
    return Response.json(problem.status, body, headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache", "x-ms-request-id": trace_id})


def _missing(name: str) -> EntraError:
    return EntraError(400, "invalid_request", 900144, f"The request body must contain the following parameter: '{name}'.")


def _tenant_not_found(segment: str, error: str = "invalid_request") -> EntraError:
    return EntraError(400, error, 90002, f"Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.")


def _app_not_found(request: Request, client_id: str) -> EntraError:
    return EntraError(400, "unauthorized_client", 700016, f"Application with identifier '{client_id}' was not found in the directory '{request.state.tenant.capitalize()}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.")


# ---------------------------------------------------------------------------- addresses


def _base(request: Request) -> str:
    """The origin the client used: a known Entra host (a client routing the production
    authority here) or the emulator's own address; anything else gets the emulator's."""
    emulator = request.emulator
    host = (request.headers.get("host") or "").strip().lower()
    own = {f"127.0.0.1:{emulator.port}", f"localhost:{emulator.port}", f"[::1]:{emulator.port}"}
    if emulator.port == 443:
        own |= {"127.0.0.1", "localhost", "[::1]"}
    if host in LOGIN_HOSTS or host in own:
        return f"https://{host}"
    return emulator.base_url


def _resolve_tenant(request: Request, segment: str, error: str = "invalid_request") -> str:
    """The tenant segment as the directory knows it: the tenant id for this tenant (by id or
    domain), or "common"/"organizations" unchanged. Anything else is AADSTS90002."""
    state = request.state
    lowered = segment.strip().lower()
    if lowered in (state.tenant_id.lower(), state.domain.lower()):
        return state.tenant_id
    if lowered in ("common", "organizations"):
        return lowered
    raise _tenant_not_found(segment, error)


def _token_endpoints(request: Request, segment: str) -> set[str]:
    """The `aud` values a client assertion may carry for a request to this token endpoint."""
    state = request.state
    bases = {_base(request), request.emulator.base_url, CANONICAL_LOGIN}
    tenants = {segment, state.tenant_id, state.domain}
    return {f"{b}/{t}{p}".lower() for b in bases for t in tenants for p in ("/oauth2/v2.0/token", "/oauth2/token")}


# ---------------------------------------------------------------------------- discovery


def _configuration(request: Request, segment: str) -> dict:
    tenant = _resolve_tenant(request, segment, "invalid_tenant")
    base = _base(request)
    tid = tenant if tenant not in ("common", "organizations") else "{tenantid}"
    root = f"{base}/{tenant}"
    return {
        "token_endpoint": f"{root}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{root}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base}/{tid}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": f"{root}/kerberos",
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }


@route("GET", r"/(?P<tenant>[^/_][^/]*)(?:/v2\.0)?/\.well-known/openid-configuration", "entra")
def openid_configuration(request: Request) -> Response:
    # The v1 path (no /v2.0) is served the v2 document too: msal's oidc_authority mode reads
    # that path and needs v2 endpoints. The real v1 document differs (sts.windows.net issuer,
    # v1 endpoints); nothing this project uses reads it.
    try:
        return Response.json(200, _configuration(request, request.match["tenant"]))
    except EntraError as problem:
        return _error_response(request, problem)


@route("GET", r"/(?P<tenant>[^/_][^/]*)/discovery(?:/v2\.0)?/keys|/discovery(?:/v2\.0)?/keys", "entra")
def jwks(request: Request) -> Response:
    """The token-signing key, so independent clients can verify the emulator's tokens."""
    segment = request.match["tenant"]
    if segment is not None:
        try:
            _resolve_tenant(request, segment, "invalid_tenant")
        except EntraError as problem:
            return _error_response(request, problem)
    emulator = request.emulator
    certificate = entra_state(emulator).jwks_certificate()
    der = certificate.public_bytes(serialization.Encoding.DER)
    key = {
        **_jwk(emulator.minter.key.public_key(), emulator.minter.kid),
        "x5t": b64url(hashlib.sha1(der).digest()),
        "x5c": [base64.b64encode(der).decode("ascii")],
        "issuer": f"{_base(request)}/{request.state.tenant_id}/v2.0",
    }
    return Response.json(200, {"keys": [key]})


def _jwk(public_key: rsa.RSAPublicKey, kid: str) -> dict:
    numbers = public_key.public_numbers()
    return {
        "kty": "RSA",
        "use": "sig",
        "kid": kid,
        "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
    }


@route("GET", r"/common/discovery/instance", "entra")
def instance_discovery(request: Request) -> Response:
    """msal asks this for authorities on hosts it does not know. It drops the port from the
    authorization endpoint it sends, so a loopback host is taken to mean this emulator."""
    endpoint = request.query.get("authorization_endpoint")
    if not endpoint:
        return _error_response(request, EntraError(400, "invalid_request", 90014, "The required field 'authorization_endpoint' is missing from the credential. Ensure that you have all the necessary parameters for the login request."))
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    segments = [s for s in parts.path.split("/") if s]
    if host in LOGIN_HOSTS:
        base = f"https://{host}"
    elif host in ("127.0.0.1", "localhost", "::1"):
        base = request.emulator.base_url
    else:
        # The real service answers unknown hosts this way (msal raises on invalid_instance).
        return _error_response(request, EntraError(400, "invalid_instance", 50049, "Unknown or invalid instance."))
    tenant = segments[0] if segments else "common"
    return Response.json(200, {
        "tenant_discovery_endpoint": f"{base}/{tenant}/v2.0/.well-known/openid-configuration",
        "api-version": "1.1",
        "metadata": [{"preferred_network": "login.microsoftonline.com", "preferred_cache": "login.windows.net", "aliases": ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"]}],
    })


@route("GET", r"/common/userrealm/(?P<user>[^/]+)", "entra")
def user_realm(request: Request) -> Response:
    """ROPC's realm lookup: the tenant's domain is managed (no federation, so no WS-Trust)."""
    user = request.match["user"]
    domain = user.rpartition("@")[2].lower()
    body: dict = {"ver": "1.0", "account_type": "Unknown", "cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline"}
    if domain == request.state.domain.lower():
        body = {"ver": "1.0", "account_type": "Managed", "domain_name": request.state.domain, "cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline"}
    return Response.json(200, body)


# ---------------------------------------------------------------------------- scopes


@dataclass(frozen=True, slots=True)
class Resource:
    kind: str  # "spo" or "graph"
    audience: str  # as the client named it; becomes the token's aud


def _resource(request: Request, name: str) -> Resource | None:
    """The resource behind an identifier (URL, emulator URL or resource app id), or None."""
    emulator = request.emulator
    wanted = name.strip().rstrip("/").lower()
    for kind, audiences in (("graph", emulator.graph_audiences), ("spo", emulator.sharepoint_audiences)):
        for audience in audiences:
            if audience.rstrip("/").lower() == wanted:
                return Resource(kind, audience.rstrip("/"))
    return None


def _resource_not_found(request: Request, name: str) -> EntraError:
    return EntraError(400, "invalid_resource", 500011, f"The resource principal named {name} was not found in the tenant named {request.state.tenant.capitalize()}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.")


def _invalid_scope(scope: str) -> EntraError:
    return EntraError(400, "invalid_scope", 70011, f"The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid.")


def _split_scope(scope: str) -> tuple[str, str] | None:
    """("resource", "permission") of a resource-qualified scope, or None for a bare name."""
    if "/" not in scope:
        return None
    resource, _, permission = scope.rpartition("/")
    return resource, permission


def _app_only_resource(request: Request, scope: str | None) -> Resource:
    """Client credentials: exactly one `<resource>/.default` scope."""
    if scope is None or not scope.strip():
        raise _missing("scope")
    scopes = scope.split()
    qualified = [(s, _split_scope(s)) for s in scopes if s not in OIDC_SCOPES]
    if not qualified:
        raise _invalid_scope(scope)
    found: list[Resource] = []
    for text, parts in qualified:
        if parts is None or not parts[0] or not parts[1]:
            raise _invalid_scope(text)
        resource = _resource(request, parts[0])
        if resource is None:
            raise _resource_not_found(request, parts[0])
        if parts[1] != ".default":
            raise EntraError(400, "invalid_scope", 1002012, f"The provided value for scope {text} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
        found.append(resource)
    if len({r.audience.lower() for r in found}) > 1:
        # AADSTS28000 for more than one resource: unverified for client credentials.
        raise EntraError(400, "invalid_scope", 28000, f"Provided value for the input parameter scope is not valid because it contains more than one resource. Scope {scope} is not valid.")
    return found[0]


def _delegated_resource(request: Request, app: App, scope: str | None) -> tuple[Resource, list[str], list[str]]:
    """Delegated flows: (resource, scp permissions, OIDC scopes asked for). Bare names
    ("User.Read") mean Graph, as in Entra; only OIDC scopes mean Graph's User.Read."""
    scopes = (scope or "").split()
    oidc = [s for s in scopes if s in OIDC_SCOPES]
    resources: dict[str, tuple[Resource, list[str]]] = {}
    for text in scopes:
        if text in OIDC_SCOPES:
            continue
        parts = _split_scope(text)
        if parts is None:
            resource, permission = Resource("graph", "https://graph.microsoft.com"), text
        else:
            if not parts[0] or not parts[1]:
                raise _invalid_scope(text)
            found = _resource(request, parts[0])
            if found is None:
                raise _resource_not_found(request, parts[0])
            resource, permission = found, parts[1]
        entry = resources.setdefault(resource.audience.lower(), (resource, []))
        entry[1].append(permission)
    if not resources:
        resources["graph"] = (Resource("graph", "https://graph.microsoft.com"), ["User.Read"])
    if len(resources) > 1:
        raise EntraError(400, "invalid_scope", 28000, f"Provided value for the input parameter scope is not valid because it contains more than one resource. Scope {scope} is not valid.")
    resource, asked = next(iter(resources.values()))
    consented = DELEGATED_SCOPES[resource.kind]
    for permission in asked:
        if permission != ".default" and permission.lower() not in {c.lower() for c in consented}:
            raise EntraError(400, "invalid_grant", 65001, f"The user or administrator has not consented to use the application with ID '{app.client_id}' named '{app.display_name}'. Send an interactive authorization request for this user and resource.", suberror="consent_required")
    return resource, list(consented), oidc


# ---------------------------------------------------------------------------- client authentication


def _form(request: Request) -> dict[str, str]:
    try:
        return dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


def _authenticate_client(request: Request, segment: str, form: dict[str, str], *, public_ok: bool) -> tuple[App, str]:
    """The calling app and its `appidacr` ("0" public, "1" secret, "2" certificate or
    assertion). Public clients are refused where a confidential one is needed."""
    client_id = form.get("client_id", "")
    secret = form.get("client_secret")
    basic = request.headers.get("authorization") or ""
    if basic.lower().startswith("basic "):  # client_secret_basic
        try:
            user, _, password = base64.b64decode(basic[6:].strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            user, password = "", ""
        client_id, secret = client_id or user, secret or password
    assertion = form.get("client_assertion")
    if assertion and not client_id:
        try:
            client_id = str(parse_jwt(assertion).claims.get("iss", ""))
        except TokenError:
            pass
    if not client_id:
        raise _missing("client_id")
    app = entra_state(request.emulator).app(client_id)
    if app is None or app.kind == "managed":
        raise _app_not_found(request, client_id)
    if app.kind == "public":
        if assertion or secret:
            raise EntraError(401, "invalid_client", 700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.")
        if not public_ok:
            raise EntraError(401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
        return app, "0"
    if assertion:
        assertion_type = form.get("client_assertion_type")
        if assertion_type != JWT_BEARER:
            # Unverified text: Entra names the parameter it is missing or cannot use.
            raise EntraError(400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_assertion_type'." if not assertion_type else f"The provided value '{assertion_type}' for the input parameter 'client_assertion_type' is not valid.")
        _check_assertion(request, segment, app, assertion)
        return app, "2"
    if secret is not None:
        if not any(secrets.compare_digest(secret.encode(), known.encode()) for known in app.secrets):
            raise EntraError(401, "invalid_client", 7000215, f"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{app.client_id}'.")
        return app, "1"
    raise EntraError(401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")


def _thumbprint_hex(encoded: str) -> str:
    """Hex of an x5t / x5t#S256 value: base64url, padded or not (msal keeps the '=')."""
    try:
        return b64url_decode(encoded.strip().rstrip("=").replace("+", "-").replace("/", "_")).hex().upper()
    except ValueError:
        return ""


def _times(claims: dict) -> tuple[float, float | None]:
    try:
        expires = float(claims["exp"])
        not_before = float(claims["nbf"]) if "nbf" in claims else None
    except (KeyError, TypeError, ValueError):
        raise EntraError(400, "invalid_request", 50027, "JWT token is invalid or malformed.") from None
    return expires, not_before


def _check_times(claims: dict) -> None:
    expires, not_before = _times(claims)
    now = time.time()
    if expires < now - CLOCK_SKEW or (not_before is not None and not_before > now + CLOCK_SKEW):
        iso = lambda t: dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")  # noqa: E731
        start = not_before if not_before is not None else float(claims.get("iat", expires - 600))
        raise EntraError(401, "invalid_client", 700024, f"Client assertion is not within its valid time range. Current time: {iso(now)}, assertion valid from {iso(start)}, expiry time of assertion {iso(expires)}. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .")


def _audiences(claims: dict) -> list[str]:
    aud = claims.get("aud")
    return [str(a) for a in aud] if isinstance(aud, list) else [str(aud)] if aud is not None else []


def _check_assertion(request: Request, segment: str, app: App, assertion: str) -> None:
    try:
        jwt = parse_jwt(assertion)
    except TokenError:
        raise EntraError(400, "invalid_request", 50027, "JWT token is invalid or malformed.") from None
    claims = jwt.claims
    iss, sub = str(claims.get("iss", "")), str(claims.get("sub", ""))
    if app.client_id.lower() in (iss.lower(), sub.lower()):
        _check_certificate_assertion(request, segment, app, jwt)
    else:
        _check_federated_assertion(app, jwt)


def _check_certificate_assertion(request: Request, segment: str, app: App, jwt) -> None:
    """A client assertion signed with the app's certificate (what msal builds from
    `client_credential={"private_key", "thumbprint"}` or `{"private_key", "public_certificate"}`)."""
    claims, header = jwt.claims, jwt.header
    if str(claims.get("iss", "")).lower() != app.client_id.lower() or str(claims.get("sub", "")).lower() != app.client_id.lower():
        # Unverified text for iss/sub mismatches (AADSTS700021 is the documented code).
        raise EntraError(401, "invalid_client", 700021, "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .")
    sha1_hex = _thumbprint_hex(str(header["x5t"])) if header.get("x5t") else ""
    sha256_hex = _thumbprint_hex(str(header["x5t#S256"])) if header.get("x5t#S256") else ""
    kid = str(header.get("kid") or "").upper()
    certificate = None
    for candidate in app.certificates:
        sha1, sha256 = thumbprints(candidate)
        if (sha1_hex and sha1_hex == sha1) or (sha256_hex and sha256_hex == sha256) or (kid and kid == sha1):
            certificate = candidate
            break
    used = sha1_hex or sha256_hex or kid
    if certificate is None:
        raise EntraError(401, "invalid_client", 700027, f"The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{used}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{app.client_id}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to determine the corresponding service endpoint and https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to build a query request URL, such as 'https://graph.microsoft.com/beta/applications/{app.object_id}']")
    if header.get("alg") not in ("RS256", "PS256"):
        # Unverified text: Entra accepts RS256 and PS256 assertions.
        raise EntraError(401, "invalid_client", 700027, f"Client assertion contains an invalid signature. [Reason - The signing algorithm '{header.get('alg')}' is not supported.]")
    try:
        verify_rs256(jwt, certificate.public_key())
    except TokenError:
        start = certificate.not_valid_before_utc.strftime("%m/%d/%Y %H:%M:%S")
        end = certificate.not_valid_after_utc.strftime("%m/%d/%Y %H:%M:%S")
        raise EntraError(401, "invalid_client", 700027, f"Client assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '{used}', Found key 'Start={start}, End={end}']") from None
    expected = _token_endpoints(request, segment)
    if not any(a.rstrip("/").lower() in expected for a in _audiences(claims)):
        # Unverified code and text: the reference does not record the wrong-audience error.
        raise EntraError(401, "invalid_client", 50013, f"Assertion failed signature validation. [Reason - The audience claim '{claims.get('aud')}' does not match the token endpoint '{_base(request)}/{segment}/oauth2/v2.0/token'.]")
    _check_times(claims)


def _check_federated_assertion(app: App, jwt) -> None:
    """A workload-identity assertion from a trusted issuer (iss/sub/aud must match one of the
    app's federated credentials exactly; the signature must verify with the issuer's key)."""
    claims = jwt.claims
    iss, sub, auds = str(claims.get("iss", "")), str(claims.get("sub", "")), _audiences(claims)
    by_issuer = [c for c in app.federated if c.issuer == iss]
    if not by_issuer:
        raise EntraError(401, "invalid_client", 700211, f"No matching federated identity record found for presented assertion issuer '{iss}'. Please note that the matching is done using a case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation")
    by_subject = [c for c in by_issuer if c.subject == sub]
    if not by_subject:
        raise EntraError(401, "invalid_client", 700213, f"No matching federated identity record found for presented assertion subject '{sub}'. Please note that the matching is done using a case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation")
    matching = [c for c in by_subject if any(a in c.audiences for a in auds)]
    if not matching:
        raise EntraError(401, "invalid_client", 700212, f"No matching federated identity record found for presented assertion audience '{claims.get('aud')}'. Please note that the matching is done using a case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation")
    for credential in matching:
        for key in credential.keys:
            try:
                verify_rs256(jwt, key)
            except TokenError:
                continue
            _check_times(claims)
            return
    # Unverified text for a federated assertion whose signature does not verify.
    raise EntraError(401, "invalid_client", 700027, "Client assertion failed signature validation. [Reason - The key was not found in the issuer's signing keys.]")


# ---------------------------------------------------------------------------- tokens


def _tenant_id(request: Request) -> str:
    return request.state.tenant_id


def _app_only_token(request: Request, app: App, acr: str, resource: Resource) -> dict:
    tid = _tenant_id(request)
    claims = {
        "aio": secrets.token_urlsafe(24),
        "app_displayname": app.display_name,
        "appid": app.client_id,
        "appidacr": acr,
        "idp": f"https://sts.windows.net/{tid}/",
        "idtyp": "app",
        "oid": app.object_id,
        "roles": list(APP_ROLES[resource.kind]),
        "sub": app.object_id,
        "tid": tid,
        "uti": secrets.token_urlsafe(16),
    }
    if app.kind == "managed":
        claims["xms_mirid"] = f"/subscriptions/{_id('subscription')}/resourcegroups/maforge-emulator/providers/Microsoft.Compute/virtualMachines/{app.display_name}"
    token, expires_in = request.emulator.minter.mint(resource.audience, claims)
    return {"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": token}


def _user_claims(request: Request) -> dict:
    state = request.state
    entra = entra_state(request.emulator)
    return {
        "oid": entra.user_object_id,
        "upn": state.username,
        "name": "Emulator Admin",
        "given_name": "Emulator",
        "family_name": "Admin",
    }


def _delegated_token(request: Request, app: App, acr: str, scope: str | None, form: dict[str, str], amr: list[str]) -> dict:
    resource, granted, oidc = _delegated_resource(request, app, scope)
    state = request.state
    tid = _tenant_id(request)
    user = _user_claims(request)
    claims = {
        "acr": "1",
        "aio": secrets.token_urlsafe(24),
        "amr": amr,
        "app_displayname": app.display_name,
        "appid": app.client_id,
        "appidacr": acr,
        "family_name": user["family_name"],
        "given_name": user["given_name"],
        "idtyp": "user",
        "ipaddr": "127.0.0.1",
        "name": user["name"],
        "oid": user["oid"],
        "scp": " ".join(granted),
        "sub": _id(f"pairwise/{app.client_id}/{user['oid']}"),
        "tid": tid,
        "unique_name": state.username,
        "upn": state.username,
        "uti": secrets.token_urlsafe(16),
    }
    token, expires_in = request.emulator.minter.mint(resource.audience, claims)
    # Graph scopes come back bare, other resources' scopes qualified (as Entra answers).
    shown = granted if resource.kind == "graph" else [f"{resource.audience}/{p}" for p in granted]
    body: dict = {"token_type": "Bearer", "scope": " ".join(shown + [s for s in oidc if s != "offline_access"]), "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": token}
    if "offline_access" in oidc:
        refresh = secrets.token_urlsafe(48)
        with entra_state(request.emulator).lock:
            entra_state(request.emulator).refresh_tokens[refresh] = RefreshGrant(app.client_id, state.username)
        body["refresh_token"] = refresh
    if "openid" in oidc:
        body["id_token"], _ = request.emulator.minter.mint(app.client_id, {
            "iss": f"{_base(request)}/{tid}/v2.0",
            "name": user["name"],
            "oid": user["oid"],
            "preferred_username": state.username,
            "sub": claims["sub"],
            "tid": tid,
            "uti": claims["uti"],
            "ver": "2.0",
        })
    if form.get("client_info") == "1":
        body["client_info"] = b64url(json.dumps({"uid": user["oid"], "utid": tid}).encode())
    return body


# ---------------------------------------------------------------------------- grants


def _grant_client_credentials(request: Request, segment: str, tenant: str, form: dict[str, str]) -> dict:
    app, acr = _authenticate_client(request, segment, form, public_ok=False)
    if tenant in ("common", "organizations"):
        # Unverified text: app-only tokens need a tenant-specific authority.
        raise EntraError(400, "invalid_request", 50059, "No tenant-identifying information found in either the request or implied by any provided credentials.")
    resource = _app_only_resource(request, form.get("scope"))
    return _app_only_token(request, app, acr, resource)


def _grant_password(request: Request, segment: str, tenant: str, form: dict[str, str]) -> dict:
    """ROPC. Entra takes it only at a tenant or `organizations` authority (the /common and
    /consumers refusal is in :func:`token_endpoint`), and refuses it once the password is
    right but MFA applies: the test user is under MFA unless `EmulatorConfig.mfa_required`
    is off (`maforge emulator --no-mfa`), as a tenant admin is under security defaults."""
    app, acr = _authenticate_client(request, segment, form, public_ok=True)
    username, password = form.get("username"), form.get("password")
    if not username:
        raise _missing("username")
    if password is None:
        raise _missing("password")
    state = request.state
    if username.strip().lower() != state.username.lower() and state.index_for_account(username) is None:
        raise EntraError(400, "invalid_grant", 50034, f"The user account {{EUII Hidden}} does not exist in the {state.domain} directory. To sign into this application, the account must be added to the directory.")
    # Only the test user has a password; every other directory user fails like a wrong one.
    if username.strip().lower() != state.username.lower() or not secrets.compare_digest(password.encode(), state.password.encode()):
        raise EntraError(400, "invalid_grant", 50126, "Error validating credentials due to invalid username or password.")
    if request.emulator.config.mfa_required:
        resource, _granted, _oidc = _delegated_resource(request, app, form.get("scope"))
        raise _mfa_required(resource)
    return _delegated_token(request, app, acr, form.get("scope"), form, ["pwd"])


RESOURCE_APP_IDS = {"spo": SHAREPOINT_RESOURCE_ID, "graph": GRAPH_RESOURCE_ID}


def _mfa_required(resource: Resource) -> EntraError:
    """AADSTS50076 as Entra answers a grant that cannot do MFA (recorded bodies: error
    invalid_grant, error_codes [50076], suberror basic_action; the resource named by its app id)."""
    return EntraError(
        400,
        "invalid_grant",
        50076,
        f"Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{RESOURCE_APP_IDS[resource.kind]}'.",
        suberror="basic_action",
    )


def _password_grant_at_common() -> EntraError:
    """AADSTS9001023, the refusal of ROPC at /common or /consumers (Microsoft: ROPC needs a
    tenant-specific or `organizations` authority). The `error` value is unverified."""
    return EntraError(400, "invalid_request", 9001023, "The grant type is not supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.")


def _grant_device_code(request: Request, segment: str, tenant: str, form: dict[str, str]) -> dict:
    code = form.get("device_code") or form.get("code")
    if not code:
        raise _missing("device_code")
    app, acr = _authenticate_client(request, segment, form, public_ok=True)
    entra = entra_state(request.emulator)
    with entra.lock:
        entry = entra.device_codes.get(code)
        if entry is None or entry.client_id.lower() != app.client_id.lower():
            # Unverified code and text for an unknown, used or foreign device code.
            raise EntraError(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
        if entry.expires_at < time.time():
            del entra.device_codes[code]
            # Unverified code and text.
            raise EntraError(400, "expired_token", 70020, "The provided value for the input parameter 'device_code' is not valid. This device code has expired.")
        entry.polls += 1
        if not entry.approved:
            if entra.auto_approve:
                entry.approved = True  # approved "in the browser" after the first poll
            raise EntraError(400, "authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
        del entra.device_codes[code]
    return _delegated_token(request, app, acr, " ".join(entry.scopes), form, ["pwd", "mfa"])


def _grant_refresh_token(request: Request, segment: str, tenant: str, form: dict[str, str]) -> dict:
    token = form.get("refresh_token")
    if not token:
        raise _missing("refresh_token")
    app, acr = _authenticate_client(request, segment, form, public_ok=True)
    entra = entra_state(request.emulator)
    with entra.lock:
        grant = entra.refresh_tokens.get(token)
    if grant is None:
        # Unverified: what Entra says about a refresh token it never issued.
        raise EntraError(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    if grant.client_id.lower() != app.client_id.lower():
        raise EntraError(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
    scope = form.get("scope") or "openid profile offline_access"
    if "offline_access" not in scope.split():
        scope += " offline_access"  # the refresh token rolls over, as Entra's does
    return _delegated_token(request, app, acr, scope, form, ["pwd"])


GRANTS = {
    "client_credentials": _grant_client_credentials,
    "password": _grant_password,
    DEVICE_CODE_GRANT: _grant_device_code,
    "refresh_token": _grant_refresh_token,
}


@route("GET POST", r"/(?P<tenant>[^/_][^/]*)/oauth2/v2\.0/token", "entra")
def token_endpoint(request: Request) -> Response:
    try:
        if request.method != "POST":
            raise EntraError(400, "invalid_request", 900561, f"The endpoint only accepts POST, OPTIONS requests. Received a {request.method} request.")
        segment = request.match["tenant"]
        form = _form(request)
        entra_state(request.emulator).remember(*(form.get(name) for name in ("client_assertion", "client_secret", "password", "refresh_token", "device_code")))
        if form.get("grant_type") == "password" and segment.strip().lower() in ("common", "consumers"):
            raise _password_grant_at_common()
        tenant = _resolve_tenant(request, segment)
        grant = form.get("grant_type")
        if not grant:
            raise _missing("grant_type")
        handler = GRANTS.get(grant)
        if handler is None:
            # Unverified code and text.
            raise EntraError(400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'.")
        body = handler(request, segment, tenant, form)
    except EntraError as problem:
        return _error_response(request, problem)
    entra_state(request.emulator).remember(body.get("access_token"), body.get("refresh_token"), body.get("id_token"))
    return Response.json(200, body, headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})


@route("GET POST", r"/(?P<tenant>[^/_][^/]*)/oauth2/v2\.0/devicecode", "entra")
def device_authorization(request: Request) -> Response:
    try:
        if request.method != "POST":
            raise EntraError(400, "invalid_request", 900561, f"The endpoint only accepts POST, OPTIONS requests. Received a {request.method} request.")
        _resolve_tenant(request, request.match["tenant"])
        form = _form(request)
        client_id = form.get("client_id")
        if not client_id:
            raise _missing("client_id")
        entra = entra_state(request.emulator)
        app = entra.app(client_id)
        if app is None or app.kind == "managed":
            raise _app_not_found(request, client_id)
        scope = form.get("scope") or "openid profile offline_access"
        _delegated_resource(request, app, scope)  # refuse bad scopes now, as Entra does
    except EntraError as problem:
        return _error_response(request, problem)
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    user_code = "".join(secrets.choice(alphabet) for _ in range(9))
    device_code = secrets.token_urlsafe(96)
    with entra.lock:
        entra.device_codes[device_code] = DeviceCode(device_code, user_code, app.client_id, scope.split(), time.time() + entra.device_code_lifetime)
    entra.remember(device_code)
    verification_uri = f"{request.emulator.base_url}/_emulator/devicelogin"
    return Response.json(200, {
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": verification_uri,
        "expires_in": entra.device_code_lifetime,
        "interval": entra.device_code_interval,
        "message": f"To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate.",
    })


@route("GET POST", r"/_emulator/devicelogin", "entra")
def device_login(request: Request) -> Response:
    """Emulator-only: approve a pending device code by its user code (the "browser" step)."""
    code = request.query.get("user_code") or _form(request).get("user_code") or ""
    entra = entra_state(request.emulator)
    with entra.lock:
        for entry in entra.device_codes.values():
            if entry.user_code == code.strip().upper():
                entry.approved = True
                return Response.json(200, {"approved": True, "user_code": entry.user_code})
    return Response.json(404, {"approved": False, "error": "unknown user code"})


# ---------------------------------------------------------------------------- federation stand-in


@route("GET POST", r"/_emulator/federated-token", "entra")
def federated_token(request: Request) -> Response:
    """Emulator-only: the stand-in for GitHub Actions' ID-token request
    (`$ACTIONS_ID_TOKEN_REQUEST_URL&audience=…`), answering `{"value": <jwt>}`."""
    values = {**request.query, **_form(request)}
    token = mint_federated_token(request.emulator, subject=values.get("subject") or FEDERATED_SUBJECT, audience=values.get("audience") or FEDERATED_AUDIENCE)
    return Response.json(200, {"count": 1, "value": token})


@route("GET", r"/_emulator/oidc/\.well-known/openid-configuration", "entra")
def federated_issuer_configuration(request: Request) -> Response:
    entra = entra_state(request.emulator)
    return Response.json(200, {
        "issuer": entra.issuer,
        "jwks_uri": f"{entra.issuer}/.well-known/jwks",
        "subject_types_supported": ["public", "pairwise"],
        "response_types_supported": ["id_token"],
        "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid"],
    })


@route("GET", r"/_emulator/oidc/\.well-known/jwks", "entra")
def federated_issuer_keys(request: Request) -> Response:
    entra = entra_state(request.emulator)
    return Response.json(200, {"keys": [{**_jwk(entra.issuer_key.public_key(), entra.issuer_kid), "alg": "RS256"}]})


# ---------------------------------------------------------------------------- managed identity


def _managed_identity_token(request: Request, resource_name: str) -> tuple[dict, Resource] | Response:
    resource = _resource(request, resource_name)
    if resource is None:
        return _error_response(request, _resource_not_found(request, resource_name))
    entra = entra_state(request.emulator)
    body = _app_only_token(request, entra.managed_identity, "2", resource)
    entra.remember(body["access_token"])
    return body, resource


def _identity_selected(request: Request, names: tuple[str, ...]) -> bool:
    """A user-assigned identity named by the caller must be this VM's (the only one)."""
    mi = entra_state(request.emulator).managed_identity
    for name in names:
        value = request.query.get(name)
        if value is not None and value.lower() not in (mi.client_id.lower(), mi.object_id.lower()):
            return False
    return True


@route("GET", r"/metadata/identity/oauth2/token", "entra")
def imds_token(request: Request) -> Response:
    """Azure IMDS (`http://169.254.169.254/metadata/identity/oauth2/token`): msal's
    ManagedIdentityClient reaches it at `$AZURE_POD_IDENTITY_AUTHORITY_HOST`, which may be
    this emulator's https base URL (msal only appends the path). Error texts are unverified."""
    if (request.headers.get("metadata") or "").lower() != "true":
        return Response.json(400, {"error": "invalid_request", "error_description": "Required metadata header not specified"})
    if not request.query.get("api-version"):
        return Response.json(400, {"error": "invalid_request", "error_description": "Required query variable 'api-version' is missing"})
    resource_name = request.query.get("resource")
    if not resource_name:
        return Response.json(400, {"error": "invalid_request", "error_description": "Required query variable 'resource' is missing"})
    if not _identity_selected(request, ("client_id", "object_id", "msi_res_id", "mi_res_id")):
        return Response.json(400, {"error": "invalid_request", "error_description": "Identity not found"})
    minted = _managed_identity_token(request, resource_name)
    if isinstance(minted, Response):
        return minted
    body, _ = minted
    now = int(time.time())
    mi = entra_state(request.emulator).managed_identity
    return Response.json(200, {
        "access_token": body["access_token"],
        "client_id": mi.client_id,
        "expires_in": str(body["expires_in"]),
        "expires_on": str(now + body["expires_in"]),
        "ext_expires_in": str(body["expires_in"]),
        "not_before": str(now),
        "resource": resource_name,
        "token_type": "Bearer",
    })


@route("GET", r"/msi/token", "entra")
def app_service_token(request: Request) -> Response:
    """The App Service / Functions variant (`$IDENTITY_ENDPOINT` with `X-IDENTITY-HEADER:
    $IDENTITY_HEADER`): set IDENTITY_ENDPOINT to `<base_url>/msi/token` and IDENTITY_HEADER to
    `entra_state(emulator).identity_header`. Error shapes are unverified."""
    entra = entra_state(request.emulator)
    header = request.headers.get("x-identity-header") or ""
    if not secrets.compare_digest(header.encode(), entra.identity_header.encode()):
        return Response.json(401, {"statusCode": 401, "message": "Unauthorized: the X-IDENTITY-HEADER request header is missing or invalid."})
    resource_name = request.query.get("resource")
    if not request.query.get("api-version") or not resource_name:
        return Response.json(400, {"statusCode": 400, "message": "Required query parameters 'api-version' and 'resource' must be given."})
    if not _identity_selected(request, ("client_id", "object_id", "mi_res_id")):
        return Response.json(400, {"statusCode": 400, "message": "Identity not found"})
    minted = _managed_identity_token(request, resource_name)
    if isinstance(minted, Response):
        return minted
    body, _ = minted
    return Response.json(200, {
        "access_token": body["access_token"],
        "expires_on": str(int(time.time()) + body["expires_in"]),
        "resource": resource_name,
        "token_type": "Bearer",
        "client_id": entra.managed_identity.client_id,
    })
