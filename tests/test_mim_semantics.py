"""`maforge plan` predicts what MIM's sync engine would do (issue 16).

One test per rule where the runtime used to differ from the engine. Each docstring quotes the
MIM documentation it follows, so a reader can check the rule against its source.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from maforge.compiler.diagnostics import SpecError
from maforge.compiler.validate import load_spec
from maforge.connectors.sync.commands import open_session, run_plan
from maforge.connectors.sync.connectorfilter import compile_filter, condition_met
from maforge.connectors.sync.rulebook import RuleBook

import test_sync_engine as sync_engine
from test_sync_engine import ADELE, ALEX, MEGAN, badge_source, changes_of, engine, hr_csv, hr_source, jsonl, kinds, plan_for

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
GUEST_UPN = "chris.green_fabrikam.com#EXT#@contoso.onmicrosoft.com"


def _sample_copy(folder: Path) -> Path:
    """The SPO sample in a folder of its own, so a test may change its HR file."""
    target = folder / "samples"
    shutil.copytree(SAMPLES, target)
    return target / "spo-user-profiles.yaml"


def _add_hr_row(hr: Path, **cells: str) -> None:
    with hr.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    row = dict.fromkeys(rows[0], "") | cells
    rows.append(row)
    with hr.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _connection(emulator, folder: Path) -> Path:
    path = folder / "connection.json"
    path.write_text(json.dumps(emulator.connection()), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- 2. the connector filter


GUEST = {
    "EmployeeId": "C9001",
    "UPN": GUEST_UPN,
    "FirstName": "Chris",
    "LastName": "Green",
    "PreferredName": "Chris",
    "Department": "Partners",
    "JobTitle": "Contractor",
    "Office": "Fabrikam",
    "WorkPhone": "+1 425 555 0190",
    "CostCenter": "CC-9000",
    "Skills": "Auditing;Risk",
}


def test_a_guest_profile_that_an_hr_row_joins_is_never_in_the_plan(emulator_factory, tmp_path):
    """MIM: "If the object meets connector filter rules criteria, the object will then become
    a filtered disconnector" (Configure Connector Filter Rules, jj590228); a filtered
    disconnector is neither joined nor projected, and a joined one is disconnected
    (`connector-filtered-leave-mv`, ms696531). The sample's filter keeps `#ext#` guests out, so a
    contractor invited as a guest and listed in HR gets nothing planned."""
    spec = _sample_copy(tmp_path)
    _add_hr_row(spec.parent / "hr.csv", **GUEST)
    seed = tmp_path / "seed.csv"
    shutil.copy(spec.parent / "hr.csv", seed)  # the guest has a profile in SharePoint too
    emulator = emulator_factory(seed_file=seed, profiles=26)
    book = RuleBook.from_spec(load_spec(spec)[0])
    with open_session(book, _connection(emulator, tmp_path)) as session:
        plan = run_plan(book, spec.parent, session, state_dir=tmp_path / "state")
    guest_account = "i:0#.f|membership|" + GUEST_UPN
    assert emulator.state.index_for_account(guest_account) is not None  # the profile exists
    assert all(p.account.casefold() != guest_account.casefold() for p in plan.profiles)
    kept_out = [p for p in plan.problems if p["kind"] == "connector-filtered"]
    assert len(kept_out) == 1 and "C9001" in kept_out[0]["subject"] and "#ext#" in kept_out[0]["detail"]
    assert not [p for p in plan.problems if p["kind"] == "profile-missing"]  # it is not missing: it is filtered
    assert len(plan.profiles) + plan.unchanged == 25  # everybody else as before


@pytest.mark.parametrize(
    ("operator", "value", "want", "met"),
    [
        ("equality", "Guest", "guest", True),  # text compares case-insensitively (inferred, as joins)
        ("inequality", "Guest", "member", True),
        ("inequality", None, "member", True),  # an absent value equals nothing
        ("substring-start", "i:0#.f|membership|x", "I:0#", True),
        ("substring-end", "x@fabrikam.com", "@FABRIKAM.com", True),
        ("substring-any", "x#EXT#@contoso", "#ext#", True),
        ("not-substring-any", "x#EXT#@contoso", "#ext#", False),
        ("not-substring-any", "x@contoso", "#ext#", True),
        ("present", "", None, False),
        ("present", ["a"], None, True),
        ("not-present", [], None, True),
        ("substring-any", ["Risk", "Audit"], "aud", True),  # any value of a multi-valued attribute
        ("not-substring-any", ["Risk", "Audit"], "aud", False),  # a not- operator needs every value
        ("greater-than", "10", "9", True),  # integers compare as numbers
        ("less-than", "0600", "500", False),  # a leading zero is still six hundred
        ("less-than", "b", "a", False),
        ("bit-on", "514", "2", True),  # userAccountControl's ACCOUNTDISABLE bit
        ("bit-off", "512", "2", True),
        ("bit-on", "x", "2", False),
    ],
)
def test_each_filter_operator_as_mim_names_it(operator, value, want, met):
    """The operators of the Management Agent Designer's connector filter page, by the names
    MIM writes in `<condition operator=…>` (ma-export-format.md, section 7)."""
    assert condition_met(operator, value, want) is met


def test_filter_alternatives_are_or_ed_and_conditions_and_ed():
    """MIM: "Filters are combined with an OR operator if a condition in the first or previous
    filter is not met. If any condition in a single filter is not met, that filter is not
    applied." (jj590228)"""
    filtered = compile_filter(
        [
            {"conditions": [{"attribute": "Department", "operator": "equality", "value": "Partners"}, {"attribute": "CostCenter", "operator": "not-present", "value": None}]},
            {"conditions": [{"attribute": "AccountName", "operator": "substring-any", "value": "#ext#"}]},
        ]
    )
    assert filtered is not None
    assert filtered({"Department": "Partners", "CostCenter": ""}) == "Department equality 'Partners' and CostCenter not-present"
    assert filtered({"Department": "Partners", "CostCenter": "CC-1"}) is None  # one condition not met: that filter does not apply
    assert filtered({"accountname": "i:0#.f|membership|a#ext#@b"}) is not None  # SharePoint's property names ignore case
    with pytest.raises(ValueError, match="'like' is not one MIM knows"):
        compile_filter([{"conditions": [{"attribute": "A", "operator": "like", "value": "x"}]}])
    assert compile_filter([{"scripted": True, "conditions": []}]) is None  # in the rules extension: not ours to run


