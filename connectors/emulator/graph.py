"""Microsoft Graph users: `/v1.0/users`, `/v1.0/users/{id|upn}` and `/v1.0/users/delta`
(spo-profiles-api.md §4.3), as the source of account names for enumeration and the source of
desired state for a spec's `graph-users` sources. docs/emulator.md lists each behaviour with
its evidence.

- `/users`: `$select`, `$top` (1–999, default 100), `$filter` with `and`-joined clauses of
  `accountEnabled eq true|false`, `<prop> eq '<text>'` and `startswith(<prop>,'<text>')`
  (case-insensitive, as Graph compares strings; directory extensions take `eq`); paging by
  `@odata.nextLink` carrying an opaque `$skiptoken`. Users come in tenant order; deleted users
  are gone, disabled ones are listed with accountEnabled false.
- `/users/$count` (with `ConsistencyLevel: eventual`): how many users there are, as text.
- `/users/delta`: the first round pages through every (non-deleted) user with nextLinks and
  ends with an `@odata.deltaLink`; calling that later returns only users changed since, again
  ending with a deltaLink. Only changes to the *selected* properties count (the default set
  when there is no `$select`, as Graph documents); deletions always do, as `{"id": …,
  "@removed": {"reason": "changed"}}` ("deleted" when removed permanently). `id` is always
  returned. `$select` and `$filter=id eq '…' or id eq '…'` (at most 50 ids) are given in the
  first request and carried in the links; any other `$filter`, and `$expand`, `$orderby`,
  `$count` or `$search`, is 400 "Unsupported Query.", as is repeating a query option beside a
  `$skiptoken` or `$deltatoken` (Graph documents `$select` with `$skiptoken` as unsupported and
  re-selecting through a deltaLink as supported only for "some" Entra resources: a client that
  needs another `$select` starts a new round). `$top` is ignored: a page holds up to 200 users.
  `manager` may be selected (delta only) and comes back as `manager@delta`.
- Custom attributes: directory extensions `extension_<appid>_<name>` (appid: the owner app's
  client id without dashes; the emulator registers `costCenter` and `division` on its own
  app) are returned only when selected and only where set; `onPremisesExtensionAttributes`
  is returned, when selected, as one object with `extensionAttribute1` … `15`. Selecting an
  extension that is not registered is 400 Request_UnsupportedQuery "Property '…' does not exist
  as a declared property or extension property.", any other unknown name 400 Request_BadRequest.

The directory starts as the seed (the values SharePoint synced, before HR drift is applied by
writes) plus deterministic custom attributes; :class:`Directory` changes it for tests:
``directory(emulator.state).update_user("upn", department="Sales")``, ``.disable_user(...)``,
``.delete_user(...)``; custom attributes by their Graph names (``update_user(u,
**{book.extension("costCenter"): "CC-1"})``, ``update_user(u, onPremisesExtensionAttributes=
{"extensionAttribute3": "x"})``). Each change takes the next value of one change counter and
records which properties it touched; delta tokens are cut at the counter. Changes in the
directory do not flow into SharePoint profiles, and SharePoint writes do not flow into the
directory (a user editing About me is invisible to Graph, as in the real service).

Chosen where unsure (UNVERIFIED): a delta page holds at most 200 users; the text of the 400s
for more than 50 filtered ids, for a query option beside a token, and for a bad token
("Invalid skip token."/"Invalid delta token."); unset extensions are left out of a response;
app-only tokens need one of User.Read.All, User.ReadWrite.All, Directory.Read.All,
Directory.ReadWrite.All (403 Authorization_RequestDenied otherwise).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .seed import CLAIMS_PREFIX
from .server import Request, Response, route
from .sharepoint import resolve, seed_user
from .state import TenantState

GRAPH_READ_ROLES = frozenset({"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"})
DEFAULT_SELECT = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id")
ALL_PROPERTIES = (
    "id", "userPrincipalName", "mail", "displayName", "givenName", "surname", "accountEnabled", "department", "jobTitle", "officeLocation",
    "mobilePhone", "businessPhones", "userType", "preferredLanguage", "proxyAddresses", "employeeId", "onPremisesExtensionAttributes",
)  # fmt: skip
_CANONICAL = {name.lower(): name for name in ALL_PROPERTIES}
MANAGER = "manager"  # a navigation property: selectable on delta only, tracked like the others
ON_PREMISES = "onPremisesExtensionAttributes"
ON_PREMISES_KEYS = tuple(f"extensionAttribute{n}" for n in range(1, 16))
SEEDED_EXTENSIONS = ("costCenter", "division")
DELTA_PAGE = 200
DELTA_MAX_IDS = 50
REMOVED = "@removed"  # the change key of a deletion: reported whatever is selected
_DELTA_REFUSED = ("$filter", "$select", "$expand", "$orderby", "$count", "$search")


# ---------------------------------------------------------------------- the directory


def extension_name(state: TenantState, name: str) -> str:
    """The Graph name of directory extension ``name`` registered on the emulator's own app:
    `extension_<client id without dashes>_<name>`."""
    return f"extension_{state.client_id.replace('-', '')}_{name}"


@dataclass
class Directory:
    """Entra users as Graph shows them: the seed plus changes made by tests."""

    state: TenantState
    counter: int = 0
    changes: dict[int, dict[str, int]] = field(default_factory=dict)  # index → {property: change number}
    fields: dict[int, dict[str, object]] = field(default_factory=dict)
    deleted: dict[int, str] = field(default_factory=dict)  # index → "changed" (soft) or "deleted"
    lock: threading.Lock = field(default_factory=threading.Lock)
    _by_object_id: dict[str, int] | None = None

    def __post_init__(self) -> None:
        self.extensions = {extension_name(self.state, n).lower(): extension_name(self.state, n) for n in SEEDED_EXTENSIONS}

    def extension(self, name: str) -> str:
        """The full Graph name of a registered extension, from its short name (`costCenter`)."""
        full = extension_name(self.state, name)
        if full.lower() not in self.extensions:
            raise KeyError(f"no directory extension {name!r}; registered: {', '.join(SEEDED_EXTENSIONS)}")
        return full

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

    def _touch(self, index: int, properties: set[str]) -> int:
        self.counter += 1
        touched = self.changes.setdefault(index, {})
        for name in properties:
            touched[name] = self.counter
        return self.counter

    def _name(self, key: str) -> str | None:
        """The Graph name a test may change, or None."""
        lowered = key.lower()
        if lowered in ("id", "userprincipalname"):
            return None
        if lowered == MANAGER:
            return MANAGER
        return _CANONICAL.get(lowered) or self.extensions.get(lowered)

    def update_user(self, user: str | int, **changes: object) -> int:
        """Change Graph properties of a user (e.g. department="Sales", an extension by its full
        name, manager=<upn or id or None>, onPremisesExtensionAttributes={"extensionAttribute3":
        "x"}, which changes only the attributes given); the change number."""
        index = self.index(user)
        names = {key: self._name(key) for key in changes}
        unknown = [key for key, name in names.items() if name is None]
        if unknown:
            raise ValueError(f"cannot change {', '.join(unknown)}")
        values: dict[str, object] = {}
        for key, value in changes.items():
            name = names[key]
            if name == MANAGER and value is not None:
                value = seed_user(self.state, self.index(str(value).removeprefix(CLAIMS_PREFIX))).object_id  # type: ignore[union-attr]
            if name == ON_PREMISES:
                if not isinstance(value, dict) or not set(value) <= set(ON_PREMISES_KEYS):
                    raise ValueError(f"{ON_PREMISES} takes a dict of {ON_PREMISES_KEYS[0]} … {ON_PREMISES_KEYS[-1]}")
                current = (self.user(index) or {}).get(ON_PREMISES) or {}
                value = {**current, **value}  # type: ignore[dict-item]
            values[name] = value  # type: ignore[index]
        with self.lock:
            self.fields.setdefault(index, {}).update(values)
            return self._touch(index, set(values))

    def disable_user(self, user: str | int) -> int:
        return self.update_user(user, accountEnabled=False)

    def enable_user(self, user: str | int) -> int:
        return self.update_user(user, accountEnabled=True)

    def delete_user(self, user: str | int, permanent: bool = False) -> int:
        index = self.index(user)
        with self.lock:
            self.deleted[index] = "deleted" if permanent else "changed"
            return self._touch(index, {REMOVED})

    def changed_since(self, since: int, upto: int, tracked: set[str]) -> list[int]:
        """Users with a change to a tracked property (or a deletion) numbered in (since, upto],
        in the order of their last such change."""
        wanted = tracked | {REMOVED}
        with self.lock:
            found = []
            for index, touched in self.changes.items():
                numbers = [n for name, n in touched.items() if name in wanted and since < n <= upto]
                if numbers:
                    found.append((max(numbers), index))
        return [index for _, index in sorted(found)]

    def user(self, index: int) -> dict[str, object] | None:
        """The full Graph object of a (non-deleted) user, extensions included where set."""
        if index in self.deleted:
            return None
        seed = seed_user(self.state, index)
        if seed is None:
            return None
        props = seed.properties
        work_phone = str(props.get("WorkPhone") or "")
        manager_upn = str(props.get("Manager") or "").removeprefix(CLAIMS_PREFIX)
        manager_index = resolve(self.state, manager_upn) if manager_upn else None
        manager = seed_user(self.state, manager_index) if manager_index else None
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
            "proxyAddresses": [f"SMTP:{seed.mail or seed.upn}"],
            "employeeId": f"E{1000 + index}",  # the SPO sample's HR keys: E1001 is user 1
            MANAGER: manager.object_id if manager else None,
            ON_PREMISES: _on_premises(index),
            **_extensions(self.state, index),
        }
        extra = self.fields.get(index)
        if extra:
            result.update(extra)
        return result


def _on_premises(index: int) -> dict[str, str | None]:
    """Deterministic extensionAttribute1 … 15: a badge number for everyone, a worker type for
    odd-numbered users, nothing else."""
    values: dict[str, str | None] = dict.fromkeys(ON_PREMISES_KEYS)
    values["extensionAttribute1"] = f"B{index:06d}"
    if index % 2 == 1:
        values["extensionAttribute3"] = "Contractor" if index % 5 == 0 else "Employee"
    return values


def _extensions(state: TenantState, index: int) -> dict[str, str]:
    """Deterministic directory extension values; unset ones are absent, as Graph leaves them out."""
    values = {}
    if index % 4 != 0:
        values[extension_name(state, "costCenter")] = f"CC-{1000 + (index * 37) % 900}"
    if index % 3 != 0:
        values[extension_name(state, "division")] = ("North", "South", "East", "West")[index % 4]
    return values


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
    """A query Graph refuses: 400 with ``code`` and the message."""

    def __init__(self, message: str, code: str = "Request_UnsupportedQuery"):
        super().__init__(message)
        self.code = code


def _select(text: str | None, book: Directory, delta: bool = False) -> tuple[str, ...]:
    if not text:
        return DEFAULT_SELECT
    names = []
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            continue
        lowered = name.lower()
        if lowered.startswith("extension_"):
            if lowered not in book.extensions:
                raise QueryError(f"Property '{name}' does not exist as a declared property or extension property.")
            names.append(book.extensions[lowered])
        elif delta and lowered == MANAGER:
            names.append(MANAGER)
        elif lowered in _CANONICAL:
            names.append(_CANONICAL[lowered])
        else:
            raise QueryError(f"Could not find a property named '{name}' on type 'microsoft.graph.user'.", "Request_BadRequest")
    return tuple(dict.fromkeys(names))


def _shape(user: dict[str, object], select: tuple[str, ...], delta: bool = False) -> dict[str, object]:
    shaped: dict[str, object] = {}
    for name in select:
        value = user.get(name)
        if name == MANAGER:
            shaped["manager@delta"] = [{"@odata.type": "#microsoft.graph.user", "id": value}] if value else []
        elif name.startswith("extension_"):
            if value is not None:
                shaped[name] = value
        else:
            shaped[name] = dict(value) if isinstance(value, dict) else value
    if delta and "id" not in shaped:
        shaped["id"] = user["id"]  # "The id property is always returned" (user: delta)
    return shaped


_CLAUSE_EQ = re.compile(r"^\s*(\w+)\s+eq\s+(true|false|'(?:[^']|'')*')\s*$", re.IGNORECASE)
_CLAUSE_STARTS = re.compile(r"^\s*startswith\(\s*(\w+)\s*,\s*'((?:[^']|'')*)'\s*\)\s*$", re.IGNORECASE)
_FILTERABLE = {"accountEnabled", "userPrincipalName", "mail", "displayName", "givenName", "surname", "department", "jobTitle", "officeLocation", "userType", "id", "employeeId"}
_ID_CLAUSE = re.compile(r"^\s*id\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)


def _filter(text: str | None, book: Directory):
    """A predicate for a simple `$filter`, or None for no filter."""
    if not text or not text.strip():
        return None
    tests = []
    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        eq = _CLAUSE_EQ.match(clause)
        starts = _CLAUSE_STARTS.match(clause)
        found = eq or starts
        name = None
        if found:
            key = found.group(1).lower()
            name = _CANONICAL.get(key)
            if name not in _FILTERABLE:
                name = book.extensions.get(key) if eq else None  # directory extensions: eq only here
        if found is None or name is None:
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


def _delta_ids(text: str | None) -> list[str] | None:
    """The object ids of a delta `$filter` (`id eq '…'` clauses joined by `or`, at most 50),
    or None for no filter; anything else is refused, as Graph refuses it."""
    if not text or not text.strip():
        return None
    ids = []
    for clause in re.split(r"\s+or\s+", text.strip(), flags=re.IGNORECASE):
        found = _ID_CLAUSE.match(clause)
        if not found:
            raise QueryError("Unsupported Query.")
        ids.append(found.group(1).strip().lower())
    if len(ids) > DELTA_MAX_IDS:
        raise QueryError(f"Unsupported Query. At most {DELTA_MAX_IDS} ids can be filtered.")
    return list(dict.fromkeys(ids))


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
    book = directory(request.state)
    try:
        token = query.get("$skiptoken")
        if token:
            page = _decode(token)
            select, top, where, position = tuple(page["s"]), int(page["t"]), page.get("f"), int(page["p"])
        else:
            select, top, where, position = _select(query.get("$select"), book), _top(query.get("$top"), 100), query.get("$filter"), 1
        predicate = _filter(where, book)
    except (QueryError, KeyError, TypeError, ValueError) as problem:
        if str(problem) == "bad token" or not isinstance(problem, QueryError):
            return graph_error(request, 400, "Request_BadRequest", "Invalid skip token.")
        return graph_error(request, 400, problem.code, str(problem))
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
    book = directory(request.state)
    try:
        select = _select(request.query.get("$select"), book)
    except QueryError as problem:
        return graph_error(request, 400, problem.code, str(problem))
    key = request.match.group("key")  # type: ignore[union-attr]
    index = resolve(request.state, key) if "@" in key else book.by_object_id(key)
    user = book.user(index) if index else None
    if user is None:
        return graph_error(request, 404, "Request_ResourceNotFound", f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.")
    return Response.json(200, {"@odata.context": _context(request, select) + "/$entity", **_shape(user, select)})


# ---------------------------------------------------------------------- /users/delta


def _delta_page(request: Request, book: Directory) -> dict:
    """Where this delta request is: a new round, a page of one (skiptoken), or the changes
    since a deltaLink (deltatoken). The select and id filter travel in the tokens."""
    query = request.query
    skip, since = query.get("$skiptoken"), query.get("$deltatoken")
    if skip or since:
        if any(query.get(option) is not None for option in _DELTA_REFUSED):
            raise QueryError("Unsupported Query.")  # options belong to the first request only
        if skip:
            page = _decode(skip)
        else:
            try:
                token = _decode(since)  # type: ignore[arg-type]
            except QueryError:
                raise QueryError("Invalid delta token.", "Request_BadRequest") from None
            with book.lock:
                upto = book.counter
            page = {"m": "c", "since": int(token["since"]), "upto": upto, "p": 0, "s": token["s"], "f": token.get("f")}
        return page
    if any(query.get(option) is not None for option in _DELTA_REFUSED if option not in ("$select", "$filter")):
        raise QueryError("Unsupported Query.")
    select = _select(query.get("$select"), book, delta=True)
    ids = _delta_ids(query.get("$filter"))
    with book.lock:
        upto = book.counter
    # `$top` is not supported on users/delta: Graph ignores it and pages as it likes.
    return {"m": "s", "upto": upto, "p": 0, "s": list(select), "f": ids}


@route("GET", r"/graph/v1\.0/users/delta", "graph")
def users_delta(request: Request) -> Response:
    denied = _denied(request)
    if denied:
        return denied
    book = directory(request.state)
    try:
        page = _delta_page(request, book)
        mode, select, position, upto, ids = page["m"], tuple(page["s"]), int(page["p"]), int(page["upto"]), page.get("f")
        since = int(page["since"]) if mode == "c" else 0
        wanted = {str(i) for i in ids} if ids else None
        if mode not in ("s", "c") or not all(isinstance(name, str) for name in select):
            raise ValueError(mode)
    except (QueryError, KeyError, TypeError, ValueError) as problem:
        if isinstance(problem, QueryError) and str(problem) != "bad token":
            return graph_error(request, 400, problem.code, str(problem))
        return graph_error(request, 400, "Request_BadRequest", "Invalid skip token.")
    indexes: range | list[int]
    if mode == "s":  # the initial round: everyone (in the filter) as they are now
        indexes = sorted(i for i in map(book.by_object_id, wanted) if i) if wanted else range(1, request.state.profile_count + 1)
    else:  # users with a change to a selected property, or deleted, numbered in (since, upto]
        changed = book.changed_since(since, upto, set(select))
        indexes = [i for i in changed if wanted is None or seed_user(request.state, i).object_id.lower() in wanted]  # type: ignore[union-attr]
    values: list[dict[str, object]] = []
    while position < len(indexes) and len(values) < DELTA_PAGE:
        index = indexes[position]
        position += 1
        user = book.user(index)
        if user is not None:
            values.append(_shape(user, select, delta=True))
        elif mode == "c":
            values.append({"id": seed_user(request.state, index).object_id, REMOVED: {"reason": book.deleted.get(index, "changed")}})  # type: ignore[union-attr]
    payload: dict[str, object] = {"@odata.context": _context(request, select, delta=True)}
    base = f"{request.emulator.graph_url}/v1.0/users/delta"
    if position < len(indexes):
        payload["@odata.nextLink"] = f"{base}?$skiptoken=" + _encode({**page, "p": position})
    else:
        payload["@odata.deltaLink"] = f"{base}?$deltatoken=" + _encode({"since": upto, "s": list(select), "f": ids})
    payload["value"] = values
    return Response.json(200, payload, "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
