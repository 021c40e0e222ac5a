"""The bulk user-profile import (spo-profiles-api.md §5), whole life cycle: write the JSON data
file, upload it to the tenant, queue the job on Office365Tenant, poll it with back-off, read its
error log, and clean up the data file and the logs.

Only custom, single-valued, non-taxonomy properties that users cannot edit are accepted by
SharePoint; which custom properties users may edit is known only to the tenant, so a queue
refusal naming properties ("Property Names [A, B] are editable by user.") is turned into
`IneligibleProperties` for the caller to route those through PeopleManager instead.

Office365Tenant is called over CSOM (csom.py), as Microsoft documents it and PnP PowerShell
calls it: queueing, reading a job, listing jobs, deleting a job record. Its REST form sends
propertyMap in a shape nobody has shown SharePoint to accept; had it been refused, every bulk
apply would silently have fallen back to per-user writes.

The queue call is the one call that is never repeated: a lost answer means the job may exist
(BulkUnknown), and the caller must not write its rows another way.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from . import csom
from .people import odata_literal
from .session import SpoError, SpoSession

ID_PRINCIPAL_NAME = 2  # ImportProfilePropertiesUserIdType.PrincipalName (numbers inferred)
ID_PROPERTY = "IdName"
STATE_NAMES = {0: "Unknown", 1: "Submitted", 2: "Processing", 3: "Queued", 4: "Succeeded", 5: "Error"}
# ImportProfilePropertiesJobError, numbered as in PnP PowerShell's copy of the enum
ERROR_NAMES = {0: "NoError", 1: "InternalError", 20: "DataFileNotExist", 21: "DataFileNotInTenant", 22: "DataFileTooBig", 23: "InvalidDataFile", 30: "ImportCompleteWithError"}
MAX_VALUES_PER_FILE = 500_000  # documented per-file limit of property values
_INELIGIBLE = re.compile(r"Property Names \[([^\]]*)\]")


class BulkError(SpoError):
    """The job could not be queued or ended in Error."""


class BulkUnknown(BulkError):
    """The job may or may not be running (no answer to the queue call, or not finished in
    time): writing its rows another way could write them twice."""


class IneligibleProperties(BulkError):
    """SharePoint refused to queue the job because of these properties."""

    def __init__(self, message: str, names: list[str]):
        super().__init__(message)
        self.names = names


@dataclass(frozen=True, slots=True)
class JobOutcome:
    job_id: str
    state: str
    error: str
    error_message: str
    log_lines: tuple[str, ...]

    @property
    def succeeded(self) -> bool:
        return self.state == "Succeeded"


def data_file(rows: Sequence[Mapping[str, str]]) -> bytes:
    """The import file: UTF-8 with a BOM (the service reads ISO-8859-1 without one)."""
    return b"\xef\xbb\xbf" + json.dumps({"value": list(rows)}, ensure_ascii=False).encode("utf-8")


class BulkImporter:
    def __init__(self, session: SpoSession, folder: str = "/Shared Documents/maforge-imports", sleep: Callable[[float], None] = time.sleep):
        self.session = session
        self.folder = folder
        self.sleep = sleep

    # ------------------------------------------------------------------ steps

    def upload(self, name: str, data: bytes) -> str:
        """Store the file in the root site; the source URI the job is given."""
        site = self.session.connection.spo_url
        url = f"{site}/_api/web/GetFolderByServerRelativeUrl({odata_literal(self.folder)})/Files/add(url={odata_literal(name)},overwrite=true)"
        answer = self.session.request("POST", url, data=data, headers={"Content-Type": "application/octet-stream"})
        if not 200 <= answer.status < 300:
            raise BulkError(f"uploading the bulk import file answered {answer.status}: {answer.body[:200]!r}", answer.status)
        relative = (answer.json() or {}).get("ServerRelativeUrl") or f"{self.folder}/{name}"
        root = urlsplit(site)
        return f"{root.scheme}://{root.netloc}{relative}"

    def _csom(self, actions: str, object_paths: str = "", *, safe_to_repeat: bool = True) -> dict[int, Any]:
        """One Office365Tenant ProcessQuery on the admin site (object path 1 is the tenant)."""
        return csom.call(self.session, self.session.connection.admin_url, csom.request_xml(actions, object_paths), safe_to_repeat=safe_to_repeat)

    def queue(self, property_map: Mapping[str, str], source_uri: str) -> str:
        """QueueImportProfileProperties(idType, sourceDataIdProperty, propertyMap, sourceUri):
        the job id. Sent once, never repeated."""
        arguments = csom.parameters(csom.enum(ID_PRINCIPAL_NAME), csom.string(ID_PROPERTY), csom.dictionary(property_map), csom.string(source_uri))
        try:
            results = self._csom(f'<Method Name="QueueImportProfileProperties" Id="3" ObjectPathId="1">{arguments}</Method>', safe_to_repeat=False)
        except csom.CsomRefused as refusal:
            found = _INELIGIBLE.findall(str(refusal))
            if found:
                names = [n.strip() for group in found for n in group.split(",") if n.strip()]
                raise IneligibleProperties(f"SharePoint will not bulk-import {', '.join(names)}: {refusal}", names) from None
            raise BulkError(f"queueing the bulk import: {refusal}", refusal.status, refusal.code) from None
        except SpoError as error:
            if error.status is None:
                raise BulkUnknown(f"no answer when queueing the bulk import of {source_uri}; the job may exist") from None
            raise
        job_id = csom.guid_value(results.get(3))
        if not job_id or job_id == "00000000-0000-0000-0000-000000000000":
            # PnP notes the id is sometimes empty although the job started: find it by source.
            try:
                job_id = self._job_for(source_uri)
            except SpoError as error:
                raise BulkUnknown(f"the bulk import of {source_uri} was queued without a job id and {error}; the job may still run") from None
        return job_id

    def jobs(self) -> list[dict[str, Any]]:
        """GetImportProfilePropertyJobs: every job record the tenant keeps."""
        results = self._csom(
            '<ObjectPath Id="4" ObjectPathId="3" /><Query Id="5" ObjectPathId="3"><Query SelectAllProperties="true"><Properties /></Query>'
            '<ChildItemQuery SelectAllProperties="true"><Properties /></ChildItemQuery></Query>',
            '<Method Id="3" ParentId="1" Name="GetImportProfilePropertyJobs" />',
        )
        collection = results.get(5) or {}
        return [_job(item) for item in collection.get("_Child_Items_", [])] if isinstance(collection, dict) else []

    def _job_for(self, source_uri: str) -> str:
        for job in self.jobs():
            if job.get("SourceUri") == source_uri:
                return str(job["JobId"])
        raise BulkError("the bulk import job was queued without an id and cannot be found")

    def status(self, job_id: str) -> dict[str, Any]:
        """GetImportProfilePropertyJob, loaded: JobId, State, Error, ErrorMessage, SourceUri,
        LogFolderUri ({} for a job SharePoint does not know)."""
        results = self._csom(
            '<ObjectPath Id="4" ObjectPathId="3" /><Query Id="5" ObjectPathId="3"><Query SelectAllProperties="true"><Properties /></Query></Query>',
            f'<Method Id="3" ParentId="1" Name="GetImportProfilePropertyJob">{csom.parameters(csom.guid(job_id))}</Method>',
        )
        found = results.get(5)
        return _job(found) if isinstance(found, dict) else {}

    def delete_job(self, job_id: str) -> None:
        """DeleteImportProfilePropertiesJob: the job's record, once its outcome is read."""
        self._csom(f'<Method Name="DeleteImportProfilePropertiesJob" Id="3" ObjectPathId="1">{csom.parameters(csom.guid(job_id))}</Method>')

    def wait(self, job_id: str, *, first_wait: float = 2.0, max_wait: float = 60.0, timeout: float = 6 * 3600) -> dict[str, Any]:
        """Poll until Succeeded or Error. Before each poll we wait a quarter of the time
        waited so far, between ``first_wait`` and ``max_wait``: the job is a server-side timer
        job that may take seconds or hours, so we notice its end at most 25 % (never more than
        a minute) late, with polls that grow with the log of its duration until the one-minute
        cap (about 20 in the first four minutes) and then one a minute."""
        waited = 0.0
        while True:
            pause = min(max(first_wait, waited / 4), max_wait)
            self.sleep(pause)
            waited += pause
            job = self.status(job_id)
            state = STATE_NAMES.get(int(job.get("State") or 0), "Unknown")
            if state in ("Succeeded", "Error"):
                return job
            if waited >= timeout:
                raise BulkUnknown(f"bulk import job {job_id} still {state} after {waited:.0f} s")

    def log_files(self, job: Mapping[str, Any]) -> list[str]:
        folder = job.get("LogFolderUri")
        if not folder:
            return []
        path = unquote(urlsplit(str(folder)).path)
        site = self.session.connection.spo_url
        listing = self.session.call("GET", f"{site}/_api/web/GetFolderByServerRelativeUrl({odata_literal(path)})/Files")
        return [str(item.get("ServerRelativeUrl")) for item in (listing or {}).get("value", []) if item.get("ServerRelativeUrl")]

    def read_file(self, path: str) -> str:
        site = self.session.connection.spo_url
        answer = self.session.request("GET", f"{site}/_api/web/GetFileByServerRelativeUrl({odata_literal(path)})/$value")
        if answer.status != 200:
            # An unread log must not read as an empty one: its failed rows would count as applied.
            raise BulkError(f"reading the bulk job's log {path} answered {answer.status}", answer.status)
        return answer.body.decode("utf-8-sig", "replace")

    def delete_file(self, path: str) -> None:
        site = self.session.connection.spo_url
        self.session.request("POST", f"{site}/_api/web/GetFileByServerRelativeUrl({odata_literal(path)})", headers={"X-HTTP-Method": "DELETE"})

    # ------------------------------------------------------------------ the whole life cycle

    def run(self, rows: Sequence[Mapping[str, str]], properties: Sequence[str]) -> JobOutcome:
        """Import ``rows`` ({"IdName": upn, property: text}) and clean up afterwards."""
        name = f"maforge-{uuid.uuid4()}.json"
        source_uri = self.upload(name, data_file(rows))
        source_path = unquote(urlsplit(source_uri).path)
        logs: list[str] = []
        keep_data = False
        try:
            job_id = self.queue({p: p for p in properties}, source_uri)
            try:
                job = self.wait(job_id)
                logs = self.log_files(job)  # listed even when clean: they are deleted below
                state = STATE_NAMES.get(int(job.get("State") or 0), "Unknown")
                error = ERROR_NAMES.get(int(job.get("Error") or 0), str(job.get("Error")))
                clean = state == "Succeeded" and error == "NoError"  # nothing in the logs to map back
                lines = () if clean else tuple(line for path in logs for line in self.read_file(path).splitlines() if line.strip())
            except BulkUnknown:
                raise
            except SpoError as error:
                # The job is queued: what it did (or will do) is unknown, and writing its rows
                # another way now could race it. The caller reports them unknown, not failed.
                raise BulkUnknown(f"bulk import job {job_id} was queued, then {error}") from None
            try:
                self.delete_job(job_id)
            except SpoError:
                pass  # a job record left behind is harmless
            return JobOutcome(job_id, state, error, str(job.get("ErrorMessage") or ""), lines)
        except BulkUnknown:
            keep_data = True  # a job that may still run needs its file
            raise
        finally:
            for path in ([] if keep_data else [source_path]) + logs:
                try:
                    self.delete_file(path)
                except SpoError:
                    pass  # cleanup is best effort; the file holds no secret


def _job(fields: dict[str, Any]) -> dict[str, Any]:
    """A CSOM ImportProfilePropertiesJobInfo as plain fields (JobId a plain Guid)."""
    job = {key: value for key, value in fields.items() if not key.startswith("_")}
    if "JobId" in job:
        job["JobId"] = csom.guid_value(job["JobId"])
    return job
