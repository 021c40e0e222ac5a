"""SharePoint Online REST: `/_api/contextinfo` and the PeopleManager service operations.

Implemented from spo-profiles-api.md §1–§2 and spo-profile-properties.md §4–§5; the helpers
at the top (site resolution, OData formats, error bodies, the caller's rights, the write
rules) are shared with batch.py, soap.py and bulk.py.

URL forms accepted (the path arrives percent-decoded; matching is case-insensitive):

    GetPropertiesFor(accountName=@v)?@v='i:0%23.f|membership|u@x'     GET or POST
    GetPropertiesFor(accountName='i:0#.f|membership|u@x')              inline literal ('' = ')
    GetPropertiesFor('i:0#.f|membership|u@x')                          positional
    GetPropertiesFor(accountName=@v)/PersonalSiteHostUrl               one property of the result
    GetUserProfilePropertyFor(accountName=@v,propertyName='Department') named or positional
    GetUserProfileProperties(accountName=@v), GetMyProperties
    SetSingleValueProfileProperty / SetMultiValuedProfileProperty      POST, JSON body (array or
                                                                       {"results": [...]})

Response shapes follow `Accept`: `odata=verbose` ({"d": …}, `__metadata`, collections as
{"results": […]}), `odata=nometadata` (plain JSON), and anything else that is JSON
(`application/json`, `odata=minimalmetadata`, or no Accept at all) is minimal metadata
(`odata.metadata`/`odata.type` added). Real SPO answers Atom XML when no Accept is sent; the
emulator does not speak Atom (deviation, on purpose). Errors: `{"error": …}` in verbose,
`{"odata.error": …}` otherwise, with `<HRESULT>, <Type>` codes (`-1` where SPO's
HRESULT is not known; tests/test_emulator_recordings.py replays recorded ones).

Rules enforced (spo-profiles-api.md §2.5, §10):
- host rule: a write to another user's profile is accepted only on the admin host
  (`/spo/{tenant}-admin`); on the root host it is 403 Access denied. A self-edit
  (delegated token whose `upn` is the profile owner) works on either host.
- user-editable rule: a self-edit of a property that is not user-editable is 500
  PropertyNotEditableException with the documented text.
- app-only callers need the SharePoint application role `User.ReadWrite.All` to write and
  `User.Read.All` (or `User.ReadWrite.All`) to read; a write to a taxonomy-backed property
  needs `TermStore.ReadWrite.All` as well. The emulator has no term store, so it treats
  every taxonomy value as possibly new and refuses without that role (real SPO refuses only
  new terms).
- delegated writes to someone else's profile are refused, even for a tenant admin: reports
  from 2021 to 2026 (pnp/powershell #612, #1396, #2153, #5262) show SharePoint refusing
  Entra ID delegated tokens there with "This operation requires you to be managing your own
  data or have administrator privileges." (older ones: "Access denied. You do not have
  permission ...", #277, #612), and Microsoft documents only the app-only route.
  `EmulatorConfig.allow_delegated_profile_writes` (`--allow-delegated-profile-writes`) lets a
  tenant admin (the emulator's test user, or a token whose `wids` hold the Global
  Administrator role) write them, as the emulator did before; a non-admin never may.
- a delegated write of a taxonomy-backed property (a self-edit, or someone else's with that
  switch) needs the delegated SharePoint scope `TermStore.ReadWrite.All` in the token's
  `scp`. Unverified: no source says whether SharePoint checks the delegated scope or only the
  user's term-store rights; the emulator takes the harsher reading, the one that matches
  what app-only callers need.

Behaviours chosen where the reference is unsure (all UNVERIFIED against real SPO):
- GetPropertiesFor / GetUserProfilePropertyFor / GetUserProfileProperties on an unknown
  (or disabled, so profile-less) account: 200 with a null result: verbose
  `{"d": {"<Function>": null}}`, otherwise `{"odata.null": true}` (the REST analogue of CSOM's
  ServerObjectIsNull). Set `emulator.unknown_account = "error"` to get
  500 `-1, Microsoft.Office.Server.UserProfiles.UserNotFoundException`
  "User Not Found: Could not load profile data from the database." instead.
- Set* on an unknown account: always that UserNotFoundException 500.
- GetUserProfilePropertyFor with an unknown property name: 200 with "" (PnP notes reads of
  unknown names raise nothing).
- Set* with an unknown property name: 500 `-1, Microsoft.Office.Server.UserProfiles.
  PropertyNotDefinedException` "Property Not Defined: The property '<name>' does not exist."
- Set* on a system property (AccountName, UserProfile_GUID, SID, ...): 500
  PropertyNotEditableException with the documented text, whoever the caller is.
- The taxonomy refusal: 403 `-2147024891, System.UnauthorizedAccessException`
  "The current user has insufficient permissions to perform this operation."
- SetSingleValueProfileProperty on a multi-valued property stores one value ([] for "").
  SetMultiValuedProfileProperty on a single-valued property takes zero or one value and
  refuses more with 500 `-1, System.ArgumentException`.
- GetMyProperties with an app-only token: the null result (the caller has no profile).
- DirectReports and Peers are always empty (computing them would mean scanning every
  profile); ExtendedManagers follows the Manager chain.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote

from .server import Request, Response, route
from .state import PropertyDef, TenantState

SITE = r"/spo/(?P<site>[^/]+)(?P<web>/(?:sites|teams)/[^/]+)?"

GLOBAL_ADMIN_ROLE = "62e90394-69f5-4237-9190-012177145e10"
READ_ROLES = frozenset({"User.Read.All", "User.ReadWrite.All"})
WRITE_ROLE = "User.ReadWrite.All"
TERMSTORE_ROLE = "TermStore.ReadWrite.All"  # the same name as an application role and a delegated scope
LIBRARY_VERSION = "16.0.25927.12004"

ACCESS_DENIED = (403, "-2147024891, System.UnauthorizedAccessException", "Access denied. You do not have permission to perform this action or access this resource.")
APP_READ_DENIED = (403, "-2147024891, System.UnauthorizedAccessException", "Access Denied: This application does not have the required permissions to access profile information.")
# The text is what reports show for delegated writes to others' profiles; the status and code
# are unverified (PnP shows the CSOM exception as a plain ServerException, so the server's type
# name may not be UnauthorizedAccessException): 403 is what the other rights refusals answer.
NOT_OWN_DATA = (403, "-2147024891, System.UnauthorizedAccessException", "This operation requires you to be managing your own data or have administrator privileges.")
NOT_EDITABLE = (500, "-1, Microsoft.Office.Server.UserProfiles.PropertyNotEditableException", "Property Not Editable: This property can only be modified by an administrator.")
TERMSTORE_DENIED = (403, "-2147024891, System.UnauthorizedAccessException", "The current user has insufficient permissions to perform this operation.")
USER_NOT_FOUND = (500, "-1, Microsoft.Office.Server.UserProfiles.UserNotFoundException", "User Not Found: Could not load profile data from the database.")
# The HRESULT and type SPO answers for a missing file, folder or site (recorded: tests/data/recordings/
# pnpcore/WebTests/GetByServerRelativeSpecialChars-0-00005.response.json).
FILE_NOT_FOUND = (404, "-2147024894, System.IO.FileNotFoundException", "File Not Found.")


def property_not_defined(name: str) -> tuple[int, str, str]:
    return (500, "-1, Microsoft.Office.Server.UserProfiles.PropertyNotDefinedException", f"Property Not Defined: The property '{name}' does not exist.")


def bad_request(message: str) -> tuple[int, str, str]:
    return (400, "-1, Microsoft.SharePoint.Client.InvalidClientQueryException", message)


# ---------------------------------------------------------------------- sites and formats


def site_kind(request: Request) -> str | None:
    """"root" or "admin" for this tenant's site segment, else None (another tenant)."""
    segment = request.match.group("site").lower()  # type: ignore[union-attr]
    tenant = request.emulator.config.tenant.lower()
    if segment == tenant:
        return "root"
    if segment == tenant + "-admin":
        return "admin"
    return None


