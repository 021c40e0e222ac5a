"""The sync engine without SharePoint: sources → metaverse (connectors/sync/metaverse.py) and
metaverse + profiles → plan (connectors/sync/planner.py), on tiny specs and files written per
test. Profiles are an in-memory dict (claims login → property values), as a snapshot gives them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from maforge.compiler.validate import load_spec
from maforge.connectors.sync.metaverse import Metaverse, build_metaverse
from maforge.connectors.sync.plan import Plan, PlanError, ProfileChange, PropertyChange, load_plan, save_plan
from maforge.connectors.sync.planner import accounts_to_read, make_plan, normalise
from maforge.connectors.sync.rulebook import RuleBook
from maforge.connectors.sync.values import CLEAR

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
CLAIMS = "i:0#.f|membership|"

# Everything but the sources. FirstName/Office/CostCenter/AboutMe/SPS-Skills keep what
# SharePoint has when the source is empty (whenNull: skip, the default); CellPhone is cleared.
# AboutMe is left alone altogether (IgnoreThisFlow) for people whose first name is "Skip".
HEAD = """\
apiVersion: maforge/v1
kind: Connector
name: Engine Test
type: spo-user-profiles
mim:
  rulesExtension: {assembly: Test.RulesExtension.dll}
sharepoint: {tenant: contoso}
capabilities: {export: true}
schema:
  objectTypes:
    user:
      anchor: AccountName
      attributes:
        AccountName: {access: ImportOnly}
        FirstName:
        Office:
        CellPhone:
        CostCenter:
        AboutMe:
        SPS-Skills: {multiValued: true}
join:
  - objectType: user
    mvObjectType: person
    criteria:
      - mv: accountName
        from: AccountName
projection: []
exportFlows:
  - objectType: user
    mvObjectType: person
    attributes:
      FirstName: {from: firstName}
      Office: {from: office}
      CellPhone: {from: mobile, whenNull: clear}
      CostCenter: {from: costCenter}
      AboutMe:
        expression: 'IIF([firstName] = "Skip", IgnoreThisFlow(), [aboutMe])'
      SPS-Skills: {from: skills}
metaverse:
  objectTypes:
    person:
      attributes:
        accountName: {indexed: true}
        employeeId: {indexed: true}
        firstName:
        office:
        mobile:
        costCenter: {indexed: true}
        aboutMe:
        skills: {multiValued: true}
"""

HR_COLUMNS = "EmployeeId,UPN,FirstName,Office,Mobile,CostCenter,AboutMe,Skills"


def hr_source(**overrides: Any) -> dict[str, Any]:
    """The projecting CSV source: one row per employee, joined to itself by employee id."""
    source: dict[str, Any] = {
        "type": "csv",
        "path": "hr.csv",
        "mvObjectType": "person",
        "key": "EmployeeId",
        "project": True,
        "join": [{"criteria": [{"mv": "employeeId", "from": "EmployeeId"}]}],
        "attributes": {
            "accountName": {"expression": f'"{CLAIMS}" & [UPN]'},
            "employeeId": {"from": "EmployeeId"},
            "firstName": {"from": "FirstName"},
            "office": {"from": "Office", "rank": 1},
            "mobile": {"from": "Mobile"},
            "costCenter": {"from": "CostCenter"},
            "aboutMe": {"from": "AboutMe"},
            "skills": {"from": "Skills"},
        },
    }
    source.update(overrides)
    return source


def badge_source(**overrides: Any) -> dict[str, Any]:
    """A JSON Lines source that does not project: it only adds to people HR made."""
    source: dict[str, Any] = {
        "type": "jsonl",
        "path": "badge.jsonl",
        "mvObjectType": "person",
        "key": "badgeId",
        "project": False,
        "join": [{"criteria": [{"mv": "employeeId", "from": "emp"}]}],
        "attributes": {"office": {"from": "site", "rank": 2}},
    }
    source.update(overrides)
    return source


def badge_first_source() -> dict[str, Any]:
    """The badge source read before HR: it projects the person, and HR's row joins it."""
    source = badge_source(project=True)
    source["attributes"] = {**source["attributes"], "employeeId": {"from": "emp"}}
    return source