# --------------------------------------------------------------------------- 5. multi-valued values are sets


def _sample_book(folder: Path, edit=None) -> RuleBook:
    spec = _sample_copy(folder)
    if edit is not None:
        spec.write_text(edit(spec.read_text(encoding="utf-8")), encoding="utf-8")
    return RuleBook.from_spec(load_spec(spec)[0])


def _ordered_skills(text: str) -> str:
    return text.replace("      SPS-Skills:\n        from: skills\n", "      SPS-Skills:\n        from: skills\n        ordered: true\n")


def test_values_that_only_changed_order_are_not_a_change(tmp_path):
    """MIM works in value adds and deletes: a multi-valued attribute whose values are the same
    set has no pending export, whatever their order. A different set is written in the
    source's order; `ordered: true` makes the order itself a change."""
    from maforge.connectors.sync.planner import compare

    connector = _sample_book(tmp_path / "a").connector()
    assert compare(connector, {"SPS-Skills": ["SQL", "Azure"]}, {"SPS-Skills": ["Azure", "SQL"]}) == []
    [change] = compare(connector, {"SPS-Skills": ["SQL", "Azure"]}, {"SPS-Skills": ["Azure", "SQL", "Python"]})
    assert change.action == "change" and change.after == ["Azure", "SQL", "Python"]  # the source's order
    assert compare(connector, {"SPS-Skills": ["SQL", "Azure"]}, {"SPS-Skills": ["sql", "Azure"]})  # a value's case is a change
    ordered = _sample_book(tmp_path / "b", _ordered_skills).connector()
    [change] = compare(ordered, {"SPS-Skills": ["SQL", "Azure"]}, {"SPS-Skills": ["Azure", "SQL"]})
    assert change.after == ["Azure", "SQL"]
    assert compare(ordered, {"SPS-PastProjects": ["x", "y"]}, {"SPS-PastProjects": ["y", "x"]}) == []  # only the flow that says so


def test_apply_counts_a_reordered_value_as_already_applied(emulator, tmp_path):
    """The applier's prior-value check means what the planner means: SharePoint holding the
    planned set in another order is the planned value."""
    from maforge.connectors.sync.commands import run_apply
    from maforge.connectors.sync.plan import Plan, ProfileChange, property_change, save_plan

    book = _sample_book(tmp_path / "s")
    user = emulator.state.user(1)
    account = "i:0#.f|membership|" + user.upn
    held = list(emulator.state.profile(1)["SPS-Skills"])
    assert len(held) >= 2
    plan = Plan(book.name, "contoso", book.spec_hash, "test", "2026-12-03T00:00:00Z", True, multi_valued=["SPS-Skills"])
    plan.profiles.append(ProfileChange(account, "test", (property_change("SPS-Skills", "change", ["x"], list(reversed(held))),)))
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    writes = len(emulator.state.writes)
    with open_session(book, _connection(emulator, tmp_path)) as session:
        result = run_apply(path, session)
    assert result.already == 1 and result.applied == 0 and len(emulator.state.writes) == writes


