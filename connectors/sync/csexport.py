"""The export rule book of the spo-user-profiles connector, for the Python runtime.

One MIM CSEntryChange in, the SharePoint PeopleManager calls that apply it out, and the
CSEntryChangeResult MIM would record. The generated export script
(templates/spo/export.ps1.j2 with the helpers of common.psm1.j2) follows the same book;
tests/data/spo_export_cases.json is the table both are held to, so `maforge plan` and a test
run predict what the connector really sends.

The rules, in short:

- Object Add: PeopleManager cannot create profiles (SharePoint makes them from Entra ID), so
  the profile is read first; if it exists its values are set as given and its anchor is
  returned, else the entry fails with ``spo-profile-not-found``.
- Object Update: one call per exported attribute change, in the entry's order.
- Object Replace: as Update, then every managed attribute the entry does not carry is cleared.
- Object Delete: profiles go with the Entra ID account; nothing is sent, the entry succeeds.
- Attribute Add/Replace: the values as given. Update on a single value: the added value, or
  empty when only a delete came. Update on a multi value: the profile's current values with
  the deletes and adds applied (read first). Delete: an explicit empty value or empty list
  (an empty list SharePoint refuses with 400/500 is retried as an empty single value).
- ImportOnly attributes, anchors and attributes the schema does not know are never sent.
- Every value is text on the wire: booleans ``True``/``False``, numbers invariant decimal.
- A 429 or 503 with Retry-After is throttling, part of the job: the call waits as asked (one
  wait held to an hour, a guard against a garbled header) and is sent again, however often
  it comes. A 429 or 503 without it, a 504 and a time-out are faults: at most MaxRetries (8)
  retries, after 1, 2, 4 ... s (at most 300 s at once), then the entry fails spo-throttled.
  Only the admin's MaxRetryWaitSeconds (``RetryBudget.max_wait_seconds``; 0, the default,
  is no cap) ends the waiting: past it the entry fails spo-throttled. Other failures fail
  this entry only, with an ``errorName`` MIM shows and a detail carrying SharePoint's
  message, code and request id. Failures that mean nothing else will work either (no
  answer at all, a token SharePoint refuses) raise `ExportStopped`, the runtime's
  ServerDownException.

HTTP, tokens and the host are the transport's business (`Transport`): the rule book only
decides which calls to make and what their answers mean.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import unquote

from maforge.connectors.spo.people import claims, odata_literal

SERVICE_PATH = "/_api/SP.UserProfiles.PeopleManager"
SET_SINGLE = "SetSingleValueProfileProperty"
SET_MULTI = "SetMultiValuedProfileProperty"
GET_PROPERTIES = SERVICE_PATH + "/GetPropertiesFor(accountName=@v)"

SUCCESS = "Success"
CONTINUE_RUN = "ExportErrorCustomContinueRun"

RETRYABLE_STATUS = frozenset({429, 503, 504})
THROTTLED_STATUS = frozenset({429, 503})  # with Retry-After: throttling, waited out with no attempt cap
MAX_SINGLE_WAIT = 3600.0  # seconds; one Retry-After never holds an entry longer (a garbled header)
MAX_BACKOFF = 300.0  # seconds; one back-off after a fault without Retry-After
DETAIL_MESSAGE_LIMIT = 600

Headers = Mapping[str, str]


# --------------------------------------------------------------------------- entries and results


@dataclass(frozen=True, slots=True)
class ValueChange:
    """One value of an attribute change: added or deleted (MIM's ValueModificationType)."""

    modification_type: str  # Add | Delete
    value: Any


@dataclass(frozen=True, slots=True)
class AttributeChange:
    """One attribute of a CSEntryChange (MIM's AttributeModificationType: Add, Replace,
    Update or Delete) with its value changes in the order MIM gave them."""

    name: str
    modification_type: str
    value_changes: tuple[ValueChange, ...] = ()

    @property
    def adds(self) -> list[Any]:
        return [v.value for v in self.value_changes if v.modification_type == "Add"]

    @property
    def deletes(self) -> list[Any]:
        return [v.value for v in self.value_changes if v.modification_type == "Delete"]


@dataclass(frozen=True, slots=True)
class CSEntryChange:
    """What MIM asks the connector to export for one object. ``anchor`` is empty on Add,
    where ``dn`` carries the claims login."""

    object_modification_type: str  # Add | Update | Replace | Delete
    anchor: Mapping[str, str] = field(default_factory=dict)
    dn: str | None = None
    attribute_changes: tuple[AttributeChange, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CSEntryChange:
        """An entry in the case table's JSON shape (camelCase, as MIM names the members)."""
        changes = tuple(
            AttributeChange(
                name=change["name"],
                modification_type=change["modificationType"],
                value_changes=tuple(ValueChange(v["modificationType"], v.get("value")) for v in change.get("valueChanges", [])),
            )
            for change in data.get("attributeChanges", [])
        )
        return cls(data["objectModificationType"], dict(data.get("anchor") or {}), data.get("dn"), changes)

    def carries(self, name: str) -> bool:
        return any(change.name == name for change in self.attribute_changes)


@dataclass(frozen=True, slots=True)
class ExportResult:
    """The CSEntryChangeResult: ``error_code`` is MIM's MAExportError name; on failure
    ``error_name`` is the short text MIM shows and ``error_detail`` the full story; on a
    successful Add ``anchor`` tells MIM the anchor of the object it thinks it created."""

    error_code: str
    error_name: str | None = None
    error_detail: str | None = None
    anchor: dict[str, str] | None = None

    @property
    def ok(self) -> bool:
        return self.error_code == SUCCESS


# --------------------------------------------------------------------------- schema


@dataclass(frozen=True, slots=True)
class AttributeSchema:
    multi_valued: bool = False
    type: str = "string"
    access: str = "ImportExport"  # ImportOnly | ExportOnly | ImportExport


@dataclass(frozen=True, slots=True)
class SchemaType:
    """The connector-space type the entries belong to: its anchor and its attributes."""

    object_type: str
    anchor: tuple[str, ...]
    attributes: Mapping[str, AttributeSchema]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SchemaType:
        """A type in the case table's JSON shape."""
        attributes = {
            name: AttributeSchema(bool(spec.get("multiValued", False)), spec.get("type", "string"), spec.get("access", "ImportExport"))
            for name, spec in data["attributes"].items()
        }
        return cls(data["objectType"], tuple(data.get("anchor", ())), attributes)

    def exportable(self, name: str) -> bool:
        """Whether a change to ``name`` is ever sent: known, not an anchor, not ImportOnly."""
        attribute = self.attributes.get(name)
        return attribute is not None and name not in self.anchor and attribute.access != "ImportOnly"

    def default_managed(self) -> list[str]:
        """What an object Replace manages when the spec has no export flows: every
        exportable attribute."""
        return [name for name in self.attributes if self.exportable(name)]


# --------------------------------------------------------------------------- transport and retries


class Transport(Protocol):
    """Sends one request to the tenant admin host (writes to other users' profiles only
    work there) with whatever authentication it owns.

    ``payload`` is the JSON body of a POST, or for a GET the query parameters, values not
    yet percent-encoded (the transport encodes them). The answer is the status, the
    response headers and the parsed JSON body (None when empty or not JSON; a text body
    may be given as a str). A transport raises `TimeoutError` when a request timed out
    (retried like a 503) and `ConnectionError` when there was no answer at all (the run
    stops). It renews its own tokens: a 401 it passes on is final.
    """

    def send(self, method: str, path: str, payload: Mapping[str, Any] | None) -> tuple[int, Headers, Any]: ...


@dataclass(slots=True)
class RetryBudget:
    """What ends the waiting (the connector's MaxRetries and MaxRetryWaitSeconds): faults
    without Retry-After are retried at most ``max_retries`` times per call; throttling (a 429
    or 503 with Retry-After) has no attempt cap. ``max_wait_seconds`` caps the waiting of both
    in total when above 0 (0: no cap, the default). Share one budget across the entries of a
    run step: ``waited`` accumulates."""

    max_retries: int = 8
    max_wait_seconds: float = 0.0
    waited: float = 0.0


def retry_after_seconds(retry_after: str | None, *, now: datetime | None = None) -> float | None:
    """The seconds a Retry-After header asks for (delta-seconds or an HTTP date), at least 1
    and at most an hour; None when there is none or it cannot be read (the script's
    Get-MfRetryAfter, which reads delta-seconds as a 32-bit integer)."""
    text = (retry_after or "").strip()
    if not text:
        return None
    if re.fullmatch(r"[+-]?\d+", text):
        number = int(text)
        if -(2**31) <= number < 2**31:
            return float(min(max(number, 1), MAX_SINGLE_WAIT))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 1.0), MAX_SINGLE_WAIT)


