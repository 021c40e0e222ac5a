"""The emulator's SharePoint REST side: contextinfo, PeopleManager (URL forms, OData formats,
error shapes, the host / editable / taxonomy rules), $batch, UserProfileService.asmx, and the
write log."""

from __future__ import annotations

import dataclasses
import json
import re
import xml.etree.ElementTree as ET

import pytest

from emulator_spo_support import CLAIMS, LYNNE, NOMETA, PATTI, VERBOSE, Spo, odata_error
from maforge.connectors.emulator.throttle import Throttle

PM = "/_api/SP.UserProfiles.PeopleManager"
PATTI_CLAIM = CLAIMS + PATTI


@pytest.fixture
def spo(emulator):
    return Spo(emulator)


# ---------------------------------------------------------------------- contextinfo


def test_contextinfo_verbose_and_nometadata(spo, emulator):
    verbose = spo.post("/_api/contextInfo", accept=VERBOSE)
    assert verbose.status_code == 200
    info = verbose.json()["d"]["GetContextWebInformation"]
    assert info["FormDigestValue"].startswith("0x") and "," in info["FormDigestValue"]
    assert info["FormDigestTimeoutSeconds"] == 1800
    assert info["WebFullUrl"] == emulator.admin_url
    assert verbose.headers["Content-Type"].startswith("application/json;odata=verbose")
    plain = spo.post("/_api/contextinfo", admin=False)
    assert plain.json()["SiteFullUrl"] == emulator.spo_url
    assert spo.get("/_api/contextinfo").status_code == 405


def test_secret_token_and_missing_token_are_refused(emulator):
    secret = Spo(emulator, appidacr="1")
    answer = secret.get(f"{PM}/GetPropertiesFor(accountName=@v)?@v='{PATTI_CLAIM.replace('#', '%23')}'")
    assert answer.status_code == 401
    assert answer.json() == {"error_description": "Unsupported app only token."}
    anonymous = secret.session.post(emulator.admin_url + "/_api/contextinfo", timeout=10)
    assert anonymous.status_code == 401


def test_a_graph_token_and_an_expired_token_are_refused(emulator):
    """A token is bound to one resource: a Graph token at SharePoint is 401 "Invalid issuer or
    signature." (sp-dev-docs #5889); an expired one is 401 too."""
    path = f"{PM}/GetPropertiesFor(accountName=@v)?@v='{PATTI_CLAIM.replace('#', '%23')}'"
    graph = Spo(emulator, audience="https://graph.microsoft.com").get(path)
    assert graph.status_code == 401 and graph.json() == {"error_description": "Invalid issuer or signature."}
    expired = Spo(emulator)
    expired.token, _ = emulator.minter.mint("https://contoso.sharepoint.com", {"tid": emulator.state.tenant_id, "appidacr": "2", "roles": ["User.ReadWrite.All"]}, lifetime=-600)
    answer = expired.get(path)
    assert answer.status_code == 401 and answer.json() == {"error_description": "The token has expired."}


# ---------------------------------------------------------------------- reads


def _bag(properties):
    return {item["Key"]: item["Value"] for item in properties}


@pytest.mark.parametrize(
    "path",
    [
        f"{PM}/GetPropertiesFor(accountName=@v)?@v='i:0%23.f|membership|{PATTI}'",
        f"{PM}/GetPropertiesFor(accountName=@v)?%40v=%27i%3A0%23.f%7Cmembership%7Cpatti.fernandez%40contoso.onmicrosoft.com%27",
        f"{PM}/GetPropertiesFor(accountName='i:0%23.f%7Cmembership%7C{PATTI}')",
        f"{PM}/getpropertiesfor('i:0%23.f%7Cmembership%7C{PATTI.upper()}')",
        f"/_api/sp.userprofiles.peoplemanager/GetPropertiesFor(accountName=@v)?@v='{PATTI}'",
    ],
)
def test_get_properties_for_url_forms(spo, path):
    answer = spo.get(path)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["AccountName"] == PATTI_CLAIM
    bag = _bag(body["UserProfileProperties"])
    assert bag["FirstName"] == "Patti"
    assert bag["SPS-Skills"] == "Leadership|Strategy|Public speaking"  # multi-valued: one string, "|"
    assert bag["SPS-Birthday"] == "" and bag["ADGuid"] == "System.Byte[]"
    assert all(item["ValueType"] == "Edm.String" for item in body["UserProfileProperties"])
    assert len(body["UserProfileProperties"]) == len(spo.emulator.state.schema)


