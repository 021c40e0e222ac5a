"""Replays of real SharePoint Online answers (tests/data/recordings/, listed in SOURCES.md with
where each came from) against the emulator and against maforge's own client parsers.

For each recording the equivalent request goes to the emulator, and its answer must have the
recording's shape: status, content type, JSON keys and value types (recursively; values that
belong to a tenant are not compared), error code format, `$batch` and CSOM framing. Where the
emulator still differs, the test is a strict xfail that names the difference: it fails as soon
as someone fixes it, so the mark is removed with the fix.

The second half reads the same recordings with maforge's client code (PeopleClient.
parse_properties, parse_batch, the session's error reader): a test of the client against
reality rather than against the emulator."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest

from emulator_spo_support import CLAIMS, PATTI, VERBOSE, Spo
from maforge.connectors.spo.batch import parse_batch
from maforge.connectors.spo.people import PeopleClient

RECORDINGS = Path(__file__).parent / "data" / "recordings" / "pnpcore"
PM = "/_api/SP.UserProfiles.PeopleManager"
PEOPLE_SOURCE = "b09a7990-05ea-4af9-81ef-edfab16c4e31"
CSOM_NS = "http://schemas.microsoft.com/sharepoint/clientquery/2009"
TENANT_TYPE = "{e45fd516-a408-4ca4-b6dc-268e2f1f0f83}"
# PnP Core's HttpUtility.UrlEncode form of the claims login (lower-case hex, `.` kept)
PATTI_ENCODED = "i%3a0%23.f%7cmembership%7c" + PATTI.replace("@", "%40")
ERROR_CODE = re.compile(r"^-?\d+, [A-Za-z][\w.]*$")
GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def recording(name: str) -> dict:
    """The stored exchange: StatusCode, IsSuccessStatusCode, Headers, Response (the raw body)."""
    return json.loads((RECORDINGS / f"{name}.response.json").read_text(encoding="utf-8"))


def recorded_json(name: str):
    return json.loads(recording(name)["Response"])


def part_content_types(text: str) -> set[str]:
    return set(re.findall(r"\r\nCONTENT-TYPE: ([^\r\n]+)\r\n", text))


# The nometadata and verbose content types, as SPO writes them inside recorded batch parts
NOMETA_CT = "application/json;odata=nometadata;streaming=true;charset=utf-8"
VERBOSE_CT = "application/json;odata=verbose;charset=utf-8"


@pytest.fixture
def emulator(emulator_factory):
    return emulator_factory(throttle="none")


@pytest.fixture
def spo(emulator):
    return Spo(emulator)


# ---------------------------------------------------------------------- shape comparison


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def shape_diff(recorded, emulated, path: str = "$", nullable: frozenset[str] = frozenset(), ignore: frozenset[str] = frozenset()) -> list[str]:
    """How ``emulated`` differs in shape from ``recorded``: missing or extra keys, other types.
    A list's items are compared with the recorded list's first item; a key in ``nullable`` may
    be null on either side; keys in ``ignore`` are skipped."""
    problems: list[str] = []
    if isinstance(recorded, dict):
        if not isinstance(emulated, dict):
            return [f"{path}: an object in the recording, {_kind(emulated)} here"]
        for key in sorted(recorded.keys() - emulated.keys() - ignore):
            problems.append(f"{path}: key {key!r} missing")
        for key in sorted(emulated.keys() - recorded.keys() - ignore):
            problems.append(f"{path}: key {key!r} not in the recording")
        for key in sorted(recorded.keys() & emulated.keys() - ignore):
            if key in nullable and (recorded[key] is None or emulated[key] is None):
                continue
            problems += shape_diff(recorded[key], emulated[key], f"{path}.{key}", nullable, ignore)
        return problems
    if isinstance(recorded, list):
        if not isinstance(emulated, list):
            return [f"{path}: an array in the recording, {_kind(emulated)} here"]
        if recorded:
            for index, item in enumerate(emulated[:5]):
                problems += shape_diff(recorded[0], item, f"{path}[{index}]", nullable, ignore)
        return problems
    if _kind(recorded) != _kind(emulated):
        problems.append(f"{path}: {_kind(recorded)} in the recording, {_kind(emulated)} here")
    return problems


def test_shape_diff_finds_keys_types_and_nested_differences():
    assert shape_diff({"a": 1, "b": [{"k": "x"}]}, {"a": 2, "b": [{"k": "y"}, {"k": "z"}]}) == []
    assert shape_diff({"a": 1}, {"a": "1", "c": None}) == ["$: key 'c' not in the recording", "$.a: number in the recording, str here"]
    assert shape_diff({"b": [{"k": "x"}]}, {"b": [{"k": None}]}) == ["$.b[0].k: str in the recording, null here"]
    assert shape_diff({"b": [{"k": "x"}]}, {"b": [{"k": None}]}, nullable=frozenset({"k"})) == []


# ---------------------------------------------------------------------- PeopleManager

CUSTOM_IN_RECORDED_TENANT = {"DelveDemo", "DelveTest"}  # custom properties of the recorded tenant


def test_get_properties_for_has_the_recorded_shape(spo, emulator):
    recorded = recording("UserProfileTests/GetUserPropertiesForTests-0-00002")
    answer = spo.get(f"{PM}/getpropertiesfor(accountname='{PATTI_ENCODED}')")
    assert answer.status_code == recorded["StatusCode"] == 200
    assert answer.headers["Content-Type"] == NOMETA_CT
    expected, body = json.loads(recorded["Response"]), answer.json()
    assert list(body) == list(expected)  # the same keys in the same order
    assert shape_diff(expected, body, nullable=frozenset({"PictureUrl", "Title", "LatestPost"})) == []
    # every UserProfileProperties entry is a {Key, Value, ValueType} triple of strings, Edm.String
    for entries in (expected["UserProfileProperties"], body["UserProfileProperties"]):
        assert all(list(e) == ["Key", "Value", "ValueType"] and isinstance(e["Value"], str) and e["ValueType"] == "Edm.String" for e in entries)
    recorded_names = {e["Key"] for e in expected["UserProfileProperties"]} - CUSTOM_IN_RECORDED_TENANT
    emulated_names = {e["Key"] for e in body["UserProfileProperties"]}
    assert recorded_names <= emulated_names, sorted(recorded_names - emulated_names)
    # URL forms: one formula gives the recording's (for its account) and the emulator's (for Patti)
    def urls(host: str, account: str) -> dict[str, str]:
        upn = account.split("|")[-1]
        return {
            "PersonalSiteHostUrl": f"https://{host}-my.sharepoint.com:443/",
            "PersonalUrl": f"https://{host}-my.sharepoint.com/personal/{re.sub(r'[^a-z0-9]', '_', upn)}/",
            "UserUrl": f"https://{host}-my.sharepoint.com:443/Person.aspx?accountname=" + quote(account, safe="").replace(".", "%2E"),
        }

    assert {k: expected[k] for k in ("PersonalSiteHostUrl", "PersonalUrl", "UserUrl")} == urls("contoso", expected["AccountName"])
    assert {k: body[k] for k in ("PersonalSiteHostUrl", "PersonalUrl", "UserUrl")} == urls(emulator.config.tenant, CLAIMS + PATTI)
    assert body["ExtendedReports"] == [body["AccountName"]] and expected["ExtendedReports"] == [expected["AccountName"]]


@pytest.mark.xfail(strict=True, reason="UserProfileProperties order differs from the recording (the emulator follows the property catalogue's order, state.py/catalogue; e.g. SPS-JobTitle comes after PublicSiteRedirect, the recording has it after Title)")
def test_user_profile_properties_come_in_the_recorded_order(spo):
    expected = recorded_json("UserProfileTests/GetUserPropertiesForTests-0-00002")["UserProfileProperties"]
    body = spo.get(f"{PM}/getpropertiesfor(accountname='{PATTI_ENCODED}')").json()["UserProfileProperties"]
    recorded_order = [e["Key"] for e in expected if e["Key"] not in CUSTOM_IN_RECORDED_TENANT]
    emulated_order = [e["Key"] for e in body if e["Key"] in set(recorded_order)]
    assert emulated_order == recorded_order


def test_get_my_properties_with_select_has_the_recorded_keys(emulator):
    expected = recorded_json("UserProfileTests/GetUserPropertiesSelectTests-0-00002")
    mine = Spo(emulator, upn=PATTI)
    answer = mine.get(f"{PM}/getmyproperties?$select=AccountName,DisplayName", admin=False)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == NOMETA_CT
    assert list(answer.json()) == list(expected) == ["AccountName", "DisplayName"]
    assert shape_diff(expected, answer.json()) == []


def test_get_user_profile_property_for_has_the_recorded_shape(spo):
    recorded = recording("UserProfileTests/GetUserProfilePropertyTests-0-00002")
    answer = spo.get(f"{PM}/GetUserProfilePropertyFor(accountname='{PATTI_ENCODED}',propertyname='FirstName')")
    assert answer.status_code == recorded["StatusCode"]
    assert answer.headers["Content-Type"] == NOMETA_CT
    assert shape_diff(json.loads(recorded["Response"]), answer.json()) == []
    assert answer.json() == {"value": "Patti"}


def test_set_single_value_then_read_it_back_as_recorded(spo):
    """PnP's inline form (values in the URL, `+` unencoded), then the read: both answers are
    the recordings' byte for byte, since the values are the same."""
    write = recording("UserProfileTests/SetSingleValueTests-0-00002")
    read = recording("UserProfileTests/SetSingleValueTests-0-00003")
    answer = spo.post(f"{PM}/SetSingleValueProfileProperty(accountname='{PATTI_ENCODED}',propertyName='HomePhone',propertyValue='+54321')")
    assert (answer.status_code, answer.text) == (write["StatusCode"], write["Response"])
    assert answer.headers["Content-Type"] == NOMETA_CT
    back = spo.get(f"{PM}/GetUserProfilePropertyFor(accountname='{PATTI_ENCODED}',propertyname='HomePhone')")
    assert (back.status_code, back.text) == (read["StatusCode"], read["Response"])