def hr_csv(*rows: str) -> str:
    return "\n".join((HR_COLUMNS, *rows)) + "\n"


def jsonl(*items: dict[str, Any]) -> str:
    return "".join(json.dumps(item) + "\n" for item in items)


def write(tmp_path: Path, sources: dict[str, Any], files: dict[str, str]) -> Path:
    for name, content in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    spec = tmp_path / "spec.yaml"
    spec.write_text(HEAD + yaml.safe_dump({"sources": sources}, sort_keys=False), encoding="utf-8")
    return spec


def engine(tmp_path: Path, sources: dict[str, Any], files: dict[str, str]) -> tuple[RuleBook, Metaverse]:
    """Validate the spec as `maforge validate` does (load_spec raises on any error), compile
    its rules and read the sources."""
    spec, _warnings = load_spec(write(tmp_path, sources, files))
    book = RuleBook.from_spec(spec)
    return book, build_metaverse(book, tmp_path, NOW)


def plan_for(book: RuleBook, metaverse: Metaverse, profiles: dict[str, dict[str, Any]]) -> Plan:
    return make_plan(book, metaverse, profiles, tenant="contoso", refreshed=False, now=NOW)


def changes_of(plan: Plan, account: str) -> dict[str, tuple[str, Any, Any]]:
    """property → (action, before, after) for one profile of the plan; {} when it is not there."""
    for profile in plan.profiles:
        if profile.account == account:
            return {c.property: (c.action, c.before, c.after) for c in profile.changes}
    return {}


def kinds(problems: list[Any]) -> list[str]:
    return [p.kind if hasattr(p, "kind") else p["kind"] for p in problems]


ADELE = CLAIMS + "adele@contoso.com"
ALEX = CLAIMS + "alex@contoso.com"
MEGAN = CLAIMS + "megan@contoso.com"


def test_the_spec_used_here_is_valid(tmp_path, cli):
    spec = write(tmp_path, {"hr": hr_source(), "badge": badge_source()}, {"hr.csv": hr_csv(), "badge.jsonl": ""})
    result = cli("validate", str(spec))
    assert result.exit_code == 0, result.output
    assert "valid (0 errors" in result.output


# --------------------------------------------------------------------------- precedence


@pytest.mark.parametrize("badge_first", [False, True], ids=["hr-read-first", "badge-read-first"])
def test_lower_rank_wins_whatever_the_source_order(tmp_path, badge_first):
    sources = {"hr": hr_source(), "badge": badge_source()}
    if badge_first:
        sources = {"badge": badge_first_source(), "hr": hr_source()}
    book, mv = engine(tmp_path, sources, {"hr.csv": hr_csv("E1,adele@contoso.com,Adele,HQ,,,,"), "badge.jsonl": jsonl({"badgeId": "B1", "emp": "E1", "site": "Building 9"})})
    assert len(mv.objects) == 1, mv.objects
    assert mv.objects[0].values["office"] == "HQ"
    assert changes_of(plan_for(book, mv, {ADELE: {"Office": "Building 9"}}), ADELE)["Office"] == ("change", "Building 9", "HQ")


@pytest.mark.parametrize("badge_first", [False, True], ids=["hr-read-first", "badge-read-first"])
def test_an_empty_higher_rank_value_does_not_erase_a_lower_rank_one(tmp_path, badge_first):
    sources = {"hr": hr_source(), "badge": badge_source()}
    if badge_first:
        sources = {"badge": badge_first_source(), "hr": hr_source()}
    book, mv = engine(tmp_path, sources, {"hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,,,"), "badge.jsonl": jsonl({"badgeId": "B1", "emp": "E1", "site": "Building 9"})})
    assert len(mv.objects) == 1
    assert mv.objects[0].values["office"] == "Building 9"
    assert changes_of(plan_for(book, mv, {ADELE: {}}), ADELE)["Office"] == ("set", "", "Building 9")


