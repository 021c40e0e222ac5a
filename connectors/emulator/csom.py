"""The CSOM wire format (`/_vti_bin/client.svc/ProcessQuery`, Microsoft's [MS-CSOM]): reading a
request's XML strictly, and framing the JSON answer.

A request is `<Request xmlns="http://schemas.microsoft.com/sharepoint/clientquery/2009">` with
`<Actions>` and `<ObjectPaths>`. Parameters carry a `Type` from a fixed list (the schema's
MethodParameterTypeType); anything else is refused with the text SharePoint uses for that
schema check (pnp/powershell #1512: "The 'Type' attribute is invalid - The value 'Object[]' is
invalid according to its datatype '…:MethodParameterTypeType' - The Enumeration constraint
failed."). A dictionary is `<Parameter Type="Dictionary">` with one `<Property Name="key"
Type="String">value</Property>` per entry, as SharePoint's own runtime writes it
(SP.Runtime.debug.js `writeValueToXmlElement`); an enum is `Type="Enum"` with its number; a
Guid is `Type="Guid"` in `{…}` form.

The answer is a JSON array: a header object (`SchemaVersion`, `LibraryVersion`, `ErrorInfo`,
`TraceCorrelationId`), then action id and result pairs. A failure is the header alone with
`ErrorInfo` = {ErrorMessage, ErrorValue, TraceCorrelationId, ErrorCode, ErrorTypeName} and
HTTP 200 ([MS-CSOM] 3.1.4.1.8.1.2; cli-microsoft365's recorded answers). Strings escape "/" as
\\u002f and Guids are "\\/Guid(…)\\/", as in recorded answers.

Chosen where the sources are silent (UNVERIFIED): the error codes and texts for XML that is not
a CSOM request, for a parameter of the wrong type or shape, and for an unknown method.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from .server import Response

NS = "http://schemas.microsoft.com/sharepoint/clientquery/2009"
LIBRARY_VERSION = "16.0.25927.12004"
INVALID_QUERY = "Microsoft.SharePoint.Client.InvalidClientQueryException"
INVALID_ARGUMENT = -2147024809  # E_INVALIDARG
# The values the CSOM runtimes write in a parameter's Type attribute (.NET and JavaScript).
PARAMETER_TYPES = frozenset(
    "Null Boolean Char Byte SByte Int16 UInt16 Int32 UInt32 Int64 UInt64 Single Double Decimal Number "
    "String DateTime Guid Enum Array Dictionary Base64Binary Unspecified".split()
)
_GUID = re.compile(r"\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?")
_INTEGER = re.compile(r"-?[0-9]+")


class CsomError(Exception):
    """A request refused as a whole: its header's ErrorInfo."""

    def __init__(self, message: str, code: int = -1, type_name: str = "Microsoft.SharePoint.Client.ServerException"):
        super().__init__(message)
        self.message, self.code, self.type_name = message, code, type_name


def invalid(message: str) -> CsomError:
    """A request SharePoint cannot read as the CSOM it claims to be."""
    return CsomError(message, INVALID_ARGUMENT, INVALID_QUERY)


@dataclass(frozen=True, slots=True)
class Parameter:
    type: str  # the Type attribute, as sent
    value: object  # None, bool, int, str (Guids: lower case, no braces), dict[str, str] or list


@dataclass(slots=True)
class Query:
    """A request read: its object paths by id and its actions, in order."""

    paths: dict[str, ET.Element]
    actions: list[ET.Element]


