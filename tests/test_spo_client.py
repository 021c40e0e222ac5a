"""maforge's SharePoint client against the emulator: sign-in, retries, pacing, batching."""

from __future__ import annotations

import dataclasses
import json

import pytest

from maforge.connectors.spo.auth import AuthError, credential_for
from maforge.connectors.spo.connection import Connection, ConnectionError_
from maforge.connectors.spo.people import PeopleClient, Write, claims
from maforge.connectors.spo.session import SpoError, SpoSession

ADELE = "adele.vance@contoso.onmicrosoft.com"
MULTI = ["SPS-Skills", "SPS-PastProjects", "SPS-Responsibility"]


def connection_of(emulator, tmp_path, **changes) -> Connection:
    line = dict(emulator.connection(), **changes)
    path = tmp_path / "connection.json"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    return Connection.from_file(path)


def session_of(emulator, tmp_path, sleeps=None, retry=None, **changes) -> SpoSession:
    connection = connection_of(emulator, tmp_path, **changes)
    record = sleeps.append if sleeps is not None else (lambda s: None)
    return SpoSession(connection, company="Contoso", retry=retry, sleep=record)


def test_certificate_sign_in_and_reading_a_profile(emulator, tmp_path):
    with session_of(emulator, tmp_path) as session:
        people = PeopleClient(session, MULTI)
        profile = people.get_properties(ADELE)
        assert profile["AccountName"] == claims(ADELE)
        assert isinstance(profile["SPS-Skills"], list) and profile["SPS-Skills"]
        assert people.get_properties("nobody@contoso.onmicrosoft.com") is None


def test_user_agent_is_decorated(emulator, tmp_path):
    with session_of(emulator, tmp_path) as session:
        assert session.http.headers["User-Agent"] == "NONISV|Contoso|maforge/0.1.0"


def test_password_sign_in(emulator_factory, tmp_path):
    emulator = emulator_factory(mfa_required=False)  # the password grant only works without MFA
    connection = connection_of(emulator, tmp_path, certificate=None)
    connection = dataclasses.replace(connection, auth_method="password", public_client_id=emulator.state.public_client_id)
    credential = credential_for(connection)
    token = credential.token(connection.sharepoint_scope)
    assert emulator.minter.validate(token, emulator.sharepoint_audiences)["upn"] == emulator.state.username


def test_wrong_certificate_is_a_clear_error(emulator, tmp_path):
    from maforge.connectors.emulator.certs import ensure_certificates

    other = ensure_certificates(tmp_path / "other")
    connection = connection_of(emulator, tmp_path, certificate=str(other.app_pem))
    with pytest.raises(AuthError, match="certificate sign-in failed: AADSTS700027"):
        credential_for(connection).token(connection.sharepoint_scope)


def test_unknown_client_is_a_clear_error(emulator, tmp_path):
    connection = connection_of(emulator, tmp_path, client_id="11111111-2222-3333-4444-555555555555")
    with pytest.raises(AuthError, match="AADSTS700016"):
        credential_for(connection).token(connection.sharepoint_scope)


def test_bad_connection_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("not json", encoding="utf-8")
    with pytest.raises(ConnectionError_, match="not a connection file"):
        Connection.from_file(path)
    path.write_text(json.dumps({"tenant": "x", "spo_url": "https://x", "admin_url": "https://y", "colour": "blue"}), encoding="utf-8")
    with pytest.raises(ConnectionError_, match="unknown keys in the connection file: colour"):
        Connection.from_file(path)


def test_writes_single_and_multi_values(emulator, tmp_path):
    with session_of(emulator, tmp_path) as session:
        people = PeopleClient(session, MULTI)
        people.set(Write(ADELE, "AboutMe", "Hello from maforge"))
        people.set(Write(ADELE, "SPS-Skills", ["Python", "SharePoint"]))
        profile = people.get_properties(ADELE)
        assert profile["AboutMe"] == "Hello from maforge"
        assert profile["SPS-Skills"] == ["Python", "SharePoint"]
    assert [(w.property, w.value) for w in emulator.state.writes] == [("AboutMe", "Hello from maforge"), ("SPS-Skills", ["Python", "SharePoint"])]


