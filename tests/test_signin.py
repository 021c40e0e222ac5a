"""Sign-in that can write: connection files used from any folder, password sign-in and MFA,
and what plan and apply say when the sign-in is delegated (SharePoint refuses delegated
writes to other users' profiles, so the emulator does too by default)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from maforge.compiler.build import render_outputs, write_build
from maforge.compiler.validate import load_spec
from maforge.connectors.sync import applier
from maforge.connectors.sync.plan import load_plan

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SAMPLE = SAMPLES / "spo-user-profiles.yaml"
NOT_OWN_DATA = "This operation requires you to be managing your own data or have administrator privileges."


def _write(path: Path, data: dict, indent: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=indent) + "\n", encoding="utf-8")
    return path


def _password_line(emulator, **changes) -> dict:
    """The emulator's line, switched to password sign-in (the line carries the test user)."""
    line = {k: v for k, v in emulator.connection().items() if k != "certificate"}
    return {**line, "auth_method": "password", **changes}


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """Run from a folder that is neither the spec's nor the connection file's."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # delegated sign-in caches tokens
    return folder


# --------------------------------------------------------------------------- connection files


def test_the_emulators_line_works_from_another_folder(cli, emulator, tmp_path, elsewhere):
    _write(tmp_path / "conn" / "connection.json", emulator.connection())
    result = cli("plan", str(SAMPLE), "--connection", "../conn/connection.json", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["change"] > 0
    imported = cli("import", str(SAMPLE), "-c", str(tmp_path / "conn" / "connection.json"), "--out", "state")
    assert imported.exit_code == 0, imported.output
    assert (elsewhere / "state" / "snapshot.jsonl").exists()


def test_a_hand_written_connection_file_reads_its_paths_relative_to_itself(cli, emulator, tmp_path, elsewhere):
    keys = tmp_path / "conn" / "keys"
    keys.mkdir(parents=True)
    line = emulator.connection()
    shutil.copy(line["ca_bundle"], keys / "tenant-ca.pem")
    shutil.copy(line["certificate"], keys / "app.pem")
    hand = {k: v for k, v in line.items() if k not in ("username", "password", "public_client_id")}
    hand.update(ca_bundle="keys/tenant-ca.pem", certificate="keys/app.pem", auth_method="certificate")
    path = _write(tmp_path / "conn" / "tenant.json", hand, indent=2)  # several lines, as people write them
    result = cli("plan", str(SAMPLE), "-c", str(path), "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert "Plan: " in result.stdout


# --------------------------------------------------------------------------- password sign-in and MFA


def test_password_sign_in_under_mfa_fails_in_one_line_naming_certificate_sign_in(cli, emulator, tmp_path, elsewhere):
    path = _write(tmp_path / "password.json", _password_line(emulator))
    result = cli("plan", str(SAMPLE), "-c", str(path))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith("maforge plan: password sign-in failed: AADSTS50076: ")
    assert "MFA blocks the password grant (ROPC)" in line and "app-only sign-in with a certificate" in line
    assert emulator.state.password not in result.output


def test_delegated_sign_in_plans_with_a_warning_and_apply_stops_after_a_few_refusals(cli, emulator_factory, tmp_path, elsewhere):
    emulator = emulator_factory(mfa_required=False)
    password = _write(tmp_path / "password.json", _password_line(emulator))
    plan_file = tmp_path / "plan.json"
    planned = cli("plan", str(SAMPLE), "-c", str(password), "--out", str(plan_file), "--format", "json")
    assert planned.exit_code == 0, planned.output
    warnings = [w for w in json.loads(planned.stdout)["warnings"] if w["kind"] == "delegated-sign-in"]
    assert len(warnings) == 1 and warnings[0]["subject"] == "password"
    assert "app-only with a certificate" in warnings[0]["detail"] and "docs/import-into-mim.md#the-app-registration" in warnings[0]["detail"]
    assert "maforge plan: warning: the plan writes " in planned.stderr
    assert load_plan(plan_file).warnings == json.loads(planned.stdout)["warnings"]  # saved with the plan
    plan = load_plan(plan_file)

    applied = cli("apply", str(plan_file), "-c", str(password))
    assert applied.exit_code == 1
    assert emulator.state.writes == []
    results = json.loads((tmp_path / "plan.json.results.json").read_text(encoding="utf-8"))
    statuses = [o["status"] for entry in results["profiles"] for o in entry["properties"]]
    assert statuses.count("failed") == applier.STOP_AFTER_DENIALS
    assert statuses.count("not-attempted") == plan.change_count - applier.STOP_AFTER_DENIALS
    assert f", {plan.change_count - applier.STOP_AFTER_DENIALS} not attempted" in applied.stdout
    assert NOT_OWN_DATA in applied.stderr and "app-only with a certificate" in applied.stderr and "run the same apply again" in applied.stderr
    assert not (tmp_path / "plan.json.journal").read_text(encoding="utf-8")  # nothing journalled

    certificate = _write(tmp_path / "certificate.json", emulator.connection())
    again = cli("apply", str(plan_file), "-c", str(certificate))
    assert again.exit_code == 0, again.output
    assert len(emulator.state.writes) == plan.change_count


def test_delegated_writes_go_through_where_the_tenant_allows_them(cli, emulator_factory, tmp_path, elsewhere):
    """`maforge emulator --no-mfa --allow-delegated-profile-writes`: the old, permissive tenant."""
    emulator = emulator_factory(mfa_required=False, allow_delegated_profile_writes=True)
    password = _write(tmp_path / "password.json", _password_line(emulator))
    applied = cli("apply", str(SAMPLE), "-c", str(password), "--auto-approve", "--state", str(tmp_path / "state"))
    assert applied.exit_code == 0, applied.output
    assert "Warnings" in applied.stdout and "delegated-sign-in" in applied.stdout  # still told
    assert emulator.state.writes and all(w.via == "batch" for w in emulator.state.writes)


def test_a_bulk_apply_over_a_delegated_sign_in_stops_too(cli, emulator_factory, tmp_path, elsewhere):
    """The bulk job's queue call is refused as well; its writes fall back per user, and the
    same few refusals stop them."""
    emulator = emulator_factory(mfa_required=False, bulk_job_seconds=0.2)
    password = _write(tmp_path / "password.json", _password_line(emulator))
    plan_file = tmp_path / "plan.json"
    assert cli("plan", str(SAMPLE), "-c", str(password), "--out", str(plan_file)).exit_code == 0
    applied = cli("apply", str(plan_file), "-c", str(password), "--bulk", "always")
    assert applied.exit_code == 1
    assert emulator.state.writes == [] and not [f for f in emulator.state.files if f.endswith(".log")]
    assert "not attempted" in applied.stdout and NOT_OWN_DATA in applied.stderr


def test_the_built_package_warns_and_stops_the_same_way(emulator_factory, tmp_path, elsewhere, capsys):
    from maforge.connectors.sync.runner import main

    emulator = emulator_factory(mfa_required=False)
    spec, _ = load_spec(SAMPLE)
    write_build(render_outputs(spec, str(SAMPLE)), tmp_path / "build")
    package = tmp_path / "build" / "python" / "spo_user_profiles_connector"
    password = _write(tmp_path / "password.json", _password_line(emulator))
    with pytest.raises(SystemExit) as planned:
        main(package, ["plan", "--connection", str(password), "--sources-dir", str(SAMPLES), "--out", str(tmp_path / "plan.json")])
    assert planned.value.code == 0
    assert "spo_user_profiles_connector: warning: the plan writes " in capsys.readouterr().err
    with pytest.raises(SystemExit) as applied:
        main(package, ["apply", str(tmp_path / "plan.json"), "--connection", str(password)])
    assert applied.value.code == 1
    out, err = capsys.readouterr()
    assert "not attempted" in out and NOT_OWN_DATA in err and "app-only with a certificate" in err
    assert emulator.state.writes == []


# ---------------------------------------------------------------- the spec's sign-in settings


def _line_without_certificate(emulator) -> dict:
    """The emulator's line as a real tenant's file often is: no certificate named in it."""
    return {k: v for k, v in emulator.connection().items() if k != "certificate"}


def test_the_spec_certificate_path_signs_in_when_the_connection_file_names_none(emulator, tmp_path, elsewhere, cli):
    """`sharepoint.auth.certificatePath` is the default; relative, it starts at the spec's
    folder, not at the folder the command runs in."""
    text = SAMPLE.read_text(encoding="utf-8")
    spec = tmp_path / "spec" / "spo.yaml"
    (spec.parent / "keys").mkdir(parents=True)
    spec.write_text(text.replace("certificatePath: ${env:MAFORGE_SPO_CERTIFICATE}", "certificatePath: keys/app.pem", 1), encoding="utf-8")
    assert "certificatePath: keys/app.pem" in spec.read_text(encoding="utf-8")
    shutil.copy(SAMPLES / "hr.csv", spec.parent / "hr.csv")
    shutil.copy(emulator.certs.app_pem, spec.parent / "keys" / "app.pem")
    connection = _write(tmp_path / "conn" / "connection.json", _line_without_certificate(emulator))
    result = cli("import", str(spec), "--connection", str(connection), "--out", str(tmp_path / "state"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "state" / "snapshot.jsonl").is_file()


def test_the_built_package_reads_the_spec_sign_in_too(emulator, tmp_path, elsewhere, monkeypatch, capsys):
    from maforge.connectors.sync.runner import main

    spec, _ = load_spec(SAMPLE)
    write_build(render_outputs(spec, str(SAMPLE)), tmp_path / "build")
    package = tmp_path / "build" / "python" / "spo_user_profiles_connector"
    manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["sign_in"]["certificate"] == "${env:MAFORGE_SPO_CERTIFICATE}"  # a reference, never a key
    assert manifest["sign_in"]["password"] == "${env:MAFORGE_SPO_PASSWORD}"
    monkeypatch.setenv("MAFORGE_SPO_CERTIFICATE", str(emulator.certs.app_pem))
    connection = _write(tmp_path / "connection.json", _line_without_certificate(emulator))
    main(package, ["import", "--connection", str(connection), "--out", str(tmp_path / "state")])  # a failure exits 1
    assert "imported 25 profiles" in capsys.readouterr().out


def test_sign_in_settings_come_from_the_spec_then_the_file_then_the_environment(tmp_path):
    from maforge.connectors.spo.connection import layered, spec_sign_in

    spec_dir = tmp_path / "spec"
    defaults = spec_sign_in(
        {"auth_method": "federated", "client_id": "spec-app", "certificate": "keys/spec.pem", "federated_token_file": "ci/token",
         "username": "svc@contoso.onmicrosoft.com", "password": "${file:secrets/password.txt}"},
        spec_dir,
    )
    connection = _write(tmp_path / "conn" / "connection.json",
                        {"tenant": "contoso", "spo_url": "https://contoso.sharepoint.com", "admin_url": "https://contoso-admin.sharepoint.com",
                         "client_id": "file-app", "certificate": "file.pem"})
    from_file = layered(connection, defaults, environ={})
    assert from_file.auth_method == "federated"  # the spec's, the file says nothing
    assert from_file.federated_token_file == str(spec_dir / "ci" / "token")  # relative to the spec
    assert from_file.password == f"${{file:{spec_dir / 'secrets' / 'password.txt'}}}"  # still a reference
    assert from_file.client_id == "file-app"  # the file overrides the spec
    assert from_file.certificate == str(tmp_path / "conn" / "file.pem")
    environ = {"AZURE_CLIENT_ID": "env-app", "AZURE_FEDERATED_TOKEN_FILE": "/run/token", "AZURE_PASSWORD": "not this value"}
    from_env = layered(connection, defaults, environ=environ)
    assert (from_env.client_id, from_env.federated_token_file) == ("env-app", "/run/token")  # the environment overrides both
    assert from_env.password == "${env:AZURE_PASSWORD}"
    assert from_env.certificate == from_file.certificate and from_env.username == "svc@contoso.onmicrosoft.com"


def test_a_spec_password_value_is_never_a_default():
    from maforge.connectors.spo.connection import spec_sign_in

    assert "password" not in spec_sign_in({"password": "hunter2", "username": "svc"}, None)