def test_get_properties_for_post_inline_literal_verbose(spo):
    answer = spo.post(f"{PM}/GetPropertiesFor(accountName='i:0%23.f%7Cmembership%7C{PATTI}')", accept=VERBOSE)
    assert answer.status_code == 200
    d = answer.json()["d"]
    assert d["__metadata"]["type"] == "SP.UserProfiles.PersonProperties"
    assert d["ExtendedReports"] == {"results": [PATTI_CLAIM]}
    first = d["UserProfileProperties"]["results"][0]
    assert first["__metadata"] == {"type": "SP.KeyValue"} and first["Key"] == "UserProfile_GUID"
    assert d["PersonalSiteHostUrl"] == "https://contoso-my.sharepoint.com:443/"
    assert "%2E" in d["UserUrl"]


def test_minimal_metadata_and_a_property_of_the_result(spo):
    answer = spo.get(f"{PM}/GetPropertiesFor(accountName=@v)?@v='{PATTI}'", accept="application/json")
    assert answer.json()["odata.type"] == "SP.UserProfiles.PersonProperties"
    one = spo.get(f"{PM}/GetPropertiesFor(accountName=@v)/PersonalSiteHostUrl?@v='{PATTI}'")
    assert one.json() == {"value": "https://contoso-my.sharepoint.com:443/"}
    selected = spo.get(f"{PM}/GetPropertiesFor(accountName=@v)?@v='{PATTI}'&$select=AccountName,Email")
    assert selected.json() == {"AccountName": PATTI_CLAIM, "Email": PATTI}
    lynne = spo.get(f"{PM}/GetPropertiesFor(accountName=@v)?@v='{LYNNE}'").json()
    assert lynne["ExtendedManagers"] == [PATTI_CLAIM]


def test_unknown_and_disabled_accounts_read_as_null(emulator_factory):
    emulator = emulator_factory(profiles=60)
    spo = Spo(emulator)
    for account in ["i:0%23.f|membership|nobody@contoso.onmicrosoft.com", "user000050@contoso.onmicrosoft.com", "i:0%23.f|membership|o''brien@contoso.com"]:
        answer = spo.get(f"{PM}/GetPropertiesFor(accountName=@v)?@v='{account}'")
        assert answer.status_code == 200 and answer.json() == {"odata.null": True}
        verbose = spo.get(f"{PM}/GetPropertiesFor(accountName=@v)?@v='{account}'", accept=VERBOSE)
        assert verbose.json() == {"d": {"GetPropertiesFor": None}}
    value = spo.get(f"{PM}/GetUserProfilePropertyFor(accountName=@v,propertyName='Department')?@v='nobody@contoso.onmicrosoft.com'")
    assert value.json() == {"odata.null": True}
    emulator.unknown_account = "error"
    answer = spo.get(f"{PM}/GetPropertiesFor(accountName=@v)?@v='nobody@contoso.onmicrosoft.com'")
    assert answer.status_code == 500
    assert odata_error(answer) == ("-1, Microsoft.Office.Server.UserProfiles.UserNotFoundException", "User Not Found: Could not load profile data from the database.")