def test_batching_reads_and_writes(emulator_factory, tmp_path):
    running = emulator_factory(profiles=250)
    with session_of(running, tmp_path) as session:
        people = PeopleClient(session, MULTI)
        upns = [running.state.user(i).upn for i in range(1, 251)]
        profiles = people.get_many(upns)
        assert len(profiles) == 250
        assert sum(1 for p in profiles if p is None) == sum(1 for i in range(1, 251) if not running.state.has_profile(i))
        assert session.stats.http_requests == 3  # 100 + 100 + 50
        assert session.stats.calls == 250
        writes = [Write(upn, "CostCenter", f"CC-{i}") for i, upn in enumerate(upns[:120]) if running.state.index_for_account(upn) and running.state.has_profile(running.state.index_for_account(upn))]
        results = people.set_many(writes)
        assert all(200 <= r.status < 300 for r in results)
    assert len(running.state.writes) == len(writes)


def test_faults_are_retried_only_where_safe(emulator_factory, tmp_path):
    running = emulator_factory(fault_rate=0.3, fault_seed=3, slow_seconds=0)
    with session_of(running, tmp_path) as session:
        people = PeopleClient(session, MULTI)
        for _ in range(30):
            assert people.get_properties(ADELE)["AccountName"] == claims(ADELE)
        assert session.stats.faults > 0 and session.stats.retries >= session.stats.faults
        unsafe_failures = 0
        for _ in range(30):
            try:
                session.call("POST", f"{running.admin_url}/_api/contextinfo", safe_to_repeat=False)
            except SpoError:
                unsafe_failures += 1
        assert unsafe_failures > 0  # not retried


# --------------------------------------------------------------------------- the other sign-in methods


def test_federated_sign_in_reads_the_ci_token_from_a_file(emulator, tmp_path):
    from maforge.connectors.emulator.entra import mint_federated_token

    token_file = tmp_path / "oidc-token"
    token_file.write_text(mint_federated_token(emulator), encoding="utf-8")
    with session_of(emulator, tmp_path, auth_method="federated", federated_token_file=str(token_file), certificate=None) as session:
        assert PeopleClient(session, MULTI).get_properties(ADELE)["AccountName"] == claims(ADELE)


def test_an_expired_federated_token_is_a_clear_error(emulator, tmp_path):
    from maforge.connectors.emulator.entra import mint_federated_token

    token_file = tmp_path / "oidc-token"
    token_file.write_text(mint_federated_token(emulator, lifetime=-600), encoding="utf-8")
    connection = connection_of(emulator, tmp_path, auth_method="federated", federated_token_file=str(token_file), certificate=None)
    with pytest.raises(AuthError, match=r"federated sign-in failed: AADSTS\d+"):
        credential_for(connection).token(connection.sharepoint_scope)


def test_device_code_sign_in_prompts_once_then_uses_the_token_cache(emulator, tmp_path):
    from maforge.connectors.emulator.entra import entra_state
    from maforge.connectors.spo.auth import DeviceCodeCredential, http_session

    entra_state(emulator).device_code_interval = 1
    connection = connection_of(emulator, tmp_path, auth_method="device-code", public_client_id=emulator.state.public_client_id, certificate=None)
    prompts: list[str] = []
    first = DeviceCodeCredential(connection, http_session(connection), cache_dir=tmp_path / "cache", prompt=prompts.append)
    assert first.token(connection.sharepoint_scope)
    assert len(prompts) == 1 and "code" in prompts[0].lower()
    cache_files = list((tmp_path / "cache").iterdir())
    assert len(cache_files) == 1 and cache_files[0].stat().st_mode & 0o077 == 0  # owner-only
    again = DeviceCodeCredential(connection, http_session(connection), cache_dir=tmp_path / "cache", prompt=prompts.append)
    assert again.token(connection.sharepoint_scope)
    assert len(prompts) == 1  # signed in from the cache, no second prompt


def test_managed_identity_sign_in(emulator, tmp_path, monkeypatch):
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", emulator.base_url)
    with session_of(emulator, tmp_path, auth_method="managed-identity", client_id=None, certificate=None) as session:
        assert PeopleClient(session, MULTI).get_properties(ADELE) is not None


def test_an_expired_access_token_is_a_clear_error(emulator, tmp_path):
    class Expired:
        """Hands SharePoint a token that expired ten minutes ago, every time."""

        def token(self, scope: str) -> str:
            return emulator.minter.mint(scope.removesuffix("/.default"), {"appid": emulator.state.client_id, "roles": ["Sites.FullControl.All"], "tid": emulator.state.tenant_id}, lifetime=-600)[0]

    connection = connection_of(emulator, tmp_path)
    with SpoSession(connection, credential=Expired()) as session:
        with pytest.raises(SpoError, match="401") as caught:
            PeopleClient(session, MULTI).get_properties(ADELE)
    assert "expired" in str(caught.value).lower()
