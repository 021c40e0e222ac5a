"""The native runtime against the emulator: import (full and delta) into a snapshot, plan,
apply, and the built package's `python -m <package> import|plan|apply`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from maforge.compiler.build import render_outputs, write_build
from maforge.compiler.validate import load_spec
from maforge.connectors.emulator.graph import directory
from maforge.connectors.spo.people import PeopleClient, Write
from maforge.connectors.spo.session import SpoError
from maforge.connectors.sync import applier
from maforge.connectors.sync.applier import ApplyRefused
from maforge.connectors.sync.commands import SNAPSHOT_FILE, open_session, run_apply, run_import, run_plan
from maforge.connectors.sync.plan import PlanError, load_plan, save_plan
from maforge.connectors.sync.rulebook import RuleBook
from maforge.connectors.sync.snapshot import read_snapshot
from support import reseal_plan

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SAMPLE = SAMPLES / "spo-user-profiles.yaml"


@pytest.fixture(scope="module")
def book() -> RuleBook:
    return RuleBook.from_spec(load_spec(SAMPLE)[0])


def connection_file(emulator, folder: Path) -> Path:
    path = folder / "connection.json"
    path.write_text(json.dumps(emulator.connection()), encoding="utf-8")
    return path


def account(emulator, index: int) -> str:
    return "i:0#.f|membership|" + emulator.state.user(index).upn


# --------------------------------------------------------------------------- import


def test_full_then_delta_import_of_thousands_of_profiles(emulator_factory, tmp_path, book):
    emu = emulator_factory(profiles=3000)
    state = tmp_path / "state"
    with open_session(book, connection_file(emu, tmp_path)) as session:
        full = run_import(book, session, state)
        expected = {account(emu, i).lower() for i in range(1, 3001) if emu.state.has_profile(i)}
        assert len(expected) > 2500
        assert set(full.profiles) == expected
        on_disk = read_snapshot(state / SNAPSHOT_FILE, "contoso")
        assert on_disk.watermark and set(on_disk.profiles) == expected
        assert sorted(on_disk.properties) == sorted(set(book.connector().profile_properties) | {"AccountName"})
        sample = on_disk.values(account(emu, 1234))
        held = emu.state.profile(1234)
        assert sample["Department"] == held.get("Department", "")
        assert sample["SPS-Skills"] == list(held.get("SPS-Skills") or [])

        graph = directory(emu.state)
        people = PeopleClient(session, ["SPS-Skills"])
        # 10: changed in Entra and in SharePoint → re-read; 20: deleted from Entra → dropped;
        # 30: changed only in SharePoint → a delta does not see it (Graph reports no change).
        graph.update_user(10, department="Delta Dept")
        people.set(Write(account(emu, 10), "CostCenter", "CC-DELTA"))
        graph.delete_user(20)
        people.set(Write(account(emu, 30), "CostCenter", "CC-UNSEEN"))
        before_30 = on_disk.values(account(emu, 30))["CostCenter"]

        delta = run_import(book, session, state, delta=True)
    assert delta.values(account(emu, 10))["CostCenter"] == "CC-DELTA"
    assert delta.values(account(emu, 20)) is None
    assert delta.values(account(emu, 30))["CostCenter"] == before_30
    again = read_snapshot(state / SNAPSHOT_FILE)
    assert len(again.profiles) == len(expected) - 1
    assert again.watermark and again.watermark != on_disk.watermark


def test_an_interrupted_import_keeps_the_last_snapshot_and_its_watermark(emulator_factory, tmp_path, book, monkeypatch):
    emu = emulator_factory(profiles=400)
    state = tmp_path / "state"
    with open_session(book, connection_file(emu, tmp_path)) as session:
        run_import(book, session, state)
        saved = (state / SNAPSHOT_FILE).read_bytes()
        calls = {"n": 0}
        real = PeopleClient.get_many

        def failing(self, accounts):
            calls["n"] += 1
            if calls["n"] > 2:
                raise SpoError("connection lost")
            return real(self, accounts)

        monkeypatch.setattr(PeopleClient, "get_many", failing)
        with pytest.raises(SpoError, match="import.partial.jsonl: run the same import again to resume"):
            run_import(book, session, state)
        directory(emu.state).update_user(5, jobTitle="X")
        with pytest.raises(SpoError):
            run_import(book, session, state, delta=True)
    assert (state / SNAPSHOT_FILE).read_bytes() == saved
    # what the stopped full import read is kept for the next one (and only that)
    assert sorted(p.name for p in state.iterdir() if not p.is_dir()) == sorted([SNAPSHOT_FILE, "import.partial.jsonl"])
    kept = (state / "import.partial.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(kept[0])["format"] == "maforge-import-partial" and len(kept) == 1 + 200 - sum(1 for i in range(1, 201) if not emu.state.has_profile(i))


def test_import_without_a_connection_says_so(cli, tmp_path):
    result = cli("import", str(SAMPLE), "--out", str(tmp_path))
    assert result.exit_code == 2  # a usage error (docs/index.md, exit statuses)
    assert "--connection" in result.output


# --------------------------------------------------------------------------- plan and apply


def _plan(book, emu, tmp_path, **options):
    with open_session(book, connection_file(emu, tmp_path)) as session:
        return run_plan(book, SAMPLES, session, **options)


def test_plan_apply_then_plan_is_empty(emulator, tmp_path, book):
    plan = _plan(book, emulator, tmp_path)
    counts = plan.counts()
    assert counts["set"] and counts["change"] and counts["clear"]
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    writes_before = len(emulator.state.writes)
    with open_session(book, connection_file(emulator, tmp_path)) as session:
        result = run_apply(path, session)
    assert result.ok and result.applied == plan.change_count
    assert len(emulator.state.writes) - writes_before == plan.change_count
    results = json.loads((tmp_path / "plan.json.results.json").read_text(encoding="utf-8"))
    assert all(p["status"] == "applied" for entry in results["profiles"] for p in entry["properties"])
    assert _plan(book, emulator, tmp_path).profiles == []
    # Cleared values are really gone, multi-valued ones hold the planned list in order.
    for profile in plan.profiles:
        held = emulator.state.profile(emulator.state.index_for_account(profile.account))
        for change in profile.changes:
            value = held.get(change.property, "")
            assert value in ("", []) if change.action == "clear" else value == change.after


def test_a_stale_plan_does_not_overwrite_a_newer_edit(emulator, tmp_path, book):
    plan = _plan(book, emulator, tmp_path)
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    target = next(p for p in plan.profiles if any(c.action == "change" for c in p.changes))
    change = next(c for c in target.changes if c.action == "change")
    edited = ["edited meanwhile"] if isinstance(change.before, list) else "edited meanwhile"
    with open_session(book, connection_file(emulator, tmp_path)) as session:
        PeopleClient(session, plan.multi_valued).set(Write(target.account, change.property, edited))
        result = run_apply(path, session)
    assert result.stale == 1 and not result.ok
    assert result.applied == plan.change_count - 1
    held = emulator.state.profile(emulator.state.index_for_account(target.account))
    assert held[change.property] == edited


def test_an_apply_killed_midway_resumes_without_writing_twice(emulator, tmp_path, book, monkeypatch):
    plan = _plan(book, emulator, tmp_path)
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    monkeypatch.setattr(applier, "CHUNK", 3)
    real = PeopleClient.set_many
    rounds = {"n": 0}

    def killed_after_two_rounds(self, writes):
        rounds["n"] += 1
        answers = real(self, writes)  # the writes reach SharePoint…
        if rounds["n"] == 2:
            raise KeyboardInterrupt  # …and the process dies before recording them
        return answers

    monkeypatch.setattr(PeopleClient, "set_many", killed_after_two_rounds)
    start = len(emulator.state.writes)
    with open_session(book, connection_file(emulator, tmp_path)) as session:
        session.concurrency = 1
        with pytest.raises(KeyboardInterrupt):
            run_apply(path, session)
    monkeypatch.setattr(PeopleClient, "set_many", real)
    journal = (tmp_path / "plan.json.journal").read_text(encoding="utf-8").splitlines()
    assert 0 < len(journal) < plan.change_count
    with open_session(book, connection_file(emulator, tmp_path)) as session:
        result = run_apply(path, session)
    assert result.ok
    assert result.applied + result.already == plan.change_count
    written = [(w.account.lower(), w.property) for w in emulator.state.writes[start:]]
    assert len(written) == len(set(written)) == plan.change_count


def test_guards_stop_an_apply_before_any_write(emulator, tmp_path, book):
    plan = _plan(book, emulator, tmp_path)
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    start = len(emulator.state.writes)
    with open_session(book, connection_file(emulator, tmp_path)) as session:
        with pytest.raises(ApplyRefused, match="max-changes"):
            run_apply(path, session, max_changes=plan.change_count - 1)
        with pytest.raises(ApplyRefused, match="protected"):
            run_apply(path, session, protected=("costcenter",))
    other = load_plan(path)
    other.tenant = "fabrikam"
    save_plan(other, path)
    with open_session(book, connection_file(emulator, tmp_path)) as session:
        with pytest.raises(ApplyRefused, match="fabrikam"):
            run_apply(path, session)
    assert len(emulator.state.writes) == start


def test_plan_from_the_snapshot_matches_a_refreshed_plan(emulator, tmp_path, book):
    with open_session(book, connection_file(emulator, tmp_path)) as session:
        run_import(book, session, tmp_path / "state")
    refreshed = _plan(book, emulator, tmp_path)
    offline = run_plan(book, SAMPLES, None, refresh=False, state_dir=tmp_path / "state", tenant="contoso")
    assert offline.profiles == refreshed.profiles and offline.unchanged == refreshed.unchanged
    assert not offline.refreshed and refreshed.refreshed


def test_cli_plan_exit_codes_and_json(cli, emulator, tmp_path):
    connection = str(connection_file(emulator, tmp_path))
    out = tmp_path / "plan.json"
    result = cli("plan", str(SAMPLE), "-c", connection, "--detailed-exitcode", "--format", "json", "--out", str(out))
    assert result.exit_code == 2
    shown = json.loads(result.stdout)
    assert shown["format_version"] == 2 and shown["summary"] == json.loads(out.read_text(encoding="utf-8"))["summary"]
    assert cli("plan", str(SAMPLE), "-c", connection, "--expect-no-changes").exit_code == 1
    assert cli("plan", str(SAMPLE), "-c", connection).exit_code == 0
    applied = cli("apply", str(out), "-c", connection)
    assert applied.exit_code == 0, applied.output
    again = cli("plan", str(SAMPLE), "-c", connection, "--detailed-exitcode", "--expect-no-changes")
    assert again.exit_code == 0
    assert "Plan: 0 to set, 0 to change, 0 to clear; 25 profiles unchanged" in again.stdout


# --------------------------------------------------------------------------- the built package


def test_the_built_package_runs_import_plan_apply(emulator, tmp_path):
    spec, _ = load_spec(SAMPLE)
    out = tmp_path / "build"
    write_build(render_outputs(spec, str(SAMPLE)), out)
    package = out / "python" / "spo_user_profiles_connector"
    assert {p.name for p in package.iterdir()} >= {"__init__.py", "__main__.py", "rules.py", "manifest.json"}
    connection = str(connection_file(emulator, tmp_path))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(out / "python"), os.environ.get("PYTHONPATH", "")]))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", package.name, *args], cwd=SAMPLES, env=env, capture_output=True, text=True, timeout=120)

    imported = run("import", "--connection", connection, "--out", str(tmp_path / "state"))
    assert imported.returncode == 0, imported.stderr
    planned = run("plan", "--refresh=false", "--snapshot", str(tmp_path / "state"), "--out", str(tmp_path / "plan.json"), "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    assert "Plan: " in planned.stdout
    # One rule book: the package plans exactly what `maforge plan SPEC` plans.
    from_spec = run_plan(RuleBook.from_spec(spec), SAMPLES, None, refresh=False, state_dir=tmp_path / "state", tenant="contoso")
    from_package = load_plan(tmp_path / "plan.json")
    assert from_package.profiles == from_spec.profiles and from_package.spec_hash == from_spec.spec_hash
    # the state folder the plan was made against: its join state, and nothing written into samples/
    applied = run("apply", str(tmp_path / "plan.json"), "--connection", connection, "--state", str(tmp_path / "state"))
    assert applied.returncode == 0, applied.stderr
    empty = run("plan", "--connection", connection, "--expect-no-changes", "--snapshot", str(tmp_path / "state"))
    assert empty.returncode == 0, empty.stdout + empty.stderr


def test_a_saved_plan_follows_its_schema_and_a_damaged_one_is_refused(emulator, tmp_path, book):
    from jsonschema import Draft202012Validator

    from maforge.connectors.sync.plan import PlanError
    from maforge.schemas import load_schema

    plan = _plan(book, emulator, tmp_path)
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    data = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator(load_schema("plan")).validate(data)
    assert load_plan(path).profiles == plan.profiles
    data["profiles"][0]["changes"][0]["action"] = "rename"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(PlanError, match=r"profiles/0/changes/0/action"):
        load_plan(path)
    data["format_version"] = 99
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(PlanError, match="format 99"):
        load_plan(path)


def test_a_plan_changed_after_plan_wrote_it_is_refused(emulator, tmp_path, book):
    """Issue 19: a plan whose "after" was changed by hand (Department "Engineering" →
    "Sales") was applied. The plan carries a digest of its content; apply refuses a plan that
    no longer matches it, or that carries none, before anything is written."""
    plan = _plan(book, emulator, tmp_path)
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    original = path.read_text(encoding="utf-8")
    assert load_plan(path).profiles == plan.profiles
    [digest] = [line for line in original.splitlines() if line.startswith(' "digest": "sha256:')]
    assert original.endswith(digest + "\n}\n")
    change = next(c for p in json.loads(original)["profiles"] for c in p["changes"] if isinstance(c["after"], str) and c["after"])
    edited = original.replace(json.dumps(change["after"]), json.dumps(change["after"] + " (edited)"), 1)
    assert edited != original
    writes = len(emulator.state.writes)
    for text, message in (
        (edited, "this plan was changed after `maforge plan` wrote it"),
        (original.replace(",\n" + digest, ""), "carries no digest"),
        (json.dumps(json.loads(original)), "this plan was changed after"),  # the same JSON, other text: a copy that re-formatted it
    ):
        path.write_text(text, encoding="utf-8")
        with open_session(book, connection_file(emulator, tmp_path)) as session:
            with pytest.raises(PlanError, match=message):
                run_apply(path, session)
    assert len(emulator.state.writes) == writes


def test_apply_with_the_spec_refuses_a_value_the_spec_does_not_give(emulator, tmp_path, book):
    """Issue 19: `apply PLAN --spec SPEC` derives again, from the spec and its sources, the
    value of every property the plan writes, and refuses the plan, naming profile and
    property, where they differ; even when the plan's digest was made to match. A plan that
    follows from the spec applies."""
    plan = _plan(book, emulator, tmp_path)
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    data = json.loads(path.read_text(encoding="utf-8"))
    profile = next(p for p in data["profiles"] if any(c["property"] == "Department" and c["action"] != "clear" for c in p["changes"]))
    change = next(c for c in profile["changes"] if c["property"] == "Department")
    change["after"] = "Sales" if change["after"] != "Sales" else "Research"
    reseal_plan(tmp_path / "forged.json", data)
    writes = len(emulator.state.writes)
    with open_session(book, connection_file(emulator, tmp_path)) as session:
        with pytest.raises(ApplyRefused, match=rf"the plan writes what the spec and its sources do not give.*\n  {re.escape(profile['account'])}, Department: the plan writes \"{change['after']}\", the spec and its sources give \""):
            run_apply(tmp_path / "forged.json", session, derive=(book, SAMPLES), spec_hash=book.spec_hash)
        assert len(emulator.state.writes) == writes
        assert run_apply(path, session, derive=(book, SAMPLES), spec_hash=book.spec_hash).ok


def test_target_plans_and_applies_only_what_it_names(cli, emulator, tmp_path):
    """Issue 19: `--target USER|USER:PROPERTY` (repeatable) on plan and apply, as Terraform's
    -target: an admin fixes one person's profile without applying the whole drift, and the
    plan records that it was targeted."""
    connection = str(connection_file(emulator, tmp_path))
    whole = tmp_path / "whole.json"
    assert cli("plan", str(SAMPLE), "-c", connection, "--out", str(whole)).exit_code == 0
    full = load_plan(whole)
    first, second = full.profiles[0], full.profiles[1]
    upn = first.account.rpartition("|")[2].upper()  # a UPN in any case names the profile
    prop = second.changes[0].property
    out = tmp_path / "targeted.json"
    planned = cli("plan", str(SAMPLE), "-c", connection, "--target", upn, "--target", f"{second.account}:{prop}", "--out", str(out))
    assert planned.exit_code == 0, planned.output
    targeted = load_plan(out)
    assert targeted.targets == [upn, f"{second.account}:{prop}"]
    assert [(p.account, [c.property for c in p.changes]) for p in targeted.profiles] == [(first.account, [c.property for c in first.changes]), (second.account, [prop])]
    left = full.change_count - len(first.changes) - 1
    assert {"kind": "targeted", "subject": f"{upn}, {second.account}:{prop}", "detail": f"the plan is limited to --target; {left} other changes of this drift are left for a later plan"} in targeted.warnings
    # apply --target takes only the named user's changes of a whole saved plan
    applied = cli("apply", str(whole), "-c", connection, "--target", upn)
    assert applied.exit_code == 0, applied.output
    again = tmp_path / "again.json"
    assert cli("plan", str(SAMPLE), "-c", connection, "--out", str(again)).exit_code == 0
    remaining = {p.account for p in load_plan(again).profiles}
    assert first.account not in remaining and second.account in remaining and len(remaining) == len(full.profiles) - 1
    bad = cli("plan", str(SAMPLE), "-c", connection, "--target", "adele@contoso.com:")
    assert bad.exit_code == 1 and "name a property after the colon" in bad.output


GRAPH_SOURCE = """sources:
  entra:
    type: graph-users
    filter: "accountEnabled eq true and startswith(department,'Sales')"
    fields: [userPrincipalName, department, jobTitle, mobilePhone]
    mvObjectType: person
    key: userPrincipalName
    join:
      - criteria:
          - mv: accountName
            expression: '"i:0#.f|membership|" & [userPrincipalName]'
    project: true
    attributes:
      accountName:
        expression: '"i:0#.f|membership|" & [userPrincipalName]'
      upn:
        from: userPrincipalName
      department:
        expression: 'ToUpper([department])'
      jobTitle:
        from: jobTitle
      mobile:
        from: mobilePhone