@pytest.mark.parametrize("badge_first", [False, True], ids=["hr-read-first", "badge-read-first"])
def test_authoritative_null_from_the_higher_rank_removes_the_value(tmp_path, badge_first):
    """AuthoritativeNull() beats the lower rank's value: the metaverse attribute is not present,
    so the export flow's whenNull decides. Here it is `skip` (Allow Nulls off): SharePoint keeps
    its value, as MIM would (issue 16; the `clear` case is in test_mim_semantics.py)."""
    hr = hr_source()
    hr["attributes"]["office"] = {"expression": "IIF(IsPresent([Office]), [Office], AuthoritativeNull())", "rank": 1}
    sources = {"hr": hr, "badge": badge_source()}
    if badge_first:
        sources = {"badge": badge_first_source(), "hr": hr}
    book, mv = engine(tmp_path, sources, {"hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,,,"), "badge.jsonl": jsonl({"badgeId": "B1", "emp": "E1", "site": "Building 9"})})
    assert len(mv.objects) == 1
    assert mv.objects[0].values["office"] is CLEAR
    assert "Office" not in changes_of(plan_for(book, mv, {ADELE: {"Office": "Building 9", "FirstName": "X"}}), ADELE)


def test_authoritative_null_from_a_lower_rank_does_not_clear_a_higher_ranks_value(tmp_path):
    badge = badge_source()
    badge["attributes"]["office"] = {"expression": "AuthoritativeNull()", "rank": 2}
    book, mv = engine(tmp_path, {"hr": hr_source(), "badge": badge}, {"hr.csv": hr_csv("E1,adele@contoso.com,Adele,HQ,,,,"), "badge.jsonl": jsonl({"badgeId": "B1", "emp": "E1"})})
    assert mv.objects[0].values["office"] == "HQ"


# --------------------------------------------------------------------------- joins


def test_a_second_source_joins_by_its_rule_case_insensitively(tmp_path):
    book, mv = engine(
        tmp_path,
        {"hr": hr_source(), "badge": badge_source()},
        {"hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,,,", "E2,alex@contoso.com,Alex,,,,,"), "badge.jsonl": jsonl({"badgeId": "B7", "emp": "e2", "site": "Building 9"})},
    )
    assert not mv.problems
    assert [o.values.get("office") for o in mv.objects] == [None, "Building 9"]
    assert mv.objects[1].origins == ["hr row 2 (EmployeeId=E2)", "badge row 1 (badgeId=B7)"]
    plan = plan_for(book, mv, {ADELE: {}, ALEX: {}})
    assert changes_of(plan, ALEX)["Office"] == ("set", "", "Building 9")
    assert "Office" not in changes_of(plan, ADELE)
    assert changes_of(plan, ALEX) and plan.profiles[0].origin == "hr row 1 (EmployeeId=E1)"


def test_join_rules_are_tried_in_order(tmp_path):
    """The first rule whose keys find an object decides; a row without the first rule's key
    falls through to the next rule."""
    badge = badge_source(join=[{"criteria": [{"mv": "employeeId", "from": "emp"}]}, {"criteria": [{"mv": "accountName", "expression": f'"{CLAIMS}" & [upn]'}]}])
    book, mv = engine(
        tmp_path,
        {"hr": hr_source(), "badge": badge},
        {
            "hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,,,", "E2,alex@contoso.com,Alex,,,,,"),
            # B1: both rules could match, and disagree: the employee id (rule 1) wins.
            # B2: no employee id, so rule 2 (the account) joins it.
            "badge.jsonl": jsonl({"badgeId": "B1", "emp": "E1", "upn": "alex@contoso.com", "site": "North"}, {"badgeId": "B2", "upn": "ALEX@Contoso.com", "site": "South"}),
        },
    )
    assert not mv.problems
    assert [o.values.get("office") for o in mv.objects] == ["North", "South"]