def backoff(fault: int) -> float:
    """Seconds before the retry after fault number ``fault`` without Retry-After: 1, 2, 4 ...
    at most 300 (the script's Get-MfBackoff)."""
    return min(math.pow(2, max(fault, 1) - 1), MAX_BACKOFF)


def retry_wait(retry_after: str | None, attempt: int, *, now: datetime | None = None) -> float:
    """Seconds to wait before the next attempt: what Retry-After asks for (at most an hour),
    else the back-off for fault number ``attempt``."""
    asked = retry_after_seconds(retry_after, now=now)
    return asked if asked is not None else backoff(attempt)


# --------------------------------------------------------------------------- failures


class ExportStopped(Exception):
    """Nothing else will work either (no answer from the tenant, a token it refuses): the
    runtime's ServerDownException, which stops the run instead of failing every entry."""


class _Failure(Exception):
    """A failure of this entry only. ``kind``: throttled (a fault without Retry-After outlasted
    MaxRetries) | wait-cap (MaxRetryWaitSeconds is used up) | http | no-profile | invalid."""

    def __init__(self, kind: str, message: str, status: int = 0, code: str = "", request_id: str = ""):
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.code = code
        self.request_id = request_id

    @property
    def message(self) -> str:
        return str(self)

    def error_name(self) -> str:
        """The short ErrorName MIM shows for the failed entry."""
        if self.kind in ("throttled", "wait-cap"):
            return "spo-throttled"
        if self.kind == "no-profile":
            return "spo-profile-not-found"
        if self.kind == "invalid":
            return "script-error"
        if re.search("UserNotFound|UserProfileNotFound", self.code, re.IGNORECASE):
            return "spo-profile-not-found"  # a write for an account without a profile (unverified form)
        if re.search("PropertyNotEditable", self.code, re.IGNORECASE):
            return "spo-property-not-editable"
        # The type SharePoint Online uses for an unknown property is unverified (SharePoint
        # Server has PropertyNotDefinedException).
        if re.search("PropertyNotDefined|PropertyNotFound", self.code, re.IGNORECASE):
            return "spo-property-not-found"
        if re.search("UnauthorizedAccess", self.code, re.IGNORECASE) or self.status == 403:
            return "spo-access-denied"
        if self.status == 400:
            return "spo-invalid-value"
        if self.status == 404:
            return "spo-profile-not-found"
        return f"spo-http-{self.status}"

    def error_detail(self) -> str:
        """The message, SharePoint's error code and the request id to quote to Microsoft."""
        detail = self.message
        if self.code:
            detail = f"{detail} ({self.code})"
        if self.request_id:
            detail = f"{detail} [request id {self.request_id}]"
        return detail


