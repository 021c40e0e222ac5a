"""The emulator's bulk profile import: file upload, CSOM and REST queueing, job states, error
logs next to the data file, and values applied through the write log."""

from __future__ import annotations

import json
import re
import time

import pytest

from emulator_spo_support import CLAIMS, LYNNE, NOMETA, PATTI, VERBOSE, Spo, odata_error

TENANT_TYPE = "{e45fd516-a408-4ca4-b6dc-268e2f1f0f83}"
NS = "http://schemas.microsoft.com/sharepoint/clientquery/2009"


@pytest.fixture
def fast(emulator_factory):
    return emulator_factory(bulk_job_seconds=0.3)


def _upload(spo, name: str, data: bytes, folder: str = "/Shared Documents"):
    answer = spo.post(f"/_api/web/GetFolderByServerRelativeUrl('{folder}')/Files/add(url='{name}',overwrite=true)", data=data, admin=False)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _file(rows) -> bytes:
    return b"\xef\xbb\xbf" + json.dumps({"value": rows}, ensure_ascii=False).encode("utf-8")


def _queue_csom(spo, source_uri: str, mapping: dict[str, str], id_type: int = 2, id_name: str = "IdName"):
    properties = "".join(f'<Property Name="{k}" Type="String">{v}</Property>' for k, v in mapping.items())
    body = (
        f'<Request AddExpandoFieldTypeSuffix="true" SchemaVersion="15.0.0.0" LibraryVersion="16.0.0.0" ApplicationName="maforge tests" xmlns="{NS}">'
        '<Actions><ObjectPath Id="2" ObjectPathId="1" />'
        '<Method Name="QueueImportProfileProperties" Id="3" ObjectPathId="1"><Parameters>'
        f'<Parameter Type="Enum">{id_type}</Parameter><Parameter Type="String">{id_name}</Parameter>'
        f'<Parameter Type="Dictionary">{properties}</Parameter><Parameter Type="String">{source_uri}</Parameter>'
        "</Parameters></Method></Actions>"
        f'<ObjectPaths><Constructor Id="1" TypeId="{TENANT_TYPE}" /></ObjectPaths></Request>'
    )
    answer = spo.post("/_vti_bin/client.svc/ProcessQuery", data=body.encode(), headers={"Content-Type": "text/xml"})
    assert answer.status_code == 200
    return answer


def _job_csom(spo, job_id: str):
    body = (
        f'<Request SchemaVersion="15.0.0.0" LibraryVersion="16.0.0.0" ApplicationName="maforge tests" xmlns="{NS}">'
        '<Actions><ObjectPath Id="2" ObjectPathId="1"/><ObjectPath Id="4" ObjectPathId="3"/>'
        '<Query Id="5" ObjectPathId="3"><Query SelectAllProperties="true"><Properties/></Query></Query></Actions>'
        f'<ObjectPaths><Constructor Id="1" TypeId="{TENANT_TYPE}"/>'
        f'<Method Id="3" ParentId="1" Name="GetImportProfilePropertyJob"><Parameters><Parameter Type="Guid">{{{job_id}}}</Parameter></Parameters></Method></ObjectPaths></Request>'
    )
    answer = spo.post("/_vti_bin/client.svc/ProcessQuery", data=body.encode(), headers={"Content-Type": "text/xml"})
    items = answer.json()
    assert items[0]["ErrorInfo"] is None
    assert items[1:5] == [2, {"IsNull": False}, 4, {"IsNull": False}]
    return items[6]


def _wait(spo, job_id: str, timeout: float = 10.0):
    states = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = _job_csom(spo, job_id)
        states.append(info["State"])
        if info["State"] in (4, 5):
            return info, states
        time.sleep(0.05)
    raise AssertionError(f"job never finished: {states}")


