"""Bulk user-profile import (spo-profiles-api.md §5): files in document libraries, CSOM
`ProcessQuery` on Office365Tenant (QueueImportProfileProperties, GetImportProfilePropertyJob,
GetImportProfilePropertyJobs, DeleteImportProfilePropertiesJob), the REST Office365Tenant
variant, and the import job itself.

CSOM is how the documentation and PnP PowerShell queue a job; the request is read strictly
(csom.py): the methods take exactly the parameter types the .NET runtime sends (idType Enum,
sourceDataIdProperty String, propertyMap a Dictionary of Strings, sourceUri String; job ids
Guid), and anything else is refused whole in CSOM's ErrorInfo shape. Over REST, $metadata types
propertyMap Collection(SP.KeyValue): a JSON array of {Key, Value, ValueType} or the verbose
{"results": [...]} wrapper is accepted; a plain JSON object is refused as SharePoint's OData
reader refuses an object where a collection belongs (400 `-1, Microsoft.Data.OData.
ODataException`, "An unexpected 'StartObject' node was found when reading from the JSON reader.
A 'StartArray' node was expected.") unless `EmulatorConfig.allow_object_property_map`.

Files. `POST …/_api/web/GetFolderByServerRelativeUrl('<folder>')/Files/add(url='<name>',
overwrite=true)` stores the raw body; `GetFileByServerRelativeUrl('<path>')` returns the SP.File,
`…/$value` its bytes, and `GetFolderByServerRelativeUrl('<folder>')/Files` lists a folder (that
is how a client finds the job logs). Server-relative paths are the real service's
("/Shared Documents/x.json"); the emulator's own prefix ("/spo/contoso/…") is accepted too.
`DELETE` on a file (or `POST` with `X-HTTP-Method: DELETE`) removes it: how a client cleans
up the data file and logs. Every folder exists (libraries are not modelled). Paths are matched
case-insensitively.

Jobs. Queueing validates at once and refuses (CSOM ErrorInfo with HTTP 200; REST 500
`-1, Microsoft.SharePoint.Client.ServerException`) when: the call is not on the admin host
or the caller is not allowed (app-only needs User.ReadWrite.All, delegated needs a tenant
admin: Access denied); idType is not 0 Email / 1 CloudId / 2 PrincipalName; the id property
or source URI is empty; the map is empty; or a mapped target property is not eligible. The
eligibility errors are grouped per rule, in this order, in the documented style
"Property Names [A, B] are editable by user.": not defined ("do not exist"), not custom
("are not custom properties"), user-editable ("are editable by user."), multi-valued
("are multi-valued."), taxonomy ("are taxonomy properties.").

A queued job is Submitted (1), then Queued (3), then Processing (2) over
`EmulatorConfig.bulk_job_seconds`; then it runs (on a timer, or on the first poll after that
time, whichever comes first; never twice) and ends Succeeded (4) or Error (5):
- source URI outside the tenant → Error, DataFileNotInTenant (21); file missing →
  DataFileNotExist (20); more than 500 000 property values → DataFileTooBig (22); not JSON, or
  no "value" array → InvalidDataFile (23) with "DataFileNotJson - <parser message>".
- a key in any row that the map does not name aborts the job before anything is written
  (the reference: "an unmapped key aborts the job"): Error, InvalidDataFile, one log line per
  occurrence: "InvalidProperty - <id> Property '<key>' is not mapped to any property in the user
  profile application."
- otherwise every row is applied through the write log (via="bulk", request id = the job id);
  a row without its id is logged "MissingIdentity - The identity is missing for the user
  object", an id that resolves to no profile "IdentityNotResolvable <id> User identity cannot
  be resolved"; the job is then Succeeded with Error ImportCompleteWithError (30), else NoError.
The data file is decoded as UTF-8 when it starts with a BOM and as ISO-8859-1 otherwise, as
the documentation warns. Logs: one file `<job id>.log` (one error per line, empty when
there were none) in a folder named after the job id next to the data file; LogFolderUri is
that folder, in the same URL form as the source URI.

Chosen where the reference is unsure (UNVERIFIED): the eligibility texts other than the
user-editable one, the status of a job with bad rows (Succeeded + ImportCompleteWithError),
the log file's name and line format, JSON null values (clear the property), numbers and
booleans (written as text), arrays/objects as values (row error "InvalidPropertyValue - <id>
Property '<key>' must be a single string value."), an unknown job id (CSOM: IsNull true and a
null query result; REST: the null result), and the CSOM JSON framing (strings escape "/" as
\\u002f, Guids are "\\/Guid(…)\\/").
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import unquote, urlsplit

from . import csom
from .server import Request, Response, route
from .sharepoint import (
    ACCESS_DENIED,
    NOMETADATA,
    SITE,
    VERBOSE,
    WRITE_ROLE,
    CallError,
    bad_request,
    body_params,
    call_params,
    caller,
    entity,
    error,
    fail,
    json_response,
    null_result,
    odata_format,
    primitive,
    profile_index,
    seed_user,
    site_kind,
    site_url,
    split_call,
)
from .state import BulkJob, TenantState

OFFICE365_TENANT_TYPE = "e45fd516-a408-4ca4-b6dc-268e2f1f0f83"
JOB_TYPE = "Microsoft.Online.SharePoint.TenantManagement.ImportProfilePropertiesJobInfo"
JOBS_TYPE = "Microsoft.Online.SharePoint.TenantManagement.ImportProfilePropertiesJobStatusCollection"
MAX_PROPERTIES = 500_000
MAX_BYTES = 2 * 1024 * 1024 * 1024

# ImportProfilePropertiesJobState: numbers as in PnP PowerShell's copy of the enum (declaration order)
UNKNOWN, SUBMITTED, PROCESSING, QUEUED, SUCCEEDED, ERROR = range(6)
# ImportProfilePropertiesJobError's numbers are not in declaration order: PnP PowerShell's copy of
# the enum (SharePointUserProfileImportProfilePropertiesJobError.cs) has these gaps.
NO_ERROR, INTERNAL_ERROR, FILE_NOT_EXIST, FILE_NOT_IN_TENANT, FILE_TOO_BIG, INVALID_FILE, COMPLETE_WITH_ERROR = 0, 1, 20, 21, 22, 23, 30

_LOCK = threading.Lock()
_RUNNING: set[str] = set()  # ids of jobs whose run has started (a job runs once)


# ---------------------------------------------------------------------- files


def _file_names(state: TenantState) -> dict[str, str]:
    """lower-case path → the path as stored (state.files is keyed by the latter)."""
    names = state.__dict__.get("_emulator_file_names")
    if names is None:
        names = state.__dict__.setdefault("_emulator_file_names", {})
    return names


def normalize_path(state: TenantState, path: str) -> str:
    """A server-relative path in the real service's form: "/Shared Documents/x.json"."""
    text = unquote(path).replace("\\", "/").strip()
    if not text.startswith("/"):
        text = "/" + text
    text = re.sub(r"/{2,}", "/", text)
    tenant = state.tenant.lower()
    lowered = text.lower()
    for prefix in (f"/spo/{tenant}-admin", f"/spo/{tenant}"):
        if lowered == prefix or lowered.startswith(prefix + "/"):
            text = text[len(prefix) :] or "/"
            break
    return text.rstrip("/") or "/"