def test_set_multi_valued_then_read_it_back_joined_with_a_bar_as_recorded(spo):
    """The recording settles the multi-value separator: SPS-Skills reads back "csharp|typescript"."""
    write = recording("UserProfileTests/SetMultiValueTests-0-00002")
    read = recording("UserProfileTests/SetMultiValueTests-0-00003")
    body = {"accountName": CLAIMS + PATTI, "propertyName": "SPS-Skills", "propertyValues": ["csharp", "typescript"]}
    answer = spo.post(f"{PM}/SetMultiValuedProfileProperty", body)
    assert (answer.status_code, answer.text) == (write["StatusCode"], write["Response"])
    back = spo.get(f"{PM}/GetUserProfilePropertyFor(accountname='{PATTI_ENCODED}',propertyname='SPS-Skills')")
    assert (back.status_code, back.text) == (read["StatusCode"], read["Response"]) == (200, '{"value":"csharp|typescript"}')


@pytest.mark.xfail(strict=True, reason="GET _api/SP.UserProfiles.PeopleManager (the entity: EditProfileLink, IsMyPeopleListPublic) is not served: the emulator answers 404")
def test_the_people_manager_entity_as_recorded(spo):
    recorded = recording("UserProfileTests/GetUserProfileTests-0-00002")
    answer = spo.get(PM)
    assert answer.status_code == recorded["StatusCode"]
    assert shape_diff(json.loads(recorded["Response"]), answer.json()) == []