def _log(spo, info) -> list[str]:
    folder = info["LogFolderUri"].split("sharepoint.com", 1)[-1]  # a URL or a server-relative path
    listing = spo.get(f"/_api/web/GetFolderByServerRelativeUrl('{folder}')/Files", admin=False).json()["value"]
    assert [f["Name"] for f in listing] == [f"{info['JobId'].strip('/').removeprefix('Guid(').rstrip(')')}.log"]
    raw = spo.get(f"/_api/web/GetFileByServerRelativeUrl('{listing[0]['ServerRelativeUrl']}')/$value", admin=False)
    return [line for line in raw.content.decode("utf-8").split("\r\n") if line]


def test_bulk_import_end_to_end_with_csom(fast):
    spo = Spo(fast)
    rows = [
        {"IdName": PATTI, "Cost": "CC-0001", "Source": "Workday"},
        {"IdName": LYNNE, "Cost": "CC-0002", "Source": "Workday – Ødegård"},
        {"IdName": "nobody@contoso.onmicrosoft.com", "Cost": "CC-0003"},
        {"Cost": "CC-0004"},
    ]
    uploaded = _upload(spo, "profiles.json", _file(rows))
    assert uploaded["ServerRelativeUrl"] == "/Shared Documents/profiles.json"
    source = "https://contoso.sharepoint.com" + uploaded["ServerRelativeUrl"]
    queued = _queue_csom(spo, source, {"Cost": "CostCenter", "Source": "ProfileSource"})
    assert "\\/Guid(" in queued.text  # the CSOM framing of a Guid result
    items = queued.json()
    assert items[0]["ErrorInfo"] is None and items[1:3] == [2, {"IsNull": False}] and items[3] == 3
    job_id = re.fullmatch(r"/Guid\(([0-9a-f-]{36})\)/", items[4]).group(1)
    info, states = _wait(spo, job_id)
    assert states[0] in (1, 2, 3)
    assert info["_ObjectType_"] == "Microsoft.Online.SharePoint.TenantManagement.ImportProfilePropertiesJobInfo"
    assert info["State"] == 4 and info["Error"] == 30  # Succeeded, ImportCompleteWithError
    assert info["SourceUri"] == source
    assert info["LogFolderUri"] == f"https://contoso.sharepoint.com/Shared Documents/{job_id}"
    assert _log(spo, info) == ["IdentityNotResolvable nobody@contoso.onmicrosoft.com User identity cannot be resolved", "MissingIdentity - The identity is missing for the user object"]
    writes = [(w.account, w.property, w.value, w.via, w.request_id) for w in fast.state.writes]
    assert writes == [
        (CLAIMS + PATTI, "CostCenter", "CC-0001", "bulk", job_id),
        (CLAIMS + PATTI, "ProfileSource", "Workday", "bulk", job_id),
        (CLAIMS + LYNNE, "CostCenter", "CC-0002", "bulk", job_id),
        (CLAIMS + LYNNE, "ProfileSource", "Workday – Ødegård", "bulk", job_id),
    ]
    assert spo.property(LYNNE, "ProfileSource") == "Workday – Ødegård"
    time.sleep(0.4)
    assert len(fast.state.writes) == 4  # the timer and the polls never run a job twice


def test_unmapped_key_aborts_the_job(fast):
    spo = Spo(fast)
    _upload(spo, "bad.json", _file([{"IdName": PATTI, "Cost": "CC-1", "AboutMe": "hi"}]))
    items = _queue_csom(spo, "/Shared Documents/bad.json", {"Cost": "CostCenter"}).json()
    job_id = items[4].strip("/")[5:-1]
    info, _ = _wait(spo, job_id)
    assert info["State"] == 5 and info["Error"] == 23  # Error, InvalidDataFile
    assert _log(spo, info) == [f"InvalidProperty - {PATTI} Property 'AboutMe' is not mapped to any property in the user profile application."]
    assert fast.state.writes == []


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"About": "AboutMe"}, "Property Names [AboutMe] are not custom properties."),
        ({"Colour": "FavouriteColour"}, "Property Names [FavouriteColour] are editable by user."),
        ({"X": "NoSuchThing"}, "Property Names [NoSuchThing] do not exist."),
    ],
)
def test_ineligible_properties_are_refused_when_queued(fast, mapping, message):
    spo = Spo(fast)
    items = _queue_csom(spo, "/Shared Documents/x.json", mapping).json()
    assert len(items) == 1
    error = items[0]["ErrorInfo"]
    assert error["ErrorMessage"] == message and error["ErrorCode"] == -1
    assert fast.state.jobs == {}