def site_url(request: Request) -> str:
    match = request.match
    return f"{request.emulator.base_url}/spo/{match.group('site')}{match.group('web') or ''}"  # type: ignore[union-attr]


VERBOSE, NOMETADATA, MINIMAL = "verbose", "nometadata", "minimal"
CONTENT_TYPES = {
    VERBOSE: "application/json;odata=verbose;charset=utf-8",
    NOMETADATA: "application/json;odata=nometadata;streaming=true;charset=utf-8",
    MINIMAL: "application/json;odata=minimalmetadata;streaming=true;charset=utf-8",
}


def odata_format(request: Request) -> str:
    accept = (request.headers.get("accept") or "").lower()
    if "odata=verbose" in accept:
        return VERBOSE
    if "odata=nometadata" in accept:
        return NOMETADATA
    return MINIMAL


def json_response(fmt: str, status: int, payload: object, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    result = {"Content-Type": CONTENT_TYPES[fmt], "X-SharePointHealthScore": "0", "MicrosoftSharePointTeamServices": LIBRARY_VERSION}
    if headers:
        result.update(headers)
    return Response(status, body, result)


def error(fmt: str, status: int, code: str, message: str) -> Response:
    key = "error" if fmt == VERBOSE else "odata.error"
    return json_response(fmt, status, {key: {"code": code, "message": {"lang": "en-US", "value": message}}})


def fail(fmt: str, problem: tuple[int, str, str]) -> Response:
    return error(fmt, *problem)


def _verbose_value(value: object) -> object:
    if isinstance(value, list):
        return {"results": [_verbose_value(v) for v in value]}
    if isinstance(value, dict) and "Key" in value and "ValueType" in value:
        return {"__metadata": {"type": "SP.KeyValue"}, **value}
    return value


def entity(fmt: str, uri: str, type_name: str, fields: dict[str, object], metadata_base: str) -> Response:
    """An entity in the requested format; ``fields`` as nometadata would show them."""
    if fmt == VERBOSE:
        payload = {"__metadata": {"id": uri, "uri": uri, "type": type_name}}
        for key, value in fields.items():
            payload[key] = _verbose_value(value)
        return json_response(fmt, 200, {"d": payload})
    if fmt == MINIMAL:
        # odata.editLink is relative to the service root, odata.id absolute (recorded: tests/data/
        # recordings/pnpcore/WebTests/AddWebEventReceiverAsyncTest-0-00002.response.json).
        root = f"{metadata_base}/_api/"
        edit = uri[len(root) :] if uri.lower().startswith(root.lower()) else uri
        return json_response(fmt, 200, {"odata.metadata": f"{metadata_base}/_api/$metadata#{type_name}/@Element", "odata.type": type_name, "odata.id": uri, "odata.editLink": edit, **fields})
    return json_response(fmt, 200, fields)


def primitive(fmt: str, function: str, value: object, edm: str, metadata_base: str) -> Response:
    if fmt == VERBOSE:
        return json_response(fmt, 200, {"d": {function: _verbose_value(value)}})
    if value is None:
        return json_response(fmt, 200, {"odata.null": True})
    if fmt == MINIMAL:
        return json_response(fmt, 200, {"odata.metadata": f"{metadata_base}/_api/$metadata#{edm}", "value": value})
    return json_response(fmt, 200, {"value": value})


def null_result(fmt: str, function: str) -> Response:
    if fmt == VERBOSE:
        return json_response(fmt, 200, {"d": {function: None}})
    return json_response(fmt, 200, {"odata.null": True})


# ---------------------------------------------------------------------- callers and rights


@dataclass(frozen=True, slots=True)
class Caller:
    delegated: bool
    upn: str  # lower-case; "" for app-only
    roles: frozenset[str]  # application permissions (app-only tokens' `roles`)
    admin: bool  # delegated tenant admin
    scopes: frozenset[str] = frozenset()  # delegated permissions (the token's `scp`)


def caller(request: Request) -> Caller:
    claims = request.claims or {}
    upn = str(claims.get("upn") or claims.get("unique_name") or claims.get("preferred_username") or "").lower()
    delegated = bool(upn) or "scp" in claims
    roles = claims.get("roles") or []
    if isinstance(roles, str):
        roles = roles.split()
    wids = claims.get("wids") or []
    admin = delegated and (upn == request.state.username.lower() or GLOBAL_ADMIN_ROLE in wids)
    return Caller(delegated, upn, frozenset(roles), admin, frozenset(str(claims.get("scp") or "").split()))


def read_denial(who: Caller) -> tuple[int, str, str] | None:
    if not who.delegated and not (who.roles & READ_ROLES):
        return APP_READ_DENIED
    return None


def write_denial(
    state: TenantState, who: Caller, site: str | None, index: int, prop: PropertyDef | None, name: str, *, allow_delegated: bool = False
) -> tuple[int, str, str] | None:
    """Why a write of ``prop`` on profile ``index`` by ``who`` on ``site`` is refused, or None.
    The order: rights on the profile, then the property (unknown, system, editable, taxonomy).
    ``allow_delegated`` is `EmulatorConfig.allow_delegated_profile_writes`: whether a delegated
    tenant admin may write someone else's profile (the module docstring says why not, by default)."""
    owner = seed_user(state, index)
    own = who.delegated and owner is not None and who.upn == owner.upn.lower()
    if not own:
        if site != "admin":
            return ACCESS_DENIED
        if who.delegated and not (who.admin and allow_delegated):
            return NOT_OWN_DATA
        if not who.delegated and WRITE_ROLE not in who.roles:
            return ACCESS_DENIED
    if prop is None:
        return property_not_defined(name)
    if prop.system:
        return NOT_EDITABLE
    if own and not prop.user_editable:
        return NOT_EDITABLE
    if prop.taxonomy and TERMSTORE_ROLE not in (who.scopes if who.delegated else who.roles):
        return TERMSTORE_DENIED
    return None


# ---------------------------------------------------------------------- accounts and profiles

_CACHE_LIMIT = 200_000


def resolve(state: TenantState, account: str) -> int | None:
    """The profile index behind an account (claims string or UPN), cached per tenant: the
    seed is deterministic, so an account's index never changes."""
    cache = state.__dict__.get("_emulator_account_cache")
    if cache is None:
        cache = state.__dict__.setdefault("_emulator_account_cache", {})
    key = account.strip().lower()
    if key in cache:
        return cache[key]
    index = state.index_for_account(account)
    if len(cache) < _CACHE_LIMIT:
        cache[key] = index
    return index


def seed_user(state: TenantState, index: int):
    """``state.user(index)``, cached per tenant (generating a seed user is not free and a
    GetPropertiesFor needs it several times)."""
    cache = state.__dict__.get("_emulator_user_cache")
    if cache is None:
        cache = state.__dict__.setdefault("_emulator_user_cache", {})
    user = cache.get(index)
    if user is None:
        user = state.user(index)
        if user is not None and len(cache) < _CACHE_LIMIT:
            cache[index] = user
    return user


def merged_profile(state: TenantState, index: int) -> dict[str, object] | None:
    """What ``state.profile(index)`` returns (seed values, then accepted writes), cached seed."""
    user = seed_user(state, index)
    if user is None or not user.enabled:
        return None
    with state.lock:
        merged: dict[str, object] = dict(user.properties)
        written = state.overrides.get(index)
        if written:
            merged.update(written)
    return merged


def profile_index(state: TenantState, account: str) -> int | None:
    """Like :func:`resolve`, but only for users that have a profile (enabled ones)."""
    index = resolve(state, account)
    if index is None:
        return None
    user = seed_user(state, index)
    if user is None or not user.enabled:
        return None
    return index


def render_value(value: object, separator: str) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return separator.join(str(v) for v in value)
    return str(value)


def _derived(state: TenantState, upn: str, object_id: str) -> dict[str, str]:
    """Values SharePoint fills itself (spo-profile-properties.md §4.1)."""
    return {
        "SID": f"i:0h.f|membership|{object_id.replace('-', '')[:16]}@live.com",
        "ADGuid": "System.Byte[]",
        "SPS-SavedSID": "System.Byte[]",
        "UserName": upn,
        "SPS-UserPrincipalName": upn,
        "SPS-ClaimID": upn,
        "SPS-ClaimProviderID": "membership",
        "SPS-ClaimProviderType": "Forms",
        "SPS-PrivacyPeople": "True",
        "SPS-PrivacyActivity": "4095",
        "SPS-HideFromAddressLists": "False",
        "SPS-MUILanguages": "en-US",
        "SPS-UserType": "0",
        "SPS-TenantInstanceId": state.tenant_id,
    }


def profile_values(state: TenantState, index: int) -> dict[str, object] | None:
    """The merged profile plus the service-filled values, or None without a profile."""
    merged = merged_profile(state, index)
    if merged is None:
        return None
    user = seed_user(state, index)
    values: dict[str, object] = _derived(state, user.upn, user.object_id)  # type: ignore[union-attr]
    values.update(merged)
    if "Title" not in merged:
        values["Title"] = merged.get("SPS-JobTitle", "")
    if "SPS-Department" not in merged:
        values["SPS-Department"] = merged.get("Department", "")
    return values


def key_values(state: TenantState, values: dict[str, object]) -> list[dict[str, str]]:
    """UserProfileProperties: every schema property, in schema order, "" when unset."""
    separator = state.multi_value_separator
    return [{"Key": prop.name, "Value": render_value(values.get(prop.name), separator), "ValueType": "Edm.String"} for prop in state.schema.values()]


def my_site_host(tenant: str) -> str:
    return f"https://{tenant}-my.sharepoint.com"


def person_fields(state: TenantState, index: int, values: dict[str, object]) -> dict[str, object]:
    tenant = state.tenant
    account = str(values.get("AccountName") or "")
    upn = str(values.get("UserName") or "")
    managers: list[str] = []
    manager = str(values.get("Manager") or "")
    while manager and manager not in managers and len(managers) < 16:
        managers.insert(0, manager)
        above = profile_index(state, manager)
        manager = str((merged_profile(state, above) or {}).get("Manager") or "") if above else ""
    title = values.get("SPS-JobTitle") or None
    return {
        "AccountName": account,
        "DirectReports": [],
        "DisplayName": values.get("PreferredName") or "",
        "Email": values.get("WorkEmail") or None,
        "ExtendedManagers": managers,
        "ExtendedReports": [account],
        "IsFollowed": False,
        "LatestPost": None,
        "Peers": [],
        "PersonalSiteHostUrl": f"{my_site_host(tenant)}:443/",
        "PersonalUrl": f"{my_site_host(tenant)}/personal/{re.sub(r'[^a-z0-9]', '_', upn.lower())}/",
        "PictureUrl": None,
        "Title": title,
        "UserProfileProperties": key_values(state, values),
        "UserUrl": f"{my_site_host(tenant)}:443/Person.aspx?accountname={quote(account, safe='').replace('.', '%2E')}",
    }


# ---------------------------------------------------------------------- call parsing


class CallError(Exception):
    def __init__(self, problem: tuple[int, str, str]):
        super().__init__(problem[2])
        self.problem = problem


_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)")


