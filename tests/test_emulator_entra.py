"""The emulator's Entra ID: msal (an independent client) gets tokens from it unchanged, and
every refused request carries the AADSTS code Entra would send.

msal is pointed at the emulator the two ways spo-profiles-api.md §7.3 describes: the emulator's
own authority with instance discovery off, and the production authority with an http_client
that routes login.microsoftonline.com to the emulator. Every session sets trust_env=False: the
environment's REQUESTS_CA_BUNDLE would otherwise override msal's verify= (the §7.3 pitfall)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import msal
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from requests.adapters import HTTPAdapter

from maforge.connectors.emulator import entra
from maforge.connectors.emulator.certs import load_certificate, thumbprints
from maforge.connectors.emulator.tokens import b64url, b64url_decode, parse_jwt

LOGIN = "https://login.microsoftonline.com"
SPO_SCOPE = "https://contoso.sharepoint.com/.default"


# ---------------------------------------------------------------------------- helpers


def session(emulator) -> requests.Session:
    """Trusts the emulator's CA and nothing from the environment."""
    s = requests.Session()
    s.trust_env = False
    s.verify = emulator.connection()["ca_bundle"]
    return s


class RouteToEmulator(HTTPAdapter):
    """Sends requests for another origin to the emulator, keeping the Host header, so the
    client's own URLs (and the emulator's answers) stay those of the production service."""

    def __init__(self, emulator):
        super().__init__()
        self.port = emulator.port

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        request.url = urlunsplit(("https", f"127.0.0.1:{self.port}", parts.path, parts.query, ""))
        if parts.hostname != "127.0.0.1":
            request.headers["Host"] = parts.netloc
        return super().send(request, **kwargs)


def routed_session(emulator) -> requests.Session:
    s = session(emulator)
    s.mount(f"{LOGIN}/", RouteToEmulator(emulator))
    s.mount("https://127.0.0.1/", RouteToEmulator(emulator))  # user realm drops the port
    return s


def app_credential(emulator) -> dict:
    pem_file = Path(emulator.connection()["certificate"])
    sha1, _ = thumbprints(load_certificate(pem_file))
    return {"private_key": pem_file.read_text(), "thumbprint": sha1}


def app_key(emulator) -> rsa.RSAPrivateKey:
    return serialization.load_pem_private_key(Path(emulator.connection()["certificate"]).read_bytes(), password=None)


def confidential(emulator, credential=None, client_id=None, **options) -> msal.ConfidentialClientApplication:
    options.setdefault("authority", emulator.authority)
    options.setdefault("instance_discovery", False)
    options.setdefault("http_client", session(emulator))
    return msal.ConfidentialClientApplication(client_id or emulator.state.client_id, client_credential=credential or app_credential(emulator), **options)


def sign(header: dict, claims: dict, key: rsa.RSAPrivateKey) -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()))}"


def assertion(emulator, *, key=None, x5t=None, aud=None, iss=None, sub=None, exp_offset=600.0, nbf_offset=None) -> str:
    """A client assertion as msal 1.39 builds it (padded x5t, float iat/exp, no nbf)."""
    client_id = emulator.state.client_id
    if x5t is None:
        sha1, _ = thumbprints(load_certificate(Path(emulator.connection()["certificate"])))
        x5t = base64.urlsafe_b64encode(bytes.fromhex(sha1)).decode()
    now = time.time()
    claims = {"aud": aud or f"{emulator.authority}/oauth2/v2.0/token", "iss": iss or client_id, "sub": sub or iss or client_id, "iat": now, "exp": now + exp_offset, "jti": str(uuid.uuid4())}
    if nbf_offset is not None:
        claims["nbf"] = now + nbf_offset
    return sign({"alg": "RS256", "typ": "JWT", "x5t": x5t}, claims, key or app_key(emulator))


def post_token(emulator, form: dict, tenant: str | None = None) -> requests.Response:
    url = f"{emulator.base_url}/{tenant or emulator.state.tenant_id}/oauth2/v2.0/token"
    return session(emulator).post(url, data=form, headers={"client-request-id": "0c1f6f0e-0000-4000-8000-000000000001"})