def test_a_row_matching_two_objects_is_an_ambiguous_join(tmp_path):
    badge = badge_source(join=[{"criteria": [{"mv": "costCenter", "from": "cc"}]}])
    book, mv = engine(
        tmp_path,
        {"hr": hr_source(), "badge": badge},
        {
            "hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,CC-1,,", "E2,alex@contoso.com,Alex,,,cc-1,,", "E3,megan@contoso.com,Megan,,,CC-2,,"),
            "badge.jsonl": jsonl({"badgeId": "B1", "cc": "CC-1", "site": "North"}, {"badgeId": "B2", "cc": "CC-2", "site": "South"}),
        },
    )
    assert kinds(mv.problems) == ["ambiguous-join"]
    assert mv.problems[0].subject == "badge row 1 (badgeId=B1)"
    assert "matches 2 objects" in mv.problems[0].detail
    # The ambiguous row contributes nothing; the other row still joins.
    assert [o.values.get("office") for o in mv.objects] == [None, None, "South"]
    plan = plan_for(book, mv, {ADELE: {}, ALEX: {}, MEGAN: {}})
    assert plan.to_json()["summary"]["problems"] == 1
    assert kinds(plan.problems) == ["ambiguous-join"]


def test_a_non_projecting_row_that_joins_nothing_is_unjoined(tmp_path):
    book, mv = engine(
        tmp_path,
        {"hr": hr_source(), "badge": badge_source()},
        {"hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,,,"), "badge.jsonl": jsonl({"badgeId": "B9", "emp": "E9", "site": "Nowhere"}, {"badgeId": "B10", "site": "No key"})},
    )
    assert len(mv.objects) == 1
    assert kinds(mv.problems) == ["unjoined-row", "unjoined-row"]
    assert [p.subject for p in mv.problems] == ["badge row 1 (badgeId=B9)", "badge row 2 (badgeId=B10)"]


def test_two_rows_of_one_source_joining_one_object_is_a_duplicate_join(tmp_path):
    book, mv = engine(
        tmp_path,
        {"hr": hr_source(), "badge": badge_source()},
        {"hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,,,"), "badge.jsonl": jsonl({"badgeId": "B1", "emp": "E1", "site": "First"}, {"badgeId": "B2", "emp": "e1", "site": "Second"})},
    )
    assert kinds(mv.problems) == ["duplicate-join"]
    assert mv.problems[0].subject == "badge row 2 (badgeId=B2)"
    assert mv.objects[0].values["office"] == "First"  # only the first row counts
    assert mv.objects[0].origins == ["hr row 1 (EmployeeId=E1)", "badge row 1 (badgeId=B1)"]


def test_a_projecting_source_repeating_a_key_is_a_duplicate_join_not_a_second_person(tmp_path):
    book, mv = engine(tmp_path, {"hr": hr_source()}, {"hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,,,", "e1,adele2@contoso.com,Adele2,,,,,")})
    assert len(mv.objects) == 1
    assert kinds(mv.problems) == ["duplicate-join"]
    assert mv.objects[0].values["firstName"] == "Adele"


def test_profiles_join_case_insensitively_and_keep_their_spelling(tmp_path):
    book, mv = engine(tmp_path, {"hr": hr_source()}, {"hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,,,")})
    upper = CLAIMS + "Adele@Contoso.COM"
    plan = plan_for(book, mv, {upper: {"FirstName": "Old"}})
    assert not plan.problems
    assert [p.account for p in plan.profiles] == [upper]
    assert changes_of(plan, upper)["FirstName"] == ("change", "Old", "Adele")
    # A refresh reads the accounts the sources name, as the sources spell them.
    assert accounts_to_read(book.connector(), mv) == [ADELE]