"""


def test_a_graph_users_source_plans_from_entra_id(emulator, tmp_path):
    text = SAMPLE.read_text(encoding="utf-8")
    start, end = text.index("\nsources:\n") + 1, text.index("\nenvironments:\n") + 1
    spec_path = tmp_path / "entra.yaml"
    spec_path.write_text(text[:start] + GRAPH_SOURCE + text[end:], encoding="utf-8")
    graph_book = RuleBook.from_spec(load_spec(spec_path)[0])
    from maforge.connectors.emulator.graph import directory as graph_directory

    graph = graph_directory(emulator.state)
    upns = [emulator.state.user(i).upn for i in range(1, 26)]
    in_sales = [u for u in upns if str((graph.user(graph.index(u)) or {}).get("department") or "").lower().startswith("sales")]
    assert in_sales, "the seed has people in Sales"
    with open_session(graph_book, connection_file(emulator, tmp_path)) as session:
        plan = run_plan(graph_book, tmp_path, session)
    planned = {p.account.lower(): {c.property: c for c in p.changes} for p in plan.profiles}
    assert plan.unchanged + len(plan.profiles) == len(in_sales)
    for upn in in_sales:
        changes = planned.get(("i:0#.f|membership|" + upn).lower(), {})
        assert "Department" in changes and changes["Department"].after == changes["Department"].after.upper()


def test_the_default_progress_of_a_full_import_knows_the_total(emulator_factory, tmp_path, book, monkeypatch):
    import io

    from maforge.connectors.sync import progress

    emu = emulator_factory(profiles=300)
    stream = io.StringIO()
    real = progress.Progress.__init__
    monkeypatch.setattr(progress.Progress, "__init__", lambda self, label, total=None, stream_=None, interval=5.0: real(self, label, total, stream, 0.0))
    with open_session(book, connection_file(emu, tmp_path)) as session:
        run_import(book, session, tmp_path / "state")
    shown = stream.getvalue()
    assert "/300 (" in shown and "ETA" in shown and "300/300 (100 %)" in shown


# --------------------------------------------------------------------------- preview, apply SPEC, --refresh, protect


def test_preview_shows_one_user_flow_by_flow_and_writes_nothing(cli, emulator, tmp_path):
    connection = str(connection_file(emulator, tmp_path))
    start = len(emulator.state.writes)
    shown = cli("preview", str(SAMPLE), "--user", "Lee.Gu@contoso.onmicrosoft.com", "-c", connection)
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert "from: hr row 5 (EmployeeId=E1005)" in text
    assert "~ Department" in text and '"Unassigned" → "Engineering"' in text
    assert "expression Join(\" \", Coalesce([preferredName], [firstName]), [lastName])" in text
    assert "ProfileSource" in text and "constant 'Contoso HR'" in text
    assert len(emulator.state.writes) == start
    unknown = cli("preview", str(SAMPLE), "--user", "nobody@contoso.onmicrosoft.com", "-c", connection)
    assert unknown.exit_code == 1 and "no source row gives this user" in unknown.stdout


def test_apply_a_spec_asks_unless_auto_approved(cli, emulator, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    connection = str(connection_file(emulator, tmp_path))
    start = len(emulator.state.writes)
    declined = cli("apply", str(SAMPLE), "-c", connection)
    assert declined.exit_code == 1 and "--auto-approve" in declined.output
    assert len(emulator.state.writes) == start
    approved = cli("apply", str(SAMPLE), "-c", connection, "--auto-approve")
    assert approved.exit_code == 0, approved.output
    assert "Apply: 32 applied" in approved.stdout
    assert cli("plan", str(SAMPLE), "-c", connection, "--expect-no-changes").exit_code == 0


def _saved_plan_and_a_single_valued_change(book, emulator, tmp_path):
    """A saved plan, and one profile's single-valued "change" that a test edits meanwhile."""
    plan = _plan(book, emulator, tmp_path)
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    target = next(p for p in plan.profiles if any(c.action == "change" and not isinstance(c.before, list) for c in p.changes))
    change = next(c for c in target.changes if c.action == "change" and not isinstance(c.before, list))
    return plan, path, target, change


