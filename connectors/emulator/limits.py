"""How large a SharePoint REST request may be (docs/emulator.md, "`$batch` and request limits").

SharePoint reads a REST request's body through its OData reader, whose quota is 1 MiB: a JSON
body, or a whole `$batch`, over it is refused before anything in it runs (real answers in
pnp/pnpjs #2980 for one list-item update, pnp/pnpcore #777 and pnp/powershell #3436 for
`$batch`): 400, `-1, Microsoft.SharePoint.Client.InvalidClientQueryException`, "The maximum
number of bytes allowed to be read from the stream has been exceeded. …". The total the real
message names is what the reader had read when it stopped (it reads in chunks); the emulator
names the body's length. A 2025 report (pnp/pnpjs #3207) saw 2 MiB for a `$batch`; the harsher
1 MiB is the default and `EmulatorConfig.max_request_bytes` (`--max-request-bytes`) raises it.

A file upload (`…/Files/add(…)`) is a raw stream, not read by the OData reader: Microsoft
documents 262,144,000 bytes as its largest body (working-with-folders-and-files-with-rest.md),
and larger ones get 400 "The request message is too big. The server does not allow messages
larger than 262144000 bytes." (sp-dev-docs #8280, s-KaiNet/spsave #37).

CSOM (`/_vti_bin/client.svc/ProcessQuery`) and SOAP bodies have limits of their own, which
are not modelled.
"""

from __future__ import annotations

import re

from .server import Request, Response
from .sharepoint import error, odata_format

FILE_UPLOAD_BYTES = 262_144_000
_API = re.compile(r"^/spo/[^/]+(?:/(?:sites|teams)/[^/]+)?/_api/", re.IGNORECASE)
_FILE_UPLOAD = re.compile(r"/files/add\(", re.IGNORECASE)
_INVALID_QUERY = "-1, Microsoft.SharePoint.Client.InvalidClientQueryException"


def too_large(request: Request) -> Response | None:
    """SharePoint's refusal of a REST request whose body is over its limit, else None."""
    if not request.body or not _API.match(request.path):
        return None
    size = len(request.body)
    if _FILE_UPLOAD.search(request.path):
        if size <= FILE_UPLOAD_BYTES:
            return None
        message = f"The request message is too big. The server does not allow messages larger than {FILE_UPLOAD_BYTES} bytes."
        return error(odata_format(request), 400, _INVALID_QUERY, message)
    limit = request.emulator.config.max_request_bytes
    if size <= limit:
        return None
    message = (
        "The maximum number of bytes allowed to be read from the stream has been exceeded. After the last read "
        f"operation, a total of {size} bytes has been read from the stream; however a maximum of {limit} bytes is allowed."
    )
    return error(odata_format(request), 400, _INVALID_QUERY, message)