def test_file_problems_end_the_job_in_error(fast):
    spo = Spo(fast)
    _upload(spo, "broken.json", b'{"value": [ {"IdName": "x"} ')
    cases = {
        "https://contoso.sharepoint.com/Shared Documents/missing.json": 20,  # DataFileNotExist
        "https://fabrikam.sharepoint.com/Shared Documents/broken.json": 21,  # DataFileNotInTenant
        "https://contoso.sharepoint.com/Shared Documents/broken.json": 23,  # InvalidDataFile
    }
    for source, error in cases.items():
        job_id = _queue_csom(spo, source, {"Cost": "CostCenter"}).json()[4].strip("/")[5:-1]
        info, _ = _wait(spo, job_id)
        assert (info["State"], info["Error"]) == (5, error), source
    assert "DataFileNotJson - " in info["ErrorMessage"]


def test_queueing_needs_the_admin_host_and_rights(fast):
    root = Spo(fast)
    body = '<Request xmlns="%s"><Actions><ObjectPath Id="2" ObjectPathId="1"/></Actions><ObjectPaths><Constructor Id="1" TypeId="%s"/></ObjectPaths></Request>' % (NS, TENANT_TYPE)
    answer = root.post("/_vti_bin/client.svc/ProcessQuery", data=body.encode(), admin=False, headers={"Content-Type": "text/xml"})
    assert answer.status_code == 200 and answer.json()[0]["ErrorInfo"]["ErrorTypeName"] == "System.UnauthorizedAccessException"
    reader = Spo(fast, roles=["User.Read.All"])
    assert _queue_csom(reader, "/Shared Documents/x.json", {"Cost": "CostCenter"}).json()[0]["ErrorInfo"] is not None


_GOOD_PARAMETERS = (
    '<Parameter Type="Enum">2</Parameter><Parameter Type="String">IdName</Parameter>'
    '<Parameter Type="Dictionary"><Property Name="Cost" Type="String">CostCenter</Property></Parameter>'
    '<Parameter Type="String">/Shared Documents/x.json</Parameter>'
)


