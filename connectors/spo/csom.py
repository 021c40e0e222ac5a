"""CSOM (`/_vti_bin/client.svc/ProcessQuery`), client side: the request XML the .NET CSOM
runtime writes, and its JSON answer read back.

maforge speaks CSOM only for Office365Tenant's bulk-import methods, because that is how
Microsoft documents them and how PnP PowerShell calls them in production (New-PnPUPABulkImportJob,
Get-PnPUPABulkImportStatus); their REST form is not shown to work (spo-profiles-api.md §5.3).
The XML follows the runtime's encoding: `<Parameter Type="Enum">2</Parameter>` for an enum,
`<Parameter Type="Dictionary"><Property Name="k" Type="String">v</Property></Parameter>` for a
dictionary, `{…}` Guids, XML-escaped text.

The answer is `[header, id, result, id, result, …]`; a refusal is the header alone with
`ErrorInfo` set and HTTP 200 (MS-CSOM 3.1.4.1.8.1.2), raised here as :class:`CsomRefused`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from maforge import __version__

from .session import SpoError, SpoSession

NS = "http://schemas.microsoft.com/sharepoint/clientquery/2009"
OFFICE365_TENANT = "{e45fd516-a408-4ca4-b6dc-268e2f1f0f83}"  # Office365Tenant's constructor TypeId
PROCESS_QUERY = "/_vti_bin/client.svc/ProcessQuery"


class CsomRefused(SpoError):
    """SharePoint answered the request with an ErrorInfo: nothing in it was done."""


def string(value: str) -> str:
    return f'<Parameter Type="String">{escape(value)}</Parameter>'


def enum(value: int) -> str:
    return f'<Parameter Type="Enum">{int(value)}</Parameter>'


def guid(value: str) -> str:
    return f'<Parameter Type="Guid">{{{escape(value.strip().strip("{}"))}}}</Parameter>'


def dictionary(entries: Mapping[str, str]) -> str:
    items = "".join(f'<Property Name={quoteattr(key)} Type="String">{escape(value)}</Property>' for key, value in entries.items())
    return f'<Parameter Type="Dictionary">{items}</Parameter>'


def parameters(*encoded: str) -> str:
    return f"<Parameters>{''.join(encoded)}</Parameters>" if encoded else ""


def request_xml(actions: str, object_paths: str) -> bytes:
    """A whole request; Office365Tenant's constructor is object path 1, always."""
    application = quoteattr(f"maforge {__version__}")
    return (
        f'<Request AddExpandoFieldTypeSuffix="true" SchemaVersion="15.0.0.0" LibraryVersion="16.0.0.0" ApplicationName={application} xmlns="{NS}">'
        f'<Actions><ObjectPath Id="2" ObjectPathId="1" />{actions}</Actions>'
        f'<ObjectPaths><Constructor Id="1" TypeId="{OFFICE365_TENANT}" />{object_paths}</ObjectPaths></Request>'
    ).encode("utf-8")


def call(session: SpoSession, site_url: str, body: bytes, *, safe_to_repeat: bool) -> dict[int, Any]:
    """Send one ProcessQuery; its results by action id. Raises CsomRefused for an ErrorInfo,
    SpoError for any other failure (a transport failure with status None, as session.request
    raises it)."""
    url = site_url + PROCESS_QUERY
    answer = session.request("POST", url, data=body, headers={"Content-Type": "text/xml"}, safe_to_repeat=safe_to_repeat)
    try:
        items = json.loads(answer.body.decode("utf-8-sig"))
    except ValueError:
        items = None
    if not 200 <= answer.status < 300 or not isinstance(items, list) or not items or not isinstance(items[0], dict):
        text = answer.body[:300].decode("utf-8", "replace")
        raise SpoError(f"POST {url} answered {answer.status}: {text}", answer.status, None, answer.request_id)
    info = items[0].get("ErrorInfo")
    if info:
        message = str(info.get("ErrorMessage") or "")
        raise CsomRefused(f"POST {url} refused: {message}", answer.status, str(info.get("ErrorTypeName") or ""), answer.request_id)
    return {int(items[i]): items[i + 1] for i in range(1, len(items) - 1, 2)}


def guid_value(value: Any) -> str:
    """A CSOM Guid result ("/Guid(…)/" once the JSON is read) as a plain Guid."""
    text = str(value or "")
    return text[6:-2] if text.startswith("/Guid(") and text.endswith(")/") else text
