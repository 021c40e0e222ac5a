"""Microsoft Graph users: `/v1.0/users`, `/v1.0/users/{id|upn}` and `/v1.0/users/delta`
(spo-profiles-api.md §4.3), as the source of account names for enumeration.

- `/users`: `$select`, `$top` (1–999, default 100), `$filter` with `and`-joined clauses of
  `accountEnabled eq true|false`, `<prop> eq '<text>'` and `startswith(<prop>,'<text>')`
  (case-insensitive, as Graph compares strings); paging by `@odata.nextLink` carrying an
  opaque `$skiptoken`. Users come in tenant order; deleted users are gone, disabled ones
  are listed with accountEnabled false.
- `/users/$count` (with `ConsistencyLevel: eventual`): how many users there are, as text.
- `/users/delta`: the first round pages through every (non-deleted) user with nextLinks and
  ends with an `@odata.deltaLink`; calling that later returns only users changed since,
  again ending with a deltaLink. Deleted users come back as `{"id": …, "@removed": {"reason":
  "changed"}}` ("deleted" when removed permanently). `$select` of the first request carries
  over in the links.

The directory starts as the seed (the values SharePoint synced, before HR drift is applied by
writes); :class:`Directory` changes it for tests: ``directory(emulator.state).update_user(
"upn", department="Sales")``, ``.disable_user(...)``, ``.delete_user(...)``. Each change takes
the next value of one change counter, which delta tokens are cut at. Changes in the directory
do not flow into SharePoint profiles (the UPA sync is not modelled).

Chosen where unsure (UNVERIFIED): `$filter` on delta is refused (400 Request_UnsupportedQuery),
a delta page holds at most 200 users (or the first request's `$top`), a bad token is 400
Request_BadRequest "Invalid skip token."/"Invalid delta token.", and app-only tokens need one of
User.Read.All, User.ReadWrite.All, Directory.Read.All, Directory.ReadWrite.All (403
Authorization_RequestDenied otherwise).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .server import Request, Response, route
from .sharepoint import resolve, seed_user
from .state import TenantState

GRAPH_READ_ROLES = frozenset({"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"})
DEFAULT_SELECT = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id")
ALL_PROPERTIES = ("id", "userPrincipalName", "mail", "displayName", "givenName", "surname", "accountEnabled", "department", "jobTitle", "officeLocation", "mobilePhone", "businessPhones", "userType", "preferredLanguage")
_CANONICAL = {name.lower(): name for name in ALL_PROPERTIES}
DELTA_PAGE = 200


# ---------------------------------------------------------------------- the directory


@dataclass
class Directory:
    """Entra users as Graph shows them: the seed plus changes made by tests."""

    state: TenantState
    counter: int = 0
    changed: dict[int, int] = field(default_factory=dict)  # index → change number
    fields: dict[int, dict[str, object]] = field(default_factory=dict)
    deleted: dict[int, str] = field(default_factory=dict)  # index → "changed" (soft) or "deleted"
    lock: threading.Lock = field(default_factory=threading.Lock)
    _by_object_id: dict[str, int] | None = None

    def index(self, user: str | int) -> int:
        if isinstance(user, int):
            found: int | None = user if seed_user(self.state, user) is not None else None
        else:
            found = resolve(self.state, user) or self.by_object_id(user)
        if found is None:
            raise KeyError(f"no such user: {user!r}")
        return found

    def by_object_id(self, object_id: str) -> int | None:
        if self._by_object_id is None:
            table = {}
            for i in range(1, self.state.profile_count + 1):
                table[seed_user(self.state, i).object_id.lower()] = i  # type: ignore[union-attr]
            self._by_object_id = table
        return self._by_object_id.get(object_id.strip().lower())

    def _touch(self, index: int) -> int:
        self.counter += 1
        self.changed[index] = self.counter
        return self.counter

    def update_user(self, user: str | int, **changes: object) -> int:
        """Change Graph properties of a user (e.g. department="Sales"); the change number."""
        index = self.index(user)
        unknown = [k for k in changes if k.lower() not in _CANONICAL or k.lower() in ("id", "userprincipalname")]
        if unknown:
            raise ValueError(f"cannot change {', '.join(unknown)}")
        with self.lock:
            self.fields.setdefault(index, {}).update({_CANONICAL[k.lower()]: v for k, v in changes.items()})
            return self._touch(index)

    def disable_user(self, user: str | int) -> int:
        return self.update_user(user, accountEnabled=False)

    def enable_user(self, user: str | int) -> int:
        return self.update_user(user, accountEnabled=True)

    def delete_user(self, user: str | int, permanent: bool = False) -> int:
        index = self.index(user)
        with self.lock:
            self.deleted[index] = "deleted" if permanent else "changed"
            return self._touch(index)

    def user(self, index: int) -> dict[str, object] | None:
        """The full Graph object of a (non-deleted) user."""
        if index in self.deleted:
            return None
        seed = seed_user(self.state, index)
        if seed is None:
            return None
        props = seed.properties
        work_phone = str(props.get("WorkPhone") or "")
        result: dict[str, object] = {
            "id": seed.object_id,
            "userPrincipalName": seed.upn,
            "mail": seed.mail or None,
            "displayName": seed.display_name,
            "givenName": seed.given_name or None,
            "surname": seed.surname or None,
            "accountEnabled": seed.enabled,
            "department": props.get("Department") or None,
            "jobTitle": props.get("SPS-JobTitle") or None,
            "officeLocation": props.get("Office") or None,
            "mobilePhone": props.get("CellPhone") or None,
            "businessPhones": [work_phone] if work_phone else [],
            "userType": "Member",
            "preferredLanguage": "en-US",
        }
        extra = self.fields.get(index)
        if extra:
            result.update(extra)
        return result


def directory(state: TenantState) -> Directory:
    """The tenant's Graph directory (created on first use)."""
    found = state.__dict__.get("_emulator_graph_directory")
    if found is None:
        with state.lock:
            found = state.__dict__.setdefault("_emulator_graph_directory", Directory(state))
    return found


