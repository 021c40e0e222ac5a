"""Emulator behaviours of docs/emulator.md ("PeopleManager REST"; "Files, CSOM, SOAP and
search") that no recording covers and no other test proves: GetUserProfileProperties, the file
routes' path rules and delete forms, the SOAP schema and single-property reads, and search that
is never stale."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from emulator_spo_support import CLAIMS, PATTI, VERBOSE, Spo

PM = "/_api/SP.UserProfiles.PeopleManager"
UPS = "http://microsoft.com/webservices/SharePointPortalServer/UserProfileService"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


@pytest.fixture
def emulator(emulator_factory):
    return emulator_factory(throttle="none")


@pytest.fixture
def spo(emulator):
    return Spo(emulator)


def test_get_user_profile_properties_is_a_key_value_collection(spo, emulator):
    plain = spo.get(f"{PM}/GetUserProfileProperties(accountName=@v)?@v='{PATTI}'")
    assert plain.status_code == 200
    entries = plain.json()["value"]
    assert len(entries) == len(emulator.state.schema)
    assert all(list(e) == ["Key", "Value", "ValueType"] and e["ValueType"] == "Edm.String" for e in entries)
    assert {e["Key"]: e["Value"] for e in entries}["PreferredName"] == "Patti Fernandez"
    verbose = spo.get(f"{PM}/GetUserProfileProperties(accountName=@v)?@v='{PATTI}'", accept=VERBOSE).json()
    first = verbose["d"]["GetUserProfileProperties"]["results"][0]
    assert first["__metadata"] == {"type": "SP.KeyValue"}
    nobody = spo.get(f"{PM}/GetUserProfileProperties(accountName=@v)?@v='nobody@contoso.onmicrosoft.com'")
    assert nobody.json() == {"odata.null": True}


def test_file_paths_are_case_insensitive_every_folder_exists_and_both_delete_forms_work(spo, emulator):
    added = spo.post("/_api/web/GetFolderByServerRelativeUrl('/Shared Documents/Imports')/Files/add(url='Data.json',overwrite=true)", data=b"{}", admin=False)
    assert added.status_code == 200 and added.json()["ServerRelativeUrl"] == "/Shared Documents/Imports/Data.json"
    # another case, and the emulator's own /spo/<tenant> prefix, find the same file
    for path in ("/shared documents/imports/DATA.json", "/spo/contoso/Shared Documents/Imports/Data.json"):
        assert spo.get(f"/_api/web/GetFileByServerRelativeUrl('{path}')/$value", admin=False).content == b"{}", path
    never_made = spo.get("/_api/web/GetFolderByServerRelativeUrl('/Never/Made')/Files", admin=False)
    assert never_made.status_code == 200 and never_made.json() == {"value": []}  # libraries are not modelled
    spo.post("/_api/web/GetFolderByServerRelativeUrl('/Shared Documents/Imports')/Files/add(url='Log.txt',overwrite=true)", data=b"x", admin=False)
    posted = spo.post("/_api/web/GetFileByServerRelativeUrl('/Shared Documents/Imports/Log.txt')", admin=False, headers={"X-HTTP-Method": "DELETE", "IF-MATCH": "*"})
    deleted = spo.session.delete(spo.url("/_api/web/GetFileByServerRelativeUrl('/Shared Documents/Imports/data.json')", admin=False), headers=spo.headers(), timeout=30)
    assert (posted.status_code, posted.content, deleted.status_code, deleted.content) == (200, b"", 200, b"")
    listing = spo.get("/_api/web/GetFolderByServerRelativeUrl('/Shared Documents/Imports')/Files", admin=False).json()
    assert listing == {"value": []}


def _soap(spo, operation: str, inner: str):
    envelope = f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP}"><soap:Body><{operation} xmlns="{UPS}">{inner}</{operation}></soap:Body></soap:Envelope>'
    return spo.post("/_vti_bin/UserProfileService.asmx", data=envelope.encode(), headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{UPS}/{operation}"'})


def test_soap_schema_and_single_property_reads(spo, emulator):
    schema = _soap(spo, "GetUserProfileSchema", "")
    assert schema.status_code == 200 and schema.headers["Content-Type"] == "text/xml; charset=utf-8"
    infos = ET.fromstring(schema.content).findall(f".//{{{UPS}}}PropertyInfo")
    assert len(infos) == len(emulator.state.schema)
    skills = next(i for i in infos if i.findtext(f"{{{UPS}}}Name") == "SPS-Skills")
    assert skills.findtext(f"{{{UPS}}}IsMultiValue") == "true"
    one = _soap(spo, "GetUserPropertyByAccountName", f"<accountName>{CLAIMS + PATTI}</accountName><propertyName>SPS-Skills</propertyName>")
    assert one.status_code == 200
    values = [v.text for v in ET.fromstring(one.content).iter(f"{{{UPS}}}Value")]
    assert values == ["Leadership", "Strategy", "Public speaking"]  # one ValueData per value, no separator
    unknown = _soap(spo, "GetUserPropertyByAccountName", f"<accountName>{CLAIMS + PATTI}</accountName><propertyName>NoSuch</propertyName>")
    assert unknown.status_code == 500 and "Property Not Defined" in unknown.text


def test_search_is_never_stale(spo):
    assert spo.set_single(CLAIMS + PATTI, "Department", "Just written").status_code == 200
    answer = spo.get("/_api/search/query?querytext='*'&sourceid='b09a7990-05ea-4af9-81ef-edfab16c4e31'&selectproperties='AccountName,Department'&rowlimit=1", admin=False)
    cells = {c["Key"]: c["Value"] for c in answer.json()["PrimaryQueryResult"]["RelevantResults"]["Table"]["Rows"][0]["Cells"]}
    assert cells["AccountName"] == CLAIMS + PATTI and cells["Department"] == "Just written"