def assertion_form(emulator, token: str, scope: str = SPO_SCOPE) -> dict:
    return {"client_id": emulator.state.client_id, "grant_type": "client_credentials", "client_assertion": token, "client_assertion_type": entra.JWT_BEARER, "scope": scope}


def aadsts(response: requests.Response, status: int, error: str, code: int) -> dict:
    """Check an Entra error body; return it."""
    body = response.json()
    assert response.status_code == status, body
    assert body["error"] == error
    assert body["error_codes"] == [code]
    description = body["error_description"]
    assert description.startswith(f"AADSTS{code}: ")
    assert "\r\nTrace ID: " in description and "\r\nCorrelation ID: " in description and "\r\nTimestamp: " in description
    assert body["trace_id"] in description and body["correlation_id"] in description
    return body


def claims_of(token: str) -> dict:
    return parse_jwt(token).claims


def fresh_certificate() -> tuple[str, str]:
    """A self-signed certificate nobody registered: (PEM with key, SHA-1 hex)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stranger")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256())
    pem = cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode(), thumbprints(cert)[0]


# ---------------------------------------------------------------------------- discovery


def test_discovery_points_at_the_emulator_for_every_tenant_form(emulator):
    s = session(emulator)
    state = emulator.state
    for tenant in (state.tenant_id, state.domain, "organizations", "common"):
        for path in ("v2.0/.well-known/openid-configuration", ".well-known/openid-configuration"):
            response = s.get(f"{emulator.base_url}/{tenant}/{path}")
            assert response.status_code == 200, (tenant, path)
            document = response.json()
            for key in ("token_endpoint", "authorization_endpoint", "device_authorization_endpoint", "jwks_uri"):
                assert document[key].startswith(emulator.base_url + "/"), key
    specific = s.get(f"{emulator.base_url}/{state.domain}/v2.0/.well-known/openid-configuration").json()
    assert specific["token_endpoint"] == f"{emulator.authority}/oauth2/v2.0/token"  # the domain resolves to the id
    assert specific["issuer"] == f"{emulator.authority}/v2.0"
    common = s.get(f"{emulator.base_url}/common/v2.0/.well-known/openid-configuration").json()
    assert common["issuer"] == f"{emulator.base_url}/{{tenantid}}/v2.0"


def test_discovery_answers_in_the_production_host_when_routed(emulator):
    document = routed_session(emulator).get(f"{LOGIN}/{emulator.state.tenant_id}/v2.0/.well-known/openid-configuration").json()
    assert document["token_endpoint"] == f"{LOGIN}/{emulator.state.tenant_id}/oauth2/v2.0/token"
    assert document["issuer"] == f"{LOGIN}/{emulator.state.tenant_id}/v2.0"


def test_unknown_tenant_is_aadsts90002(emulator):
    response = session(emulator).get(f"{emulator.base_url}/fabrikam.onmicrosoft.com/v2.0/.well-known/openid-configuration")
    body = aadsts(response, 400, "invalid_tenant", 90002)
    assert "Tenant 'fabrikam.onmicrosoft.com' not found" in body["error_description"]
    form = assertion_form(emulator, assertion(emulator))
    aadsts(post_token(emulator, form, tenant=str(uuid.uuid4())), 400, "invalid_request", 90002)


def test_msal_refuses_an_unknown_tenant(emulator):
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        confidential(emulator, authority=f"{emulator.base_url}/fabrikam.onmicrosoft.com")


def test_instance_discovery_for_an_unknown_host(emulator):
    """With instance discovery on, msal asks login.microsoftonline.com about the emulator's
    host (without its port) and follows the tenant_discovery_endpoint it gets back."""
    app = confidential(emulator, instance_discovery=None, http_client=routed_session(emulator))
    result = app.acquire_token_for_client([SPO_SCOPE])
    assert "access_token" in result, result
    unknown = session(emulator).get(f"{emulator.base_url}/common/discovery/instance", params={"authorization_endpoint": "https://evil.example/t/oauth2/v2.0/authorize", "api-version": "1.0"})
    aadsts(unknown, 400, "invalid_instance", 50049)


def test_user_realm(emulator):
    s = session(emulator)
    managed = s.get(f"{emulator.base_url}/common/userrealm/{emulator.state.username}", params={"api-version": "1.0"}).json()
    assert managed["account_type"] == "Managed" and managed["domain_name"] == emulator.state.domain
    assert s.get(f"{emulator.base_url}/common/userrealm/someone@fabrikam.com").json()["account_type"] == "Unknown"


def test_jwks_verifies_the_emulators_tokens(emulator):
    """An independent verifier needs only the discovery document and the JWKS."""
    token = confidential(emulator).acquire_token_for_client([SPO_SCOPE])["access_token"]
    s = session(emulator)
    document = s.get(f"{emulator.authority}/v2.0/.well-known/openid-configuration").json()
    keys = s.get(document["jwks_uri"]).json()["keys"]
    jwt = parse_jwt(token)
    jwk = next(k for k in keys if k["kid"] == jwt.header["kid"])
    public = rsa.RSAPublicNumbers(int.from_bytes(b64url_decode(jwk["e"]), "big"), int.from_bytes(b64url_decode(jwk["n"]), "big")).public_key()
    public.verify(jwt.signature, jwt.signing_input, padding.PKCS1v15(), hashes.SHA256())
    certificate = x509.load_der_x509_certificate(base64.b64decode(jwk["x5c"][0]))
    assert certificate.public_key().public_numbers() == public.public_numbers()


# ---------------------------------------------------------------------------- client credentials


def test_msal_certificate_with_the_emulator_authority(emulator):
    result = confidential(emulator).acquire_token_for_client([SPO_SCOPE])
    assert result["token_type"] == "Bearer" and result["expires_in"] > 3000, result
    claims = emulator.minter.validate(result["access_token"], emulator.sharepoint_audiences)
    assert claims["appid"] == emulator.state.client_id
    assert claims["appidacr"] == "2"
    assert claims["tid"] == emulator.state.tenant_id
    assert {"Sites.FullControl.All", "User.ReadWrite.All", "TermStore.ReadWrite.All"} <= set(claims["roles"])
    assert "upn" not in claims and "scp" not in claims


def test_msal_certificate_with_the_production_authority(emulator):
    """The production authority string, unchanged; only the transport knows the emulator."""
    app = confidential(emulator, authority=f"{LOGIN}/{emulator.state.domain}", instance_discovery=None, http_client=routed_session(emulator))
    result = app.acquire_token_for_client([SPO_SCOPE])
    assert "access_token" in result, result
    assert emulator.minter.validate(result["access_token"], emulator.sharepoint_audiences)["appidacr"] == "2"
    assert app.acquire_token_for_client([SPO_SCOPE])["token_source"] == "cache"


def test_msal_certificate_sha256_thumbprint_and_ps256(emulator):
    """msal ≥ 1.35 given only the public certificate signs PS256 with x5t#S256 and x5c."""
    pem = Path(emulator.connection()["certificate"]).read_text()
    certificate = pem[: pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")] + "\n"
    result = confidential(emulator, {"private_key": pem, "public_certificate": certificate}).acquire_token_for_client([SPO_SCOPE])
    assert "access_token" in result, result


@pytest.mark.parametrize("which", ["emulator_site", "emulator_admin", "emulator_root", "resource_id"])
def test_spo_scopes_the_emulator_accepts(emulator, which):
    scope = {
        "emulator_site": f"{emulator.spo_url}/.default",
        "emulator_admin": f"{emulator.admin_url}/.default",
        "emulator_root": f"{emulator.base_url}/.default",
        "resource_id": "00000003-0000-0ff1-ce00-000000000000/.default",
    }[which]
    result = confidential(emulator).acquire_token_for_client([scope])
    assert "access_token" in result, result
    emulator.minter.validate(result["access_token"], emulator.sharepoint_audiences)


def test_graph_token(emulator):
    app = confidential(emulator)
    for scope in ("https://graph.microsoft.com/.default", f"{emulator.graph_url}/.default"):
        result = app.acquire_token_for_client([scope])
        claims = emulator.minter.validate(result["access_token"], emulator.graph_audiences)
        assert claims["roles"] == ["User.Read.All"]
        with pytest.raises(Exception):
            emulator.minter.validate(result["access_token"], emulator.sharepoint_audiences)


def test_unpadded_x5t_and_future_nbf_within_skew_are_accepted(emulator):
    sha1, _ = thumbprints(load_certificate(Path(emulator.connection()["certificate"])))
    token = assertion(emulator, x5t=b64url(bytes.fromhex(sha1)), nbf_offset=-5)
    assert post_token(emulator, assertion_form(emulator, token)).status_code == 200


def test_canonical_audience_is_accepted_at_the_emulator_url(emulator):
    token = assertion(emulator, aud=f"{LOGIN}/{emulator.state.domain}/oauth2/v2.0/token")
    response = post_token(emulator, assertion_form(emulator, token))
    assert response.status_code == 200, response.text


def test_tampered_signature(emulator):
    token = assertion(emulator)
    header, body, signature = token.split(".")
    claims = json.loads(b64url_decode(body))
    claims["exp"] += 3600
    tampered = f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"
    body = aadsts(post_token(emulator, assertion_form(emulator, tampered)), 401, "invalid_client", 700027)
    assert "failed signature validation" in body["error_description"]


def test_expired_assertion(emulator):
    body = aadsts(post_token(emulator, assertion_form(emulator, assertion(emulator, exp_offset=-3600))), 401, "invalid_client", 700024)
    assert "not within its valid time range" in body["error_description"]
    aadsts(post_token(emulator, assertion_form(emulator, assertion(emulator, nbf_offset=3600, exp_offset=7200))), 401, "invalid_client", 700024)


def test_wrong_audience(emulator):
    token = assertion(emulator, aud=f"{LOGIN}/{uuid.uuid4()}/oauth2/v2.0/token")
    aadsts(post_token(emulator, assertion_form(emulator, token)), 401, "invalid_client", 50013)


def test_unknown_client_id(emulator):
    stranger = str(uuid.uuid4())
    result = confidential(emulator, client_id=stranger).acquire_token_for_client([SPO_SCOPE])
    assert result["error"] == "unauthorized_client" and result["error_codes"] == [700016]
    assert stranger in result["error_description"]


def test_unregistered_certificate(emulator):
    pem, sha1 = fresh_certificate()
    result = confidential(emulator, {"private_key": pem, "thumbprint": sha1}).acquire_token_for_client([SPO_SCOPE])
    assert result["error"] == "invalid_client" and result["error_codes"] == [700027], result
    assert sha1 in result["error_description"] and "not registered on application" in result["error_description"]


def test_assertion_issuer_and_subject_must_be_the_client(emulator):
    other = emulator.state.secret_client_id
    aadsts(post_token(emulator, assertion_form(emulator, assertion(emulator, sub=other))), 401, "invalid_client", 700021)
    # An issuer that is not this app is taken for a federated issuer the app does not trust.
    aadsts(post_token(emulator, assertion_form(emulator, assertion(emulator, iss=other))), 401, "invalid_client", 700211)


def test_app_only_token_needs_a_tenant(emulator):
    form = assertion_form(emulator, assertion(emulator, aud=f"{emulator.base_url}/organizations/oauth2/v2.0/token"))
    aadsts(post_token(emulator, form, tenant="organizations"), 400, "invalid_request", 50059)


def test_malformed_assertion_and_missing_credential(emulator):
    aadsts(post_token(emulator, assertion_form(emulator, "not-a-jwt")), 400, "invalid_request", 50027)
    form = {"client_id": emulator.state.client_id, "grant_type": "client_credentials", "scope": SPO_SCOPE}
    aadsts(post_token(emulator, form), 401, "invalid_client", 7000218)
    aadsts(post_token(emulator, {"client_id": emulator.state.client_id, "scope": SPO_SCOPE}), 400, "invalid_request", 900144)
    aadsts(post_token(emulator, {**form, "grant_type": "magic"}), 400, "unsupported_grant_type", 70003)
    get = session(emulator).get(f"{emulator.authority}/oauth2/v2.0/token")
    aadsts(get, 400, "invalid_request", 900561)


def test_invalid_scopes(emulator):
    app = confidential(emulator)
    cases = {
        "not-a-scope": ("invalid_scope", 70011),
        "https://contoso.sharepoint.com/AllSites.Manage": ("invalid_scope", 1002012),
        "https://fabrikam.example.com/.default": ("invalid_resource", 500011),
    }
    for scope, (error, code) in cases.items():
        result = app.acquire_token_for_client([scope])
        assert result.get("error") == error and result["error_codes"] == [code], (scope, result)
    raw = post_token(emulator, assertion_form(emulator, assertion(emulator), scope="not-a-scope"))
    aadsts(raw, 400, "invalid_scope", 70011)
    both = post_token(emulator, assertion_form(emulator, assertion(emulator), scope=f"{SPO_SCOPE} https://graph.microsoft.com/.default"))
    aadsts(both, 400, "invalid_scope", 28000)


def test_client_secret_token_has_appidacr_1(emulator):
    state = emulator.state
    app = confidential(emulator, state.client_secret, client_id=state.secret_client_id)
    result = app.acquire_token_for_client([SPO_SCOPE])
    claims = emulator.minter.validate(result["access_token"], emulator.sharepoint_audiences)
    assert claims["appidacr"] == "1" and claims["appid"] == state.secret_client_id


def test_bad_client_secret(emulator):
    state = emulator.state
    result = confidential(emulator, "wrong-secret", client_id=state.secret_client_id).acquire_token_for_client([SPO_SCOPE])
    assert result["error"] == "invalid_client" and result["error_codes"] == [7000215], result
    raw = post_token(emulator, {"client_id": state.secret_client_id, "client_secret": "nope", "grant_type": "client_credentials", "scope": SPO_SCOPE})
    aadsts(raw, 401, "invalid_client", 7000215)


def test_public_client_cannot_use_client_credentials(emulator):
    form = {"client_id": emulator.state.public_client_id, "grant_type": "client_credentials", "scope": SPO_SCOPE}
    aadsts(post_token(emulator, form), 401, "invalid_client", 7000218)
    aadsts(post_token(emulator, {**form, "client_secret": "x"}), 401, "invalid_client", 700025)


def test_secret_token_is_refused_by_sharepoint(emulator):
    """SPO answers a client-secret token with 401 "Unsupported app only token." (the check
    lives in the server; any SharePoint route shows it)."""
    state = emulator.state
    token = confidential(emulator, state.client_secret, client_id=state.secret_client_id).acquire_token_for_client([SPO_SCOPE])["access_token"]
    response = session(emulator).post(f"{emulator.spo_url}/_api/contextinfo", headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    if response.status_code == 404:
        pytest.skip("no SharePoint route registered yet")
    assert response.status_code == 401
    assert response.json() == {"error_description": "Unsupported app only token."}


# ---------------------------------------------------------------------------- federated credentials


def test_federated_assertion_is_accepted(emulator):
    ci_token = session(emulator).get(f"{emulator.base_url}/_emulator/federated-token", params={"audience": entra.FEDERATED_AUDIENCE}).json()["value"]
    app = confidential(emulator, {"client_assertion": lambda: ci_token})
    result = app.acquire_token_for_client([SPO_SCOPE])
    claims = emulator.minter.validate(result["access_token"], emulator.sharepoint_audiences)
    assert claims["appid"] == emulator.state.client_id and claims["appidacr"] == "2"


def test_federated_issuer_publishes_its_keys(emulator):
    s = session(emulator)
    issuer = entra.entra_state(emulator).issuer
    document = s.get(f"{issuer}/.well-known/openid-configuration").json()
    assert document["issuer"] == issuer
    (key,) = s.get(document["jwks_uri"]).json()["keys"]
    token = entra.mint_federated_token(emulator)
    jwt = parse_jwt(token)
    assert jwt.header["kid"] == key["kid"] and jwt.claims["iss"] == issuer


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"subject": "repo:someone-else/fork:ref:refs/heads/main"}, 700213),
        ({"audience": "api://SomethingElse"}, 700212),
        ({"issuer": "https://token.actions.githubusercontent.com"}, 700211),
        ({"lifetime": -3600}, 700024),
    ],
)
def test_federated_assertion_mismatches(emulator, change, code):
    token = entra.mint_federated_token(emulator, **change)
    result = confidential(emulator, {"client_assertion": lambda: token}).acquire_token_for_client([SPO_SCOPE])
    assert result["error"] == "invalid_client" and result["error_codes"] == [code], result