def test_apply_refresh_replans_a_stale_property_instead_of_skipping_it(emulator, tmp_path, book):
    plan, path, target, change = _saved_plan_and_a_single_valued_change(book, emulator, tmp_path)
    with open_session(book, connection_file(emulator, tmp_path)) as session:
        PeopleClient(session, plan.multi_valued).set(Write(target.account, change.property, "edited meanwhile"))
        result = run_apply(path, session, replan_stale=True)
    assert result.ok and result.stale == 0
    entry = next(p for p in result.profiles if p["account"] == target.account)
    outcome = next(o for o in entry["properties"] if o["property"] == change.property)
    assert outcome["status"] == "applied" and outcome["replanned_from"] == "edited meanwhile"
    assert emulator.state.profile(emulator.state.index_for_account(target.account))[change.property] == change.after


def test_protected_properties_are_left_out_of_the_plan_and_guarded_in_apply(emulator, tmp_path):
    text = SAMPLE.read_text(encoding="utf-8").replace("  company: Contoso\n", "  company: Contoso\n  protect: [CostCenter]\n", 1)
    spec_path = tmp_path / "protected.yaml"
    spec_path.write_text(text, encoding="utf-8")
    (tmp_path / "hr.csv").write_bytes((SAMPLES / "hr.csv").read_bytes())
    protected_book = RuleBook.from_spec(load_spec(spec_path)[0])
    with open_session(protected_book, connection_file(emulator, tmp_path)) as session:
        plan = run_plan(protected_book, tmp_path, session)
    assert not any(c.property == "CostCenter" for p in plan.profiles for c in p.changes)
    assert {"kind": "protected", "subject": "CostCenter", "detail": "the spec protects this property (sharepoint.protect); its flow is not applied"} in plan.problems
    # A hand-edited plan that sneaks the property back in is refused: by its digest, and by
    # the protected list even when the digest was forged to match.
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["profiles"][0]["changes"].append({"property": "CostCenter", "action": "set", "before": "", "after": "CC-0000"})
    path.write_text(json.dumps(data), encoding="utf-8")
    with open_session(protected_book, connection_file(emulator, tmp_path)) as session:
        with pytest.raises(PlanError, match="this plan was changed after `maforge plan` wrote it"):
            run_apply(path, session)
        reseal_plan(path, data)
        with pytest.raises(ApplyRefused, match="CostCenter"):
            run_apply(path, session)