def local(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def read(body: bytes) -> Query:
    """The request in ``body``, or CsomError when it is not a well-formed CSOM request."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as problem:
        raise invalid(f"The request XML is not well-formed: {problem}") from None
    if root.tag != f"{{{NS}}}Request":
        raise invalid(f"The root element must be Request in the namespace {NS}, not {root.tag}.")
    query = Query({}, [])
    for section in root:
        if section.tag == f"{{{NS}}}ObjectPaths":
            for path in section:
                path_id = path.get("Id")
                if not path_id or path_id in query.paths:
                    raise invalid(f"Object path {local(path)} has no Id, or an Id used twice ({path_id}).")
                query.paths[path_id] = path
        elif section.tag == f"{{{NS}}}Actions":
            for action in section:
                if not _INTEGER.fullmatch(action.get("Id") or "") or not action.get("ObjectPathId"):
                    raise invalid(f"Action {local(action)} needs a numeric Id and an ObjectPathId.")
                query.actions.append(action)
        else:
            raise invalid(f"Element {section.tag} is not allowed in a Request.")
    return query


def parameters(element: ET.Element) -> list[Parameter]:
    """The parameters of a Method or Constructor element, read strictly."""
    holder = [child for child in element if child.tag == f"{{{NS}}}Parameters"]
    if len(holder) > 1:
        raise invalid(f"{local(element)} {element.get('Name')} has more than one Parameters element.")
    return [_parameter(p) for p in holder[0]] if holder else []


def _parameter(element: ET.Element) -> Parameter:
    if element.tag not in (f"{{{NS}}}Parameter", f"{{{NS}}}Property", f"{{{NS}}}Object"):
        raise invalid(f"Element {element.tag} is not a parameter.")
    kind = element.get("Type")
    if kind is None:
        raise invalid("A parameter has no Type attribute (nor a TypeId or ObjectPathId this emulator models).")
    if kind not in PARAMETER_TYPES:
        raise invalid(
            f"The 'Type' attribute is invalid - The value '{kind}' is invalid according to its datatype "
            f"'{NS}:MethodParameterTypeType' - The Enumeration constraint failed."
        )
    text = element.text or ""
    children = list(element)
    if kind not in ("Dictionary", "Array") and children:
        raise invalid(f"A parameter of type {kind} cannot hold elements.")
    if kind == "Null":
        return Parameter(kind, None)
    if kind in ("Enum", "Byte", "SByte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64"):
        if not _INTEGER.fullmatch(text.strip()):
            raise invalid(f"'{text}' is not a valid {kind} value.")
        return Parameter(kind, int(text.strip()))
    if kind == "Boolean":
        if text.strip() not in ("true", "false"):
            raise invalid(f"'{text}' is not a valid Boolean value.")
        return Parameter(kind, text.strip() == "true")
    if kind == "Guid":
        found = _GUID.fullmatch(text.strip())
        if found is None:
            raise invalid(f"'{text}' is not a valid Guid value.")
        return Parameter(kind, found.group(1).lower())
    if kind == "Dictionary":
        entries: dict[str, object] = {}
        for child in children:
            name = child.get("Name")
            if child.tag != f"{{{NS}}}Property" or name is None:
                raise invalid("A Dictionary holds only Property elements, each with a Name.")
            if name in entries:
                raise invalid(f"The dictionary key '{name}' appears twice.")
            entries[name] = _parameter(child).value
        return Parameter(kind, entries)
    if kind == "Array":
        if any(child.tag != f"{{{NS}}}Object" for child in children):
            raise invalid("An Array holds only Object elements.")
        return Parameter(kind, [_parameter(child).value for child in children])
    return Parameter(kind, text)


def dumps(items: list[object]) -> bytes:
    text = json.dumps(items, ensure_ascii=False, separators=(",", ":")).replace("/", "\\u002f")
    text = re.sub(r"\\u002f(Guid|Date)\(([^)]*)\)\\u002f", r"\\/\1(\2)\\/", text)
    return text.encode("utf-8")


def header(request_id: str, problem: CsomError | None = None) -> dict[str, object]:
    info = None
    if problem is not None:
        info = {"ErrorMessage": problem.message, "ErrorValue": None, "TraceCorrelationId": request_id, "ErrorCode": problem.code, "ErrorTypeName": problem.type_name}
    return {"SchemaVersion": "15.0.0.0", "LibraryVersion": LIBRARY_VERSION, "ErrorInfo": info, "TraceCorrelationId": request_id}


_HEADERS = {"Content-Type": "application/json; charset=utf-8", "X-SharePointHealthScore": "0"}


def answer(request_id: str, results: list[object]) -> Response:
    return Response(200, dumps([header(request_id), *results]), dict(_HEADERS))


def failure(request_id: str, problem: CsomError) -> Response:
    """A refused request: HTTP 200 with the error in the header, as SharePoint answers."""
    return Response(200, dumps([header(request_id, problem)]), dict(_HEADERS))