def split_call(text: str) -> tuple[str, str | None, str]:
    """`Name(args)/rest` → (Name, args or None, rest); quotes in args may hold ( ) , /."""
    found = _CALL.match(text)
    if not found:
        raise CallError(bad_request(f'The expression "{text}" is not valid.'))
    name = found.group(1)
    position = found.end()
    if position >= len(text) or text[position] != "(":
        return name, None, text[position:]
    depth, quoted, i = 0, False, position
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    i += 1
                else:
                    quoted = False
        elif ch == "'":
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return name, text[position + 1 : i], text[i + 1 :]
        i += 1
    raise CallError(bad_request(f'The expression "{text}" is not valid: unbalanced parentheses.'))


def split_args(text: str) -> list[str]:
    items, current, quoted = [], [], False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            if quoted and i + 1 < len(text) and text[i + 1] == "'":
                current.append("''")
                i += 2
                continue
            quoted = not quoted
        if ch == "," and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    last = "".join(current).strip()
    if last or items:
        items.append(last)
    return items


_NAMED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$", re.S)


def literal(raw: str, query: dict[str, str]) -> object:
    """An OData v3 literal, or an `@alias` taken from the (decoded) query string."""
    text = raw.strip()
    if text.startswith("@"):
        if text in query:
            text = query[text].strip()
        else:
            lowered = {k.lower(): v for k, v in query.items()}
            if text.lower() not in lowered:
                raise CallError(bad_request(f"The parameter alias {text} has no value in the query string."))
            text = lowered[text.lower()].strip()
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if text == "null":
        return None
    return text