def test_two_profiles_joining_one_person_is_an_ambiguous_profile(tmp_path):
    book, mv = engine(tmp_path, {"hr": hr_source()}, {"hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,,,")})
    other = CLAIMS + "ADELE@contoso.com"
    plan = plan_for(book, mv, {ADELE: {"FirstName": "Adele"}, other: {"FirstName": "Old"}})
    assert kinds(plan.problems) == ["ambiguous-profile"]
    assert ADELE in plan.problems[0]["detail"] and other in plan.problems[0]["detail"]
    # The first profile stays joined, and is compared with its own values, not the other's.
    assert plan.profiles == [] and plan.unchanged == 1


# --------------------------------------------------------------------------- export flows


def test_when_null_clear_clears_and_skip_leaves_sharepoints_value(tmp_path):
    book, mv = engine(tmp_path, {"hr": hr_source()}, {"hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,,,")})
    plan = plan_for(book, mv, {ADELE: {"FirstName": "Adele", "Office": "Typed by Adele", "CellPhone": "+1 425 555 0100", "CostCenter": "CC-9"}})
    assert changes_of(plan, ADELE) == {"CellPhone": ("clear", "+1 425 555 0100", None)}


def test_clearing_an_empty_property_is_no_change(tmp_path):
    book, mv = engine(tmp_path, {"hr": hr_source()}, {"hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,,,")})
    for empty in ({}, {"CellPhone": ""}, {"CellPhone": None}):
        plan = plan_for(book, mv, {ADELE: {"FirstName": "Adele", **empty}})
        assert plan.profiles == [], empty
        assert plan.unchanged == 1


def test_ignore_this_flow_leaves_the_property_alone(tmp_path):
    book, mv = engine(tmp_path, {"hr": hr_source()}, {"hr.csv": hr_csv("E1,adele@contoso.com,Skip,,,,From HR,", "E2,alex@contoso.com,Alex,,,,From HR,")})
    plan = plan_for(book, mv, {ADELE: {"FirstName": "Skip", "AboutMe": "Written by Adele"}, ALEX: {"FirstName": "Alex", "AboutMe": "Written by Alex"}})
    assert changes_of(plan, ADELE) == {}
    assert plan.unchanged == 1
    assert changes_of(plan, ALEX) == {"AboutMe": ("change", "Written by Alex", "From HR")}


def test_a_value_with_the_separator_in_a_single_valued_column_is_not_split(tmp_path):
    book, mv = engine(tmp_path, {"hr": hr_source()}, {"hr.csv": hr_csv('E1,adele@contoso.com,Adele,"Redmond; Building 92",,,,')})
    assert mv.objects[0].values["office"] == "Redmond; Building 92"


# --------------------------------------------------------------------------- multi-valued


def test_a_multi_valued_cell_is_split_deduplicated_and_kept_in_order(tmp_path):
    book, mv = engine(tmp_path, {"hr": hr_source()}, {"hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,,, a ;b;a;;")})
    assert mv.objects[0].values["skills"] == ["a", "b", "a"]  # the metaverse keeps what the source says
    plan = plan_for(book, mv, {ADELE: {"FirstName": "Adele"}})
    assert changes_of(plan, ADELE) == {"SPS-Skills": ("set", [], ["a", "b"])}
    assert plan.multi_valued == ["SPS-Skills"]


def test_multi_valued_values_compare_as_sets(tmp_path):
    """MIM exports value adds and deletes: the same set in another order is no change (issue
    16; `ordered: true` opts out, test_mim_semantics.py). Another set is written whole."""
    book, mv = engine(tmp_path, {"hr": hr_source()}, {"hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,,,a;b", "E2,alex@contoso.com,Alex,,,,,a;b")})
    plan = plan_for(book, mv, {ADELE: {"FirstName": "Adele", "SPS-Skills": ["b", "a"]}, ALEX: {"FirstName": "Alex", "SPS-Skills": ["a"]}})
    assert changes_of(plan, ADELE) == {}
    assert changes_of(plan, ALEX) == {"SPS-Skills": ("change", ["a"], ["a", "b"])}
    assert plan.unchanged == 1