def _header(headers: Headers | None, name: str) -> str:
    """A response header, whatever its case."""
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return ""


def _request_id(headers: Headers | None) -> str:
    return _header(headers, "SPRequestGuid") or _header(headers, "request-id") or _header(headers, "client-request-id")


def _error_parts(body: Any) -> tuple[str, str]:
    """SharePoint's, Graph's and Entra ID's error bodies → (code, message). Shapes:
    {"error":{"code":..,"message":{"value":..}}} (verbose), {"odata.error":{...}}
    (nometadata), {"error":{"code":..,"message":".."}} (Graph), {"error_description":..}."""
    code, message = "", ""
    if isinstance(body, Mapping):
        inner = body.get("odata.error")
        if inner is None and not isinstance(body.get("error"), str):
            inner = body.get("error")
        if isinstance(inner, Mapping):
            code = str(inner.get("code") or "")
            text = inner.get("message")
            if isinstance(text, Mapping):
                text = text.get("value")
            message = str(text or "")
        if "error_description" in body:
            message = str(body["error_description"] or "")
            if isinstance(body.get("error"), str):
                code = body["error"]
    elif body is not None:
        message = str(body)
    if len(message) > DETAIL_MESSAGE_LIMIT:
        message = message[:DETAIL_MESSAGE_LIMIT] + "..."
    return code, message