# ---------------------------------------------------------------------- formats and headers


def test_minimal_metadata_keys_as_recorded(spo, emulator):
    """odata.metadata `…/_api/$metadata#…/@Element`, odata.type, odata.id absolute and
    odata.editLink relative to the service root, before the entity's own keys."""
    expected = recorded_json("WebTests/AddWebEventReceiverAsyncTest-0-00002")
    body = spo.get(f"{PM}/GetPropertiesFor(accountName=@v)?@v='{PATTI}'", accept="application/json;odata=minimalmetadata").json()
    for payload in (expected, body):
        assert list(payload)[:4] == ["odata.metadata", "odata.type", "odata.id", "odata.editLink"]
        assert re.match(r"^https://[^#]+/_api/\$metadata#[\w.]+/@Element$", payload["odata.metadata"])
        assert payload["odata.id"].startswith("https://") and "/_api/" in payload["odata.id"]
        assert not payload["odata.editLink"].startswith(("https://", "/"))
    answer = spo.post("/_api/web/GetFolderByServerRelativeUrl('/Shared Documents')/Files/add(url='m.txt',overwrite=true)", data=b"x", accept="application/json;odata=minimalmetadata", admin=False)
    assert not answer.json()["odata.editLink"].startswith(("https://", "/"))


def test_verbose_entity_metadata_and_part_content_type_as_recorded(spo, emulator):
    recorded = recording("SiteEnumerationTests/EnumerateSitesIncludingSharedPrivateTeamChannelSitesWithDetails-0-00004")["Response"]
    assert part_content_types(recorded) == {VERBOSE_CT}
    expected = json.loads(recorded[recorded.index("{") : recorded.rindex("}") + 1])
    url = f"{emulator.admin_url}{PM}/GetPropertiesFor(accountName=@v)?@v='{PATTI}'"
    answer = _batch(spo, [f"GET {url} HTTP/1.1\r\nAccept: application/json;odata=verbose\r\n\r\n"])
    assert part_content_types(answer.text) == {VERBOSE_CT}
    body = json.loads(_parts(answer.text)[0]["body"])
    assert list(body) == list(expected) == ["d"]
    assert list(body["d"]["__metadata"]) == list(expected["d"]["__metadata"]) == ["id", "uri", "type"]
    assert spo.get(f"{PM}/GetPropertiesFor(accountName=@v)?@v='{PATTI}'", accept=VERBOSE).headers["Content-Type"] == VERBOSE_CT


def test_rest_answers_carry_the_recorded_service_headers_we_model(spo):
    recorded = recording("UserProfileTests/GetUserProfilePropertyTests-0-00002")["Headers"]
    answer = spo.get(f"{PM}/GetUserProfilePropertyFor(accountname='{PATTI_ENCODED}',propertyname='FirstName')")
    for name in ("SPRequestGuid", "X-SharePointHealthScore"):
        assert name in recorded and name in answer.headers
    assert re.fullmatch(GUID, answer.headers["SPRequestGuid"])