def test_normalise_documents_how_values_compare():
    # Duplicates are dropped case-insensitively, the first spelling kept; empty items vanish.
    assert normalise(["a", "B", "A", "", None, "b"], True) == ["a", "B"]
    assert normalise("solo", True) == ["solo"]
    assert normalise(None, True) == [] and normalise("", True) == []
    # ...but comparison itself is case-sensitive: ["A"] and ["a"] differ.
    assert normalise(["A"], True) != normalise(["a"], True)
    # Single-valued: text, absent is "".
    assert normalise(None, False) == "" and normalise(5, False) == "5" and normalise(True, False) == "true"


def test_a_custom_separator_and_a_json_list_both_make_multi_values(tmp_path):
    hr = hr_source(delimiter=";", multiValueSeparator="|")
    badge = badge_source(attributes={"skills": {"from": "tags", "rank": 2}})
    csv_text = HR_COLUMNS.replace(",", ";") + "\nE1;adele@contoso.com;Adele;;;;;x|y\nE2;alex@contoso.com;Alex;;;;;\n"
    book, mv = engine(tmp_path, {"hr": hr, "badge": badge}, {"hr.csv": csv_text, "badge.jsonl": jsonl({"badgeId": "B2", "emp": "E2", "tags": ["p", "q", "p"]})})
    plan = plan_for(book, mv, {ADELE: {"FirstName": "Adele"}, ALEX: {"FirstName": "Alex"}})
    assert changes_of(plan, ADELE) == {"SPS-Skills": ("set", [], ["x", "y"])}
    assert changes_of(plan, ALEX) == {"SPS-Skills": ("set", [], ["p", "q"])}


# --------------------------------------------------------------------------- the plan as a whole


def summary_plan(tmp_path: Path) -> tuple[RuleBook, Metaverse, Plan]:
    book, mv = engine(
        tmp_path,
        {"hr": hr_source()},
        {
            "hr.csv": hr_csv(
                "E1,adele@contoso.com,Adele,HQ,,,,",  # Office set, CellPhone cleared
                "E2,alex@contoso.com,Alex,HQ,,,,",  # FirstName changed
                "E3,megan@contoso.com,Megan,HQ,,,,",  # nothing to do
                "E4,nobody@contoso.com,Nobody,HQ,,,,",  # no profile
            )
        },
    )
    profiles = {
        ADELE: {"FirstName": "Adele", "CellPhone": "+1 425 555 0100"},
        ALEX: {"FirstName": "Alexander", "Office": "HQ"},
        MEGAN: {"FirstName": "Megan", "Office": "HQ"},
        CLAIMS + "guest@contoso.com": {"FirstName": "Guest", "Office": "Elsewhere"},  # HR does not know them
    }
    return book, mv, plan_for(book, mv, profiles)


def test_set_change_clear_and_the_summary(tmp_path):
    _book, _mv, plan = summary_plan(tmp_path)
    assert [p.account for p in plan.profiles] == [ADELE, ALEX]
    assert changes_of(plan, ADELE) == {"Office": ("set", "", "HQ"), "CellPhone": ("clear", "+1 425 555 0100", None)}
    assert changes_of(plan, ALEX) == {"FirstName": ("change", "Alexander", "Alex")}
    assert plan.counts() == {"set": 1, "change": 1, "clear": 1}
    assert plan.change_count == 3
    assert plan.unchanged == 1  # Megan; the guest is neither changed nor unchanged
    assert plan.to_json()["summary"] == {"set": 1, "change": 1, "clear": 1, "unchanged": 1, "problems": 1}


def test_a_person_without_a_profile_is_profile_missing_and_a_profile_nobody_speaks_for_is_left_alone(tmp_path):
    _book, _mv, plan = summary_plan(tmp_path)
    assert kinds(plan.problems) == ["profile-missing"]
    assert plan.problems[0]["subject"] == "hr row 4 (EmployeeId=E4)"
    assert CLAIMS + "nobody@contoso.com" in plan.problems[0]["detail"]
    assert all("guest" not in p.account for p in plan.profiles)
    assert all("guest" not in json.dumps(p) for p in plan.problems)