def _send(transport: Transport, method: str, path: str, payload: Mapping[str, Any] | None, sleep: Callable[[float], None], budget: RetryBudget) -> Any:
    """One call, sent again while SharePoint throttles it (the script's Invoke-MfHttp): a 429
    or 503 with Retry-After waits as asked with no attempt cap; a 429 or 503 without it, a 504
    and a time-out are faults, retried at most ``budget.max_retries`` times with back-off; the
    total wait stays within ``budget.max_wait_seconds`` when that is above 0. Returns the 2xx
    answer's body. Other answers raise an entry failure; a 401 or no answer at all stops the run."""
    faults = 0
    while True:
        timed_out = False
        try:
            status, headers, body = transport.send(method, path, payload)
        except TimeoutError:
            timed_out, status, headers, body = True, 0, {}, None
        except ConnectionError as error:
            raise ExportStopped(f"{method} {path}: no answer ({error})") from error
        if 200 <= status < 300:
            return body
        if timed_out or status in RETRYABLE_STATUS:
            what = "time-out" if timed_out else str(status)
            asked = retry_after_seconds(_header(headers, "Retry-After")) if status in THROTTLED_STATUS else None
            if asked is not None:
                wait = asked  # throttled, and SharePoint said for how long: no attempt cap
            else:
                faults += 1
                if faults > budget.max_retries:
                    raise _Failure(
                        "throttled",
                        f"SharePoint kept answering {what} without Retry-After; MaxRetries ({budget.max_retries}) used up",
                        status=status,
                        request_id=_request_id(headers),
                    )
                wait = backoff(faults)
            if budget.max_wait_seconds > 0 and budget.waited + wait > budget.max_wait_seconds:
                raise _Failure(
                    "wait-cap",
                    f"SharePoint answered {what}; MaxRetryWaitSeconds ({budget.max_wait_seconds:g} s) of waiting on throttling is used up for this run step",
                    status=status,
                    request_id=_request_id(headers),
                )
            budget.waited += wait
            sleep(wait)
            continue
        code, message = _error_parts(body)
        if status == 401:
            # The transport has already renewed its token: SharePoint refuses this app.
            raise ExportStopped(f"SharePoint refuses the token: HTTP 401: {message}")
        raise _Failure("http", f"HTTP {status}: {message}", status=status, code=code, request_id=_request_id(headers))


# --------------------------------------------------------------------------- values