def _raw_queue(parameters: str, name: str = "QueueImportProfileProperties", namespace: str = NS) -> bytes:
    return (
        f'<Request AddExpandoFieldTypeSuffix="true" SchemaVersion="15.0.0.0" LibraryVersion="16.0.0.0" ApplicationName="maforge tests" xmlns="{namespace}">'
        f'<Actions><ObjectPath Id="2" ObjectPathId="1" /><Method Name="{name}" Id="3" ObjectPathId="1"><Parameters>{parameters}</Parameters></Method></Actions>'
        f'<ObjectPaths><Constructor Id="1" TypeId="{TENANT_TYPE}" /></ObjectPaths></Request>'
    ).encode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_raw_queue(_GOOD_PARAMETERS.replace('Type="Dictionary"', 'Type="Object[]"')), "The 'Type' attribute is invalid - The value 'Object[]' is invalid according to its datatype 'http://schemas.microsoft.com/sharepoint/clientquery/2009:MethodParameterTypeType' - The Enumeration constraint failed."),
        (_raw_queue(_GOOD_PARAMETERS.replace('Type="Enum">2', 'Type="Int32">2')), "QueueImportProfileProperties takes parameters of types (Enum, String, Dictionary, String), not (Int32, String, Dictionary, String)."),
        (_raw_queue(_GOOD_PARAMETERS.replace('Type="Enum">2', 'Type="Enum">two')), "'two' is not a valid Enum value."),
        (_raw_queue(_GOOD_PARAMETERS.replace('Type="String">CostCenter</Property>', 'Type="Null" />')), "Every value of the propertyMap Dictionary must be a String."),
        (_raw_queue(_GOOD_PARAMETERS.replace("<Property ", "<Item ").replace("</Property>", "</Item>")), "A Dictionary holds only Property elements, each with a Name."),
        (_raw_queue(_GOOD_PARAMETERS.rsplit("<Parameter", 1)[0]), "QueueImportProfileProperties takes parameters of types (Enum, String, Dictionary, String), not (Enum, String, Dictionary)."),
        (_raw_queue(_GOOD_PARAMETERS, name="queueimportprofileproperties"), "Method 'queueimportprofileproperties' does not exist on Office365Tenant, or is not modelled by the emulator."),
        (_raw_queue(_GOOD_PARAMETERS, namespace="urn:not-csom"), "The root element must be Request in the namespace http://schemas.microsoft.com/sharepoint/clientquery/2009, not {urn:not-csom}Request."),
        (b"<Request", None),
    ],
    ids=["unknown-type", "enum-as-int32", "enum-not-a-number", "null-map-value", "map-not-properties", "three-parameters", "method-name-case", "namespace", "not-xml"],
)
def test_malformed_csom_requests_are_refused_whole_in_errorinfo(fast, body, message):
    """Only the request the .NET CSOM runtime writes is read: anything else is refused as a
    whole (HTTP 200, the header's ErrorInfo), and no job is queued."""
    answer = Spo(fast).post("/_vti_bin/client.svc/ProcessQuery", data=body, headers={"Content-Type": "text/xml"})
    assert answer.status_code == 200
    items = answer.json()
    assert len(items) == 1 and set(items[0]) == {"SchemaVersion", "LibraryVersion", "ErrorInfo", "TraceCorrelationId"}
    info = items[0]["ErrorInfo"]
    assert set(info) == {"ErrorMessage", "ErrorValue", "TraceCorrelationId", "ErrorCode", "ErrorTypeName"}
    assert (info["ErrorCode"], info["ErrorTypeName"]) == (-2147024809, "Microsoft.SharePoint.Client.InvalidClientQueryException")
    if message is not None:
        assert info["ErrorMessage"] == message
    assert fast.state.jobs == {}


def test_a_job_id_must_be_a_guid(fast):
    bad = (
        f'<Request SchemaVersion="15.0.0.0" LibraryVersion="16.0.0.0" ApplicationName="maforge tests" xmlns="{NS}">'
        '<Actions><ObjectPath Id="2" ObjectPathId="1"/><ObjectPath Id="4" ObjectPathId="3"/></Actions>'
        f'<ObjectPaths><Constructor Id="1" TypeId="{TENANT_TYPE}"/>'
        '<Method Id="3" ParentId="1" Name="GetImportProfilePropertyJob"><Parameters><Parameter Type="Guid">job-1</Parameter></Parameters></Method></ObjectPaths></Request>'
    )
    info = Spo(fast).post("/_vti_bin/client.svc/ProcessQuery", data=bad.encode(), headers={"Content-Type": "text/xml"}).json()[0]["ErrorInfo"]
    assert info["ErrorMessage"] == "'job-1' is not a valid Guid value."