def locate(request_or_state, uri: str) -> tuple[str | None, bool]:
    """(server-relative path, inside the tenant) for a source URI or a path."""
    emulator = getattr(request_or_state, "emulator", None)
    state: TenantState = request_or_state.state if emulator is not None else request_or_state
    text = uri.strip()
    if "://" not in text:
        return normalize_path(state, text), True
    parts = urlsplit(text)
    host = (parts.netloc or "").lower()
    tenant = state.tenant.lower()
    hosts = {f"{tenant}.sharepoint.com", f"{tenant}-admin.sharepoint.com", f"{tenant}.sharepoint.com:443"}
    if emulator is not None:
        netloc = urlsplit(emulator.base_url).netloc.lower()
        hosts |= {netloc, netloc.replace("127.0.0.1", "localhost")}
    return normalize_path(state, parts.path), host in hosts


def put_file(state: TenantState, path: str, data: bytes) -> str:
    with state.lock:
        names = _file_names(state)
        stored = names.get(path.lower(), path)
        if stored != path:
            state.files.pop(stored, None)
        names[path.lower()] = path
        state.files[path] = data
        _file_meta(state)[path.lower()] = (str(uuid.uuid4()), time.time())
    return path


def delete_file(state: TenantState, path: str) -> None:
    with state.lock:
        state.files.pop(path, None)
        _file_names(state).pop(path.lower(), None)
        _file_meta(state).pop(path.lower(), None)