def test_get_user_profile_property_for_named_and_positional(spo):
    named = spo.get(f"{PM}/GetUserProfilePropertyFor(accountName=@v,propertyName='PreferredName')?@v='i:0%23.f|membership|{PATTI}'")
    assert named.json() == {"value": "Patti Fernandez"}
    positional = spo.get(f"{PM}/GetUserProfilePropertyFor('i:0%23.f%7Cmembership%7C{PATTI}','Department')", accept=VERBOSE)
    assert positional.json() == {"d": {"GetUserProfilePropertyFor": "Unassigned"}}
    skills = spo.get(f"{PM}/GetUserProfilePropertyFor('{PATTI}','sps-skills')")
    assert skills.json() == {"value": "Leadership|Strategy|Public speaking"}
    unknown = spo.get(f"{PM}/GetUserProfilePropertyFor('{PATTI}','NoSuchProperty')")
    assert unknown.status_code == 200 and unknown.json() == {"value": ""}
    missing = spo.get(f"{PM}/GetUserProfilePropertyFor(accountName=@v)?@v='{PATTI}'")
    assert missing.status_code == 400 and "propertyName" in odata_error(missing)[1]
    alias = spo.get(f"{PM}/GetPropertiesFor(accountName=@nope)")
    assert alias.status_code == 400


def test_get_my_properties_needs_a_delegated_token(emulator, spo):
    mine = Spo(emulator, upn=PATTI)
    answer = mine.get(f"{PM}/GetMyProperties", admin=False)
    assert answer.status_code == 200 and answer.json()["AccountName"] == PATTI_CLAIM
    assert spo.get(f"{PM}/GetMyProperties").json() == {"odata.null": True}


def test_app_without_profile_roles_cannot_read_or_write(emulator):
    bare = Spo(emulator, roles=["Sites.Read.All"])
    read = bare.get(f"{PM}/GetPropertiesFor(accountName=@v)?@v='{PATTI}'")
    assert read.status_code == 403
    assert odata_error(read)[1] == "Access Denied: This application does not have the required permissions to access profile information."
    reader = Spo(emulator, roles=["User.Read.All"])
    assert reader.get(f"{PM}/GetPropertiesFor(accountName=@v)?@v='{PATTI}'").status_code == 200
    write = reader.set_single(PATTI_CLAIM, "CostCenter", "CC-1")
    assert write.status_code == 403
    assert odata_error(write) == ("-2147024891, System.UnauthorizedAccessException", "Access denied. You do not have permission to perform this action or access this resource.")