def test_delegated_admin_cannot_queue_by_default(emulator_factory):
    """A delegated tenant admin's token is refused (pnp/powershell #4267); with
    --allow-delegated-profile-writes the job is queued and runs."""
    strict = emulator_factory(bulk_job_seconds=0.3)
    refused = _queue_csom(Spo(strict, upn=strict.state.username), "/Shared Documents/x.json", {"Cost": "CostCenter"}).json()[0]["ErrorInfo"]
    assert refused["ErrorTypeName"] == "System.UnauthorizedAccessException"
    assert refused["ErrorMessage"] == "Access Denied: This application does not have the required permissions to access profile information."
    kind = emulator_factory(bulk_job_seconds=0.3, allow_delegated_profile_writes=True)
    admin = Spo(kind, upn=kind.state.username)
    _upload(admin, "delegated.json", _file([{"IdName": PATTI, "Cost": "CC-DELEGATED"}]))
    job_id = _queue_csom(admin, "/Shared Documents/delegated.json", {"Cost": "CostCenter"}).json()[4].strip("/")[5:-1]
    info, _ = _wait(admin, job_id)
    assert (info["State"], info["Error"]) == (4, 0)
    assert Spo(kind).property(PATTI, "CostCenter") == "CC-DELEGATED"


def test_rest_office365tenant_variant_and_job_listing(fast):
    spo = Spo(fast)
    _upload(spo, "rest.json", _file([{"IdName": PATTI, "Cost": "CC-REST"}]))
    body = {
        "idType": 2,
        "sourceDataIdProperty": "IdName",
        "propertyMap": {"results": [{"__metadata": {"type": "SP.KeyValue"}, "Key": "Cost", "Value": "CostCenter", "ValueType": "Edm.String"}]},
        "sourceUri": f"{fast.spo_url}/Shared Documents/rest.json",
    }
    queued = spo.post("/_api/Microsoft.Online.SharePoint.TenantManagement.Office365Tenant/QueueImportProfileProperties", body, accept=VERBOSE)
    assert queued.status_code == 200, queued.text
    job_id = queued.json()["d"]["QueueImportProfileProperties"]
    deadline = time.time() + 10
    while time.time() < deadline:
        job = spo.get(f"/_api/Microsoft.Online.SharePoint.TenantManagement.Office365Tenant/GetImportProfilePropertyJob('{job_id}')").json()
        if job["State"] == 4:
            break
        time.sleep(0.05)
    assert job["State"] == 4 and job["Error"] == 0 and job["JobId"] == job_id
    assert spo.property(PATTI, "CostCenter") == "CC-REST"
    listing = spo.get("/_api/Microsoft.Online.SharePoint.TenantManagement.Office365Tenant/GetImportProfilePropertyJobs").json()["value"]
    assert [j["JobId"] for j in listing] == [job_id]
    # The plain JSON array form of Collection(SP.KeyValue) is read too.
    plain = [{"Key": "About", "Value": "AboutMe", "ValueType": "Edm.String"}]
    refused = spo.post("/_api/Microsoft.Online.SharePoint.TenantManagement.Office365Tenant/QueueImportProfileProperties", {**body, "propertyMap": plain})
    assert refused.status_code == 500 and refused.json()["odata.error"]["message"]["value"] == "Property Names [AboutMe] are not custom properties."


def test_rest_property_map_as_a_json_object_is_refused_as_odata_refuses_it(emulator_factory):
    """$metadata types propertyMap Collection(SP.KeyValue): an object where the collection
    belongs is refused by the OData reader before anything runs, unless the switch allows it."""
    queue = "/_api/Microsoft.Online.SharePoint.TenantManagement.Office365Tenant/QueueImportProfileProperties"
    strict = emulator_factory(bulk_job_seconds=0.3)
    body = {"idType": 2, "sourceDataIdProperty": "IdName", "propertyMap": {"Cost": "CostCenter"}, "sourceUri": "/Shared Documents/x.json"}
    for accept, key in ((NOMETA, "odata.error"), (VERBOSE, "error")):
        refused = Spo(strict).post(queue, body, accept=accept)
        assert refused.status_code == 400
        assert odata_error(refused, key) == ("-1, Microsoft.Data.OData.ODataException", "An unexpected 'StartObject' node was found when reading from the JSON reader. A 'StartArray' node was expected.")
    text = Spo(strict).post(queue, {**body, "propertyMap": "Cost=CostCenter"})
    assert text.status_code == 400 and "'PrimitiveValue' node" in odata_error(text)[1]
    assert strict.state.jobs == {}
    allowing = emulator_factory(bulk_job_seconds=0.3, allow_object_property_map=True)
    spo = Spo(allowing)
    _upload(spo, "object.json", _file([{"IdName": PATTI, "Cost": "CC-OBJECT"}]))
    queued = spo.post(queue, {**body, "sourceUri": "/Shared Documents/object.json"})
    assert queued.status_code == 200, queued.text
    info, _ = _wait(spo, queued.json()["value"])
    assert (info["State"], info["Error"]) == (4, 0) and spo.property(PATTI, "CostCenter") == "CC-OBJECT"