def get_file(state: TenantState, path: str) -> tuple[str, bytes] | None:
    with state.lock:
        stored = _file_names(state).get(path.lower())
        if stored is None:
            stored = next((k for k in state.files if k.lower() == path.lower()), None)
        if stored is None or stored not in state.files:
            return None
        return stored, state.files[stored]


def _file_meta(state: TenantState) -> dict[str, tuple[str, float]]:
    meta = state.__dict__.get("_emulator_file_meta")
    if meta is None:
        meta = state.__dict__.setdefault("_emulator_file_meta", {})
    return meta


def _file_fields(state: TenantState, path: str, data: bytes) -> dict[str, object]:
    unique, created = _file_meta(state).get(path.lower(), (str(uuid.uuid5(uuid.NAMESPACE_URL, path.lower())), time.time()))
    stamp = datetime.fromtimestamp(created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "CheckInComment": "",
        "CheckOutType": 2,
        "ContentTag": f"{{{unique.upper()}}},1,1",
        "CustomizedPageStatus": 0,
        "ETag": f'"{{{unique.upper()}}},1"',
        "Exists": True,
        "IrmEnabled": False,
        "Length": str(len(data)),
        "Level": 1,
        "LinkingUri": None,
        "LinkingUrl": "",
        "MajorVersion": 1,
        "MinorVersion": 0,
        "Name": path.rsplit("/", 1)[-1],
        "ServerRelativeUrl": path,
        "TimeCreated": stamp,
        "TimeLastModified": stamp,
        "Title": None,
        "UIVersion": 512,
        "UIVersionLabel": "1.0",
        "UniqueId": unique,
    }


def _file_entity(request: Request, fmt: str, path: str, data: bytes) -> Response:
    base = site_url(request)
    uri = f"{base}/_api/Web/GetFileByServerRelativePath(decodedurl='{path}')"
    return entity(fmt, uri, "SP.File", _file_fields(request.state, path, data), base)


FILE_NOT_FOUND = (404, "-2147024894, System.IO.FileNotFoundException", "File Not Found.")