def format_value(value: Any) -> str:
    """A value as the text SharePoint stores (every profile value is a string on the
    wire): None → "", booleans True/False as .NET writes them, numbers invariant decimal."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (bytes, bytearray)):
        raise _Failure("invalid", "binary values cannot be written to a user profile")
    return str(value)


def split_multi_value(value: Any) -> list[str]:
    """A multi-valued profile property as a list of strings. GetPropertiesFor returns it as
    one string; that the values are joined with '|' comes from client code, not from
    Microsoft (unverified), so an array (or a verbose {"results": [...]}) is also taken as
    it is. Empty parts are dropped; a value containing '|' cannot be told apart from two."""
    if value is None:
        return []
    if isinstance(value, Mapping) and "results" in value:
        value = value["results"]
    if isinstance(value, str):
        return [part for part in value.split("|") if part]
    items = value if isinstance(value, (list, tuple)) else [value]
    return [str(item) for item in items if item is not None and str(item)]


# --------------------------------------------------------------------------- profiles


@dataclass(frozen=True, slots=True)
class Profile:
    """What GetPropertiesFor says about an account; ``properties`` keeps the raw values
    (multi values still joined) and is looked up without regard to case."""

    account_name: str
    properties: dict[str, Any]

    def get(self, name: str) -> Any:
        for key, value in self.properties.items():
            if key.lower() == name.lower():
                return value
        return None

    def has(self, name: str) -> bool:
        return any(key.lower() == name.lower() for key in self.properties)


def parse_profile(body: Any) -> Profile | None:
    """A GetPropertiesFor answer, or None when the account has no profile. How REST answers
    for an unknown account is unverified: a null entity ({"odata.null": true},
    {"d": {"GetPropertiesFor": null}}) or an empty AccountName all mean "no profile".
    (PeopleClient.parse_properties splits values by the attribute list and drops
    AccountName; the export needs the raw values and the account's own name.)"""
    if not isinstance(body, Mapping) or body.get("odata.null"):
        return None
    if "d" in body:
        body = body["d"]
    if not isinstance(body, Mapping) or "GetPropertiesFor" in body or not body.get("AccountName"):
        return None
    bag = body.get("UserProfileProperties") or []
    if isinstance(bag, Mapping):
        bag = bag.get("results", [])
    properties: dict[str, Any] = {}
    for pair in bag:
        if isinstance(pair, Mapping) and pair.get("Key"):
            properties[str(pair["Key"])] = pair.get("Value")
    account = str(body["AccountName"])
    if not any(key.lower() == "accountname" for key in properties):
        properties["AccountName"] = account
    return Profile(account, properties)


def profile_query(account: str) -> dict[str, str]:
    """GetPropertiesFor's @v alias: the account as an OData string literal, before the
    transport percent-encodes it (odata_literal's quoting, undone encoding)."""
    return {"@v": unquote(odata_literal(account))}


# What SharePoint says of an account it keeps no profile for (unlicensed or disabled users,
# room and shared mailboxes). Its REST answer is UNVERIFIED, so every plausible form counts, as
# Test-MfNoProfile in the export script counts them: a 404, or a 400/500 whose code or message
# names a missing user or profile (SharePoint Server's UserNotFoundException, "User Not Found").
_NO_PROFILE = re.compile(r"UserNotFound|UserProfileNotFound|ProfileNotFound|User Not Found|User profile does not exist")
# The app lacks the permission to write profiles: every entry would be refused alike.
PERMISSION_ADVICE = (
    "grant the app registration the SharePoint application permission User.ReadWrite.All (and TermStore.ReadWrite.All "
    "when taxonomy properties such as SPS-Skills are exported), with admin consent, and use AuthMode Certificate "
    "(SharePoint refuses delegated writes to other users' profiles)"
)


def is_no_profile(failure: _Failure) -> bool:
    """Whether a failed GetPropertiesFor means "this account has no profile"."""
    if failure.kind != "http":
        return False
    if failure.status == 404:
        return True
    return failure.status in (400, 500) and bool(_NO_PROFILE.search(f"{failure.code} {failure.message}"))


def read_profile(transport: Transport, account: str, *, sleep: Callable[[float], None] = time.sleep, retry: RetryBudget | None = None) -> Profile | None:
    """The account's profile, or None when SharePoint has none (is_no_profile)."""
    try:
        body = _send(transport, "GET", GET_PROPERTIES, profile_query(account), sleep, retry or RetryBudget())
    except _Failure as failure:
        if is_no_profile(failure):
            return None
        raise
    return parse_profile(body)


# --------------------------------------------------------------------------- the mapping


@dataclass(slots=True)
class SpoCall:
    """One PeopleManager write. ``merge``: the body's values are the profile's current
    ones with ``adds``/``deletes`` applied when it is sent (AttributeUpdate on a multi
    value)."""

    endpoint: str
    body: dict[str, Any]
    merge: bool = False
    adds: list[str] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)

    @property
    def method(self) -> str:
        return "POST"

    @property
    def path(self) -> str:
        return f"{SERVICE_PATH}/{self.endpoint}"