def test_ordered_is_refused_on_a_single_valued_property(tmp_path):
    spec = _sample_copy(tmp_path)
    spec.write_text(spec.read_text(encoding="utf-8").replace("      Office:\n        from: office\n", "      Office:\n        from: office\n        ordered: true\n"), encoding="utf-8")
    with pytest.raises(SpecError) as refused:
        load_spec(spec)
    assert "spo-user-profiles.yaml:272:9: error: 'Office' is single-valued: `ordered` is for multi-valued properties" in str(refused.value)


# --------------------------------------------------------------------------- 8. source order decides nothing


def test_a_non_projecting_source_listed_first_still_joins(tmp_path):
    """MIM: join and projection rules run on every synchronization, so a row that finds no
    metaverse object now joins the one a later run projects; the engine converges whatever the
    order of its MAs. The plan reaches that end in one run: projecting sources first."""
    files = {"hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,,,"), "badge.jsonl": jsonl({"badgeId": "B1", "emp": "E1", "site": "Building 9"})}
    book, mv = engine(tmp_path, {"badge": badge_source(), "hr": hr_source()}, files)
    assert kinds(mv.problems) == [] and len(mv.objects) == 1
    assert mv.objects[0].values["office"] == "Building 9" and mv.objects[0].origins == ["hr row 1 (EmployeeId=E1)", "badge row 1 (badgeId=B1)"]
    assert changes_of(plan_for(book, mv, {ADELE: {"Office": "HQ"}}), ADELE)["Office"] == ("change", "HQ", "Building 9")


def test_a_source_joined_through_another_non_projecting_source_converges(tmp_path, monkeypatch):
    """A chain: the desk source joins on the badge id that only the badge source brings. In
    MIM the desk row joins at the sync after the badge's; the plan tries again until no row
    joins any more, and what never joins is reported once."""
    badge = badge_source()
    badge["attributes"] = {**badge["attributes"], "badge": {"from": "badgeId"}}
    desk = {
        "type": "jsonl",
        "path": "desk.jsonl",
        "mvObjectType": "person",
        "key": "desk",
        "project": False,
        "join": [{"criteria": [{"mv": "badge", "from": "badgeId"}]}],
        "attributes": {"aboutMe": {"from": "note"}},
    }
    files = {
        "hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,,,"),
        "badge.jsonl": jsonl({"badgeId": "B1", "emp": "E1", "site": "Building 9"}),
        "desk.jsonl": jsonl({"desk": "D1", "badgeId": "B1", "note": "Desk 4.12"}, {"desk": "D2", "badgeId": "B404", "note": "nobody"}),
    }
    monkeypatch.setattr(sync_engine, "HEAD", sync_engine.HEAD.replace("        skills: {multiValued: true}\n", "        skills: {multiValued: true}\n        badge: {indexed: true}\n"))
    _book, mv = engine(tmp_path, {"desk": desk, "badge": badge, "hr": hr_source()}, files)
    assert len(mv.objects) == 1 and mv.objects[0].values["aboutMe"] == "Desk 4.12"
    assert kinds(mv.problems) == ["unjoined-row"] and "D2" in mv.problems[0].subject


# --------------------------------------------------------------------------- 9. multi-valued join attributes


def _skills_indexed(monkeypatch) -> None:
    monkeypatch.setattr(sync_engine, "HEAD", sync_engine.HEAD.replace("        skills: {multiValued: true}\n", "        skills: {multiValued: true, indexed: true}\n"))


def test_one_value_finds_the_object_that_holds_it_among_others(tmp_path, monkeypatch):
    """MIM searches the metaverse for the join value: an object whose multi-valued attribute
    holds it among other values is found. A list used to be matched as one tuple."""
    _skills_indexed(monkeypatch)
    badge = badge_source(join=[{"criteria": [{"mv": "skills", "from": "skill"}]}])
    files = {"hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,,,SQL;Azure"), "badge.jsonl": jsonl({"badgeId": "B1", "skill": "azure", "site": "Building 9"})}
    _book, mv = engine(tmp_path, {"hr": hr_source(), "badge": badge}, files)
    assert kinds(mv.problems) == [] and mv.objects[0].values["office"] == "Building 9"