def test_unknown_operation_and_wrong_method(spo):
    assert spo.get(f"{PM}/NoSuchThing('x')").status_code == 400
    answer = spo.get(f"{PM}/SetSingleValueProfileProperty")
    assert answer.status_code == 405
    assert "cannot be used to access the resource" in odata_error(answer)[1]
    bad_json = spo.post(f"{PM}/SetSingleValueProfileProperty", data=b"{not json", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400


# ---------------------------------------------------------------------- writes


def test_set_single_value_and_clear(spo, emulator):
    answer = spo.set_single(PATTI_CLAIM, "CostCenter", "CC-4242")
    assert answer.status_code == 200 and answer.json() == {"odata.null": True}
    assert spo.property(PATTI, "CostCenter") == "CC-4242"
    verbose = spo.set_single(PATTI, "AboutMe", "Hello", accept=VERBOSE)
    assert verbose.json() == {"d": {"SetSingleValueProfileProperty": None}}
    spo.set_single(PATTI_CLAIM, "CostCenter", "")
    assert spo.property(PATTI, "CostCenter") == ""
    writes = emulator.state.writes
    assert [(w.property, w.value, w.via) for w in writes] == [("CostCenter", "CC-4242", "rest"), ("AboutMe", "Hello", "rest"), ("CostCenter", "", "rest")]
    assert [w.seq for w in writes] == [1, 2, 3]
    assert all(w.account == PATTI_CLAIM for w in writes)


def test_set_multi_valued_both_body_forms_and_clear(spo, emulator):
    assert spo.set_multi(PATTI_CLAIM, "SPS-Skills", ["Python", "C#"]).status_code == 200
    assert spo.property(PATTI, "SPS-Skills") == "Python|C#"
    verbose_body = {"results": ["SQL", "Azure"], "__metadata": {"type": "Collection(Edm.String)"}}
    answer = spo.set_multi(PATTI_CLAIM, "SPS-Skills", verbose_body, accept=VERBOSE)
    assert answer.json() == {"d": {"SetMultiValuedProfileProperty": None}}
    assert spo.property(PATTI, "SPS-Skills") == "SQL|Azure"
    spo.set_multi(PATTI_CLAIM, "SPS-Skills", [])
    assert spo.property(PATTI, "SPS-Skills") == ""
    assert [w.value for w in emulator.state.writes] == [["Python", "C#"], ["SQL", "Azure"], []]
    too_many = spo.set_multi(PATTI_CLAIM, "CostCenter", ["a", "b"])
    assert too_many.status_code == 500
    assert len(emulator.state.writes) == 3


def test_writes_are_refused_on_the_root_host(spo, emulator):
    answer = spo.set_single(PATTI_CLAIM, "CostCenter", "x", admin=False)
    assert answer.status_code == 403
    assert odata_error(answer)[0] == "-2147024891, System.UnauthorizedAccessException"
    verbose = spo.set_single(PATTI_CLAIM, "CostCenter", "x", accept=VERBOSE, admin=False)
    assert "error" in verbose.json() and "odata.error" not in verbose.json()
    assert emulator.state.writes == []


@pytest.mark.parametrize("name", ["AccountName", "UserProfile_GUID", "SID", "msOnline-ObjectId"])
def test_system_properties_are_read_only(spo, emulator, name):
    answer = spo.set_single(PATTI_CLAIM, name, "x")
    assert answer.status_code == 500
    assert odata_error(answer) == ("-1, Microsoft.Office.Server.UserProfiles.PropertyNotEditableException", "Property Not Editable: This property can only be modified by an administrator.")
    assert emulator.state.writes == []


def test_unknown_property_and_unknown_user_on_set(spo, emulator):
    answer = spo.set_single(PATTI_CLAIM, "NoSuchProperty", "x", accept=VERBOSE)
    assert answer.status_code == 500
    code, message = odata_error(answer, "error")
    assert code == "-1, Microsoft.Office.Server.UserProfiles.PropertyNotDefinedException"
    assert message.startswith("Property Not Defined") and "NoSuchProperty" in message
    nobody = spo.set_single(CLAIMS + "nobody@contoso.onmicrosoft.com", "CostCenter", "x")
    assert nobody.status_code == 500 and "UserNotFoundException" in odata_error(nobody)[0]
    assert emulator.state.writes == []


def test_self_edits_follow_the_user_editable_rule(emulator):
    patti = Spo(emulator, upn=PATTI)
    refused = patti.set_single(PATTI_CLAIM, "Office", "Home", admin=False)
    assert refused.status_code == 500
    assert refused.json() == {"odata.error": {"code": "-1, Microsoft.Office.Server.UserProfiles.PropertyNotEditableException", "message": {"lang": "en-US", "value": "Property Not Editable: This property can only be modified by an administrator."}}}
    allowed = patti.set_single(PATTI_CLAIM, "AboutMe", "Mine", admin=False)
    assert allowed.status_code == 200
    other = patti.set_single(CLAIMS + LYNNE, "AboutMe", "Not mine")
    assert other.status_code == 403  # a non-admin delegated user, someone else's profile
    assert [(w.property, w.value) for w in emulator.state.writes] == [("AboutMe", "Mine")]


NOT_OWN_DATA = "This operation requires you to be managing your own data or have administrator privileges."


def _batch_write(spo, account: str, name: str, value: str):
    body = "\r\n".join([
        "--b", "Content-Type: application/http", "Content-Transfer-Encoding: binary", "",
        f"POST {spo.emulator.admin_url}{PM}/SetSingleValueProfileProperty HTTP/1.1", "Content-Type: application/json", "",
        json.dumps({"accountName": account, "propertyName": name, "propertyValue": value}), "--b--", "",
    ])
    answer = spo.post("/_api/$batch", data=body.encode(), headers={"Content-Type": "multipart/mixed; boundary=b"})
    assert answer.status_code == 200
    return answer.text


def test_delegated_admin_cannot_write_other_profiles_by_default(emulator):
    """A delegated tenant admin (the test user) writing someone else's profile is refused on
    every write path, REST, $batch and SOAP (self-edits: the test above)."""
    admin = Spo(emulator, upn=emulator.state.username)
    refused = admin.set_single(CLAIMS + LYNNE, "Office", "Oslo")
    assert refused.status_code == 403
    assert odata_error(refused) == ("-2147024891, System.UnauthorizedAccessException", NOT_OWN_DATA)
    batched = _batch_write(admin, CLAIMS + LYNNE, "CostCenter", "CC-1")
    assert "HTTP/1.1 403 " in batched and NOT_OWN_DATA in batched
    inner = f"<accountName>{CLAIMS + LYNNE}</accountName><newData><PropertyData><Name>CostCenter</Name><Values><ValueData><Value>CC-2</Value></ValueData></Values></PropertyData></newData>"
    soap = _soap(admin, "ModifyUserPropertyByAccountName", inner)
    assert soap.status_code == 500 and NOT_OWN_DATA in soap.text
    assert emulator.state.writes == []
    assert Spo(emulator).set_single(CLAIMS + LYNNE, "Office", "Oslo").status_code == 200  # app-only with User.ReadWrite.All


def test_allow_delegated_profile_writes_lets_a_tenant_admin_in(emulator_factory):
    emulator = emulator_factory(allow_delegated_profile_writes=True)
    admin = Spo(emulator, upn=emulator.state.username)
    assert admin.set_single(CLAIMS + LYNNE, "Office", "Oslo").status_code == 200
    assert "HTTP/1.1 200 " in _batch_write(admin, CLAIMS + LYNNE, "CostCenter", "CC-1")
    patti = Spo(emulator, upn=PATTI)  # a user who is no admin: still refused
    assert patti.set_single(CLAIMS + LYNNE, "AboutMe", "x").status_code == 403
    assert [(w.property, w.via) for w in emulator.state.writes] == [("Office", "rest"), ("CostCenter", "batch")]


def test_delegated_taxonomy_writes_need_the_term_store_scope(emulator_factory):
    emulator = emulator_factory(allow_delegated_profile_writes=True)
    without = Spo(emulator, upn=PATTI)  # scp: AllSites.Manage User.ReadWrite.All
    answer = without.set_multi(PATTI_CLAIM, "SPS-Skills", ["Go"], admin=False)  # a self-edit of a user-editable taxonomy property
    assert answer.status_code == 403
    assert odata_error(answer)[1] == "The current user has insufficient permissions to perform this operation."
    scoped = {"scp": "AllSites.Manage User.ReadWrite.All TermStore.ReadWrite.All"}
    assert Spo(emulator, upn=PATTI, claims=scoped).set_multi(PATTI_CLAIM, "SPS-Skills", ["Go"], admin=False).status_code == 200
    admin = Spo(emulator, upn=emulator.state.username)
    assert admin.set_single(PATTI_CLAIM, "SPS-JobTitle", "Chief").status_code == 403
    assert Spo(emulator, upn=emulator.state.username, claims=scoped).set_single(PATTI_CLAIM, "SPS-JobTitle", "Chief").status_code == 200
    assert [w.property for w in emulator.state.writes] == ["SPS-Skills", "SPS-JobTitle"]


def test_taxonomy_properties_need_the_term_store_role(emulator):
    no_terms = Spo(emulator, roles=["User.ReadWrite.All"])
    answer = no_terms.set_single(PATTI_CLAIM, "SPS-JobTitle", "Chief")
    assert answer.status_code == 403
    assert odata_error(answer)[1] == "The current user has insufficient permissions to perform this operation."
    assert no_terms.set_multi(PATTI_CLAIM, "SPS-Skills", ["Go"]).status_code == 403
    assert no_terms.set_single(PATTI_CLAIM, "CostCenter", "CC-1").status_code == 200
    assert Spo(emulator).set_single(PATTI_CLAIM, "SPS-JobTitle", "Chief").status_code == 200
    assert [w.property for w in emulator.state.writes] == ["CostCenter", "SPS-JobTitle"]


# ---------------------------------------------------------------------- $batch


def _batch_body(admin_url: str, crlf: bool) -> tuple[str, bytes]:
    """A body like Office365-REST-Python-Client's: preamble, LF, Name:value headers, a blank
    line too many before inner bodies, raw `|` and `#` in absolute URLs."""
    account = "i:0%23.f|membership|" + PATTI
    lines = [
        'Content-Type: multipart/mixed;',
        ' boundary="batch_0001"',
        "",
        "--batch_0001",
        'Content-Type: multipart/mixed; boundary="changeset_ab12cd34"',
        "",
        "--changeset_ab12cd34",
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
        "",
        f"POST {admin_url}/_api/SP.UserProfiles.PeopleManager/SetSingleValueProfileProperty HTTP/1.1",
        "Content-Type:application/json;odata=verbose",
        "Accept:application/json;odata=verbose",
        "",
        "",
        json.dumps({"accountName": CLAIMS + PATTI, "propertyName": "CostCenter", "propertyValue": "CC-9"}),
        "",
        "--changeset_ab12cd34",
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
        "",
        f"POST {admin_url}/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName='{account}') HTTP/1.1",
        "Accept:application/json;odata=verbose",
        "",
        "",
        "--changeset_ab12cd34",
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
        "",
        f"POST {admin_url}/_api/SP.UserProfiles.PeopleManager/SetSingleValueProfileProperty HTTP/1.1",
        "Content-Type:application/json",
        "",
        json.dumps({"accountName": CLAIMS + PATTI, "propertyName": "NoSuchProperty", "propertyValue": "x"}),
        "--changeset_ab12cd34--",
        "--batch_0001",
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
        "",
        f"GET {admin_url}/_api/SP.UserProfiles.PeopleManager/GetUserProfilePropertyFor('{account}','CostCenter') HTTP/1.1",
        "Accept: application/json;odata=nometadata",
        "",
        "--batch_0001",
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
        "",
        f"GET {admin_url.replace('-admin', '')}/_api/SP.UserProfiles.PeopleManager/GetMyProperties HTTP/1.1",
        "",
        "--batch_0001--",
        "",
    ]
    return "batch_0001", ("\r\n" if crlf else "\n").join(lines).encode()


@pytest.mark.parametrize("crlf", [False, True])
def test_batch_mixed_reads_and_changeset_flat_crlf_response(spo, emulator, crlf):
    boundary, body = _batch_body(emulator.admin_url, crlf)
    answer = spo.post("/_api/$batch", data=body, accept=VERBOSE, headers={"Content-Type": f"multipart/mixed; boundary={boundary}"})
    assert answer.status_code == 200
    marker = re.match(r"multipart/mixed; boundary=(batchresponse_[0-9a-f-]+)$", answer.headers["Content-Type"]).group(1)
    text = answer.content.decode()
    assert "\n" not in text.replace("\r\n", "")  # CRLF only
    assert "changesetresponse" not in text
    parts = text.split(f"--{marker}")
    assert parts[0] == "" and parts[-1] == "--\r\n"
    parts = parts[1:-1]
    assert len(parts) == 5  # flat: one part per request, changeset ones included
    statuses = [re.search(r"HTTP/1\.1 (\d{3})", p).group(1) for p in parts]
    assert statuses == ["200", "200", "500", "200", "400"]
    assert all(p.startswith("\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 ") for p in parts)
    bodies = [p.split("\r\n\r\n", 2)[2].strip() for p in parts]
    assert json.loads(bodies[0]) == {"d": {"SetSingleValueProfileProperty": None}}
    assert json.loads(bodies[1])["d"]["AccountName"] == CLAIMS + PATTI
    assert "PropertyNotDefinedException" in bodies[2]
    assert json.loads(bodies[3]) == {"value": "CC-9"}
    assert "same site" in bodies[4]
    assert "CONTENT-TYPE: application/json;odata=verbose" in parts[0]
    assert [(w.property, w.via) for w in emulator.state.writes] == [("CostCenter", "batch")]


def test_batch_requests_count_one_by_one_against_throttling(spo, emulator):
    emulator.throttle = Throttle(dataclasses.replace(emulator.config, budget=150, app_ru_per_minute=0, user_requests_per_5_minutes=0))

    def batch_of(n: int) -> bytes:
        part = ["--b", "Content-Type: application/http", "Content-Transfer-Encoding: binary", "", f"GET {emulator.admin_url}/_api/SP.UserProfiles.PeopleManager/GetUserProfilePropertyFor('{PATTI}','Office') HTTP/1.1", "Accept: application/json;odata=nometadata", ""]
        return ("\r\n".join(part * n + ["--b--", ""])).encode()

    first = spo.post("/_api/$batch", data=batch_of(100), headers={"Content-Type": "multipart/mixed; boundary=b"})
    assert first.status_code == 200 and first.text.count("HTTP/1.1 200 OK") == 100
    assert emulator.throttle.counted == 100
    second = spo.post("/_api/$batch", data=batch_of(100), headers={"Content-Type": "multipart/mixed; boundary=b"})
    assert second.status_code == 200
    assert second.text.count("HTTP/1.1 200 OK") == 50 and second.text.count("HTTP/1.1 429 Too Many Requests") == 50
    assert "Retry-After: " in second.text
    assert emulator.throttle.counted == 200


def test_batch_without_boundary_is_refused(spo):
    answer = spo.post("/_api/$batch", data=b"x", headers={"Content-Type": "multipart/mixed"})
    assert answer.status_code == 400


# ---------------------------------------------------------------------- SOAP

NS = "http://microsoft.com/webservices/SharePointPortalServer/UserProfileService"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


def _soap(spo, operation: str, inner: str, action: bool = True):
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:soap="{SOAP}">'
        f'<soap:Body><{operation} xmlns="{NS}">{inner}</{operation}></soap:Body></soap:Envelope>'
    )
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if action:
        headers["SOAPAction"] = f'"{NS}/{operation}"'
    return spo.post("/_vti_bin/UserProfileService.asmx", data=envelope.encode(), headers=headers)