def _call(endpoint: str, account: str, name: str, values: Sequence[Any] = (), adds: Iterable[Any] | None = None, deletes: Iterable[Any] | None = None) -> SpoCall:
    """The one place a request is shaped: endpoint → JSON body."""
    if endpoint == SET_SINGLE:
        body: dict[str, Any] = {"accountName": account, "propertyName": name, "propertyValue": format_value(values[0] if values else None)}
    else:
        body = {"accountName": account, "propertyName": name, "propertyValues": [format_value(v) for v in values if v is not None]}
    return SpoCall(
        endpoint,
        body,
        merge=adds is not None or deletes is not None,
        adds=[format_value(v) for v in adds or () if v is not None],
        deletes=[format_value(v) for v in deletes or () if v is not None],
    )


def plan_calls(entry: CSEntryChange, account: str, schema: SchemaType, managed: Sequence[str] | None = None) -> list[SpoCall]:
    """CSEntryChange → the writes that apply it, in order. No I/O here."""
    kind = entry.object_modification_type
    if kind == "Delete":
        return []  # profiles go with the Entra ID account
    if kind not in ("Add", "Update", "Replace"):
        raise _Failure("invalid", f"unsupported object modification {kind}")
    # (name, attribute modification, multi-valued, adds, deletes)
    work: list[tuple[str, str, bool, list[Any], list[Any]]] = []
    for change in entry.attribute_changes:
        if not schema.exportable(change.name):
            continue
        work.append((change.name, change.modification_type, schema.attributes[change.name].multi_valued, change.adds, change.deletes))
    if kind == "Replace":
        for name in schema.default_managed() if managed is None else managed:
            if not entry.carries(name) and name in schema.attributes:
                work.append((name, "Delete", schema.attributes[name].multi_valued, [], []))
    calls = []
    for name, modification, multi, adds, deletes in work:
        endpoint = SET_MULTI if multi else SET_SINGLE
        if modification in ("Add", "Replace") or (modification == "Update" and not multi):
            # A changed single value under AttributeUpdate is add new + delete old; only a
            # delete means the value is gone (no add: an empty value).
            calls.append(_call(endpoint, account, name, adds))
        elif modification == "Update":
            calls.append(_call(endpoint, account, name, adds=adds, deletes=deletes))
        elif modification == "Delete":
            calls.append(_call(endpoint, account, name, [] if multi else [""]))
        else:
            raise _Failure("invalid", f"{name}: unsupported change {modification}:{'multi' if multi else 'single'}")
    return calls


def merged_values(call: SpoCall, current: Profile | None) -> list[str]:
    """The whole value set an AttributeUpdate on a multi value writes: the current values
    less the deletes (compared without regard to case, as PowerShell's -notcontains does),
    then the adds, with no duplicates."""
    values: list[str] = []
    deleted = {d.casefold() for d in call.deletes}
    name = call.body["propertyName"]
    if current is not None and current.has(name):
        for value in split_multi_value(current.get(name)):
            if value.casefold() not in deleted and value not in values:
                values.append(value)
    for value in call.adds:
        if value not in values:
            values.append(value)
    return values


def account_of(entry: CSEntryChange) -> str:
    """The claims login an entry is about: the AccountName anchor, else the DN."""
    for name, value in entry.anchor.items():
        if name.lower() == "accountname" and value:
            return str(value)
    if entry.dn:
        return claims(entry.dn)
    raise _Failure("invalid", "the entry has neither an AccountName anchor nor a DN")