@pytest.mark.xfail(strict=True, reason="SPClientServiceRequestDuration and X-SP-SERVERSTATE (ReadOnly=0), on every recorded SPO answer, are not sent (server.py sets the service headers)")
def test_rest_answers_carry_every_recorded_service_header(spo):
    recorded = recording("UserProfileTests/GetUserProfilePropertyTests-0-00002")["Headers"]
    answer = spo.get(f"{PM}/GetUserProfilePropertyFor(accountname='{PATTI_ENCODED}',propertyname='FirstName')")
    assert set(recorded) <= set(answer.headers)
    assert answer.headers["X-SP-SERVERSTATE"] == recorded["X-SP-SERVERSTATE"]


# ---------------------------------------------------------------------- errors


def _error_cases(spo, emulator):
    """(recording, the emulator's answer to the nearest equivalent request)."""
    return [
        ("WebTests/GetByServerRelativeSpecialChars-0-00005", spo.get("/_api/web/GetFileByServerRelativeUrl('/Shared Documents/IdontExist.pdf')", admin=False)),
        ("FilesTests/GetExistingFileInOtherSiteByServerRelativeUrlAsyncTest-1-00002", spo.get(f"{PM}/GetUserProfilePropertyFor(accountName=@v)?@v='{PATTI}'")),
        ("ExceptionTests/ThrowSharePointRestServiceException-0-00003", spo.set_single(CLAIMS + PATTI, "NoSuchProperty", "x")),
    ]


def test_error_answers_have_the_recorded_shape_and_code_format(spo, emulator):
    for name, answer in _error_cases(spo, emulator):
        recorded = recording(name)
        expected = json.loads(recorded["Response"])
        assert answer.status_code == recorded["StatusCode"], name
        assert answer.headers["Content-Type"] == NOMETA_CT, name
        assert shape_diff(expected, answer.json()) == [], name
        for body in (expected, answer.json()):
            assert ERROR_CODE.match(body["odata.error"]["code"]), body
            assert body["odata.error"]["message"]["lang"] == "en-US"


def test_missing_files_and_sites_answer_the_recorded_404(spo, emulator):
    """The recorded code is `-2147024894, System.IO.FileNotFoundException` (HRESULT 0x80070002),
    not `-1, …`: for a missing file and for a site of another tenant alike."""
    expected = recording("WebTests/GetByServerRelativeSpecialChars-0-00005")
    other_site = emulator.spo_url.replace("/spo/contoso", "/spo/fabrikam")
    answers = [
        spo.get("/_api/web/GetFileByServerRelativeUrl('/Shared Documents/IdontExist.pdf')", admin=False),
        spo.session.get(f"{other_site}{PM}/GetPropertiesFor(accountName=@v)?@v='{PATTI}'", headers=spo.headers(), timeout=30),
        spo.session.post(f"{other_site}/_api/contextinfo", headers=spo.headers(), timeout=30),
    ]
    for answer in answers:
        assert (answer.status_code, answer.text) == (expected["StatusCode"], expected["Response"]), answer.url


# ---------------------------------------------------------------------- $batch


def _batch(spo, requests: list[str], changeset: list[str] = ()):
    """A batch as PnP Core builds it (CRLF; GETs top-level, writes in a changeset)."""
    out = []
    for item in requests:
        out.append(f"--batch_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding:binary\r\n\r\n{item}")
    for item in changeset:
        out.append(f'--batch_1\r\nContent-Type: multipart/mixed; boundary="changeset_1"\r\n\r\n--changeset_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding:binary\r\n\r\n{item}\r\n--changeset_1--\r\n')
    out.append("--batch_1--\r\n")
    answer = spo.post("/_api/$batch", data="".join(out).encode(), headers={"Content-Type": "multipart/mixed; boundary=batch_1"})
    assert answer.status_code == 200
    return answer


_PART = re.compile(
    r"\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    r"(?P<status>HTTP/1\.1 \d{3} [A-Za-z ]+)\r\n(?P<headers>(?:[^\r\n]+\r\n)*)\r\n(?P<body>.*)\r\n",
    re.S,
)


def _parts(text: str) -> list[dict]:
    """A batch answer cut strictly as SPO frames it; fails on anything else."""
    opener = re.match(rf"^--(batchresponse_{GUID})\r\n", text)
    assert opener, repr(text[:80])
    marker = opener.group(1)
    chunks = text.split(f"--{marker}")
    assert chunks[0] == "" and chunks[-1] == "--\r\n", repr(chunks[-1])
    parts = []
    for chunk in chunks[1:-1]:
        found = _PART.fullmatch(chunk)
        assert found, repr(chunk[:300])
        headers = [line.split(": ", 1) for line in found.group("headers").split("\r\n") if line]
        parts.append({"status": found.group("status"), "headers": headers, "body": found.group("body")})
    return parts


