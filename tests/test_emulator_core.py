"""The emulator's shared machinery: start-up line, seeding, throttling arithmetic, faults,
persistence."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from maforge.connectors.emulator.seed import hr_user_count, seed_user
from support import SAMPLES

CONNECTION_KEYS = {"spo_url", "admin_url", "graph_url", "authority", "tenant", "tenant_id", "ca_bundle", "client_id", "certificate", "public_client_id", "username", "password"}


def test_cli_prints_exactly_one_json_line_and_serves(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "maforge", "emulator", "--port", "0", "--profiles", "30", "--state-dir", "state"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        connection = json.loads(line)
        assert set(connection) == CONNECTION_KEYS
        assert connection["spo_url"].startswith("https://127.0.0.1:")
        assert connection["authority"].endswith(connection["tenant_id"])
        # a relative --state-dir still gives absolute paths: the line is used from any folder
        assert connection["ca_bundle"].startswith("/") and connection["certificate"].startswith("/")
        pem = open(connection["certificate"]).read()
        assert "BEGIN CERTIFICATE" in pem and "PRIVATE KEY" in pem
        # TLS with the emulator's own CA, and nothing else printed while serving.
        answer = requests.get(connection["spo_url"] + "/_api/nothing-here", verify=connection["ca_bundle"], timeout=10)
        assert answer.status_code in (401, 404)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.stdout.read() == ""


def test_ca_is_reused_from_the_state_dir(tmp_path, emulator_factory):
    first = emulator_factory(state_dir=tmp_path / "state")
    ca = open(first.connection()["ca_bundle"]).read()
    first.stop()
    second = emulator_factory(state_dir=tmp_path / "state")
    assert open(second.connection()["ca_bundle"]).read() == ca


def test_seed_is_deterministic_and_matches_the_sample_hr_file():
    with open(SAMPLES / "hr.csv", encoding="utf-8", newline="") as handle:
        hr = [row["UPN"] for row in csv.DictReader(handle)]
    seeded = [seed_user("contoso", i).upn for i in range(1, hr_user_count() + 1)]
    assert seeded == hr
    assert seed_user("contoso", 4711) == seed_user("contoso", 4711)
    assert seed_user("contoso", 4711).upn == "user004711@contoso.onmicrosoft.com"
    drifted = sum(
        1
        for i in range(1, hr_user_count() + 1)
        if seed_user("contoso", i).properties["Department"] == "Unassigned" or seed_user("contoso", i).properties["CostCenter"] == ""
    )
    assert drifted >= 5, "a plan of the sample against a fresh emulator must show changes"


def test_fault_injection_fails_the_configured_share(emulator_factory):
    running = emulator_factory(fault_rate=0.5, fault_seed=7, slow_seconds=0)
    def new_session() -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override Session.verify
        session.verify = str(running.certs.ca_pem)
        return session

    session = new_session()
    outcomes = {"fault": 0, "served": 0}
    for _ in range(200):
        try:
            status = session.get(running.spo_url + "/_api/contextinfo", timeout=10).status_code
            outcomes["fault" if status in (500, 502, 503, 504) else "served"] += 1
        except requests.ConnectionError:
            outcomes["fault"] += 1
            session = new_session()
    assert 70 <= outcomes["fault"] <= 130


def test_profile_changes_and_write_log_survive_a_restart(tmp_path, emulator_factory):
    first = emulator_factory(state_dir=tmp_path / "state")
    state = first.state
    index = state.index_for_account("i:0#.f|membership|adele.vance@contoso.onmicrosoft.com")
    record = state.set_value(index, state.property_def("AboutMe"), "Hello", "rest", "req-1")
    first.stop()
    second = emulator_factory(state_dir=tmp_path / "state")
    assert second.state.profile(index)["AboutMe"] == "Hello"
    assert [(w.seq, w.property, w.value) for w in second.state.writes] == [(record.seq, "AboutMe", "Hello")]
    assert oct((tmp_path / "state" / "tenant.json").stat().st_mode & 0o777) == "0o600"


def test_seed_file_replaces_the_named_users(tmp_path, emulator_factory):
    seed = tmp_path / "people.csv"
    columns = "UPN,FirstName,LastName,Mail,Department,JobTitle,Office,WorkPhone,MobilePhone,ManagerUPN,CostCenter,Skills,PastProjects,AskMeAbout,AboutMe"
    seed.write_text(columns + "\nola.nordmann@contoso.onmicrosoft.com,Ola,Nordmann,,IT,Engineer,Oslo,,,,CC-1,Python;SQL,,,\n", encoding="utf-8")
    running = emulator_factory(seed_file=seed, profiles=3)
    state = running.state
    assert state.user(1).upn == "ola.nordmann@contoso.onmicrosoft.com"
    assert state.profile(1)["SPS-Skills"] == ["Python", "SQL"]
    assert state.user(2).upn == "user000002@contoso.onmicrosoft.com"
    assert state.index_for_account("i:0#.f|membership|OLA.NORDMANN@contoso.onmicrosoft.com") == 1


def test_bad_seed_file_is_refused(tmp_path, emulator_factory):
    seed = tmp_path / "people.csv"
    seed.write_text("Name,Mail\nx,y\n", encoding="utf-8")
    with pytest.raises(ValueError, match="a seed file is a CSV"):
        emulator_factory(seed_file=seed)


def _start_emulator(tmp_path, *options: str) -> tuple[subprocess.Popen, dict, Path]:
    """`maforge emulator` as a user runs it, with its own TMPDIR so that whatever temporary
    folder it makes can be found (and must be gone) after it stops."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "maforge", "emulator", "--port", "0", "--profiles", "5", *options],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    connection = json.loads(process.stdout.readline())
    return process, connection, temp


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGINT"])
def test_a_stopped_emulator_removes_the_folder_it_made(tmp_path, stop):
    """Without --state-dir the certificates (the CA's key too) live in a folder the emulator
    made; `kill` (SIGTERM) and Ctrl+C (SIGINT) must both leave nothing of it behind."""
    process, connection, temp = _start_emulator(tmp_path)
    try:
        folder = Path(connection["ca_bundle"]).parent.parent
        assert folder.parent == temp and folder.name.startswith("maforge-emulator-")
        assert (folder / "certs" / "ca.key").is_file()
        process.send_signal(getattr(signal, stop))
        assert process.wait(timeout=20) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not folder.exists()
    assert list(temp.iterdir()) == []
    assert "Traceback" not in process.stderr.read()


def test_a_stopped_emulator_keeps_the_state_dir_it_was_given(tmp_path):
    process, connection, temp = _start_emulator(tmp_path, "--state-dir", "state")
    try:
        assert Path(connection["ca_bundle"]).is_relative_to(tmp_path / "state")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert (tmp_path / "state" / "certs" / "ca.key").is_file()
    assert list(temp.iterdir()) == []