@route("GET POST DELETE", SITE + r"/_api/web/(?P<call>Get(?:Folder|File)ByServerRelative(?:Url|Path)\(.*)", "spo")
def web_files(request: Request) -> Response:
    fmt = odata_format(request)
    if site_kind(request) is None:
        return fail(fmt, FILE_NOT_FOUND)
    state = request.state
    try:
        name, args, rest = split_call(request.match.group("call"))  # type: ignore[union-attr]
        target = call_params(args, ["serverRelativeUrl"], request.query)
        raw = next(iter(target.values()), None) if target else None
        if not isinstance(raw, str):
            raise CallError(bad_request(f"{name} needs a server-relative URL."))
        path = normalize_path(state, raw)
        lowered_rest = rest.lower()
        if name.lower().startswith("getfolder"):
            if lowered_rest.startswith("/files/add("):
                if request.method != "POST":
                    return error(fmt, 405, "-1, Microsoft.SharePoint.Client.ClientServiceException", "The HTTP method 'GET' cannot be used to access the resource 'add'.")
                _, add_args, _ = split_call(rest[len("/files/") :])
                params = call_params(add_args, ["url", "overwrite"], request.query)
                file_name = str(params.get("url") or "").strip()
                if not file_name:
                    raise CallError(bad_request("The parameter url is missing from the call to add."))
                overwrite = str(params.get("overwrite", "false")).lower() == "true"
                full = normalize_path(state, file_name if file_name.startswith("/") else f"{path}/{file_name}")
                existing = get_file(state, full)
                if existing is not None and not overwrite:
                    return error(fmt, 400, "-2130575257, Microsoft.SharePoint.SPException", f"A file with the name {full.lstrip('/')} already exists.")
                stored = put_file(state, existing[0] if existing else full, request.body)
                return _file_entity(request, fmt, stored, request.body)
            if lowered_rest in ("/files", "/files/"):
                prefix = path.lower().rstrip("/") + "/"
                with state.lock:
                    found = sorted((k, v) for k, v in state.files.items() if k.lower().startswith(prefix) and "/" not in k[len(prefix) :])
                base = site_url(request)
                items = [_file_fields(state, k, v) for k, v in found]
                if fmt == VERBOSE:
                    results = [{"__metadata": {"type": "SP.File"}, **item} for item in items]
                    return json_response(fmt, 200, {"d": {"results": results}})
                payload: dict[str, object] = {"value": items}
                if fmt != NOMETADATA:
                    payload = {"odata.metadata": f"{base}/_api/$metadata#SP.ApiData.Files12", **payload}
                return json_response(fmt, 200, payload)
            return fail(fmt, bad_request(f"Unsupported folder request: {rest}"))
        found_file = get_file(state, path)
        if found_file is None:
            return fail(fmt, FILE_NOT_FOUND)
        if lowered_rest in ("/$value", "/openbinarystream", "/openbinarystream()"):
            return Response(200, found_file[1], {"Content-Type": "application/octet-stream"})
        deleting = request.method == "DELETE" or (request.method == "POST" and (request.headers.get("X-HTTP-Method") or "").upper() == "DELETE")
        if lowered_rest in ("", "/") and deleting:
            # DELETE, or POST with X-HTTP-Method: DELETE (the documented REST form): 200, no body.
            delete_file(state, found_file[0])
            return Response(200, b"", {})
        if lowered_rest in ("", "/"):
            return _file_entity(request, fmt, found_file[0], found_file[1])
        return fail(fmt, bad_request(f"Unsupported file request: {rest}"))
    except CallError as problem:
        return fail(fmt, problem.problem)


# ---------------------------------------------------------------------- jobs


class QueueError(csom.CsomError):
    """An Office365Tenant call refused (rights, queue-time validation): CSOM's ErrorInfo, or a
    REST error with the same code and text."""


def _access(request: Request) -> None:
    who = caller(request)
    allowed = site_kind(request) == "admin" and (who.admin if who.delegated else WRITE_ROLE in who.roles)
    if not allowed:
        raise QueueError(ACCESS_DENIED[2], -2147024891, "System.UnauthorizedAccessException")
    if who.delegated and not request.emulator.config.allow_delegated_profile_writes:
        # Microsoft documents a Global Admin's call, but its sample signs in with
        # SharePointOnlineCredentials (IDCRL, blocked since 2026-05-01); with an Entra ID
        # delegated token the call was refused this way (pnp/powershell #4267, 2024) while
        # app-only with a certificate works (#277). The harsher reading, as for per-user writes;
        # --allow-delegated-profile-writes lets a delegated tenant admin in.
        from .sharepoint import APP_READ_DENIED

        raise QueueError(APP_READ_DENIED[2], -2147024891, "System.UnauthorizedAccessException")


def queue_job(request: Request, id_type: object, id_property: object, property_map: dict[str, str], source_uri: object) -> BulkJob:
    _access(request)
    state = request.state
    try:
        kind = int(id_type)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        kind = -1
    if kind not in (0, 1, 2):
        raise QueueError(f"The idType value '{id_type}' is not valid (0 Email, 1 CloudId, 2 PrincipalName).")
    if not isinstance(id_property, str) or not id_property.strip():
        raise QueueError("The sourceDataIdProperty parameter cannot be empty.")
    if not isinstance(source_uri, str) or not source_uri.strip():
        raise QueueError("The sourceUri parameter cannot be empty.")
    if not property_map:
        raise QueueError("The propertyMap parameter cannot be empty.")
    rules = (
        ("do not exist.", lambda p: p is None),
        ("are not custom properties.", lambda p: not p.custom),
        ("are editable by user.", lambda p: p.user_editable),
        ("are multi-valued.", lambda p: p.multi_valued),
        ("are taxonomy properties.", lambda p: p.taxonomy),
    )
    targets = [(target, state.property_def(target)) for target in property_map.values()]
    for text, broken in rules:
        names = [t for t, p in targets if (p is None if text == "do not exist." else p is not None and broken(p))]
        if names:
            raise QueueError(f"Property Names [{', '.join(names)}] {text}")
    job = BulkJob(str(uuid.uuid4()), source_uri.strip(), kind, id_property.strip(), dict(property_map))
    job.queued_at = time.time()
    job.ready_at = job.queued_at + max(request.emulator.config.bulk_job_seconds, 0.0)
    with state.lock:
        state.jobs[job.job_id] = job
    timer = threading.Timer(max(job.ready_at - time.time(), 0.0) + 0.01, advance, (request.emulator, job))
    timer.daemon = True
    timer.start()
    return job