def test_an_expression_that_gives_several_values_joins_on_any_of_them(tmp_path):
    """MIM: MapAttributesForJoin returns a collection of values, and the engine searches for
    each ("any of which may match"). Two values finding two objects are an ambiguous join."""
    badge = badge_source(join=[{"criteria": [{"mv": "employeeId", "expression": 'Split([emps], ",")'}]}])
    files = {
        "hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,,,", "E2,alex@contoso.com,Alex,,,,,"),
        "badge.jsonl": jsonl({"badgeId": "B1", "emps": "X9,E1", "site": "Building 9"}, {"badgeId": "B2", "emps": "E1,E2", "site": "Annex"}),
    }
    _book, mv = engine(tmp_path, {"hr": hr_source(), "badge": badge}, files)
    assert mv.objects[0].values["office"] == "Building 9" and mv.objects[1].values["office"] is None
    assert kinds(mv.problems) == ["ambiguous-join"] and "B2" in mv.problems[0].subject


def test_a_plain_join_rule_on_a_multi_valued_attribute_is_refused(tmp_path, monkeypatch):
    """MIM refuses a multi-valued attribute in a declared join rule
    (`join-object-id-must-be-single-valued`); through an expression it is allowed."""
    monkeypatch.setattr(sync_engine, "HEAD", sync_engine.HEAD.replace("      - mv: accountName\n        from: AccountName\n", "      - mv: skills\n        from: SPS-Skills\n"))
    with pytest.raises(SpecError, match="MF246|join rule maps multi-valued 'SPS-Skills' directly"):
        engine(tmp_path, {"hr": hr_source()}, {"hr.csv": hr_csv()})
    monkeypatch.setattr(sync_engine, "HEAD", sync_engine.HEAD.replace("        from: SPS-Skills\n", "        expression: '[SPS-Skills]'\n"))
    (tmp_path / "ok").mkdir()
    engine(tmp_path / "ok", {"hr": hr_source()}, {"hr.csv": hr_csv()})


# --------------------------------------------------------------------------- 4. AuthoritativeNull in the metaverse


def test_authoritative_null_is_an_absent_attribute_to_export_flows(tmp_path, monkeypatch):
    """MIM 2016: an attribute whose winning import flow gives no value is not present in the
    metaverse; an export flow then deletes the target only with Allow Nulls ticked
    (`whenNull: clear`), and otherwise leaves it. maforge keeps AuthoritativeNull() (from
    Entra Connect Sync) for what it means between sources: lower ranks may not fill in.
    Coalesce() sees no value and moves on."""
    head = sync_engine.HEAD.replace("      Office: {from: office}\n", "      Office: {from: office, whenNull: clear}\n").replace(
        "      CostCenter: {from: costCenter}\n", "      CostCenter:\n        expression: 'Coalesce([office], \"none\")'\n"
    )
    monkeypatch.setattr(sync_engine, "HEAD", head)
    hr = hr_source()
    hr["attributes"]["office"] = {"expression": "IIF(IsPresent([Office]), [Office], AuthoritativeNull())", "rank": 1}
    files = {"hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,,,"), "badge.jsonl": jsonl({"badgeId": "B1", "emp": "E1", "site": "Building 9"})}
    book, mv = engine(tmp_path, {"hr": hr, "badge": badge_source()}, files)
    changes = changes_of(plan_for(book, mv, {ADELE: {"Office": "Building 9", "CostCenter": "CC-1"}}), ADELE)
    assert changes["Office"] == ("clear", "Building 9", None)  # whenNull: clear
    assert changes["CostCenter"] == ("change", "CC-1", "none")  # not the marker: the next argument


# --------------------------------------------------------------------------- 6. equal and manual precedence


def _precedence(monkeypatch, attribute: str, how: str) -> None:
    head = sync_engine.HEAD
    for line in (f"        {attribute}:\n", f"        {attribute}: {{multiValued: true}}\n"):
        if line in head:
            extra = "{precedence: " + how + "}" if line.endswith(":\n") else "{multiValued: true, precedence: " + how + "}"
            head = head.replace(line, f"        {attribute}: {extra}\n")
    monkeypatch.setattr(sync_engine, "HEAD", head)


