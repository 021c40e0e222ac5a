"""Apply's bookkeeping without a tenant: the journal, the bulk log mapping, refusals, and read
failures, each with a fake at the boundary."""

from __future__ import annotations

import json
from pathlib import Path

from maforge.connectors.spo.bulk import IneligibleProperties, JobOutcome
from maforge.connectors.spo.people import Write
from maforge.connectors.sync import applier
from maforge.connectors.sync.applier import Journal, _bulk_writes
from maforge.connectors.sync.plan import Plan, ProfileChange, PropertyChange


def _plan(*accounts: str, properties=("A", "B")) -> Plan:
    profiles = [ProfileChange(f"i:0#.f|membership|{a}", "test", tuple(PropertyChange(p, "set", "", f"{p}-{a}") for p in properties)) for a in accounts]
    return Plan("c", "contoso", "h", "0", "2026-01-01T00:00:00Z", True, profiles)


def _pending(plan: Plan):
    return [(p, c, Write(p.account, c.property, c.after), {"property": c.property}) for p in plan.profiles for c in p.changes]


class Recorder:
    def __init__(self):
        self.per_user: list = []
        self.done: list = []
        self.failed: list = []
        self.unjournalled: list = []

    def write_per_user(self, items):
        self.per_user.extend((i[0].account, i[1].property) for i in items)

    def settle(self, done, failed, journal_them=True):
        (self.done if journal_them else self.unjournalled).extend((i[0].account, i[1].property) for i in done)
        self.failed.extend(((i[0].account, i[1].property), error) for i, error in failed)


class FakeImporter:
    def __init__(self, refuse=(), log=()):
        self.refuse = set(refuse)
        self.log = tuple(log)
        self.calls: list[tuple[list, list]] = []

    def run(self, rows, properties):
        self.calls.append((rows, list(properties)))
        hit = sorted(self.refuse & set(properties))
        if hit:
            raise IneligibleProperties(f"Property Names [{', '.join(hit)}] are editable by user.", hit)
        return JobOutcome("job-1", "Succeeded", "ImportCompleteWithError" if self.log else "NoError", "", self.log)


def test_a_refused_property_goes_per_user_once_even_across_several_files(monkeypatch):
    monkeypatch.setattr(applier, "MAX_VALUES_PER_FILE", 2)
    plan = _plan("a@c.com", "b@c.com", "d@c.com")
    importer, record = FakeImporter(refuse={"B"}), Recorder()
    _bulk_writes(_pending(plan), importer, record.write_per_user, record.settle)
    assert sorted(record.per_user) == sorted((p.account, "B") for p in plan.profiles)
    assert sorted(record.done) == sorted((p.account, "A") for p in plan.profiles)
    assert len(importer.calls) < 10
    assert all("B" not in properties for _rows, properties in importer.calls[1:])


def test_log_lines_are_tied_to_whole_upns_even_with_apostrophes():
    plan = _plan("o'brien@c.com", "brien@c.com", properties=("A",))
    importer = FakeImporter(log=["IdentityNotResolvable o'brien@c.com User identity cannot be resolved"])
    record = Recorder()
    _bulk_writes(_pending(plan), importer, record.write_per_user, record.settle)
    assert [item for item, _ in record.failed] == [("i:0#.f|membership|o'brien@c.com", "A")]
    assert record.done == [("i:0#.f|membership|brien@c.com", "A")]


def test_a_log_line_naming_a_property_fails_only_that_property():
    plan = _plan("x@c.com")
    importer = FakeImporter(log=["InvalidPropertyValue - x@c.com Property 'B' must be a single string value."])
    record = Recorder()
    _bulk_writes(_pending(plan), importer, record.write_per_user, record.settle)
    assert [item for item, _ in record.failed] == [("i:0#.f|membership|x@c.com", "B")]
    assert record.done == [("i:0#.f|membership|x@c.com", "A")]


def test_an_unmappable_log_line_keeps_the_rows_out_of_the_journal():
    plan = _plan("x@c.com", properties=("A",))
    importer = FakeImporter(log=["MissingIdentity - The identity is missing for the user object"])
    record = Recorder()
    _bulk_writes(_pending(plan), importer, record.write_per_user, record.settle)
    assert record.done == [] and record.unjournalled == [("i:0#.f|membership|x@c.com", "A")]


def test_a_journal_line_cut_short_by_a_kill_does_not_swallow_the_next(tmp_path: Path):
    plan = _plan("a@c.com")
    path = tmp_path / "journal"
    first = Journal(path, plan)
    first.record([("a", "A")])
    first.close()
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"plan": "' + first.key + '", "acc')  # the kill
    second = Journal(path, plan)
    second.record([("b", "B")])
    second.close()
    assert Journal(path, plan).done == {("a", "A"), ("b", "B")}


