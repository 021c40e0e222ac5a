"""Secrets out of logs: `redact` (maforge/logs.py), the `--verbose` HTTP trace, owner-only files.

The end-to-end search of a whole run's files and streams is reliability/secrets.py."""

from __future__ import annotations

import json
import logging
import re
import stat
import sys
from types import SimpleNamespace

import pytest

from maforge.logs import RedactingFormatter, configure_logging, redact

JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2NvbnRvc28uc2hhcmVwb2ludC5jb20ifQ.c2lnbmF0dXJlLXRoYXQtaXMtbG9uZy1lbm91Z2g"
SECRET = "S3cr3t-v4lue_xyz"


@pytest.fixture(autouse=True)
def quiet_afterwards():
    yield
    configure_logging(False)


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {JWT}",
        f"authorization: Basic {SECRET}",
        f"{{'Authorization': 'Bearer {SECRET}', 'Accept': 'application/json'}}",
        f'{{"Authorization": "Bearer {SECRET}"}}',
        f"grant_type=password&username=admin%40contoso.onmicrosoft.com&password={SECRET}&scope=x",
        f"client_id=1&client_secret={SECRET}&grant_type=client_credentials",
        f"client_assertion_type=urn%3Aietf%3Aparams&client_assertion={JWT}&grant_type=client_credentials",
        f'{{"token_type": "Bearer", "access_token": "{SECRET}", "refresh_token": "{SECRET}", "id_token": "{SECRET}"}}',
        f"{{'password': '{SECRET}'}}",
        f"https://contoso.sharepoint.com/file?sig={SECRET}&se=2030",
        f"https://h/cb?code={SECRET}&state=1",
        f"device_code={SECRET}",
        f"https://svc:{SECRET}@proxy.example:8080/",
        f"the token was {JWT}, sadly",
        f"-----BEGIN PRIVATE KEY-----\nMIIEv{SECRET}\nAAAA\n-----END PRIVATE KEY-----",
        f"-----BEGIN RSA PRIVATE KEY-----\nMIIEv{SECRET}\n",  # cut short
    ],
)
def test_redact_removes_the_secret(text):
    redacted = redact(text)
    assert SECRET not in redacted and JWT not in redacted and JWT.rsplit(".", 1)[1] not in redacted
    assert "[redacted" in redacted


@pytest.mark.parametrize(
    "text",
    [
        "maforge.http: GET https://127.0.0.1:5001/spo/contoso/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName=@v)?@v='i%3A0%23.f%7Cmembership%7Cadele.vance%40contoso.onmicrosoft.com' -> 200 in 12 ms (request id 5c2e; client-request-id 9f1a)",
        'token_type=Bearer {"token_type": "Bearer", "expires_in": 3599} error_code=50126',
        "password sign-in failed: AADSTS50126: Error validating credentials due to invalid username or password.",
        'WWW-Authenticate: Bearer realm="", client_id="00000003-0000-0ff1-ce00-000000000000"',
    ],
)
def test_redact_leaves_the_rest_alone(text):
    assert redact(text) == text


def test_the_formatter_redacts_message_and_traceback():
    try:
        raise ValueError(f"refused Authorization: Bearer {JWT}")
    except ValueError:
        record = logging.LogRecord("maforge.http", logging.INFO, __file__, 1, "sent %s", (f"password={SECRET}",), sys.exc_info())
    text = RedactingFormatter("%(message)s").format(record)
    assert "password=[redacted]" in text and "Traceback" in text
    assert SECRET not in text and JWT not in text


def test_verbose_keeps_msal_and_urllib3_quiet():
    configure_logging(True)
    assert logging.getLogger("maforge.http").isEnabledFor(logging.DEBUG)
    for name in ("msal", "msal.token_cache", "urllib3"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    configure_logging(False)
    assert not logging.getLogger("maforge.http").isEnabledFor(logging.INFO)
    assert not [h for h in logging.getLogger().handlers if getattr(h, "maforge_verbose", False)]


LINE = re.compile(r"^maforge\.http: (GET|POST|PUT|PATCH|DELETE|MERGE) https://127\.0\.0\.1:\d+/\S+ -> \d{3} in \d+ ms( \(request id [\w-]+(; client-request-id [\w-]+)?\))?$")


def test_verbose_traces_every_request_in_one_line_each(cli, emulator, tmp_path):
    from support import SAMPLES

    from maforge.connectors.emulator.entra import entra_state

    connection = tmp_path / "connection.json"
    connection.write_text(json.dumps(emulator.connection()), encoding="utf-8")
    result = cli("--verbose", "import", str(SAMPLES / "spo-user-profiles.yaml"), "-c", str(connection), "--out", str(tmp_path / "state"))
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("maforge.http")]  # the rest: progress
    assert lines and all(LINE.match(line) for line in lines), [line for line in lines if not LINE.match(line)][:3]
    assert any("/oauth2/v2.0/token -> 200" in line for line in lines)  # sign-in, through msal
    assert any("/_api/" in line and "client-request-id" in line for line in lines)  # SharePoint
    assert all(secret not in result.stderr for secret in entra_state(emulator).secrets_seen)
    assert "maforge.http" not in result.stdout
    quiet = cli("import", str(SAMPLES / "spo-user-profiles.yaml"), "-c", str(connection), "--out", str(tmp_path / "state"))
    assert quiet.exit_code == 0 and "maforge.http" not in quiet.stderr


def test_retries_and_waits_are_traced(emulator_factory, tmp_path, caplog):
    from maforge.connectors.spo.connection import Connection
    from maforge.connectors.spo.session import RetryPolicy, SpoError, SpoSession

    running = emulator_factory(fault_rate=1.0, fault_seed=1, slow_seconds=0)
    path = tmp_path / "connection.json"
    path.write_text(json.dumps(running.connection()), encoding="utf-8")
    caplog.set_level(logging.INFO, logger="maforge.http")
    with SpoSession(Connection.from_file(path), retry=RetryPolicy(max_attempts=3), sleep=lambda s: None) as session:
        with pytest.raises(SpoError):
            session.call("GET", f"{running.spo_url}/_api/web")
    messages = [r.getMessage() for r in caplog.records if r.name == "maforge.http"]
    assert sum(bool(re.search(r"(retry \d of 2 in \d+ ms|no answer)", m)) for m in messages) >= 2, messages


def test_the_runner_takes_verbose_before_or_after_the_command():
    from maforge.connectors.sync.runner import _parser

    parser = _parser("python -m x_connector")
    assert parser.parse_args(["-v", "import", "--connection", "c.json"]).verbose
    assert parser.parse_args(["plan", "--verbose"]).verbose
    assert not parser.parse_args(["apply", "p.json", "--connection", "c.json"]).verbose


def test_a_new_journal_is_owner_only(tmp_path):
    from maforge.connectors.sync.applier import Journal

    journal = Journal(tmp_path / "plan.json.journal", SimpleNamespace(spec_hash="h", created_at="t"))
    journal.record([("i:0#.f|membership|a@contoso.onmicrosoft.com", "Department")])
    journal.close()
    assert stat.S_IMODE((tmp_path / "plan.json.journal").stat().st_mode) == 0o600