@pytest.mark.parametrize("badge_first_in_file", [False, True])
def test_equal_precedence_the_last_source_wins_and_lists_merge(tmp_path, monkeypatch, badge_first_in_file):
    """TechNet wiki 5140 (Understanding Equal Precedence): with equal precedence the value
    contributed last wins, and a multi-valued attribute gets the values of every source. In a
    plan, "last" is the source listed last in the spec, whatever order the sources are read in."""
    _precedence(monkeypatch, "office", "equal")
    _precedence(monkeypatch, "skills", "equal")
    hr = hr_source()
    hr["attributes"]["office"] = {"from": "Office"}
    badge = badge_source()
    badge["attributes"] = {"office": {"from": "site"}, "skills": {"from": "extra"}}
    sources = {"badge": badge, "hr": hr} if badge_first_in_file else {"hr": hr, "badge": badge}
    files = {
        "hr.csv": hr_csv("E1,adele@contoso.com,Adele,HQ,,,,SQL", "E2,alex@contoso.com,Alex,HQ,,,,"),
        "badge.jsonl": jsonl({"badgeId": "B1", "emp": "E1", "site": "Building 9", "extra": ["Azure", "SQL"]}, {"badgeId": "B2", "emp": "E2", "site": ""}),
    }
    _book, mv = engine(tmp_path, sources, files)
    adele, alex = mv.objects
    assert adele.values["office"] == ("HQ" if badge_first_in_file else "Building 9")
    assert sorted(adele.values["skills"]) == ["Azure", "SQL"]
    assert alex.values["office"] == "HQ"  # an empty value is MIM's Null(): the other source's stays


def test_manual_precedence_is_refused_with_what_to_do(tmp_path, monkeypatch):
    """MIM: with manual precedence a metaverse rules extension decides the value. maforge
    cannot run that extension, so a plan refuses rather than guessing."""
    from maforge.connectors.sync.plan import PlanError

    _precedence(monkeypatch, "office", "manual")
    with pytest.raises(PlanError, match=r"'office' of 'person' has manual precedence.*precedence: ranked"):
        engine(tmp_path, {"hr": hr_source(), "badge": badge_source()}, {"hr.csv": hr_csv(), "badge.jsonl": ""})


# --------------------------------------------------------------------------- 3. the MA's own import flows and export precedence


def test_an_export_flow_whose_value_this_ma_imported_or_outranks_is_not_run(tmp_path, monkeypatch):
    """MIM (MapAttributesForExport, remarks, ms696513): an export flow runs only if it does not
    overlap an import flow of this MA for the same metaverse attribute, or if the exported
    value comes from a source with precedence at least equal to that import flow."""
    head = sync_engine.HEAD.replace("projection: []\n", "projection: []\nimportFlows:\n  - objectType: user\n    mvObjectType: person\n    attributes:\n      costCenter: {from: CostCenter, rank: 2}\n")
    head = head.replace("""      AboutMe:\n        expression: 'IIF([firstName] = "Skip", IgnoreThisFlow(), [aboutMe])'\n""", """      AboutMe:\n        expression: '"Cost centre " & [costCenter]'\n""")
    monkeypatch.setattr(sync_engine, "HEAD", head)
    hr = hr_source()
    hr["attributes"]["costCenter"] = {"from": "CostCenter", "rank": 1}
    badge = badge_source()
    badge["attributes"] = {"costCenter": {"from": "cc", "rank": 3}}
    files = {
        "hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,CC-1,,", "E2,alex@contoso.com,Alex,,,,,", "E3,megan@contoso.com,Megan,,,,,"),
        "badge.jsonl": jsonl({"badgeId": "B3", "emp": "E3", "cc": "CC-7"}),
    }
    book, mv = engine(tmp_path, {"hr": hr, "badge": badge}, files)
    plan = plan_for(book, mv, {ADELE: {"FirstName": "Adele", "CostCenter": "CC-9"}, ALEX: {"FirstName": "Alex", "CostCenter": "CC-9"}, MEGAN: {"FirstName": "Megan"}})
    adele, alex, megan = (changes_of(plan, who) for who in (ADELE, ALEX, MEGAN))
    # HR (rank 1) outranks the MA's import flow (rank 2): both exports run.
    assert adele == {"CostCenter": ("change", "CC-9", "CC-1"), "AboutMe": ("set", "", "Cost centre CC-1")}
    # HR has no value: the MA's own value holds the attribute, so nothing flows back out.
    assert alex == {}
    assert mv.objects[1].values["costCenter"] == "CC-9"
    # The badge (rank 3) holds it: a source of lower precedence than the MA's import flow.
    assert megan == {}


# --------------------------------------------------------------------------- 1. sticky joins, the join state, leavers