def _apply(transport: Transport, call: SpoCall, current: Profile | None, sleep: Callable[[float], None], budget: RetryBudget) -> None:
    body = dict(call.body)
    if call.merge:
        body["propertyValues"] = merged_values(call, current)
    try:
        _send(transport, call.method, call.path, body, sleep, budget)
    except _Failure as failure:
        is_empty_list = "propertyValues" in body and not body["propertyValues"]
        if not is_empty_list or failure.kind != "http" or failure.status not in (400, 500):
            raise
        # Whether SetMultiValuedProfileProperty accepts an empty list is unverified: if it
        # refuses one, clear the property with an empty single value instead.
        clear = _call(SET_SINGLE, body["accountName"], body["propertyName"], [""])
        _send(transport, clear.method, clear.path, clear.body, sleep, budget)


# --------------------------------------------------------------------------- entry point


def export_entry(
    entry: CSEntryChange,
    schema: SchemaType,
    transport: Transport,
    *,
    managed: Sequence[str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    retry: RetryBudget | None = None,
) -> ExportResult:
    """Apply one CSEntryChange to SharePoint and return its CSEntryChangeResult.

    ``managed``: the attributes an object Replace manages (default: every exportable
    attribute of ``schema``). ``retry``: the run step's throttling budget (default: a fresh
    one with the connector's defaults). A failure of this entry comes back as an
    ExportErrorCustomContinueRun result; `ExportStopped` is raised when the run cannot go on.
    """
    budget = retry or RetryBudget()
    account = "an entry"
    try:
        account = account_of(entry)
        calls = plan_calls(entry, account, schema, managed)
        current: Profile | None = None
        if entry.object_modification_type == "Add" or any(call.merge for call in calls):
            current = read_profile(transport, account, sleep=sleep, retry=budget)
            if current is None:
                raise _Failure("no-profile", f"SharePoint has no profile for {account}; profiles are created by SharePoint's sync from Entra ID")
        for call in calls:
            _apply(transport, call, current, sleep, budget)
        anchor = None
        if entry.object_modification_type == "Add" and current is not None:
            # Tell MIM the anchor of the object it thinks it created.
            anchor = {}
            for name in schema.anchor:
                value = current.get(name)
                text = "" if value is None else str(value)
                if name == "AccountName" and not text:
                    text = current.account_name
                anchor[name] = text
        return ExportResult(SUCCESS, anchor=anchor)
    except _Failure as failure:
        if failure.kind == "http" and (failure.status == 403 or re.search("UnauthorizedAccess", failure.code, re.IGNORECASE)):
            raise ExportStopped(
                f"SharePoint refused to write the profile of {account} "
                f"(access denied: {failure.error_detail()}); the app lacks the permission to write profiles: {PERMISSION_ADVICE}. "
                "Stopping the export: every entry would be refused alike."
            ) from None
        return ExportResult(CONTINUE_RUN, failure.error_name(), failure.error_detail())


# --------------------------------------------------------------------------- the live transport


class SessionTransport:
    """`Transport` over an `SpoSession` to the tenant admin host: sign-in, pooling, pacing and
    the retrying of 429/503/504 stay the session's (`connectors/spo/session.py`), so use this
    with ``RetryBudget(max_retries=0)`` and the rule book never waits twice for one answer (a
    throttled call the session gave up on, past --max-wait, comes back as a 429 without
    Retry-After: a fault, which fails the entry spo-throttled at once)."""

    def __init__(self, session: Any):
        self.session = session

    def send(self, method: str, path: str, payload: Mapping[str, Any] | None) -> tuple[int, Headers, Any]:
        from urllib.parse import quote

        from maforge.connectors.spo.session import SpoError

        url = self.session.connection.admin_url + path
        if method == "GET" and payload:
            url += "?" + "&".join(f"{key}={quote(str(value), safe=chr(39) + '@:')}" for key, value in payload.items())
        try:
            answer = self.session.request(method, url, json_body=payload if method != "GET" else None)
        except SpoError as error:
            if error.status is None:
                raise ConnectionError(str(error)) from None
            return error.status, {}, {"error": {"code": error.code or "", "message": {"value": str(error)}}}
        try:
            body = answer.json()
        except ValueError:
            body = answer.body.decode("utf-8", "replace")
        return answer.status, dict(answer.headers), body