def _check_part_headers(part: dict) -> None:
    names = [name for name, _ in part["headers"]]
    assert names[0] == "CONTENT-TYPE" and set(names) <= {"CONTENT-TYPE", "ETAG", "LOCATION"}, names


def test_recorded_batches_frame_as_the_parser_here_expects():
    for name in ("BrandingTests/SetChromeOptionsForCommunicationSite-0-00003", "BatchClientTests/HandleBatchErrorsForLargeBatch-0-00009"):
        parts = _parts(recording(name)["Response"])
        for part in parts:
            _check_part_headers(part)
    statuses = [p["status"] for p in _parts(recording("BrandingTests/SetChromeOptionsForCommunicationSite-0-00003")["Response"])]
    assert statuses == ["HTTP/1.1 200 OK", "HTTP/1.1 204 No Content", "HTTP/1.1 200 OK"]


def test_batch_answer_has_the_recorded_framing(spo, emulator):
    recorded = recording("BrandingTests/SetChromeOptionsForCommunicationSite-0-00003")
    recorded_parts = _parts(recorded["Response"])
    with_error = [p for p in _parts(recording("BatchClientTests/HandleBatchErrorsForLargeBatch-0-00009")["Response"]) if not p["status"].startswith("HTTP/1.1 200")]
    assert [p["status"] for p in with_error] == ["HTTP/1.1 404 Not Found"]
    site = emulator.admin_url
    write = json.dumps({"accountName": CLAIMS + PATTI, "propertyName": "CostCenter", "propertyValue": "CC-7"})
    answer = _batch(
        spo,
        [
            f"GET {site}{PM}/GetUserProfilePropertyFor(accountname='{PATTI_ENCODED}',propertyname='CostCenter') HTTP/1.1\r\nAccept: application/json;odata=nometadata\r\n\r\n",
            f"GET {site}/_api/web/GetFileByServerRelativeUrl('/Shared%20Documents/IdontExist.pdf') HTTP/1.1\r\nAccept: application/json;odata=nometadata\r\n\r\n",
        ],
        changeset=[
            f"POST {site}{PM}/SetSingleValueProfileProperty HTTP/1.1\r\nAccept: application/json;odata=nometadata\r\nContent-Type: application/json;odata=verbose\r\nContent-Length: {len(write)}\r\nIf-Match: *\r\n\r\n{write}\r\n",
        ],
    )
    assert answer.headers["Content-Type"].startswith("multipart/mixed; boundary=batchresponse_")
    parts = _parts(answer.text)
    assert [p["status"] for p in parts] == ["HTTP/1.1 200 OK", with_error[0]["status"], "HTTP/1.1 200 OK"]
    for part in parts:
        _check_part_headers(part)
        assert dict(part["headers"])["CONTENT-TYPE"] == dict(recorded_parts[0]["headers"])["CONTENT-TYPE"] == NOMETA_CT
    assert list(json.loads(parts[0]["body"])) == list(json.loads(recorded_parts[2]["body"])) == ["value"]  # a primitive
    assert shape_diff(json.loads(with_error[0]["body"]), json.loads(parts[1]["body"])) == []
    assert parts[2]["body"] == recorded_parts[0]["body"] == '{"odata.null":true}'  # a void POST


# ---------------------------------------------------------------------- search


def test_people_search_has_the_recorded_shape(spo):
    expected = recorded_json("WebTests/SearchBasicTest-0-00002")
    request = {"request": {"Querytext": "*", "EnableQueryRules": False, "SourceId": PEOPLE_SOURCE, "RowLimit": 2, "SelectProperties": {"results": ["AccountName", "PreferredName"]}}}
    posted = spo.post("/_api/search/postquery", request, admin=False)
    got = spo.get(f"/_api/search/query?querytext='*'&sourceid='{PEOPLE_SOURCE}'&rowlimit=2", admin=False)
    for answer in (posted, got):
        assert answer.status_code == 200 and answer.headers["Content-Type"] == NOMETA_CT
        body = answer.json()
        assert shape_diff(expected, body, nullable=frozenset({"Value"})) == []
        assert list(body) == list(expected)
        assert list(body["PrimaryQueryResult"]) == list(expected["PrimaryQueryResult"])
        assert list(body["PrimaryQueryResult"]["RelevantResults"]) == list(expected["PrimaryQueryResult"]["RelevantResults"])
        assert body["SpellingSuggestion"] is expected["SpellingSuggestion"] is None
        assert body["PrimaryQueryResult"]["RelevantResults"]["RowCount"] == 2


# ---------------------------------------------------------------------- CSOM