# ---------------------------------------------------------------------- helpers


def graph_error(request: Request, status: int, code: str, message: str) -> Response:
    inner = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": request.request_id, "client-request-id": request.headers.get("client-request-id") or request.request_id}
    return Response.json(status, {"error": {"code": code, "message": message, "innerError": inner}})


def _denied(request: Request) -> Response | None:
    claims = request.claims or {}
    if "scp" in claims or "upn" in claims:
        return None
    roles = claims.get("roles") or []
    if isinstance(roles, str):
        roles = roles.split()
    if GRAPH_READ_ROLES & set(roles):
        return None
    return graph_error(request, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


class QueryError(Exception):
    pass


def _select(text: str | None) -> tuple[str, ...]:
    if not text:
        return DEFAULT_SELECT
    names = []
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            continue
        if name.lower() not in _CANONICAL:
            raise QueryError(f"Could not find a property named '{name}' on type 'microsoft.graph.user'.")
        names.append(_CANONICAL[name.lower()])
    return tuple(names)


def _shape(user: dict[str, object], select: tuple[str, ...]) -> dict[str, object]:
    return {name: user.get(name) for name in select}


_CLAUSE_EQ = re.compile(r"^\s*(\w+)\s+eq\s+(true|false|'(?:[^']|'')*')\s*$", re.IGNORECASE)
_CLAUSE_STARTS = re.compile(r"^\s*startswith\(\s*(\w+)\s*,\s*'((?:[^']|'')*)'\s*\)\s*$", re.IGNORECASE)
_FILTERABLE = {"accountEnabled", "userPrincipalName", "mail", "displayName", "givenName", "surname", "department", "jobTitle", "officeLocation", "userType", "id"}


def _filter(text: str | None):
    """A predicate for a simple `$filter`, or None for no filter."""
    if not text or not text.strip():
        return None
    tests = []
    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        eq = _CLAUSE_EQ.match(clause)
        starts = _CLAUSE_STARTS.match(clause)
        found = eq or starts
        name = _CANONICAL.get(found.group(1).lower()) if found else None
        if not found or name not in _FILTERABLE:
            raise QueryError("Unsupported Query.")
        if eq:
            raw = eq.group(2)
            if raw.lower() in ("true", "false"):
                if name != "accountEnabled":
                    raise QueryError("Unsupported Query.")
                wanted_bool = raw.lower() == "true"
                tests.append(lambda u, n=name, w=wanted_bool: u.get(n) is w)
            else:
                wanted = raw[1:-1].replace("''", "'").lower()
                tests.append(lambda u, n=name, w=wanted: isinstance(u.get(n), str) and u[n].lower() == w)  # type: ignore[union-attr]
        else:
            prefix = starts.group(2).replace("''", "'").lower()  # type: ignore[union-attr]
            tests.append(lambda u, n=name, p=prefix: isinstance(u.get(n), str) and u[n].lower().startswith(p))  # type: ignore[union-attr]
    return lambda user: all(test(user) for test in tests)


def _encode(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(token: str) -> dict:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, json.JSONDecodeError):
        raise QueryError("bad token") from None
    if not isinstance(data, dict):
        raise QueryError("bad token")
    return data


def _top(text: str | None, default: int) -> int:
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise QueryError(f"Invalid page size specified: '{text}'. Must be between 1 and 999 inclusive.") from None
    if not 1 <= value <= 999:
        raise QueryError(f"Invalid page size specified: '{text}'. Must be between 1 and 999 inclusive.")
    return value


def _context(request: Request, select: tuple[str, ...], delta: bool = False) -> str:
    suffix = "/delta" if delta else ""
    selected = "(" + ",".join(select) + ")" if select != DEFAULT_SELECT else ""
    return f"{request.emulator.graph_url}/v1.0/$metadata#users{selected}{suffix}"


# ---------------------------------------------------------------------- /users


@route("GET", r"/graph/v1\.0/users", "graph")
def users(request: Request) -> Response:
    denied = _denied(request)
    if denied:
        return denied
    query = request.query
    try:
        token = query.get("$skiptoken")
        if token:
            page = _decode(token)
            select, top, where, position = tuple(page["s"]), int(page["t"]), page.get("f"), int(page["p"])
        else:
            select, top, where, position = _select(query.get("$select")), _top(query.get("$top"), 100), query.get("$filter"), 1
        predicate = _filter(where)
    except (QueryError, KeyError, TypeError, ValueError) as problem:
        text = str(problem)
        if text == "bad token" or isinstance(problem, (KeyError, TypeError)):
            return graph_error(request, 400, "Request_BadRequest", "Invalid skip token.")
        return graph_error(request, 400, "Request_UnsupportedQuery" if "Unsupported" in text or "page size" in text else "Request_BadRequest", text)
    book = directory(request.state)
    count = request.state.profile_count
    values = []
    while position <= count and len(values) < top:
        user = book.user(position)
        position += 1
        if user is not None and (predicate is None or predicate(user)):
            values.append(_shape(user, select))
    payload: dict[str, object] = {"@odata.context": _context(request, select)}
    if position <= count:
        payload["@odata.nextLink"] = f"{request.emulator.graph_url}/v1.0/users?$skiptoken=" + _encode({"p": position, "s": list(select), "t": top, "f": where})
    payload["value"] = values
    return Response.json(200, payload, "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")


@route("GET", r"/graph/v1\.0/users/\$count", "graph")
def count_users(request: Request) -> Response:
    """`/users/$count` is an advanced query: Graph answers it only with `ConsistencyLevel:
    eventual` (documented); the 400 text without the header is unverified. The answer is
    the bare number as text/plain."""
    denied = _denied(request)
    if denied:
        return denied
    if (request.headers.get("ConsistencyLevel") or "").lower() != "eventual":
        return graph_error(request, 400, "Request_BadRequest", "$count is not currently supported.")
    book = directory(request.state)
    return Response.text(200, str(request.state.profile_count - len(book.deleted)))


@route("GET", r"/graph/v1\.0/users/(?!delta$|\$count$)(?P<key>[^/]+)", "graph")
def one_user(request: Request) -> Response:
    denied = _denied(request)
    if denied:
        return denied
    try:
        select = _select(request.query.get("$select"))
    except QueryError as problem:
        return graph_error(request, 400, "Request_BadRequest", str(problem))
    book = directory(request.state)
    key = request.match.group("key")  # type: ignore[union-attr]
    index = resolve(request.state, key) if "@" in key else book.by_object_id(key)
    user = book.user(index) if index else None
    if user is None:
        return graph_error(request, 404, "Request_ResourceNotFound", f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.")
    return Response.json(200, {"@odata.context": _context(request, select) + "/$entity", **_shape(user, select)})


# ---------------------------------------------------------------------- /users/delta


@route("GET", r"/graph/v1\.0/users/delta", "graph")
def users_delta(request: Request) -> Response:
    denied = _denied(request)
    if denied:
        return denied
    query = request.query
    book = directory(request.state)
    try:
        if query.get("$skiptoken"):
            page = _decode(query["$skiptoken"])
        elif query.get("$deltatoken"):
            try:
                since = _decode(query["$deltatoken"])
            except QueryError:
                return graph_error(request, 400, "Request_BadRequest", "Invalid delta token.")
            with book.lock:
                upto = book.counter
            page = {"m": "c", "since": int(since["since"]), "upto": upto, "p": 0, "s": since["s"], "t": since["t"]}
        else:
            if query.get("$filter"):
                raise QueryError("Unsupported Query.")
            select = _select(query.get("$select"))
            with book.lock:
                upto = book.counter
            page = {"m": "s", "upto": upto, "p": 1, "s": list(select), "t": _top(query.get("$top"), DELTA_PAGE)}
        select, top, position = tuple(page["s"]), int(page["t"]), int(page["p"])
    except (QueryError, KeyError, TypeError, ValueError) as problem:
        text = str(problem)
        if isinstance(problem, QueryError) and text != "bad token":
            return graph_error(request, 400, "Request_UnsupportedQuery", text)
        return graph_error(request, 400, "Request_BadRequest", "Invalid skip token.")
    values: list[dict[str, object]] = []
    if page["m"] == "s":  # the initial round: everyone
        count = request.state.profile_count
        while position <= count and len(values) < top:
            user = book.user(position)
            position += 1
            if user is not None:
                values.append(_shape(user, select))
        more = position <= count
    else:  # changes with since < change number <= upto, in change order
        with book.lock:
            changed = sorted((n, i) for i, n in book.changed.items() if page["since"] < n <= page["upto"])
        chunk = changed[position : position + top]
        for _, index in chunk:
            user = book.user(index)
            if user is None:
                values.append({"id": seed_user(request.state, index).object_id, "@removed": {"reason": book.deleted.get(index, "changed")}})  # type: ignore[union-attr]
            else:
                values.append(_shape(user, select))
        position += len(chunk)
        more = position < len(changed)
    payload: dict[str, object] = {"@odata.context": _context(request, select, delta=True)}
    base = f"{request.emulator.graph_url}/v1.0/users/delta"
    if more:
        payload["@odata.nextLink"] = f"{base}?$skiptoken=" + _encode({**page, "p": position})
    else:
        payload["@odata.deltaLink"] = f"{base}?$deltatoken=" + _encode({"since": page["upto"], "s": list(select), "t": top})
    payload["value"] = values
    return Response.json(200, payload, "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