def _hr_rows(hr: Path) -> list[dict[str, str]]:
    with hr.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _write_hr(hr: Path, rows: list[dict[str, str]]) -> None:
    with hr.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _applied_sample(emulator, tmp_path: Path):
    """The sample planned and applied once, so the join state holds its 25 joins."""
    from maforge.connectors.sync.commands import run_apply
    from maforge.connectors.sync.plan import save_plan

    spec = _sample_copy(tmp_path)
    book = RuleBook.from_spec(load_spec(spec)[0])
    state = tmp_path / "state"
    with open_session(book, _connection(emulator, tmp_path)) as session:
        plan = run_plan(book, spec.parent, session, state_dir=state)
        assert len([j for j in plan.joins if j["action"] == "join"]) == 25 and plan.state_serial == 0
        save_plan(plan, tmp_path / "first.json")
        assert run_apply(tmp_path / "first.json", session, state_dir=state).ok
    return spec, book, state


def _rename_adele(spec: Path) -> str:
    """HR changes Adele Vance's UPN (and her mobile number); her profile's login, as it was."""
    rows = _hr_rows(spec.parent / "hr.csv")
    adele = next(r for r in rows if r["UPN"].startswith("adele.vance@"))
    old_account = "i:0#.f|membership|" + adele["UPN"]
    adele["UPN"] = "adele.v@contoso.onmicrosoft.com"
    adele["MobilePhone"] = "+1 425 555 0777"
    _write_hr(spec.parent / "hr.csv", rows)
    return old_account


def test_a_joined_profile_stays_joined_when_the_value_the_join_rule_compared_changes(emulator, tmp_path):
    """MIM: join and projection rules apply only to disconnectors; a connector stays joined
    until it is disconnected (connector state, ms694717). When HR changes a UPN, MIM keeps the
    join and exports the new values to the same profile."""
    spec, book, state = _applied_sample(emulator, tmp_path)
    old_account = _rename_adele(spec)
    with open_session(book, _connection(emulator, tmp_path)) as session:
        plan = run_plan(book, spec.parent, session, state_dir=state)
    assert not [p for p in plan.problems if p["kind"] == "profile-missing"]
    [profile] = [p for p in plan.profiles if p.account.casefold() == old_account.casefold()]
    assert {c.property: c.after for c in profile.changes}["CellPhone"] == "+1 425 555 0777"
    assert plan.state_serial == 1 and plan.joins == [] and plan.leavers == []


def test_preview_joins_a_user_as_the_plan_does(emulator, tmp_path):
    """`maforge preview` is one user's part of the plan: after HR changed Adele's UPN, a
    preview by the new UPN and one by her profile both show the profile she stays joined to,
    with the change the plan makes, from SharePoint and from the snapshot alike."""
    from maforge.connectors.sync.commands import run_import, run_preview

    spec, book, state = _applied_sample(emulator, tmp_path)
    old_account = _rename_adele(spec)
    with open_session(book, _connection(emulator, tmp_path)) as session:
        plan = run_plan(book, spec.parent, session, state_dir=state)
        run_import(book, session, state)
        shown = [run_preview(book, spec.parent, session, user, state_dir=state) for user in ("adele.v@contoso.onmicrosoft.com", old_account)]
        shown.append(run_preview(book, spec.parent, None, "adele.v@contoso.onmicrosoft.com", refresh=False, state_dir=state, tenant="contoso"))
    [planned] = [p for p in plan.profiles if p.account.casefold() == old_account.casefold()]
    for preview in shown:
        assert preview.account is not None and preview.account.casefold() == old_account.casefold() and preview.note is None
        changed = {f.property: (f.outcome, f.after) for f in preview.flows if f.outcome in ("set", "change", "clear")}
        assert changed == {c.property: (c.action, c.after) for c in planned.changes}


def test_preview_of_a_guest_the_filter_keeps_out_plans_nothing(emulator_factory, tmp_path):
    """The connector filter keeps `#ext#` guests out (a filtered disconnector, jj590228): a
    preview of the guest says nothing is planned, as the plan does."""
    from maforge.connectors.sync.commands import run_preview

    spec = _sample_copy(tmp_path)
    _add_hr_row(spec.parent / "hr.csv", **GUEST)
    seed = tmp_path / "seed.csv"
    shutil.copy(spec.parent / "hr.csv", seed)
    emulator = emulator_factory(seed_file=seed, profiles=26)
    book = RuleBook.from_spec(load_spec(spec)[0])
    with open_session(book, _connection(emulator, tmp_path)) as session:
        preview = run_preview(book, spec.parent, session, GUEST_UPN, state_dir=tmp_path / "state")
    assert preview.account is None and preview.note is not None
    assert preview.note.startswith("nothing is planned for this user") and "#ext#" in preview.note