def _process_query(spo, actions: str, paths: str):
    body = f'<Request AddExpandoFieldTypeSuffix="true" SchemaVersion="15.0.0.0" LibraryVersion="16.0.0.0" ApplicationName="maforge tests" xmlns="{CSOM_NS}"><Actions>{actions}</Actions><ObjectPaths>{paths}</ObjectPaths></Request>'
    return spo.post("/_vti_bin/client.svc/ProcessQuery", data=body.encode(), headers={"Content-Type": "text/xml"})


def test_csom_error_has_the_recorded_header_and_error_info(spo):
    recorded = recording("ExceptionTests/ThrowCSOMServiceException-0-00002")
    expected = json.loads(recorded["Response"])
    answer = _process_query(spo, '<ObjectPath Id="2" ObjectPathId="1" />', '<Constructor Id="1" TypeId="" />')
    assert answer.status_code == recorded["StatusCode"] == 200  # a CSOM error is still a 200
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert len(body) == len(expected) == 1
    assert list(body[0]) == list(expected[0]) == ["SchemaVersion", "LibraryVersion", "ErrorInfo", "TraceCorrelationId"]
    assert list(body[0]["ErrorInfo"]) == list(expected[0]["ErrorInfo"])
    assert shape_diff(expected, body) == []
    assert body[0]["SchemaVersion"] == expected[0]["SchemaVersion"] == "15.0.0.0"
    assert re.fullmatch(r"16\.0\.\d+\.\d+", body[0]["LibraryVersion"])
    assert body[0]["ErrorInfo"]["TraceCorrelationId"] == body[0]["TraceCorrelationId"] == answer.headers["SPRequestGuid"]
    assert expected[0]["ErrorInfo"]["TraceCorrelationId"] == expected[0]["TraceCorrelationId"] == recorded["Headers"]["SPRequestGuid"]


def _queue_and_list(spo):
    upload = spo.post("/_api/web/GetFolderByServerRelativeUrl('/Shared Documents')/Files/add(url='r.json',overwrite=true)", data=b'{"value":[]}', admin=False)
    assert upload.status_code == 200
    queued = spo.post(
        "/_api/Microsoft.Online.SharePoint.TenantManagement.Office365Tenant/QueueImportProfileProperties",
        {"idType": 2, "sourceDataIdProperty": "IdName", "propertyMap": {"results": [{"__metadata": {"type": "SP.KeyValue"}, "Key": "CostCenter", "Value": "CostCenter", "ValueType": "Edm.String"}]}, "sourceUri": f"{spo.emulator.spo_url}/Shared Documents/r.json"},
    )
    assert queued.status_code == 200, queued.text
    return _process_query(
        spo,
        '<ObjectPath Id="2" ObjectPathId="1" /><ObjectPath Id="4" ObjectPathId="3" /><Query Id="5" ObjectPathId="3"><Query SelectAllProperties="true"><Properties /></Query><ChildItemQuery SelectAllProperties="true"><Properties /></ChildItemQuery></Query>',
        f'<Constructor Id="1" TypeId="{TENANT_TYPE}" /><Method Id="3" ParentId="1" Name="GetImportProfilePropertyJobs" />',
    )


def test_csom_object_paths_collections_and_guids_as_recorded(spo):
    is_null = json.loads(recording("HubSiteTests/RegisterHubAndJoinLeaveUnregisterTest-1800-00002")["Response"])
    collection_raw = recording("PermissionRequestsTests/ApprovePermissionsRequestTest-300-00002")["Response"]
    collection = json.loads(collection_raw)
    answer = _queue_and_list(spo)
    body = answer.json()
    assert body[0]["ErrorInfo"] is None and is_null[0]["ErrorInfo"] is None
    assert shape_diff(is_null[0], body[0]) == []
    # action id, then its result: an ObjectPath action answers {"IsNull": false}
    assert isinstance(is_null[1], int) and is_null[2] == {"IsNull": False}
    assert isinstance(body[1], int) and body[2] == {"IsNull": False}
    # a collection: _ObjectType_ and _Child_Items_, each child with its _ObjectType_ first
    recorded_list, emulated_list = collection[4], body[-1]
    assert list(emulated_list) == list(recorded_list) == ["_ObjectType_", "_Child_Items_"]
    assert emulated_list["_Child_Items_"] and all(list(child)[0] == "_ObjectType_" for child in emulated_list["_Child_Items_"] + recorded_list["_Child_Items_"])
    # Guids travel as "\/Guid(…)\/" in the raw text; a "/" in any other string as \u002f
    guid_form = re.compile(r'"\\/Guid\(' + GUID + r'\)\\/"')
    assert guid_form.search(collection_raw) and guid_form.search(answer.text)
    assert "\\u002f" in recording("ExceptionTests/ThrowCSOMServiceException-0-00002")["Response"]
    assert "\\u002f" in answer.text and "https://" not in answer.text