def test_a_property_sharepoint_will_not_take_is_blocked(tmp_path):
    """SPS-DataSource is maintained by SharePoint (readOnlySystem in the catalogue). validate
    refuses an export flow to it; the planner still refuses to plan one, for rules built
    before the catalogue said so."""
    book, mv = engine(tmp_path, {"hr": hr_source()}, {"hr.csv": hr_csv("E1,adele@contoso.com,Adele,,,,,")})
    connector = book.connector()
    original = connector.export
    patched = dataclasses.replace(
        connector,
        managed=[*connector.managed, "SPS-DataSource"],
        when_null={**connector.when_null, "SPS-DataSource": "skip"},
        export=lambda row, now: {**original(row, now), "SPS-DataSource": "HR"},
    )
    book = dataclasses.replace(book, connectors=(patched,))
    plan = plan_for(book, mv, {ADELE: {"FirstName": "Adele", "SPS-DataSource": "Entra"}})
    assert kinds(plan.problems) == ["not-editable"]
    assert plan.problems[0]["subject"] == "SPS-DataSource"
    assert plan.profiles == [] and plan.unchanged == 1
    # Properties SharePoint's own sync may overwrite are planned, with a warning.
    assert "FirstName" in [w["subject"] for w in plan.warnings if w["kind"] == "overwritten-by-entra-sync"]


def test_the_plan_round_trips_through_json(tmp_path):
    _book, _mv, plan = summary_plan(tmp_path)
    data = json.loads(json.dumps(plan.to_json()))
    again = Plan.from_json(data)
    assert again == plan
    assert again.to_json() == plan.to_json()
    save_plan(plan, tmp_path / "plan.json")
    assert load_plan(tmp_path / "plan.json") == plan


def test_a_saved_plan_is_json_dumps_of_to_json_byte_for_byte(tmp_path):
    """save_plan writes the plan itself (not through json.dumps, for speed): the text must stay
    what json.dumps(plan.to_json(), indent=1, ensure_ascii=False) gives, whatever the values."""
    _book, _mv, plan = summary_plan(tmp_path)
    odd = Plan(
        "Engine Test",
        "contoso",
        "h",
        "0.1",
        "2024-05-01T12:00:00Z",
        True,
        [
            ProfileChange(ADELE, "hr row 1; badge row 2", (PropertyChange("SPS-Skills", "set", [], ["Ünïcode", 'quo"te', "line\nbreak", "\u2028"]), PropertyChange("Office", "clear", "Oslo", None))),
            ProfileChange(ALEX, "", ()),
            ProfileChange(MEGAN, "hr row 3", (PropertyChange("AboutMe", "change", {"nested": [1, 2.5, True, None, {}]}, 7),)),
        ],
        unchanged=3,
        problems=[{"kind": "row-error", "subject": "hr row 4", "detail": "ünïcode, \t tab"}],
        multi_valued=["SPS-Skills"],
        protected=["Manager"],
    )
    for each in (plan, odd, Plan("Engine Test", "contoso", "", "0.1", "now", False)):
        save_plan(each, tmp_path / "plan.json")
        # sealed: the digest, last, is SHA-256 of that same text without it
        content = json.dumps(each.to_json(), indent=1, ensure_ascii=False) + "\n"
        digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
        assert (tmp_path / "plan.json").read_text(encoding="utf-8") == json.dumps({**each.to_json(), "digest": f"sha256:{digest}"}, indent=1, ensure_ascii=False) + "\n"


def test_a_plan_of_another_format_is_refused(tmp_path):
    _book, _mv, plan = summary_plan(tmp_path)
    data = plan.to_json()
    with pytest.raises(PlanError, match="plan format 3"):
        Plan.from_json({**data, "format_version": 3})
    without = {k: v for k, v in data.items() if k != "format_version"}
    with pytest.raises(PlanError, match="no format_version"):
        Plan.from_json(without)
    damaged = {**data, "profiles": [{"account": ADELE, "changes": [{"property": "Office", "action": "rename"}]}]}
    with pytest.raises(PlanError, match="unknown action"):
        Plan.from_json(damaged)