# --------------------------------------------------------------------------- the bulk import path


def _bulk_apply(emu, tmp_path, book, **options):
    from maforge.connectors.spo.bulk import BulkImporter
    from maforge.connectors.sync.applier import apply_plan

    plan = _plan(book, emu, tmp_path)
    with open_session(book, connection_file(emu, tmp_path)) as session:
        importer = BulkImporter(session, sleep=lambda seconds: __import__("time").sleep(0.05))
        result = apply_plan(plan, session, journal_path=tmp_path / "journal", bulk="always", bulk_importer=importer, **options)
    return plan, result


def test_bulk_path_imports_eligible_properties_and_maps_a_failing_row_back(emulator_factory, tmp_path, book, monkeypatch):
    from maforge.connectors.emulator import bulk as emulated_bulk

    emu = emulator_factory(bulk_job_seconds=0.2)
    victim = emu.state.user(3).upn
    real = emulated_bulk.profile_index
    # The user leaves the profile store between the plan and the job: the job's log says so.
    monkeypatch.setattr(emulated_bulk, "profile_index", lambda state, text: None if text.lower() == victim.lower() else real(state, text))
    start = len(emu.state.writes)
    plan, result = _bulk_apply(emu, tmp_path, book)
    eligible = [(p.account, c.property) for p in plan.profiles for c in p.changes if c.property in ("CostCenter", "ProfileSource") and c.action != "clear"]
    victims = [item for item in eligible if item[0].lower().endswith("|" + victim.lower())]
    assert eligible and victims
    written = emu.state.writes[start:]
    by_bulk = {(w.account.lower(), w.property) for w in written if w.via == "bulk"}
    assert by_bulk == {(a.lower(), p) for a, p in eligible if (a, p) not in victims}
    assert not any(w.via == "bulk" and w.property not in ("CostCenter", "ProfileSource") for w in written)
    assert result.failed == len(victims) and result.applied == plan.change_count - len(victims)
    failed = [o for entry in result.profiles for o in entry["properties"] if o["status"] == "failed"]
    assert all("IdentityNotResolvable" in o["error"] for o in failed)
    assert not emu.state.files, "the data file and the job's log are cleaned up"
    again = _plan(book, emu, tmp_path)
    assert {(p.account, c.property) for p in again.profiles for c in p.changes} == set(victims)