def test_a_file_without_bom_is_read_as_latin1(fast):
    spo = Spo(fast)
    _upload(spo, "nobom.json", json.dumps({"value": [{"IdName": PATTI, "Cost": "Ødegård"}]}, ensure_ascii=False).encode("utf-8"))
    job_id = _queue_csom(spo, "/Shared Documents/nobom.json", {"Cost": "CostCenter"}).json()[4].strip("/")[5:-1]
    _wait(spo, job_id)
    assert spo.property(PATTI, "CostCenter") == "Ã\x98degÃ¥rd"  # mojibake, as the documentation warns


def test_values_other_than_text_in_a_data_file(fast):
    """null clears a property, numbers and booleans are written as text, and an array or object
    is a row error in the log; the job still succeeds, ImportCompleteWithError."""
    spo = Spo(fast)
    _upload(spo, "values.json", _file([{"IdName": PATTI, "Cost": None, "Source": 42}, {"IdName": LYNNE, "Cost": ["CC-1"], "Source": True}]))
    job_id = _queue_csom(spo, "/Shared Documents/values.json", {"Cost": "CostCenter", "Source": "ProfileSource"}).json()[4].strip("/")[5:-1]
    info, _ = _wait(spo, job_id)
    assert (info["State"], info["Error"]) == (4, 30)
    assert _log(spo, info) == [f"InvalidPropertyValue - {LYNNE} Property 'Cost' must be a single string value."]
    assert [(w.account, w.property, w.value) for w in fast.state.writes] == [
        (CLAIMS + PATTI, "CostCenter", ""),
        (CLAIMS + PATTI, "ProfileSource", "42"),
        (CLAIMS + LYNNE, "ProfileSource", "True"),
    ]


def test_a_data_file_over_500000_property_values_is_too_big(fast):
    spo = Spo(fast)
    rows = [{"I": f"u{n}@contoso.onmicrosoft.com", "a": "1", "b": "2"} for n in range(250_001)]  # 500,002 values
    _upload(spo, "big.json", _file(rows))
    job_id = _queue_csom(spo, "/Shared Documents/big.json", {"a": "CostCenter", "b": "ProfileSource"}, id_name="I").json()[4].strip("/")[5:-1]
    info, _ = _wait(spo, job_id, timeout=60)
    assert (info["State"], info["Error"]) == (5, 22)  # Error, DataFileTooBig
    assert info["ErrorMessage"] == "DataFileTooBig - The data file has 500002 properties; at most 500000 are allowed."
    assert fast.state.writes == []


def test_upload_without_overwrite_and_missing_files(fast):
    spo = Spo(fast)
    _upload(spo, "a.json", b"{}")
    again = spo.post("/_api/web/GetFolderByServerRelativeUrl('/Shared Documents')/Files/add(url='a.json',overwrite=false)", data=b"{}", admin=False)
    assert again.status_code == 400
    missing = spo.get("/_api/web/GetFileByServerRelativeUrl('/Shared Documents/none.json')", admin=False)
    assert missing.status_code == 404