# --------------------------------------------------------------------------- the snapshot


@pytest.mark.parametrize("batch", [1, 2, 1000])
def test_a_damaged_snapshot_line_is_named_however_many_lines_are_parsed_at_once(tmp_path, monkeypatch, batch):
    """read_snapshot parses many profile lines with one json.loads; each line must still be one
    profile on its own: a damaged line, or lines that only parse together, are named by number."""
    from maforge.connectors.sync import snapshot

    monkeypatch.setattr(snapshot, "BATCH_LINES", batch)

    def read(*lines: str, count: int) -> dict[str, Any]:
        header = {"format": "maforge-snapshot", "version": 1, "tenant": "contoso", "properties": ["AboutMe"], "taken_at": "x", "complete": True, "watermark": None, "profiles": count}
        (tmp_path / "snapshot.jsonl").write_text("\n".join([json.dumps(header), *lines]) + "\n", encoding="utf-8")
        return snapshot.read_snapshot(tmp_path / "snapshot.jsonl").profiles

    adele = json.dumps({"account": ADELE, "upn": None, "id": None, "values": {"AboutMe": "braces }, { inside"}})
    alex = json.dumps({"account": ALEX, "upn": None, "id": None, "values": {"AboutMe": ""}})
    assert list(read(adele, "", alex, count=2)) == [ADELE, ALEX]
    assert read(adele, "", alex, count=2)[ADELE.lower()]["values"]["AboutMe"] == "braces }, { inside"
    with pytest.raises(snapshot.SnapshotError, match=r"snapshot.jsonl:4: a damaged snapshot line"):
        read(adele, alex, alex[:-3], count=3)
    with pytest.raises(snapshot.SnapshotError, match=r"snapshot.jsonl:3: a damaged snapshot line"):
        read(adele, '{"upn": "no account"}', count=2)
    # Three lines that parse as three objects only when joined: the first opens a list the
    # second closes, the third holds two objects.
    straddling = ['{"account": "a", "values": {}, "x": [[', "]]}", '{"account": "b", "values": {}}, {"account": "c", "values": {}}']
    with pytest.raises(snapshot.SnapshotError, match=r"snapshot.jsonl:2: a damaged snapshot line"):
        read(*straddling, count=3)
    with pytest.raises(TypeError):  # as line by line: a line that is not an object is not caught
        read(adele, "[1]", count=2)


def test_warnings_are_one_line_per_kind_and_in_full_where_the_plan_changes_the_property():
    """Issue 19: plan printed the same 14 warnings on every run, changes or none. Each kind is
    now one line naming its subjects; a warning is in full only where the plan changes its
    property; the JSON keeps every warning."""
    from maforge.connectors.sync.planrender import render_text

    warnings = [{"kind": "taxonomy-bound", "subject": p, "detail": f"{p}: values become terms"} for p in ("Department", "SPS-Skills", "SPS-JobTitle")]
    warnings.append({"kind": "delegated-sign-in", "subject": "adele@contoso.com", "detail": "a delegated sign-in"})
    quiet = Plan("Engine Test", "contoso", "h", "0.1", "now", True, warnings=list(warnings))
    text = render_text(quiet)
    assert "  * taxonomy-bound: Department, SPS-Skills, SPS-JobTitle\n" in text and "values become terms" not in text
    assert "  * delegated-sign-in: adele@contoso.com: a delegated sign-in\n" in text
    busy = Plan("Engine Test", "contoso", "h", "0.1", "now", True, [ProfileChange(ADELE, "hr row 1", (PropertyChange("SPS-Skills", "set", [], ["SQL"]),))], warnings=list(warnings))
    text = render_text(busy)
    assert "      SPS-Skills (changed by this plan): SPS-Skills: values become terms\n" in text
    assert text.count("values become terms") == 1
    assert len(busy.to_json()["warnings"]) == 4