def test_properties_the_tenant_refuses_to_bulk_import_go_per_user(emulator_factory, tmp_path, book):
    import dataclasses

    emu = emulator_factory(bulk_job_seconds=0.2)
    emu.state.schema["profilesource"] = dataclasses.replace(emu.state.schema["profilesource"], user_editable=True)
    start = len(emu.state.writes)
    plan, result = _bulk_apply(emu, tmp_path, book)
    assert result.ok and result.applied == plan.change_count
    written = emu.state.writes[start:]
    assert {w.property for w in written if w.via == "bulk"} == {"CostCenter"}
    assert any(w.property == "ProfileSource" and w.via != "bulk" for w in written)
    assert _plan(book, emu, tmp_path).profiles == []


def _record_requests(emu) -> list[tuple[str, str, bytes]]:
    """(method, path, body) of every request the emulator dispatches from now on."""
    seen: list[tuple[str, str, bytes]] = []
    real = emu.dispatch

    def recording(request):
        seen.append((request.method, request.path, request.body))
        return real(request)

    emu.dispatch = recording
    return seen


def test_apply_bulk_always_queues_through_csom_and_the_job_writes_every_row_once(cli, emulator_factory, tmp_path, book):
    """`maforge apply --bulk always` against a default (strict) emulator: the job is queued the
    documented way (CSOM ProcessQuery), it runs, and the write log, the results and the journal
    agree that each eligible property was written once, by that job."""
    emu = emulator_factory(bulk_job_seconds=0.2)
    plan = _plan(book, emu, tmp_path)
    eligible = {(p.account.lower(), c.property) for p in plan.profiles for c in p.changes if c.property in ("CostCenter", "ProfileSource") and c.action != "clear"}
    assert len(eligible) >= 3
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    start = len(emu.state.writes)
    seen = _record_requests(emu)
    applied = cli("apply", str(path), "--connection", str(connection_file(emu, tmp_path)), "--bulk", "always", "--state", str(tmp_path / "state"))
    assert applied.exit_code == 0, applied.output
    queued = [body for method, where, body in seen if where.lower().endswith("/_vti_bin/client.svc/processquery") and b'Name="QueueImportProfileProperties"' in body]
    assert len(queued) == 1 and b'<Parameter Type="Dictionary"><Property Name="CostCenter" Type="String">CostCenter</Property>' in queued[0]
    assert not any("office365tenant" in where.lower() for _m, where, _b in seen), "no REST Office365Tenant call"
    written = emu.state.writes[start:]
    by_bulk = [(w.account.lower(), w.property) for w in written if w.via == "bulk"]
    assert sorted(by_bulk) == sorted(eligible), "every eligible row written once, by the job"
    jobs = {w.request_id for w in written if w.via == "bulk"}
    assert len(jobs) == 1
    job_id = jobs.pop()
    outcomes = json.loads((tmp_path / "plan.json.results.json").read_text(encoding="utf-8"))
    bulk_outcomes = {(entry["account"].lower(), o["property"]): o for entry in outcomes["profiles"] for o in entry["properties"] if "bulk" in o}
    assert set(bulk_outcomes) == eligible
    assert all(o["status"] == "applied" and o["bulk"] == job_id for o in bulk_outcomes.values())
    journal = [json.loads(line) for line in (tmp_path / "plan.json.journal").read_text(encoding="utf-8").splitlines()]
    assert eligible <= {(e["account"].lower(), e["property"]) for e in journal}
    assert len(journal) == len({(e["account"].lower(), e["property"]) for e in journal}) == plan.change_count
    assert emu.state.jobs == {} and not emu.state.files, "the job record, the data file and the log are cleaned up"
    assert _plan(book, emu, tmp_path).profiles == []