def advance(emulator, job: BulkJob) -> BulkJob:
    """Move a job along its life: the state for "now", running it once when due."""
    if job.done:
        return job
    seconds = max(emulator.config.bulk_job_seconds, 0.0)
    left = job.ready_at - time.time()
    if left > 0:
        elapsed = (seconds - left) / seconds if seconds else 1.0
        job.state = SUBMITTED if elapsed < 1 / 3 else QUEUED if elapsed < 2 / 3 else PROCESSING
        return job
    with _LOCK:
        if job.done or job.job_id in _RUNNING:
            return job
        _RUNNING.add(job.job_id)
        job.state = PROCESSING
    try:
        _run(emulator, job)
    except Exception as problem:  # an emulator bug must still end the job
        _finish(emulator, job, ERROR, INTERNAL_ERROR, f"InternalError - {type(problem).__name__}: {problem}", [])
    return job


def _finish(emulator, job: BulkJob, state_value: int, error_value: int, message: str, lines: list[str]) -> None:
    state = emulator.state
    path, _ = locate(state, job.source_uri)
    folder = (path or "/").rsplit("/", 1)[0]
    log_path = f"{folder}/{job.job_id}/{job.job_id}.log"
    put_file(state, log_path, ("\r\n".join(lines) + ("\r\n" if lines else "")).encode("utf-8"))
    source = job.source_uri
    job.log_folder = source.rsplit("/", 1)[0] + "/" + job.job_id if "/" in source else f"{folder}/{job.job_id}"
    job.error, job.error_message = error_value, message
    job.state = state_value
    job.finished_at = time.time()
    job.done = True
    emulator.job_seconds[job.job_id] = job.finished_at - job.queued_at  # outlives the job's deletion


def _resolver(state: TenantState, kind: int):
    if kind == 2:
        return lambda text: profile_index(state, text)
    table: dict[str, int] = {}
    for index in range(1, state.profile_count + 1):
        user = seed_user(state, index)
        if user is None or not user.enabled:
            continue
        key = user.mail if kind == 0 else user.object_id
        if key:
            table.setdefault(key.lower(), index)
    return lambda text: table.get(text.strip().lower())