def test_a_person_whose_rows_left_is_a_leaver_and_clear_flows_clear(emulator, tmp_path):
    """MIM recalls the values a leaving connector contributed (deprovisioning, "recall
    attributes"); the person stays while its profile is joined (the default object deletion
    rule deletes it with its last connector), so export flows with Allow Nulls
    (`whenNull: clear`) clear the profile and the others leave it."""
    spec, book, state = _applied_sample(emulator, tmp_path)
    rows = _hr_rows(spec.parent / "hr.csv")
    leaving = next(r for r in rows if r["MobilePhone"] and r["ManagerUPN"] and r["CostCenter"])
    _write_hr(spec.parent / "hr.csv", [r for r in rows if r is not leaving])
    account = "i:0#.f|membership|" + leaving["UPN"]
    with open_session(book, _connection(emulator, tmp_path)) as session:
        plan = run_plan(book, spec.parent, session, state_dir=state)
    [leaver] = plan.leavers
    assert leaver["person"] == f"hr/{leaving['EmployeeId']}" and leaver["deleted"] and leaver["account"].casefold() == account.casefold()
    [profile] = [p for p in plan.profiles if p.account.casefold() == account.casefold()]
    assert {c.property: c.action for c in profile.changes} == {"CellPhone": "clear", "Manager": "clear", "CostCenter": "clear"}
    from maforge.connectors.sync.commands import run_apply
    from maforge.connectors.sync.plan import save_plan
    from maforge.connectors.sync.planrender import render_text

    assert f"  < hr/{leaving['EmployeeId']}: hr/{leaving['EmployeeId']} left; the profile" in render_text(plan)
    save_plan(plan, tmp_path / "leave.json")
    with open_session(book, _connection(emulator, tmp_path)) as session:
        assert run_apply(tmp_path / "leave.json", session, state_dir=state).ok
        again = run_plan(book, spec.parent, session, state_dir=state)
    assert again.leavers == [] and again.joins == []  # reported once; the profile stays joined
    assert not [p for p in again.profiles if p.account.casefold() == account.casefold()]


def test_an_apply_on_changed_join_state_is_refused_as_stale(emulator, tmp_path):
    """Issue 16: "the plan records the state version it was made against, so an apply on
    changed state is refused as stale", as Terraform refuses a saved plan once its state has
    moved on. The same plan run again after it wrote the state itself is its own state."""
    from maforge.connectors.sync.applier import ApplyRefused
    from maforge.connectors.sync.commands import run_apply
    from maforge.connectors.sync.links import read_links, write_links
    from maforge.connectors.sync.plan import save_plan

    spec = _sample_copy(tmp_path)
    book = RuleBook.from_spec(load_spec(spec)[0])
    state = tmp_path / "state"
    with open_session(book, _connection(emulator, tmp_path)) as session:
        for name in ("a.json", "b.json"):
            save_plan(run_plan(book, spec.parent, session, state_dir=state), tmp_path / name)
        assert run_apply(tmp_path / "b.json", session, state_dir=state).ok
        assert run_apply(tmp_path / "b.json", session, state_dir=state).ok  # the same plan again: it wrote the state itself
        writes = len(emulator.state.writes)
        # a plan made at the same serial, with the same joins, is still stale: its state moved on
        with pytest.raises(ApplyRefused, match=r"a\.json: the plan is stale: it was made against join state serial 0, and the join state in .* \(serial 1\) has changed since"):
            run_apply(tmp_path / "a.json", session, state_dir=state)
        save_plan(run_plan(book, spec.parent, session, state_dir=state), tmp_path / "d.json")
        links = read_links(state, book.name, "contoso")
        write_links(state, links.apply([{"action": "disconnect", "person": "hr/E1001"}]))  # `maforge state rm`
        with pytest.raises(ApplyRefused, match=r"\(serial 2\) has changed since \(another plan applied, or `maforge state rm`\)"):
            run_apply(tmp_path / "d.json", session, state_dir=state)
        # a state older than the plan (restored from a backup, another folder) would lose links
        with pytest.raises(ApplyRefused, match=r"\(serial 0\) is older than the plan"):
            run_apply(tmp_path / "d.json", session, state_dir=tmp_path / "elsewhere")
        # the same serial with other links: a hand-edited file
        save_plan(run_plan(book, spec.parent, session, state_dir=state), tmp_path / "e.json")
        links = read_links(state, book.name, "contoso")
        person = sorted(links.links)[0]
        edited = json.loads((state / "links.json").read_text(encoding="utf-8"))
        del edited["links"][person]
        (state / "links.json").write_text(json.dumps(edited), encoding="utf-8")
        with pytest.raises(ApplyRefused, match=r"holds other links than the plan relies on"):
            run_apply(tmp_path / "e.json", session, state_dir=state)
        assert len(emulator.state.writes) == writes


