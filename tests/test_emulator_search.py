"""People search over the emulated tenant (`/_api/search/query`, `/_api/search/postquery`)."""

from __future__ import annotations

from emulator_spo_support import Spo

PEOPLE = "b09a7990-05ea-4af9-81ef-edfab16c4e31"


def test_search_pages_through_every_profile(emulator_factory):
    running = emulator_factory(profiles=120)
    client = Spo(running)
    seen, start = [], 0
    while True:
        answer = client.get(
            f"/_api/search/query?querytext='*'&sourceid='{PEOPLE}'&selectproperties='AccountName,PreferredName'&rowlimit=50&startrow={start}",
            admin=False,
        )
        assert answer.status_code == 200, answer.text
        rows = answer.json()["PrimaryQueryResult"]["RelevantResults"]["Table"]["Rows"]
        if not rows:
            break
        seen += [next(c["Value"] for c in row["Cells"] if c["Key"] == "AccountName") for row in rows]
        start += len(rows)
    expected = [f"i:0#.f|membership|{running.state.user(i).upn}" for i in range(1, 121) if running.state.has_profile(i)]
    assert seen == expected


def test_index_doc_id_paging_and_postquery(emulator_factory):
    running = emulator_factory(profiles=60)
    client = Spo(running)
    body = {"request": {"Querytext": "* IndexDocId>40", "SourceId": PEOPLE, "RowLimit": 500, "SelectProperties": {"results": ["WorkEmail"]}}}
    answer = client.post("/_api/search/postquery", body)
    assert answer.status_code == 200
    doc_ids = [int(next(c["Value"] for c in row["Cells"] if c["Key"] == "DocId")) for row in answer.json()["PrimaryQueryResult"]["RelevantResults"]["Table"]["Rows"]]
    assert doc_ids and min(doc_ids) == 41 and doc_ids == sorted(doc_ids)


def test_search_limits_and_source(emulator):
    client = Spo(emulator)
    too_many = client.get(f"/_api/search/query?querytext='*'&sourceid='{PEOPLE}'&rowlimit=501")
    assert too_many.status_code == 400
    other_source = client.get("/_api/search/query?querytext='*'&sourceid='8413cd39-2156-4e00-b54d-11efd9abdb89'")
    assert other_source.status_code == 400
    no_rights = Spo(emulator, roles=["Sites.Read.All"]).get(f"/_api/search/query?querytext='*'&sourceid='{PEOPLE}'")
    assert no_rights.status_code in (401, 403)