def test_federated_assertion_signed_by_someone_else(emulator):
    issuer = entra.entra_state(emulator).issuer
    now = int(time.time())
    forged = sign({"alg": "RS256", "typ": "JWT"}, {"iss": issuer, "sub": entra.FEDERATED_SUBJECT, "aud": entra.FEDERATED_AUDIENCE, "iat": now, "exp": now + 300}, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    aadsts(post_token(emulator, assertion_form(emulator, forged)), 401, "invalid_client", 700027)


# ---------------------------------------------------------------------------- delegated


def public(emulator, **options) -> msal.PublicClientApplication:
    options.setdefault("authority", f"{LOGIN}/{emulator.state.domain}")
    options.setdefault("http_client", routed_session(emulator))
    return msal.PublicClientApplication(emulator.state.public_client_id, **options)


@pytest.fixture
def no_mfa(emulator_factory):
    """An emulator whose test user is not under MFA (`maforge emulator --no-mfa`): the only
    way the password grant works."""
    return emulator_factory(mfa_required=False)


def test_msal_password_grant(no_mfa):
    emulator = no_mfa
    state = emulator.state
    app = public(emulator)
    result = app.acquire_token_by_username_password(state.username, state.password, ["https://contoso.sharepoint.com/AllSites.Manage"])
    assert "access_token" in result, result
    claims = emulator.minter.validate(result["access_token"], emulator.sharepoint_audiences)
    assert claims["upn"] == state.username and claims["appidacr"] == "0"
    assert "AllSites.Manage" in claims["scp"].split()
    assert result["id_token_claims"]["preferred_username"] == state.username
    (account,) = app.get_accounts()
    assert account["username"] == state.username
    # msal renews the access token with the refresh token it was given.
    renewed = app.acquire_token_silent(["https://contoso.sharepoint.com/AllSites.Manage"], account=account, force_refresh=True)
    assert renewed["token_source"] == "identity_provider"
    assert emulator.minter.validate(renewed["access_token"], emulator.sharepoint_audiences)["upn"] == state.username


def test_msal_password_grant_at_the_emulator_authority(no_mfa):
    """The user-realm lookup goes to https://127.0.0.1/ (no port): only a transport that
    routes that origin gets through (spo-profiles-api.md §7.3)."""
    emulator = no_mfa
    state = emulator.state
    app = public(emulator, authority=emulator.authority, instance_discovery=False)
    result = app.acquire_token_by_username_password(state.username, state.password, ["https://graph.microsoft.com/User.Read"])
    assert "access_token" in result, result
    assert emulator.minter.validate(result["access_token"], emulator.graph_audiences)["upn"] == state.username


def test_bad_password_and_unknown_user(emulator):
    state = emulator.state
    result = public(emulator).acquire_token_by_username_password(state.username, "wrong", [SPO_SCOPE])
    assert result["error"] == "invalid_grant" and result["error_codes"] == [50126], result
    form = {"client_id": state.public_client_id, "grant_type": "password", "username": state.username, "password": "wrong", "scope": SPO_SCOPE}
    aadsts(post_token(emulator, form), 400, "invalid_grant", 50126)
    aadsts(post_token(emulator, {**form, "username": f"nobody@{state.domain}"}), 400, "invalid_grant", 50034)
    # A confidential client must authenticate itself for ROPC too.
    aadsts(post_token(emulator, {**form, "client_id": state.client_id, "password": state.password}), 401, "invalid_client", 7000218)


def test_password_grant_fails_under_mfa(emulator):
    """By default the test user is under MFA: the right password still gets no token, with
    Entra's AADSTS50076 naming the resource by its app id; msal does the user-realm lookup
    first, as it would against Entra."""
    state = emulator.state
    result = public(emulator).acquire_token_by_username_password(state.username, state.password, ["https://contoso.sharepoint.com/AllSites.Manage"])
    assert "access_token" not in result
    assert result["error"] == "invalid_grant" and result["error_codes"] == [50076] and result["suberror"] == "basic_action", result
    assert "must use multi-factor authentication to access '00000003-0000-0ff1-ce00-000000000000'" in result["error_description"]
    form = {"client_id": state.public_client_id, "grant_type": "password", "username": state.username, "password": state.password, "scope": "https://graph.microsoft.com/User.Read"}
    body = aadsts(post_token(emulator, form), 400, "invalid_grant", 50076)
    assert "'00000003-0000-0000-c000-000000000000'" in body["error_description"]
    # A wrong password is still a wrong password: MFA is only asked once it is right.
    aadsts(post_token(emulator, {**form, "password": "wrong"}), 400, "invalid_grant", 50126)


@pytest.mark.parametrize("authority", ["common", "consumers"])
def test_password_grant_needs_a_tenant_or_organizations_authority(no_mfa, authority):
    emulator = no_mfa
    state = emulator.state
    form = {"client_id": state.public_client_id, "grant_type": "password", "username": state.username, "password": state.password, "scope": SPO_SCOPE}
    aadsts(post_token(emulator, form, tenant=authority), 400, "invalid_request", 9001023)
    assert "access_token" in post_token(emulator, form, tenant="organizations").json()
    assert "access_token" in post_token(emulator, form, tenant=state.domain).json()
    if authority == "common":  # msal at /common: discovery and the realm lookup work, the grant does not
        result = public(emulator, authority=f"{LOGIN}/common").acquire_token_by_username_password(state.username, state.password, [SPO_SCOPE])
        assert result["error_codes"] == [9001023], result


def test_unconsented_delegated_scope(emulator):
    state = emulator.state
    form = {"client_id": state.public_client_id, "grant_type": "password", "username": state.username, "password": state.password, "scope": "https://contoso.sharepoint.com/Sites.Selected.Everything"}
    aadsts(post_token(emulator, form), 400, "invalid_grant", 65001)


def test_msal_device_code_flow(emulator):
    entra.entra_state(emulator).device_code_interval = 1
    app = public(emulator)
    flow = app.initiate_device_flow(scopes=["https://contoso.sharepoint.com/AllSites.Manage"])
    assert {"device_code", "user_code", "verification_uri", "expires_in", "interval", "message"} <= set(flow), flow
    assert flow["user_code"] in flow["message"]
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    claims = emulator.minter.validate(result["access_token"], emulator.sharepoint_audiences)
    assert claims["upn"] == emulator.state.username and claims["appidacr"] == "0"


def test_device_code_pending_until_approved(emulator):
    state = emulator.state
    entra.entra_state(emulator).auto_approve = False
    s = session(emulator)
    flow = s.post(f"{emulator.authority}/oauth2/v2.0/devicecode", data={"client_id": state.public_client_id, "scope": "User.Read offline_access"}).json()
    form = {"client_id": state.public_client_id, "grant_type": entra.DEVICE_CODE_GRANT, "device_code": flow["device_code"]}
    for _ in range(2):
        aadsts(post_token(emulator, form), 400, "authorization_pending", 70016)
    assert s.post(f"{emulator.base_url}/_emulator/devicelogin", data={"user_code": flow["user_code"]}).status_code == 200
    result = post_token(emulator, form).json()
    assert emulator.minter.validate(result["access_token"], emulator.graph_audiences)["scp"]
    aadsts(post_token(emulator, form), 400, "invalid_grant", 70000)  # a device code is redeemed once


def test_refresh_token_errors(emulator):
    form = {"client_id": emulator.state.public_client_id, "grant_type": "refresh_token", "refresh_token": "garbage", "scope": SPO_SCOPE}
    aadsts(post_token(emulator, form), 400, "invalid_grant", 9002313)


# ---------------------------------------------------------------------------- managed identity


def _clear_identity_environment(monkeypatch):
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET", "AZUREPS_HOST_ENVIRONMENT", "MSAL_FORCE_REGION"):
        monkeypatch.delenv(name, raising=False)


def test_msal_managed_identity_imds(emulator, monkeypatch):
    """msal appends /metadata/identity/oauth2/token to $AZURE_POD_IDENTITY_AUTHORITY_HOST,
    which may be https; its http_client trusts the emulator's CA."""
    _clear_identity_environment(monkeypatch)
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", emulator.base_url)
    client = msal.ManagedIdentityClient(msal.SystemAssignedManagedIdentity(), http_client=session(emulator))
    result = client.acquire_token_for_client(resource="https://contoso.sharepoint.com")
    assert "access_token" in result, result
    claims = emulator.minter.validate(result["access_token"], emulator.sharepoint_audiences)
    assert claims["appidacr"] == "2" and claims["appid"] == entra.entra_state(emulator).managed_identity.client_id
    assert "xms_mirid" in claims


def test_msal_managed_identity_app_service(emulator, monkeypatch):
    _clear_identity_environment(monkeypatch)
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{emulator.base_url}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", entra.entra_state(emulator).identity_header)
    client = msal.ManagedIdentityClient(msal.SystemAssignedManagedIdentity(), http_client=session(emulator))
    result = client.acquire_token_for_client(resource="https://graph.microsoft.com")
    assert "access_token" in result, result
    emulator.minter.validate(result["access_token"], emulator.graph_audiences)


def test_imds_errors(emulator):
    s = session(emulator)
    url = f"{emulator.base_url}/metadata/identity/oauth2/token"
    params = {"api-version": "2018-02-01", "resource": "https://contoso.sharepoint.com"}
    assert s.get(url, params=params).status_code == 400  # no Metadata: true
    ok = s.get(url, params=params, headers={"Metadata": "true"}).json()
    assert {"access_token", "expires_in", "expires_on", "resource", "token_type"} <= set(ok)
    unknown = s.get(url, params={**params, "resource": "https://fabrikam.example.com"}, headers={"Metadata": "true"})
    aadsts(unknown, 400, "invalid_resource", 500011)
    other = s.get(url, params={**params, "client_id": str(uuid.uuid4())}, headers={"Metadata": "true"})
    assert other.status_code == 400 and other.json()["error_description"] == "Identity not found"
    assert s.get(f"{emulator.base_url}/msi/token", params={**params, "api-version": "2019-08-01"}, headers={"X-IDENTITY-HEADER": "wrong"}).status_code == 401


# ---------------------------------------------------------------------------- the CA pitfall


def test_requests_ca_bundle_overrides_msal_verify(emulator, monkeypatch, tmp_path):
    """§7.3: with REQUESTS_CA_BUNDLE set, msal's verify= is ignored (Fix B is the session
    with trust_env=False used above; Fix A is a combined bundle in the variable)."""
    import certifi

    ca = emulator.connection()["ca_bundle"]
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    with pytest.raises(requests.exceptions.SSLError):  # msal fetches discovery when built
        msal.ConfidentialClientApplication(emulator.state.client_id, client_credential=app_credential(emulator), authority=emulator.authority, instance_discovery=False, verify=ca)
    combined = tmp_path / "bundle.pem"
    combined.write_text(Path(certifi.where()).read_text() + Path(ca).read_text())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(combined))
    app = msal.ConfidentialClientApplication(emulator.state.client_id, client_credential=app_credential(emulator), authority=emulator.authority, instance_discovery=False)
    assert "access_token" in app.acquire_token_for_client([SPO_SCOPE])