@pytest.mark.xfail(strict=True, reason="CSOM framing: SPO separates the array's items with a bare CR ('[\\r{\\r\"SchemaVersion\"…\\r},2,{\\r\"IsNull\":false\\r}\\r]'); the emulator writes one line (its CSOM writer: csom.py dumps, formerly bulk.py _csom_dumps)")
def test_csom_answer_uses_the_recorded_carriage_returns(spo):
    recorded = recording("HubSiteTests/RegisterHubAndJoinLeaveUnregisterTest-1800-00002")["Response"]
    assert recorded.startswith('[\r{\r"SchemaVersion"') and recorded.endswith("\r}\r]")
    answer = _process_query(spo, '<ObjectPath Id="2" ObjectPathId="1" />', f'<Constructor Id="1" TypeId="{TENANT_TYPE}" />')
    assert answer.text.startswith('[\r{\r"SchemaVersion"') and answer.text.endswith("\r}\r]")


# ---------------------------------------------------------------------- files

FILE_2024_ONLY = frozenset({"ExistsAllowThrowForPolicyFailures"})  # in the 2024 recordings, not in 2022's


def test_file_upload_read_content_and_delete_as_recorded(spo):
    added, read = recording("FilesTests/GetFileContentTest-0-00003"), recording("FilesTests/GetFileContentTest-0-00004")
    content, deleted = recording("FilesTests/GetFileContentTest-0-00005"), recording("FilesTests/GetFileContentTest-0-00006")
    path = "/Shared Documents/GetFileContentTest.txt"
    answer = spo.post("/_api/web/GetFolderByServerRelativeUrl('/Shared Documents')/Files/add(url='GetFileContentTest.txt',overwrite=false)", data=b"PnP Rocks !!!", admin=False)
    assert answer.status_code == added["StatusCode"] and answer.headers["Content-Type"] == NOMETA_CT
    assert shape_diff(json.loads(added["Response"]), answer.json(), nullable=frozenset({"Title", "LinkingUri"}), ignore=FILE_2024_ONLY) == []
    assert answer.json()["Length"] == json.loads(added["Response"])["Length"] == "13"  # a string, as recorded
    again = spo.get(f"/_api/web/GetFileByServerRelativeUrl('{path}')", admin=False)
    assert again.status_code == read["StatusCode"]
    assert shape_diff(json.loads(read["Response"]), again.json(), nullable=frozenset({"Title", "LinkingUri"}), ignore=FILE_2024_ONLY) == []
    raw = spo.get(f"/_api/web/GetFileByServerRelativeUrl('{path}')/$value", admin=False)
    assert (raw.status_code, raw.text) == (content["StatusCode"], content["Response"]) == (200, "PnP Rocks !!!")
    gone = spo.session.delete(spo.url(f"/_api/web/GetFileByServerRelativeUrl('{path}')", admin=False), headers=spo.headers(), timeout=30)
    assert (gone.status_code, gone.text) == (deleted["StatusCode"], deleted["Response"]) == (200, "")


@pytest.mark.xfail(strict=True, reason="SP.File lacks ExistsAllowThrowForPolicyFailures, which the 2024 recordings of an upload and a read carry (bulk.py _file_fields)")
def test_file_entity_has_every_recorded_2024_key(spo):
    added = recorded_json("FilesTests/GetFileContentTest-0-00003")
    answer = spo.post("/_api/web/GetFolderByServerRelativeUrl('/Shared Documents')/Files/add(url='k.txt',overwrite=true)", data=b"x", admin=False)
    assert set(added) <= set(answer.json())


def test_folder_listing_has_the_recorded_shape(spo):
    expected = recorded_json("ListTests/FindFilesTest-0-00006")
    spo.post("/_api/web/GetFolderByServerRelativeUrl('/Shared Documents/list')/Files/add(url='a.txt',overwrite=true)", data=b"abc", admin=False)
    answer = spo.get("/_api/web/GetFolderByServerRelativeUrl('/Shared Documents/list')/Files", admin=False)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == NOMETA_CT
    assert list(answer.json()) == ["value"] and len(answer.json()["value"]) == 1
    assert shape_diff(expected, answer.json(), nullable=frozenset({"Title", "LinkingUri"})) == []  # 2022's keys exactly


# ---------------------------------------------------------------------- maforge's client, against the recordings


def _people(multi_valued=("SPS-Skills", "SPS-Interests", "SPS-HashTags")) -> PeopleClient:
    session = SimpleNamespace(connection=SimpleNamespace(admin_url="https://contoso-admin.sharepoint.com"))
    return PeopleClient(session, multi_valued=multi_valued)  # type: ignore[arg-type]


