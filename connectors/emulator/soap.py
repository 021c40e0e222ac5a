"""UserProfileService.asmx (SOAP 1.1, document/literal wrapped; spo-profiles-api.md §4.1).

Operations: GetUserProfileByIndex (NextValue paging), GetUserProfileByName,
GetUserPropertyByAccountName, GetUserProfileCount, GetUserProfileSchema and
ModifyUserPropertyByAccountName (a write: admin host only, the same rules as PeopleManager, and
every value through the write log with via="soap"). The operation is taken from the
SOAPAction header, or from the first element in soap:Body when that header is missing.

Paging, as implemented: `index` is a cursor. GetUserProfileByIndex(i) returns the first profile
whose (1-based) position in the tenant is greater than i, with NextValue = that position;
positions of disabled users (who have no profile) are skipped, so NextValue is not dense.
Start with 0 or -1. After the last profile the answer has an empty UserProfile and
NextValue -1, so both documented stop conditions work.

Chosen where the reference is silent (UNVERIFIED): the service accepts the same Entra bearer
tokens as REST (and the same app roles); an unknown account is a soap:Server fault whose
detail is "User Not Found: Could not load profile data from the database."; every schema
property is listed for a profile, unset ones with an empty <Values/>; Privacy is "Public"
(NotSet for SPS- system values is not modelled). Calls do not count against the
PeopleManager budget.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from .server import Request, Response, route
from .sharepoint import (
    SITE,
    USER_NOT_FOUND,
    apply_write,
    caller,
    profile_index,
    profile_values,
    read_denial,
    seed_user,
    site_kind,
)

NS = "http://microsoft.com/webservices/SharePointPortalServer/UserProfileService"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_ENVELOPE_OPEN = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
    "<soap:Body>"
)
_ENVELOPE_CLOSE = "</soap:Body></soap:Envelope>"
CONTENT_TYPE = "text/xml; charset=utf-8"


class SoapFault(Exception):
    def __init__(self, message: str, code: str = "soap:Server", status: int = 500):
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


def envelope(inner: str, status: int = 200) -> Response:
    return Response(status, (_ENVELOPE_OPEN + inner + _ENVELOPE_CLOSE).encode("utf-8"), {"Content-Type": CONTENT_TYPE})


def fault(problem: SoapFault) -> Response:
    return envelope(
        "<soap:Fault>"
        f"<faultcode>{problem.code}</faultcode>"
        "<faultstring>Exception of type 'Microsoft.SharePoint.SoapServer.SoapServerException' was thrown.</faultstring>"
        f'<detail><errorstring xmlns="http://schemas.microsoft.com/sharepoint/soap/">{escape(problem.message)}</errorstring></detail>'
        "</soap:Fault>",
        problem.status,
    )


def _values_xml(value: object, separator: str) -> str:
    if isinstance(value, list):
        items = [str(v) for v in value]
    elif value is None or value == "":
        items = []
    else:
        items = [str(value)]
    if not items:
        return "<Values />"
    return "<Values>" + "".join(f'<ValueData><Value xsi:type="xsd:string">{escape(v)}</Value></ValueData>' for v in items) + "</Values>"


def property_data(name: str, value: object, separator: str) -> str:
    return (
        "<PropertyData><IsPrivacyChanged>false</IsPrivacyChanged><IsValueChanged>false</IsValueChanged>"
        f"<Name>{escape(name)}</Name><Privacy>Public</Privacy>{_values_xml(value, separator)}</PropertyData>"
    )


def profile_xml(request: Request, index: int) -> str:
    state = request.state
    values = profile_values(state, index) or {}
    separator = state.multi_value_separator
    return "".join(property_data(prop.name, values.get(prop.name), separator) for prop in state.schema.values())


def _text(element: ET.Element, name: str) -> str | None:
    for child in element:
        if child.tag.rsplit("}", 1)[-1].lower() == name.lower():
            return (child.text or "").strip()
    return None


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in element if c.tag.rsplit("}", 1)[-1].lower() == name.lower()]


def _account(request: Request, body: ET.Element) -> int:
    account = _text(body, "AccountName")
    if account is None:
        raise SoapFault("The AccountName parameter is missing.", "soap:Client")
    index = profile_index(request.state, account)
    if index is None:
        raise SoapFault(USER_NOT_FOUND[2])
    return index


def by_index(request: Request, body: ET.Element) -> str:
    raw = _text(body, "index")
    try:
        cursor = int(raw) if raw else 0
    except ValueError:
        raise SoapFault(f"The index '{raw}' is not a number.", "soap:Client") from None
    state = request.state
    position = max(cursor, 0) + 1
    found = None
    while position <= state.profile_count:
        user = seed_user(state, position)
        if user is not None and user.enabled:
            found = position
            break
        position += 1
    if found is None:
        profile, next_value = "<UserProfile />", "-1"
    else:
        profile, next_value = f"<UserProfile>{profile_xml(request, found)}</UserProfile>", str(found)
    return (
        f'<GetUserProfileByIndexResponse xmlns="{NS}"><GetUserProfileByIndexResult>'
        f"<NextValue>{next_value}</NextValue>{profile}"
        "<Colleagues /><QuickLinks /><PinnedLinks /><Memberships />"
        "</GetUserProfileByIndexResult></GetUserProfileByIndexResponse>"
    )


def by_name(request: Request, body: ET.Element) -> str:
    index = _account(request, body)
    return f'<GetUserProfileByNameResponse xmlns="{NS}"><GetUserProfileByNameResult>{profile_xml(request, index)}</GetUserProfileByNameResult></GetUserProfileByNameResponse>'


def property_by_account(request: Request, body: ET.Element) -> str:
    index = _account(request, body)
    name = _text(body, "propertyName") or ""
    state = request.state
    prop = state.property_def(name)
    if prop is None:
        raise SoapFault(f"Property Not Defined: The property '{name}' does not exist.")
    value = (profile_values(state, index) or {}).get(prop.name)
    inner = property_data(prop.name, value, state.multi_value_separator)[len("<PropertyData>") : -len("</PropertyData>")]
    return f'<GetUserPropertyByAccountNameResponse xmlns="{NS}"><GetUserPropertyByAccountNameResult>{inner}</GetUserPropertyByAccountNameResult></GetUserPropertyByAccountNameResponse>'


def count(request: Request, body: ET.Element) -> str:
    state = request.state
    total = sum(1 for i in range(1, state.profile_count + 1) if getattr(seed_user(state, i), "enabled", False))
    return f'<GetUserProfileCountResponse xmlns="{NS}"><GetUserProfileCountResult>{total}</GetUserProfileCountResult></GetUserProfileCountResponse>'


def schema(request: Request, body: ET.Element) -> str:
    items = []
    for prop in request.state.schema.values():
        items.append(
            "<PropertyInfo>"
            f"<Name>{escape(prop.name)}</Name><DisplayName>{escape(prop.name)}</DisplayName>"
            f"<Type>string</Type><IsMultiValue>{str(prop.multi_valued).lower()}</IsMultiValue>"
            f"<IsUserEditable>{str(prop.user_editable).lower()}</IsUserEditable>"
            f"<IsAdminEditable>{str(not prop.system).lower()}</IsAdminEditable>"
            f"<IsSystem>{str(prop.system).lower()}</IsSystem>"
            f"<IsImported>false</IsImported><Length>{3600 if prop.multi_valued else 400}</Length>"
            f"<TermSetId>{'00000000-0000-0000-0000-000000000001' if prop.taxonomy else '00000000-0000-0000-0000-000000000000'}</TermSetId>"
            "</PropertyInfo>"
        )
    return f'<GetUserProfileSchemaResponse xmlns="{NS}"><GetUserProfileSchemaResult>{"".join(items)}</GetUserProfileSchemaResult></GetUserProfileSchemaResponse>'


def modify(request: Request, body: ET.Element) -> str:
    account = _text(body, "accountName")
    if account is None:
        raise SoapFault("The accountName parameter is missing.", "soap:Client")
    if profile_index(request.state, account) is None:
        raise SoapFault(USER_NOT_FOUND[2])
    changes: list[tuple[str, list[str]]] = []
    for data in (c for new in _children(body, "newData") for c in _children(new, "PropertyData")):
        name = _text(data, "Name") or ""
        values: list[str] = []
        for holder in _children(data, "Values"):
            for item in _children(holder, "ValueData"):
                values.append(_text(item, "Value") or "")
        changes.append((name, values))
    state = request.state
    for name, values in changes:  # validate everything first: a refused change applies nothing
        prop = state.property_def(name)
        if prop is None:
            raise SoapFault(f"Property Not Defined: The property '{name}' does not exist.")
        if not prop.multi_valued and len(values) > 1:
            raise SoapFault(f"Property '{prop.name}' is single-valued; it cannot hold {len(values)} values.")
    for name, values in changes:
        prop = state.property_def(name)
        value: str | list[str] = values if prop.multi_valued else (values[0] if values else "")  # type: ignore[union-attr]
        problem = apply_write(request, account, name, value, prop.multi_valued, "soap")  # type: ignore[union-attr]
        if problem:
            raise SoapFault(problem[2])
    return f'<ModifyUserPropertyByAccountNameResponse xmlns="{NS}" />'


OPERATIONS = {
    "getuserprofilebyindex": by_index,
    "getuserprofilebyname": by_name,
    "getuserpropertybyaccountname": property_by_account,
    "getuserprofilecount": count,
    "getuserprofileschema": schema,
    "modifyuserpropertybyaccountname": modify,
}


@route("POST", SITE + r"/_vti_bin/UserProfileService\.asmx", "spo")
def user_profile_service(request: Request) -> Response:
    if site_kind(request) is None:
        return fault(SoapFault("File Not Found.", "soap:Client", 404))
    try:
        root = ET.fromstring(request.body)
    except ET.ParseError as problem:
        return fault(SoapFault(f"The request is not well-formed XML: {problem}", "soap:Client", 400))
    body = next((c for c in root if c.tag == f"{{{SOAP_NS}}}Body"), None)
    if body is None or len(body) == 0:
        return fault(SoapFault("The request has no soap:Body.", "soap:Client", 400))
    call = body[0]
    action = (request.headers.get("soapaction") or "").strip().strip('"')
    name = action.rsplit("/", 1)[-1] if action else call.tag.rsplit("}", 1)[-1]
    handler = OPERATIONS.get(name.lower())
    if handler is None:
        return fault(SoapFault(f"Server did not recognize the value of HTTP Header SOAPAction: {action or name}.", "soap:Client"))
    denied = read_denial(caller(request))
    if denied:
        return fault(SoapFault(denied[2], "soap:Client", 403))
    try:
        return envelope(handler(request, call))
    except SoapFault as problem:
        return fault(problem)