def _properties(element) -> dict[str, list[str]]:
    result = {}
    for data in element.iter(f"{{{NS}}}PropertyData"):
        name = data.find(f"{{{NS}}}Name").text
        result[name] = [v.text or "" for v in data.iter(f"{{{NS}}}Value")]
    return result


def test_soap_get_user_profile_by_index_pages_through_every_profile(emulator_factory):
    emulator = emulator_factory(profiles=60)
    spo = Spo(emulator)
    seen, cursor, next_values = [], 0, []
    while True:
        answer = _soap(spo, "GetUserProfileByIndex", f"<index>{cursor}</index>")
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/xml")
        result = ET.fromstring(answer.content).find(f".//{{{NS}}}GetUserProfileByIndexResult")
        next_value = int(result.find(f"{{{NS}}}NextValue").text)
        profile = _properties(result.find(f"{{{NS}}}UserProfile"))
        if not profile:
            assert next_value == -1
            break
        seen.append(profile["AccountName"][0])
        next_values.append(next_value)
        cursor = next_value
    assert len(seen) == 59 and len(set(seen)) == 59  # user 50 is disabled: no profile
    assert seen[0] == PATTI_CLAIM
    assert CLAIMS + "user000050@contoso.onmicrosoft.com" not in seen
    assert 50 not in next_values and next_values[-1] == 60  # not dense