def _run(emulator, job: BulkJob) -> None:
    state = emulator.state
    path, in_tenant = locate(_Locator(emulator), job.source_uri)
    if not in_tenant or path is None:
        return _finish(emulator, job, ERROR, FILE_NOT_IN_TENANT, f"DataFileNotInTenant - The data file {job.source_uri} is not in this tenant.", [])
    found = get_file(state, path)
    if found is None:
        return _finish(emulator, job, ERROR, FILE_NOT_EXIST, f"DataFileNotExist - The data file {job.source_uri} does not exist.", [])
    data = found[1]
    if len(data) > MAX_BYTES:
        return _finish(emulator, job, ERROR, FILE_TOO_BIG, "DataFileTooBig - The data file is larger than 2 GB.", [])
    text = data[3:].decode("utf-8", "replace") if data.startswith(b"\xef\xbb\xbf") else data.decode("iso-8859-1")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as problem:
        line = f"DataFileNotJson - {problem.msg}. Path '', line {problem.lineno}, position {problem.colno}."
        return _finish(emulator, job, ERROR, INVALID_FILE, line, [line])
    rows = document.get("value") if isinstance(document, dict) else None
    if not isinstance(rows, list):
        line = "DataFileNotJson - The data file must be a JSON object with a 'value' array."
        return _finish(emulator, job, ERROR, INVALID_FILE, line, [line])
    id_key = job.id_property
    mapping = {k.lower(): v for k, v in job.property_map.items()}
    total = sum(len(r) - (1 if id_key in r else 0) for r in rows if isinstance(r, dict))
    if total > MAX_PROPERTIES:
        return _finish(emulator, job, ERROR, FILE_TOO_BIG, f"DataFileTooBig - The data file has {total} properties; at most {MAX_PROPERTIES} are allowed.", [])
    unmapped = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        for key in row:
            if key != id_key and key.lower() not in mapping:
                unmapped.append(f"InvalidProperty - {row.get(id_key, '')} Property '{key}' is not mapped to any property in the user profile application.")
    if unmapped:
        return _finish(emulator, job, ERROR, INVALID_FILE, unmapped[0], unmapped)
    resolve = _resolver(state, job.id_type)
    lines: list[str] = []
    writes: list[tuple[int, object, str]] = []
    for row in rows:
        if not isinstance(row, dict):
            lines.append("MissingIdentity - The identity is missing for the user object")
            continue
        identity = row.get(id_key)
        if not isinstance(identity, str) or not identity.strip():
            lines.append("MissingIdentity - The identity is missing for the user object")
            continue
        index = resolve(identity)
        if index is None:
            lines.append(f"IdentityNotResolvable {identity} User identity cannot be resolved")
            continue
        for key, value in row.items():
            if key == id_key:
                continue
            if isinstance(value, (list, dict)):
                lines.append(f"InvalidPropertyValue - {identity} Property '{key}' must be a single string value.")
                continue
            text_value = "" if value is None else ("True" if value is True else "False" if value is False else str(value))
            writes.append((index, state.property_def(mapping[key.lower()]), text_value))
    state.set_values(writes, "bulk", job.job_id)  # type: ignore[arg-type]
    if lines:
        return _finish(emulator, job, SUCCEEDED, COMPLETE_WITH_ERROR, f"ImportCompleteWithError - {len(lines)} error(s); see the log in the job's log folder.", lines)
    return _finish(emulator, job, SUCCEEDED, NO_ERROR, "", [])


class _Locator:
    """Lets :func:`locate` see the emulator's own host for a job run outside a request."""

    def __init__(self, emulator):
        self.emulator, self.state = emulator, emulator.state


def find_job(request: Request, job_id: object) -> BulkJob | None:
    text = str(job_id or "").strip().strip("{}").lower()
    if text.startswith("guid'"):
        text = text[5:].rstrip("'")
    with request.state.lock:
        job = request.state.jobs.get(text)
    return advance(request.emulator, job) if job is not None else None


def job_fields(job: BulkJob) -> dict[str, object]:
    return {"Error": job.error, "ErrorMessage": job.error_message, "JobId": job.job_id, "LogFolderUri": job.log_folder or None, "SourceUri": job.source_uri, "State": job.state}


def delete_job(request: Request, job_id: object) -> bool:
    job = find_job(request, job_id)
    if job is None:
        return False
    with request.state.lock:
        request.state.jobs.pop(job.job_id, None)
    return True


# ---------------------------------------------------------------------- CSOM


_TENANT = object()
# Office365Tenant's bulk-import methods and the parameter types the .NET CSOM runtime sends
# (PnP PowerShell's New-PnPUPABulkImportJob and Get-PnPUPABulkImportStatus call them this way):
# which are object paths (they return a client object), which are actions (they return a value).
_PATH_METHODS = {"GetImportProfilePropertyJob": ("Guid",), "GetImportProfilePropertyJobs": ()}
_ACTION_METHODS = {"QueueImportProfileProperties": ("Enum", "String", "Dictionary", "String"), "DeleteImportProfilePropertiesJob": ("Guid",)}


def _csom_job(job: BulkJob) -> dict[str, object]:
    fields = job_fields(job)
    fields["JobId"] = f"/Guid({job.job_id})/"
    return {"_ObjectType_": JOB_TYPE, **fields}