def test_maforge_reads_a_recorded_profile():
    payload = recorded_json("UserProfileTests/GetUserPropertiesForTests-0-00002")
    profile = _people().parse_properties(payload)
    assert profile is not None and len(profile) == len(payload["UserProfileProperties"]) == 108
    assert profile["AccountName"] == payload["AccountName"] == "i:0#.f|membership|adele.vance@contoso.onmicrosoft.com"
    assert profile["FirstName"] == "Adele" and profile["WorkPhone"] == "+1 425 555 0109"
    assert profile["SPS-Skills"] == ["python", "nodejs"]  # the recorded "python|nodejs"
    assert profile["SPS-HashTags"] == ["#Office365"] and profile["SPS-Birthday"] == ""
    assert _people().parse_properties(recorded_json("UserProfileTests/SetSingleValueTests-0-00002")) is None  # {"odata.null":true}


def test_maforge_reads_recorded_batches():
    for name, statuses in (
        ("BrandingTests/SetChromeOptionsForCommunicationSite-0-00003", [200, 204, 200]),
        ("BatchClientTests/HandleBatchErrorsForLargeBatch-0-00009", None),
    ):
        text = recording(name)["Response"]
        marker = text.split("\r\n", 1)[0][2:]
        for content_type in (f"multipart/mixed; boundary={marker}", ""):  # the outer header was not recorded
            results = parse_batch(text.encode("utf-8"), content_type)
            assert len(results) == text.count("HTTP/1.1 "), name
            assert [r.status for r in results] == [int(s) for s in re.findall(r"HTTP/1\.1 (\d{3})", text)]
            if statuses:
                assert [r.status for r in results] == statuses
    chrome = parse_batch(recording("BrandingTests/SetChromeOptionsForCommunicationSite-0-00003")["Response"].encode(), "")
    assert chrome[0].json() == {"odata.null": True} and chrome[1].body == b"" and chrome[2].json() == {"value": 200}
    assert chrome[0].headers["content-type"] == NOMETA_CT
    large = parse_batch(recording("BatchClientTests/HandleBatchErrorsForLargeBatch-0-00009")["Response"].encode(), "")
    missing = [r for r in large if r.status == 404]
    assert len(missing) == 1 and missing[0].json()["odata.error"]["code"] == "-2130575338, System.ArgumentException"
    assert _people().read_result("someone", missing[0]) is None  # a 404 reads as "no profile"


@pytest.mark.parametrize(
    "name",
    [
        "WebTests/GetByServerRelativeSpecialChars-0-00005",
        "FilesTests/GetExistingFileInOtherSiteByServerRelativeUrlAsyncTest-1-00002",
        "ExceptionTests/ThrowSharePointRestServiceException-0-00003",
    ],
)
def test_maforge_reads_recorded_errors(name):
    from requests.structures import CaseInsensitiveDict

    from maforge.connectors.spo.session import Answer, _error_from_answer

    recorded = recording(name)
    expected = json.loads(recorded["Response"])["odata.error"]
    headers = CaseInsensitiveDict(recorded["Headers"])
    problem = _error_from_answer("GET", "https://contoso.sharepoint.com/_api/web/x", Answer(recorded["StatusCode"], headers, recorded["Response"].encode(), recorded["Headers"]["SPRequestGuid"]))
    assert problem.status == recorded["StatusCode"]
    assert problem.code == expected["code"]
    assert expected["message"]["value"] in str(problem)
    assert recorded["Headers"]["SPRequestGuid"] in str(problem)


def test_maforge_csom_reader_reads_recorded_answers():
    csom = pytest.importorskip("maforge.connectors.spo.csom")

    def session_answering(name: str):
        recorded = recording(name)
        answer = SimpleNamespace(status=recorded["StatusCode"], body=recorded["Response"].encode("utf-8"), request_id=recorded["Headers"]["SPRequestGuid"], headers=recorded["Headers"])
        return SimpleNamespace(request=lambda *args, **kwargs: answer)

    site = "https://contoso-admin.sharepoint.com"
    assert csom.call(session_answering("HubSiteTests/RegisterHubAndJoinLeaveUnregisterTest-1800-00002"), site, b"", safe_to_repeat=True) == {2: {"IsNull": False}}
    results = csom.call(session_answering("PermissionRequestsTests/ApprovePermissionsRequestTest-300-00002"), site, b"", safe_to_repeat=True)
    children = results[4]["_Child_Items_"]
    assert [csom.guid_value(child["Id"]) for child in children] == ["cb5b254e-b7fb-46e9-9b81-4a2c8de94209", "038400e7-7512-4d32-af2b-7b2d3d365286"]
    with pytest.raises(csom.CsomRefused) as refused:
        csom.call(session_answering("ExceptionTests/ThrowCSOMServiceException-0-00002"), site, b"", safe_to_repeat=True)
    assert refused.value.status == 200 and refused.value.code == "System.Xml.Schema.XmlSchemaValidationException"
    assert "The 'TypeId' attribute is invalid" in str(refused.value)