def call_params(args: str | None, names: list[str], query: dict[str, str]) -> dict[str, object]:
    """Named and positional arguments, keyed by the lower-case parameter name."""
    params: dict[str, object] = {}
    if not args:
        return params
    for position, item in enumerate(split_args(args)):
        named = _NAMED.match(item)
        if named and not item.startswith("'"):
            params[named.group(1).lower()] = literal(named.group(2), query)
        elif position < len(names):
            params[names[position].lower()] = literal(item, query)
        else:
            raise CallError(bad_request(f"Too many arguments: {args}"))
    return params


def body_params(request: Request) -> dict[str, object]:
    if not request.body.strip():
        return {}
    try:
        data = request.json()
    except (ValueError, UnicodeDecodeError) as problem:
        raise CallError(bad_request(f"Invalid JSON. {problem}")) from None
    if not isinstance(data, dict):
        raise CallError(bad_request("Invalid JSON. A JSON object was expected."))
    return {str(k).lower(): v for k, v in data.items()}


def required(params: dict[str, object], name: str, function: str) -> object:
    if name.lower() not in params:
        raise CallError(bad_request(f"The parameter {name} is missing from the call to {function}."))
    return params[name.lower()]


def as_text(value: object, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise CallError(bad_request(f"The value of parameter {name} must be a string."))


def as_list(value: object, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, dict):
        value = value.get("results", value.get("Results"))
    if not isinstance(value, list):
        raise CallError(bad_request(f"The value of parameter {name} must be a collection of strings."))
    return [as_text(v, name) for v in value]


# ---------------------------------------------------------------------- operations


def _get_properties_for(request: Request, fmt: str, params: dict, rest: str, via: str) -> Response:
    account = as_text(required(params, "accountName", "GetPropertiesFor"), "accountName")
    return _person(request, fmt, "GetPropertiesFor", profile_index(request.state, account), rest)


def _get_my_properties(request: Request, fmt: str, params: dict, rest: str, via: str) -> Response:
    who = caller(request)
    index = profile_index(request.state, who.upn) if who.upn else None
    return _person(request, fmt, "GetMyProperties", index, rest, mine=True)


def _person(request: Request, fmt: str, function: str, index: int | None, rest: str, mine: bool = False) -> Response:
    if not mine:
        denied = read_denial(caller(request))
        if denied:
            return fail(fmt, denied)
    state = request.state
    values = profile_values(state, index) if index is not None else None
    if values is None:
        if getattr(request.emulator, "unknown_account", "null") == "error" and not mine:
            return fail(fmt, USER_NOT_FOUND)
        return null_result(fmt, function)
    fields = person_fields(state, index, values)  # type: ignore[arg-type]
    base = site_url(request)
    segment = rest.strip("/")
    if segment:
        wanted = next((k for k in fields if k.lower() == segment.lower()), None)
        if wanted is None:
            return fail(fmt, bad_request(f"The property '{segment}' does not exist on type 'SP.UserProfiles.PersonProperties'."))
        return primitive(fmt, wanted, fields[wanted], "Edm.String", base)
    select = request.query.get("$select")
    if select:
        keep = {s.strip().lower() for s in select.split(",") if s.strip()}
        fields = {k: v for k, v in fields.items() if k.lower() in keep}
    uri = f"{base}/_api/SP.UserProfiles.PersonProperties{values.get('UserProfile_GUID', '')}"
    return entity(fmt, uri, "SP.UserProfiles.PersonProperties", fields, base)


def _get_property_for(request: Request, fmt: str, params: dict, rest: str, via: str) -> Response:
    account = as_text(required(params, "accountName", "GetUserProfilePropertyFor"), "accountName")
    name = as_text(required(params, "propertyName", "GetUserProfilePropertyFor"), "propertyName")
    denied = read_denial(caller(request))
    if denied:
        return fail(fmt, denied)
    state = request.state
    index = profile_index(state, account)
    values = profile_values(state, index) if index is not None else None
    if values is None:
        if getattr(request.emulator, "unknown_account", "null") == "error":
            return fail(fmt, USER_NOT_FOUND)
        return null_result(fmt, "GetUserProfilePropertyFor")
    prop = state.property_def(name)
    value = render_value(values.get(prop.name), state.multi_value_separator) if prop else ""
    return primitive(fmt, "GetUserProfilePropertyFor", value, "Edm.String", site_url(request))


def _get_profile_properties(request: Request, fmt: str, params: dict, rest: str, via: str) -> Response:
    account = as_text(required(params, "accountName", "GetUserProfileProperties"), "accountName")
    denied = read_denial(caller(request))
    if denied:
        return fail(fmt, denied)
    state = request.state
    index = profile_index(state, account)
    values = profile_values(state, index) if index is not None else None
    if values is None:
        if getattr(request.emulator, "unknown_account", "null") == "error":
            return fail(fmt, USER_NOT_FOUND)
        return null_result(fmt, "GetUserProfileProperties")
    return primitive(fmt, "GetUserProfileProperties", key_values(state, values), "Collection(SP.KeyValue)", site_url(request))


def apply_write(request: Request, account: str, name: str, value: str | list[str] | None, multi_call: bool, via: str) -> tuple[int, str, str] | None:
    """Validate and apply one PeopleManager-style write; the problem when refused.
    ``value`` is a string for SetSingleValue…, a list for SetMultiValued…."""
    state = request.state
    index = profile_index(state, account)
    if index is None:
        return USER_NOT_FOUND
    prop = state.property_def(name)
    denied = write_denial(state, caller(request), site_kind(request), index, prop, name, allow_delegated=request.emulator.config.allow_delegated_profile_writes)
    if denied:
        return denied
    assert prop is not None
    stored: str | list[str]
    if prop.multi_valued:
        stored = list(value) if isinstance(value, list) else ([value] if value else [])
    elif isinstance(value, list):
        if len(value) > 1:
            return (500, "-1, System.ArgumentException", f"Property '{prop.name}' is single-valued; it cannot hold {len(value)} values.")
        stored = value[0] if value else ""
    else:
        stored = value or ""
    state.set_value(index, prop, stored, via, request.request_id)
    return None


def _set_single(request: Request, fmt: str, params: dict, rest: str, via: str) -> Response:
    account = as_text(required(params, "accountName", "SetSingleValueProfileProperty"), "accountName")
    name = as_text(required(params, "propertyName", "SetSingleValueProfileProperty"), "propertyName")
    value = as_text(params.get("propertyvalue"), "propertyValue")
    problem = apply_write(request, account, name, value, False, via)
    return fail(fmt, problem) if problem else null_result(fmt, "SetSingleValueProfileProperty")


def _set_multi(request: Request, fmt: str, params: dict, rest: str, via: str) -> Response:
    account = as_text(required(params, "accountName", "SetMultiValuedProfileProperty"), "accountName")
    name = as_text(required(params, "propertyName", "SetMultiValuedProfileProperty"), "propertyName")
    values = as_list(params.get("propertyvalues"), "propertyValues")
    problem = apply_write(request, account, name, values, True, via)
    return fail(fmt, problem) if problem else null_result(fmt, "SetMultiValuedProfileProperty")


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    handler: object
    params: list[str]
    methods: frozenset[str]


OPERATIONS = {
    op.name.lower(): op
    for op in (
        Operation("GetPropertiesFor", _get_properties_for, ["accountName"], frozenset({"GET", "POST"})),
        Operation("GetMyProperties", _get_my_properties, [], frozenset({"GET", "POST"})),
        Operation("GetUserProfilePropertyFor", _get_property_for, ["accountName", "propertyName"], frozenset({"GET", "POST"})),
        Operation("GetUserProfileProperties", _get_profile_properties, ["accountName"], frozenset({"GET", "POST"})),
        Operation("SetSingleValueProfileProperty", _set_single, ["accountName", "propertyName", "propertyValue"], frozenset({"POST"})),
        Operation("SetMultiValuedProfileProperty", _set_multi, ["accountName", "propertyName", "propertyValues"], frozenset({"POST"})),
    )
}


def batch_aware(handler):
    """Mark a handler that takes ``via=`` (batch.py passes "batch" for requests in a $batch)."""
    handler.batch_aware = True
    return handler


@route("GET POST", SITE + r"/_api/SP\.UserProfiles\.PeopleManager/(?P<call>.+)", "spo", counts=True)
@batch_aware
def people_manager(request: Request, via: str = "rest") -> Response:
    fmt = odata_format(request)
    if site_kind(request) is None:
        return fail(fmt, FILE_NOT_FOUND)
    try:
        name, args, rest = split_call(request.match.group("call"))  # type: ignore[union-attr]
        operation = OPERATIONS.get(name.lower())
        if operation is None:
            return fail(fmt, bad_request(f'The expression "SP.UserProfiles.PeopleManager/{name}" is not valid.'))
        if request.method not in operation.methods:
            return error(fmt, 405, "-1, Microsoft.SharePoint.Client.ClientServiceException", f"The HTTP method '{request.method}' cannot be used to access the resource '{operation.name}'. The operation type of the resource is specified as 'Default'. Please use correct HTTP method to invoke the resource.")
        params = call_params(args, operation.params, request.query)
        if request.method == "POST":
            for key, value in body_params(request).items():
                params.setdefault(key, value)
        return operation.handler(request, fmt, params, rest, via)  # type: ignore[operator]
    except CallError as problem:
        return fail(fmt, problem.problem)


# ---------------------------------------------------------------------- contextinfo


def form_digest() -> str:
    stamp = datetime.now(timezone.utc).strftime("%d %b %Y %H:%M:%S -0000")
    return f"0x{uuid.uuid4().hex.upper()}{uuid.uuid4().hex.upper()},{stamp}"


@route("POST", SITE + r"/_api/contextinfo", "spo")
def contextinfo(request: Request) -> Response:
    fmt = odata_format(request)
    if site_kind(request) is None:
        return fail(fmt, FILE_NOT_FOUND)
    url = site_url(request)
    fields = {
        "FormDigestTimeoutSeconds": 1800,
        "FormDigestValue": form_digest(),
        "LibraryVersion": LIBRARY_VERSION,
        "SiteFullUrl": url,
        "SupportedSchemaVersions": ["14.0.0.0", "15.0.0.0"],
        "WebFullUrl": url,
    }
    if fmt == VERBOSE:
        payload = {"__metadata": {"type": "SP.ContextWebInformation"}}
        payload.update({k: _verbose_value(v) for k, v in fields.items()})
        return json_response(fmt, 200, {"d": {"GetContextWebInformation": payload}})
    if fmt == MINIMAL:
        return json_response(fmt, 200, {"odata.metadata": f"{url}/_api/$metadata#SP.ContextWebInformation", "odata.type": "SP.ContextWebInformation", **fields})
    return json_response(fmt, 200, fields)


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