def _arguments(element, signatures: dict[str, tuple[str, ...]]) -> tuple[str, list[object]]:
    """A method's name and parameter values, when it is one of ``signatures`` and its
    parameters have exactly the types the CSOM runtime sends; else CsomError."""
    name = element.get("Name") or ""
    if name not in signatures:
        raise csom.invalid(f"Method {name!r} does not exist on Office365Tenant, or is not modelled by the emulator.")
    sent = csom.parameters(element)
    expected = signatures[name]
    if tuple(p.type for p in sent) != expected:
        raise csom.invalid(f"{name} takes parameters of types ({', '.join(expected)}), not ({', '.join(p.type for p in sent)}).")
    values = [p.value for p in sent]
    if name == "QueueImportProfileProperties" and not all(isinstance(v, str) for v in values[2].values()):  # type: ignore[union-attr]
        raise csom.invalid("Every value of the propertyMap Dictionary must be a String.")
    return name, values


@route("POST", SITE + r"/_vti_bin/client\.svc/ProcessQuery", "spo")
def process_query(request: Request) -> Response:
    """Office365Tenant over CSOM, the documented way to queue a bulk import: the request is read
    strictly (csom.py) and a malformed one is refused whole, in CSOM's ErrorInfo shape."""
    if site_kind(request) is None:
        return Response(404, b"File Not Found.", {"Content-Type": "text/plain; charset=utf-8"})
    objects: dict[str | None, object] = {}

    def resolve(query: csom.Query, path_id: str | None) -> object:
        if path_id in objects:
            return objects[path_id]
        node = query.paths.get(path_id or "")
        if node is None:
            raise csom.invalid(f"The object path {path_id} is not defined.")
        kind = csom.local(node)
        if kind == "Constructor":
            if (node.get("TypeId") or "").strip("{}").lower() != OFFICE365_TENANT_TYPE:
                raise csom.invalid(f"Type {node.get('TypeId')} is not modelled by the emulator.")
            _access(request)
            value: object = _TENANT
        elif kind == "Method" and resolve(query, node.get("ParentId")) is _TENANT:
            name, args = _arguments(node, _PATH_METHODS)
            if name == "GetImportProfilePropertyJob":
                value = find_job(request, args[0])
            else:
                with request.state.lock:
                    jobs = list(request.state.jobs.values())
                value = [advance(request.emulator, j) for j in jobs]
        else:
            raise csom.invalid(f"Object path {kind} is not modelled by the emulator.")
        objects[path_id] = value
        return value

    out: list[object] = []
    try:
        query = csom.read(request.body)
        for action in query.actions:
            kind, action_id = csom.local(action), int(action.get("Id") or 0)
            target = resolve(query, action.get("ObjectPathId"))
            if kind == "ObjectPath":
                out += [action_id, {"IsNull": target is None}]
            elif kind == "Query":
                if isinstance(target, list):
                    out += [action_id, {"_ObjectType_": JOBS_TYPE, "_Child_Items_": [_csom_job(j) for j in target]}]
                elif isinstance(target, BulkJob):
                    out += [action_id, _csom_job(target)]
                else:
                    out += [action_id, None]
            elif kind == "Method" and target is _TENANT:
                name, args = _arguments(action, _ACTION_METHODS)
                if name == "QueueImportProfileProperties":
                    job = queue_job(request, args[0], args[1], args[2], args[3])  # type: ignore[arg-type]
                    out += [action_id, f"/Guid({job.job_id})/"]
                else:
                    out += [action_id, delete_job(request, args[0])]
            else:
                raise csom.invalid(f"Action {kind} is not modelled by the emulator.")
    except csom.CsomError as problem:
        return csom.failure(request.request_id, problem)
    return csom.answer(request.request_id, out)


# ---------------------------------------------------------------------- REST Office365Tenant


# OData v3's JSON reader, given an object or a primitive where Collection(SP.KeyValue) is
# expected (SharePoint's answer to a collection sent wrong: pnp/pnpjs #2156 and #2162, and
# "PrimitiveValue" for a multi-choice field sent as a string).
_NOT_A_COLLECTION = "An unexpected '{node}' node was found when reading from the JSON reader. A 'StartArray' node was expected."
_ODATA_ERROR = "-1, Microsoft.Data.OData.ODataException"


