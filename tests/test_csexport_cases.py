"""The Python runtime's export rule book (maforge.connectors.sync.csexport) against the
case table tests/data/spo_export_cases.json, the same table the generated PowerShell export
script is checked against (tests/test_spo_scripts.py).

A fake transport plays SharePoint: it records every call and answers with the case's
``responses`` in order; once they are used up, GetPropertiesFor answers the case's
``current`` profile ({"odata.null": true} when it is null or absent) and every other call
the table's default, 200 {"odata.null": true}. A fake sleep records the waits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from maforge.connectors.spo.people import Write
from maforge.connectors.sync.csexport import (
    CSEntryChange,
    ExportStopped,
    RetryBudget,
    SchemaType,
    export_entry,
    retry_after_seconds,
    retry_wait,
)

CASES = json.loads((Path(__file__).parent / "data" / "spo_export_cases.json").read_text(encoding="utf-8"))
SCHEMA = SchemaType.from_dict(CASES["schema"])
DEFAULT_ANSWER = {"status": 200, "body": {"odata.null": True}}
UPDATE = {"objectModificationType": "Update", "anchor": {"AccountName": CASES["account"]}}


def _profile_body(current: Mapping[str, Any] | None) -> dict[str, Any]:
    """GetPropertiesFor's nometadata answer for a profile with ``current`` values."""
    if current is None:
        return {"odata.null": True}
    return {
        "AccountName": current.get("AccountName", CASES["account"]),
        "UserProfileProperties": [{"Key": key, "Value": value, "ValueType": "Edm.String"} for key, value in current.items()],
    }