def test_a_deleted_profile_disconnects_and_the_person_joins_by_the_rules_again(emulator, tmp_path):
    from maforge.connectors.sync.links import read_links, write_links

    spec, book, state = _applied_sample(emulator, tmp_path)
    links = read_links(state, book.name, "contoso")
    person = sorted(links.links)[0]
    real = links.links[person].account
    write_links(state, links.apply([{"action": "join", "person": person, "account": "i:0#.f|membership|gone@contoso.onmicrosoft.com", "rows": [person]}]))
    with open_session(book, _connection(emulator, tmp_path)) as session:
        plan = run_plan(book, spec.parent, session, state_dir=state)
    gone = "i:0#.f|membership|gone@contoso.onmicrosoft.com"
    assert {"action": "disconnect", "person": person, "account": gone, "reason": "the profile no longer exists", "was": gone} in plan.joins
    [rejoined] = [j for j in plan.joins if j["action"] == "join"]
    assert rejoined["person"] == person and rejoined["account"].casefold() == real.casefold() and rejoined["reason"] == "join rule 1"


def test_state_list_show_and_rm(cli, emulator, tmp_path):
    _spec, _book, state = _applied_sample(emulator, tmp_path)
    listed = cli("state", "list", "--state", str(state))
    assert listed.exit_code == 0 and "serial 1, 25 joined profiles" in listed.output
    assert "hr/E1010  i:0#.f|membership|adele.vance@contoso.onmicrosoft.com" in listed.output
    shown = cli("state", "show", "adele.vance@contoso.onmicrosoft.com", "--state", str(state))
    assert shown.exit_code == 0 and "person:  hr/E1010" in shown.output and "rows:    hr/E1010" in shown.output
    removed = cli("state", "rm", "hr/E1010", "--state", str(state))
    assert removed.exit_code == 0 and "join state serial 2" in removed.output
    assert "25 joined" not in cli("state", "list", "--state", str(state)).output
    missing = cli("state", "rm", "hr/E9999", "--state", str(state))
    assert missing.exit_code == 1 and "'hr/E9999' is not in the join state" in missing.output
    assert (state / "links.json").stat().st_mode & 0o077 == 0
    nothing = cli("state", "list", "--state", str(tmp_path / "nowhere"))
    assert nothing.exit_code == 1 and "no join state here" in nothing.output


def test_a_person_projected_by_another_row_now_keeps_its_profile(tmp_path):
    """A contractor joined at the last apply (named by its badge row) is hired into HR, whose
    row now projects the person: the same person, so the same profile, renamed in the join
    state; not a leaver whose profile is cleared."""
    from maforge.connectors.sync.links import Link, LinkState
    from maforge.connectors.sync.planner import make_plan
    from test_sync_engine import NOW

    files = {"hr.csv": hr_csv("E1,adele@contoso.com,Adele,,+1 555,,,"), "badge.jsonl": jsonl({"badgeId": "B1", "emp": "E1", "site": "Building 9"})}
    book, mv = engine(tmp_path, {"hr": hr_source(), "badge": badge_source()}, files)
    links = LinkState("Engine Test", "contoso", 4, {"badge/B1": Link(ADELE, ("badge/B1",))})
    plan = make_plan(book, mv, {ADELE: {"FirstName": "Adele", "CellPhone": "+1 555", "Office": "Building 9"}}, tenant="contoso", refreshed=False, now=NOW, links=links)
    assert plan.leavers == [] and changes_of(plan, ADELE) == {}
    assert [(c["action"], c["person"]) for c in plan.joins] == [("disconnect", "badge/B1"), ("join", "hr/E1")]


def test_two_rows_with_one_key_get_no_name_in_the_join_state(tmp_path):
    hr = hr_source(join=[{"criteria": [{"mv": "accountName", "expression": '"i:0#.f|membership|" & [UPN]'}]}])
    _book, mv = engine(tmp_path, {"hr": hr}, {"hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,,,", "E1,alex@contoso.com,Alex,,,,,")})
    assert [o.person for o in mv.objects] == [None, None]
    assert kinds(mv.problems) == ["duplicate-key"] and mv.problems[0].subject == "hr/E1"