def _rest_map(request: Request, value: object) -> dict[str, str]:
    """``propertyMap`` as its $metadata types it, Collection(SP.KeyValue): a JSON array of
    {Key, Value, ValueType} objects, or the verbose {"results": [...]} wrapper. A plain JSON
    object is refused as SharePoint's OData reader refuses an object where a collection is
    expected, unless ``allow_object_property_map``."""
    if value is None:
        return {}  # missing: queue_job refuses an empty map
    if isinstance(value, dict) and "results" in value:
        value = value["results"]
    elif isinstance(value, dict):
        if not request.emulator.config.allow_object_property_map:
            raise CallError((400, _ODATA_ERROR, _NOT_A_COLLECTION.format(node="StartObject")))
        return {str(k): str(v) for k, v in value.items()}
    if not isinstance(value, list):
        raise CallError((400, _ODATA_ERROR, _NOT_A_COLLECTION.format(node="PrimitiveValue")))
    result: dict[str, str] = {}
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("Key"), str) or not isinstance(item.get("Value"), str):
            raise CallError(bad_request("Every item of propertyMap must be an SP.KeyValue with a string Key and Value."))
        result[item["Key"]] = item["Value"]
    return result


@route("GET POST", SITE + r"/_api/Microsoft\.Online\.SharePoint\.TenantManagement\.Office365Tenant/(?P<call>.+)", "spo")
def office365_tenant(request: Request) -> Response:
    fmt = odata_format(request)
    if site_kind(request) is None:
        return fail(fmt, FILE_NOT_FOUND)
    base = site_url(request)
    try:
        name, args, _ = split_call(request.match.group("call"))  # type: ignore[union-attr]
        lowered = name.lower()
        names = {"queueimportprofileproperties": ["idType", "sourceDataIdProperty", "propertyMap", "sourceUri"], "getimportprofilepropertyjob": ["jobId"], "deleteimportprofilepropertiesjob": ["jobId"], "getimportprofilepropertyjobs": []}
        if lowered not in names:
            return fail(fmt, bad_request(f'The expression "Office365Tenant/{name}" is not valid.'))
        params = call_params(args, names[lowered], request.query)
        if request.method == "POST":
            for key, value in body_params(request).items():
                params.setdefault(key, value)
        if lowered == "queueimportprofileproperties" and request.method != "POST":
            return error(fmt, 405, "-1, Microsoft.SharePoint.Client.ClientServiceException", "The HTTP method 'GET' cannot be used to access the resource 'QueueImportProfileProperties'.")
        # The body is read (and a malformed propertyMap refused) before the call runs.
        property_map = _rest_map(request, params.get("propertymap")) if lowered == "queueimportprofileproperties" else {}
        try:
            _access(request)
            if lowered == "queueimportprofileproperties":
                job = queue_job(request, params.get("idtype"), params.get("sourcedataidproperty"), property_map, params.get("sourceuri"))
                return primitive(fmt, "QueueImportProfileProperties", job.job_id, "Edm.Guid", base)
            if lowered == "getimportprofilepropertyjob":
                job = find_job(request, params.get("jobid"))
                if job is None:
                    return null_result(fmt, "GetImportProfilePropertyJob")
                return entity(fmt, f"{base}/_api/{JOB_TYPE}", JOB_TYPE, job_fields(job), base)
            if lowered == "getimportprofilepropertyjobs":
                with request.state.lock:
                    jobs = [advance(request.emulator, j) for j in list(request.state.jobs.values())]
                items = [job_fields(j) for j in jobs]
                if fmt == VERBOSE:
                    return json_response(fmt, 200, {"d": {"results": [{"__metadata": {"type": JOB_TYPE}, **i} for i in items]}})
                return json_response(fmt, 200, {"value": items})
            return primitive(fmt, "DeleteImportProfilePropertiesJob", delete_job(request, params.get("jobid")), "Edm.Boolean", base)
        except QueueError as problem:
            status = 403 if problem.type_name == "System.UnauthorizedAccessException" else 500
            return error(fmt, status, f"{problem.code}, {problem.type_name}", problem.message)
    except CallError as problem:
        return fail(fmt, problem.problem)