def test_apply_splits_batches_at_one_mebibyte_and_fails_only_a_write_too_large_to_send(cli, emulator_factory, tmp_path, book):
    """100 long AboutMe writes make more than SharePoint's 1 MiB in one `$batch` (the emulator
    refuses such a batch whole): apply sends them in smaller batches. One value over 1 MiB on its
    own cannot be sent at all: that profile fails with the reason, the others are applied."""
    from maforge.connectors.sync.plan import Plan, ProfileChange, PropertyChange

    emu = emulator_factory(profiles=130, throttle="none")
    accounts = [account(emu, i) for i in range(1, 131) if emu.state.has_profile(i)][:101]
    assert len(accounts) == 101
    held = {a: emu.state.profile(emu.state.index_for_account(a)).get("AboutMe", "") for a in accounts}
    long_text = "Å" * 6000  # 12,000 bytes in UTF-8: 100 of them are over 1 MiB
    changes = [ProfileChange(a, "bench", (PropertyChange("AboutMe", "change", held[a], f"{n} {long_text}"),)) for n, a in enumerate(accounts[:100])]
    huge = accounts[100]
    changes.append(ProfileChange(huge, "bench", (PropertyChange("AboutMe", "change", held[huge], "x" * 1_100_000),)))
    path = tmp_path / "plan.json"
    save_plan(Plan("c", "contoso", "", "", "2026-01-01T00:00:00Z", True, changes), path)
    start = len(emu.state.writes)
    seen = _record_requests(emu)
    applied = cli("apply", str(path), "--connection", str(connection_file(emu, tmp_path)), "--bulk", "never", "--state", str(tmp_path / "state"))
    assert applied.exit_code == 1, applied.output  # one property failed
    batches = [body for method, where, body in seen if where.lower().endswith("/_api/$batch") and b"SetSingleValueProfileProperty" in body]
    assert len(batches) >= 2 and all(len(body) <= 1_048_576 for body in batches)
    written = {w.account.lower(): w.value for w in emu.state.writes[start:]}
    assert set(written) == {a.lower() for a in accounts[:100]}
    assert all(written[a.lower()] == f"{n} {long_text}" for n, a in enumerate(accounts[:100]))
    outcomes = json.loads((tmp_path / "plan.json.results.json").read_text(encoding="utf-8"))
    failed = [o for entry in outcomes["profiles"] if entry["account"] == huge for o in entry["properties"]]
    assert [o["status"] for o in failed] == ["failed"]
    assert "not sent" in failed[0]["error"] and "1,048,576 bytes" in failed[0]["error"]
    assert sum(o["status"] == "applied" for entry in outcomes["profiles"] for o in entry["properties"]) == 100