def test_soap_get_user_profile_by_name_and_faults(spo):
    answer = _soap(spo, "GetUserProfileByName", f"<AccountName>{PATTI_CLAIM}</AccountName>", action=False)
    assert answer.status_code == 200
    properties = _properties(ET.fromstring(answer.content))
    assert properties["PreferredName"] == ["Patti Fernandez"]
    assert properties["SPS-Skills"] == ["Leadership", "Strategy", "Public speaking"]
    assert properties["SPS-Birthday"] == []
    unknown = _soap(spo, "GetUserProfileByName", "<AccountName>i:0#.f|membership|nobody@contoso.onmicrosoft.com</AccountName>")
    assert unknown.status_code == 500
    fault = ET.fromstring(unknown.content).find(f".//{{{SOAP}}}Fault")
    assert fault.find("faultcode").text == "soap:Server"
    assert "User Not Found" in ET.tostring(fault, encoding="unicode")
    count = _soap(spo, "GetUserProfileCount", "")
    assert ">25<" in count.text


def test_soap_modify_goes_through_the_write_log(spo, emulator):
    inner = (
        f"<accountName>{PATTI_CLAIM}</accountName><newData>"
        "<PropertyData><IsPrivacyChanged>false</IsPrivacyChanged><IsValueChanged>true</IsValueChanged><Name>SPS-Skills</Name><Privacy>NotSet</Privacy>"
        '<Values><ValueData><Value xsi:type="xsd:string">Python</Value></ValueData><ValueData><Value xsi:type="xsd:string">C#</Value></ValueData></Values></PropertyData>'
        "</newData>"
    )
    assert _soap(spo, "ModifyUserPropertyByAccountName", inner).status_code == 200
    assert spo.property(PATTI, "SPS-Skills") == "Python|C#"
    assert [(w.property, w.value, w.via) for w in emulator.state.writes] == [("SPS-Skills", ["Python", "C#"], "soap")]
    root = Spo(emulator)
    refused = root.session.post(emulator.spo_url + "/_vti_bin/UserProfileService.asmx", headers={**root.headers(), "SOAPAction": f"{NS}/ModifyUserPropertyByAccountName", "Content-Type": "text/xml"}, data=_soap_envelope("ModifyUserPropertyByAccountName", inner), timeout=10)
    assert refused.status_code == 500 and "Access denied" in refused.text
    assert len(emulator.state.writes) == 1


def _soap_envelope(operation: str, inner: str) -> bytes:
    return (f'<soap:Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:soap="{SOAP}"><soap:Body><{operation} xmlns="{NS}">{inner}</{operation}></soap:Body></soap:Envelope>').encode()


# ---------------------------------------------------------------------- write log


def test_every_accepted_write_is_logged_exactly_once(spo, emulator):
    accepted = 0
    for i in range(20):
        assert spo.set_single(PATTI_CLAIM, "CostCenter", f"CC-{i}").status_code == 200
        accepted += 1
        assert spo.set_single(PATTI_CLAIM, "AccountName", "x").status_code == 500  # refused: not logged
    writes = emulator.state.writes
    assert len(writes) == accepted
    assert [w.seq for w in writes] == list(range(1, accepted + 1))
    assert len({w.request_id for w in writes}) == accepted
    assert [w.value for w in writes] == [f"CC-{i}" for i in range(20)]