def test_a_failed_read_fails_its_profiles_and_the_rest_is_applied(tmp_path, monkeypatch):
    from maforge.connectors.spo.session import SpoError

    class FakePeople:
        def __init__(self, session, multi):
            pass

        def get_many(self, accounts):
            if any("bad" in a for a in accounts):
                raise SpoError("reading answered 500", 500)
            return [{"A": "", "B": ""} for _ in accounts]

        def set_many(self, writes):
            from maforge.connectors.spo.batch import BatchResult

            return [BatchResult(200) for _ in writes]

    class FakeSession:
        class connection:
            tenant = "contoso"

        class credential:
            method = "certificate"

        @staticmethod
        def map(function, items):
            return [function(i) for i in items]

    monkeypatch.setattr(applier, "PeopleClient", FakePeople)
    monkeypatch.setattr(applier, "CHUNK", 1)
    plan = _plan("good@c.com", "bad@c.com", "fine@c.com")
    result = applier.apply_plan(plan, FakeSession(), journal_path=tmp_path / "j", results_path=tmp_path / "r.json", bulk="never")
    assert result.failed == 2 and result.applied == 4 and not result.ok
    saved = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    bad = next(p for p in saved["profiles"] if "bad" in p["account"])
    assert all(o["status"] == "failed" and "reading the profile" in o["error"] for o in bad["properties"])


def test_bulk_polling_notices_the_end_of_a_job_late_by_at_most_a_quarter_of_its_time_or_a_minute():
    from maforge.connectors.spo.bulk import BulkImporter

    for job_seconds in (3.0, 40.0, 600.0, 7200.0):
        clock = {"now": 0.0, "polls": 0}

        class Importer(BulkImporter):
            def status(self, job_id):
                clock["polls"] += 1
                return {"State": 4 if clock["now"] >= job_seconds else 2}

        importer = Importer(session=None, sleep=lambda s: clock.__setitem__("now", clock["now"] + s))  # type: ignore[arg-type]
        importer.wait("job")
        late = clock["now"] - job_seconds
        assert late <= max(2.0, min(0.25 * clock["now"], 60.0)), (job_seconds, late)
        # Polls grow with the log of the duration until the one-minute cap, then one a minute.
        assert clock["polls"] <= 21 + max(0.0, job_seconds - 240) / 60, (job_seconds, clock["polls"])


def test_a_job_whose_log_cannot_be_read_is_reported_unknown_not_applied():
    import pytest

    from maforge.connectors.spo.bulk import BulkError, BulkImporter, BulkUnknown

    class Importer(BulkImporter):
        deleted: list[str] = []

        def upload(self, name, data):
            return "https://contoso.sharepoint.com/Shared Documents/maforge-imports/" + name

        def queue(self, property_map, source_uri):
            return "job-1"

        def wait(self, job_id, **_):
            return {"State": 4, "Error": 30, "LogFolderUri": "https://contoso.sharepoint.com/Shared Documents/maforge-imports/job-1"}

        def log_files(self, job):
            return ["/Shared Documents/maforge-imports/job-1/job-1.log"]

        def read_file(self, path):
            raise BulkError("reading the bulk job's log answered 503", 503)

        def delete_file(self, path):
            self.deleted.append(path)

    with pytest.raises(BulkUnknown, match="job-1"):
        Importer(session=None).run([{"IdName": "a@c.com", "CostCenter": "1"}], ["CostCenter"])  # type: ignore[arg-type]


def test_apply_names_what_it_did_not_write_first_twenty_then_the_results_file(tmp_path):
    """Issue 19: apply printed only counts of stale, failed and missing properties and exited
    1; now it names them, the first 20, then how many more the results file holds."""
    from maforge.connectors.sync.applier import ApplyResult

    profiles = [{"account": f"i:0#.f|membership|u{i}@contoso.com", "properties": [{"property": "Department", "action": "change", "status": "stale", "now": "Research"}, {"property": "Office", "action": "set", "status": "applied"}]} for i in range(23)]
    profiles.append({"account": "i:0#.f|membership|x@contoso.com", "properties": [{"property": "CellPhone", "action": "clear", "status": "failed", "error": "HTTP 500: boom"}]})
    result = ApplyResult(applied=23, stale=23, failed=1, profiles=profiles)
    lines = result.trouble_lines(tmp_path / "plan.json.results.json")
    assert lines[0] == '  stale: i:0#.f|membership|u0@contoso.com: Department (SharePoint holds "Research")'
    assert len(lines) == 21 and lines[-1] == f"  and 4 more in {tmp_path / 'plan.json.results.json'}"
    assert ApplyResult(applied=1, profiles=[profiles[0] | {"properties": [profiles[0]["properties"][1]]}]).trouble_lines(None) == []
    assert ApplyResult(failed=1, profiles=[profiles[-1]]).trouble_lines(None) == ["  failed: i:0#.f|membership|x@contoso.com: CellPhone: HTTP 500: boom"]