def test_apply_killed_with_sigkill_resumes_and_writes_each_property_once(emulator_factory, tmp_path):
    """A real kill (SIGKILL, no cleanup) of `maforge apply` in the middle of a 2,000-profile plan;
    the second run finishes it, and the emulator's write log shows every property once."""
    import signal
    import time

    emu = emulator_factory(profiles=2000, latency_ms=3)
    import csv

    header = (SAMPLES / "hr.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    with open(tmp_path / "hr.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        for index in range(26, 2001):  # the synthetic users after the sample's named ones
            user = emu.state.user(index)
            writer.writerow({"EmployeeId": f"K{index}", "UPN": user.upn, "FirstName": f"Given{index}", "LastName": f"Family{index}", "CostCenter": f"CC-K{index}"})
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    connection = connection_file(emu, tmp_path)
    book = RuleBook.from_spec(load_spec(spec_path)[0])
    with open_session(book, connection) as session:
        plan = run_plan(book, tmp_path, session)
    assert plan.change_count > 3000
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    journal = tmp_path / "plan.json.journal"
    start = len(emu.state.writes)
    command = [sys.executable, "-m", "maforge", "apply", str(path), "--connection", str(connection), "--bulk", "never"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not journal.exists() or journal.stat().st_size == 0):
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    written_before = len(emu.state.writes) - start
    assert 0 < written_before < plan.change_count, "the kill landed mid-apply"
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    written = [(w.account.lower(), w.property) for w in emu.state.writes[start:]]
    assert len(written) == len(set(written)) == plan.change_count
    with open_session(book, connection) as session:
        assert run_plan(book, tmp_path, session).profiles == []


def test_apply_updates_the_snapshot_so_a_delta_import_does_not_bring_old_values_back(emulator, tmp_path, book):
    state = tmp_path / "state"
    with open_session(book, connection_file(emulator, tmp_path)) as session:
        run_import(book, session, state)
        plan = run_plan(book, SAMPLES, None, refresh=False, state_dir=state, tenant="contoso")
        assert plan.profiles
        save_plan(plan, tmp_path / "plan.json")
        assert run_apply(tmp_path / "plan.json", session, state_dir=state).ok
        run_import(book, session, state, delta=True)
    assert run_plan(book, SAMPLES, None, refresh=False, state_dir=state, tenant="contoso").profiles == []
    assert (state / SNAPSHOT_FILE).stat().st_mode & 0o077 == 0


def _stats(emulator) -> dict:
    """The emulator's own counts: budgeted calls, 429s, requests, bulk jobs."""
    import requests

    http = requests.Session()
    http.trust_env = False
    return http.get(f"{emulator.base_url}/_emulator/stats", verify=emulator.connection()["ca_bundle"], timeout=30).json()


def test_check_prior_never_writes_without_reading_and_overwrites_a_newer_edit(emulator, tmp_path, book):
    plan, path, target, change = _saved_plan_and_a_single_valued_change(book, emulator, tmp_path)
    with open_session(book, connection_file(emulator, tmp_path)) as session:
        PeopleClient(session, plan.multi_valued).set(Write(target.account, change.property, "edited meanwhile"))
        before = _stats(emulator)
        result = run_apply(path, session, check_prior="never", bulk="never")
        after = _stats(emulator)
    # One budgeted call per write and none for reads: the plan's priors are trusted.
    assert after["calls"] - before["calls"] == plan.change_count
    assert result.ok and result.applied == plan.change_count and result.stale == 0
    held = emulator.state.profile(emulator.state.index_for_account(target.account))
    assert held[change.property] == change.after
    outcomes = json.loads((tmp_path / "plan.json.results.json").read_text(encoding="utf-8"))
    assert all(o.get("prior") == "not checked" for entry in outcomes["profiles"] for o in entry["properties"])
    # Run again: the journal, not a read, says everything is done.
    with open_session(book, connection_file(emulator, tmp_path)) as session:
        again = run_apply(path, session, check_prior="never", bulk="never")
    assert again.already == plan.change_count and again.applied == 0
    assert _stats(emulator)["calls"] == after["calls"]


def test_auto_does_not_read_profiles_whose_changes_all_go_to_the_bulk_job(emulator_factory, tmp_path, book):
    from maforge.connectors.sync.plan import Plan, ProfileChange, PropertyChange

    emu = emulator_factory(bulk_job_seconds=0.2, profiles=80)
    accounts = [account(emu, i) for i in range(30, 80) if emu.state.user(i) is not None and emu.state.user(i).enabled][:10]
    held = {a: emu.state.profile(emu.state.index_for_account(a)) for a in accounts}
    # Bulk-only profiles are planned with a wrong prior on purpose: auto does not check it.
    bulk_only = [ProfileChange(a, "bench", (PropertyChange("CostCenter", "change", "not what it holds", f"CC-{n}"),)) for n, a in enumerate(accounts[:5])]
    mixed = [
        ProfileChange(a, "bench", (PropertyChange("CostCenter", "change", held[a].get("CostCenter", ""), "CC-M"), PropertyChange("AboutMe", "set", held[a].get("AboutMe", ""), "mixed")))
        for a in accounts[5:]
    ]
    plan = Plan("c", "contoso", "", "", "2026-01-01T00:00:00Z", True, bulk_only + mixed)
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    before = _stats(emu)
    with open_session(book, connection_file(emu, tmp_path)) as session:
        result = run_apply(path, session, bulk="always")
    after = _stats(emu)
    assert result.ok and result.applied == plan.change_count
    # Reads only for the mixed profiles, plus their AboutMe writes; CostCenter went by bulk.
    assert after["calls"] - before["calls"] == 2 * len(mixed)
    assert len(after["bulk_jobs"]) == len(before["bulk_jobs"]) + 1
    assert all(job["seconds"] >= 0.2 for job in after["bulk_jobs"])
    assert {(w.account.lower(), w.property) for w in emu.state.writes if w.via == "bulk"} >= {(a.lower(), "CostCenter") for a in accounts}


def test_a_plan_made_from_another_spec_is_refused_before_any_write(cli, emulator, tmp_path, book):
    import shutil

    plan = _plan(book, emulator, tmp_path)
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    # The same connector, edited since the plan: another spec, another hash.
    for name in ("spo-user-profiles.yaml", "hr.csv"):
        shutil.copy(SAMPLES / name, tmp_path / name)
    edited = tmp_path / "spo-user-profiles.yaml"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n# reviewed again\n", encoding="utf-8")
    assert RuleBook.from_spec(load_spec(edited)[0]).spec_hash != book.spec_hash
    start = len(emulator.state.writes)
    refused = cli("apply", str(path), "--connection", str(connection_file(emulator, tmp_path)), "--spec", str(edited), "--state", str(tmp_path / "state"))
    assert refused.exit_code == 1 and "made from spec" in refused.output and "make a new plan" in refused.output
    assert len(emulator.state.writes) == start
    # The spec it was made from passes the same check.
    accepted = cli("apply", str(path), "--connection", str(connection_file(emulator, tmp_path)), "--spec", str(SAMPLE), "--state", str(tmp_path / "state"))
    assert accepted.exit_code == 0, accepted.output
    assert len(emulator.state.writes) - start == plan.change_count