class FakeSharePoint:
    def __init__(self, responses: list[dict[str, Any]] | None = None, current: Mapping[str, Any] | None = None):
        self.responses = list(responses or [])
        self.current = current
        self.calls: list[dict[str, Any]] = []

    def send(self, method: str, path: str, payload: Mapping[str, Any] | None) -> tuple[int, Mapping[str, str], Any]:
        call: dict[str, Any] = {"method": method, "path": path}
        if method == "GET":
            call["query"] = dict(payload or {})
        else:
            # What goes on the wire: UTF-8 JSON.
            call["body"] = json.loads(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
        self.calls.append(call)
        if self.responses:
            answer = self.responses.pop(0)
        elif method == "GET" and "/GetPropertiesFor(" in path:
            answer = {"status": 200, "body": _profile_body(self.current)}
        else:
            answer = DEFAULT_ANSWER
        return answer["status"], dict(answer.get("headers", {})), answer.get("body")


def _cases() -> list[Any]:
    """Every row; a row the Python runtime does not follow yet (``runtimePending``) is an
    expected failure, strict, so it turns into a failure the day the runtime catches up."""
    return [
        pytest.param(case, id=case["name"], marks=pytest.mark.xfail(strict=True, reason=case["runtimePending"]))
        if case.get("runtimePending")
        else pytest.param(case, id=case["name"])
        for case in CASES["cases"]
    ]


def _run(case: dict[str, Any], **kwargs: Any):
    transport = FakeSharePoint(case.get("responses"), case.get("current"))
    waits: list[float] = []
    result = export_entry(
        CSEntryChange.from_dict(case["entry"]),
        SCHEMA,
        transport,
        managed=case.get("managed"),
        sleep=waits.append,
        **kwargs,
    )
    return result, transport.calls, waits


@pytest.mark.parametrize("case", _cases())
def test_export_follows_the_rule_book(case):
    expected = case["result"]
    if expected.get("stopsRun"):
        # The run stops (the runtime's ServerDownException) with a message naming the fix.
        with pytest.raises(ExportStopped) as stopped:
            _run(case)
        for text in expected.get("messageContains", []):
            assert text in str(stopped.value), str(stopped.value)
        return
    result, calls, waits = _run(case)

    assert len(calls) == len(case["calls"]), calls
    for sent, expected in zip(calls, case["calls"], strict=True):
        assert sent["method"] == expected["method"]
        assert sent["path"] == expected["path"]
        if expected["method"] == "GET":
            assert sent["query"] == expected["query"]
        else:
            assert sent["body"] == expected["body"]  # dicts: key order is free
    assert waits == case.get("waits", [])

    expected = case["result"]
    assert result.error_code == expected["errorCode"]
    assert result.error_name == expected.get("errorName")
    assert result.anchor == expected.get("anchor")
    for text in expected.get("errorDetailContains", []):
        assert text in (result.error_detail or ""), result.error_detail
    if expected["errorCode"] == "Success":
        assert result.error_detail is None


def test_every_case_is_run():
    # 21: throttled-503-waits-as-long-as-asked joined for issue 15 (a realistic Retry-After);
    # 23: throttled-past-max-retries-and-five-minutes (no attempt or total cap on throttling)
    # and faults-without-retry-after-keep-max-retries (faults stay bounded);
    # 24: add-missing-profile-500-user-not-found (the other form "no profile" may take).
    assert len(CASES["cases"]) == 24
    assert len({c["name"] for c in CASES["cases"]}) == 24
    # The Python runtime follows every row (a row it did not would carry runtimePending).
    assert not [c["name"] for c in CASES["cases"] if c.get("runtimePending")]


# --------------------------------------------------------------------------- beyond the table


def _skills_change(modification: str) -> dict[str, Any]:
    return {**UPDATE, "attributeChanges": [{"name": "SPS-PastProjects", "modificationType": modification, "valueChanges": []}]}


def test_an_empty_list_refused_is_cleared_with_an_empty_single_value():
    refused = {"status": 400, "body": {"odata.error": {"code": "-1, System.ArgumentException", "message": {"value": "bad"}}}}
    result, calls, _ = _run({"entry": _skills_change("Delete"), "responses": [refused]})
    assert result.error_code == "Success"
    assert [c["path"].rsplit("/", 1)[1] for c in calls] == ["SetMultiValuedProfileProperty", "SetSingleValueProfileProperty"]
    assert calls[1]["body"] == {"accountName": CASES["account"], "propertyName": "SPS-PastProjects", "propertyValue": ""}


def test_a_set_max_retry_wait_seconds_still_stops_the_waiting():
    case = CASES["cases"][0]
    throttled = {"status": 429, "headers": {"Retry-After": "10"}}
    result, calls, waits = _run({**case, "responses": [throttled] * 4}, retry=RetryBudget(max_retries=8, max_wait_seconds=25))
    assert waits == [10, 10] and len(calls) == 3
    assert (result.error_code, result.error_name) == ("ExportErrorCustomContinueRun", "spo-throttled")
    assert "MaxRetryWaitSeconds (25 s)" in result.error_detail


def test_throttling_has_no_cap_by_default_and_max_retries_counts_faults_only():
    assert RetryBudget().max_wait_seconds == 0  # MaxRetryWaitSeconds 0: no cap
    case = CASES["cases"][0]
    throttled = {"status": 503, "headers": {"Retry-After": "250"}}
    result, calls, waits = _run({**case, "responses": [throttled] * 20}, retry=RetryBudget(max_retries=0))
    assert result.error_code == "Success" and waits == [250] * 20 and len(calls) == 21
    # One fault more than MaxRetries fails the entry, throttled calls in between not counted.
    faults = [{"status": 504}, throttled, {"status": 504}, {"status": 504}]
    result, calls, waits = _run({**case, "responses": faults}, retry=RetryBudget(max_retries=2))
    assert waits == [1, 250, 2] and len(calls) == 4
    assert result.error_name == "spo-throttled" and "MaxRetries (2)" in result.error_detail


def test_a_run_steps_budget_is_shared_by_its_entries():
    case = CASES["cases"][0]
    budget = RetryBudget(max_wait_seconds=300)
    throttled = {"status": 429, "headers": {"Retry-After": "200"}}
    first, _, _ = _run({**case, "responses": [throttled]}, retry=budget)
    second, calls, waits = _run({**case, "responses": [throttled]}, retry=budget)
    assert first.error_code == "Success" and budget.waited == 200
    assert second.error_name == "spo-throttled" and waits == [] and len(calls) == 1


def test_a_refused_token_stops_the_run():
    case = CASES["cases"][0]
    with pytest.raises(ExportStopped):
        _run({**case, "responses": [{"status": 401, "body": {"error_description": "invalid audience"}}]})


def test_an_unsupported_object_modification_is_a_script_error():
    result, calls, _ = _run({"entry": {**UPDATE, "objectModificationType": "None", "attributeChanges": []}})
    assert (result.error_name, calls) == ("script-error", [])


def test_retry_wait_without_retry_after_backs_off():
    assert [retry_wait(None, attempt) for attempt in (1, 2, 3, 10)] == [1, 2, 4, 300]
    assert retry_wait("0", 1) == 1
    assert retry_wait("Wed, 21 Oct 2015 07:28:00 GMT", 1) == 1  # in the past


def test_one_retry_after_is_held_to_an_hour_and_an_unreadable_one_is_a_fault():
    assert retry_after_seconds("900") == 900  # no longer cut at 300 s
    assert retry_after_seconds("86400") == 3600  # a garbled header: asked again after an hour
    assert retry_after_seconds(" 120 ") == 120
    assert [retry_after_seconds(text) for text in (None, "", "  ", "soon", "99999999999")] == [None] * 5
    case = CASES["cases"][0]
    garbled = {"status": 429, "headers": {"Retry-After": "soon"}}
    result, _, waits = _run({**case, "responses": [garbled, garbled]})
    assert result.error_code == "Success" and waits == [1, 2]  # back-off, as a fault


# --------------------------------------------------------------------------- the same book, live


def _emulator_defines(case: dict[str, Any]) -> bool:
    """The case writes only properties the emulated tenant has (the table also uses custom
    properties, IsContractor and DeskNumber, that a tenant defines for itself)."""
    from maforge.connectors.emulator.state import _schema

    defined = _schema()
    return all(call["body"]["propertyName"].lower() in defined for call in case["calls"] if call["method"] == "POST")


LIVE = [
    case
    for case in CASES["cases"]
    if case["result"].get("errorCode") == "Success"
    and not case.get("responses")
    and case["calls"]
    and case["entry"]["objectModificationType"] in ("Update", "Replace", "Add")
    and _emulator_defines(case)
]


def test_most_successful_cases_run_live():
    assert len(LIVE) >= 12


@pytest.mark.parametrize("case", LIVE, ids=[c["name"] for c in LIVE])
def test_the_rule_book_against_the_emulator(case, emulator, tmp_path):
    """Every successful case with calls, sent through the real session to the emulator: the
    profile ends up holding what the case's calls set."""
    from maforge.connectors.spo.connection import Connection
    from maforge.connectors.spo.people import PeopleClient
    from maforge.connectors.spo.session import SpoSession
    from maforge.connectors.sync.csexport import RetryBudget, SessionTransport

    adele = "i:0#.f|membership|adele.vance@" + emulator.state.domain
    entry = json.loads(json.dumps(case["entry"]).replace(CASES["account"], adele))
    path = tmp_path / "connection.json"
    path.write_text(json.dumps(emulator.connection()), encoding="utf-8")
    multi = [name for name, a in CASES["schema"]["attributes"].items() if a["multiValued"]]
    with SpoSession(Connection.from_file(path)) as session:
        people = PeopleClient(session, multi)
        for name, value in (case.get("current") or {}).items():  # the profile the case starts from
            if name not in ("AccountName", "UserProfile_GUID") and emulator.state.property_def(name):
                people.set(Write(adele, name, value.split("|") if name in multi else value))
        result = export_entry(CSEntryChange.from_dict(entry), SCHEMA, SessionTransport(session), managed=case.get("managed"), retry=RetryBudget(max_retries=0))
        assert result.error_code == "Success", result.error_detail
        held = people.get_properties(adele)
    for call in case["calls"]:
        if call["method"] == "POST":
            body = call["body"]
            expected = body.get("propertyValues", body.get("propertyValue"))
            assert held[body["propertyName"]] == expected, body["propertyName"]
