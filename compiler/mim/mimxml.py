"""MIM's XML on disk: writing `<export-ma>` files in MIM's own layout, and reading MA
files from other people's servers safely.

Layout (ma-export-format.md §2): no declaration, no BOM, single-quoted root attributes, the
fixed WARNING comment, `<ma-data>` children one space in with most containers on one line,
a handful of multi-line blocks, `&`, `<` and `>` escaped in text and nothing else, and a
per-element choice between `<x />`, `<x/>` and `<x></x>`. Line breaks are LF: an XML reader
turns CRLF into LF anyway, so scripts reach MIM the same either way, and LF diffs cleanly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from lxml import etree

WARNING = (
    "<!--WARNING>\n"
    + "!" * 67
    + "\n!!\n!! The contents of this file should not be edited.\n"
    "!! Any such modifications to this file may result in errors during import.\n!!\n"
    + "!" * 67
    + "\n</WARNING-->"
)

# Empty elements MIM writes without the space before the slash.
_TIGHT_EMPTY = frozenset({"dn-construction", "exclusions"})
_PREFIXES = {"http://www.dsml.org/DSML": "dsml", "http://www.microsoft.com/MMS/DSML": "ms-dsml"}


def sub(parent: etree._Element, tag: str, text: str | None = None, attrs: Mapping[str, str] | None = None) -> etree._Element:
    """Append a child; ``text=''`` writes ``<x></x>``, ``None`` writes ``<x />``."""
    element = etree.SubElement(parent, tag)
    for name, value in (attrs or {}).items():
        element.set(name, value)
    if text is not None:
        element.text = text
    return element


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attribute(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        .replace("\n", "&#xA;").replace("\r", "&#xD;").replace("\t", "&#x9;")
    )


def _name(qualified: str, element: etree._Element, attribute: bool = False) -> str:
    """The prefixed name of a tag or attribute, using the prefixes in scope at ``element``
    (MIM's ECMA2 files use dsml:/ms-dsml:, its AD files a default namespace and m:)."""
    if not qualified.startswith("{"):
        return qualified
    namespace, local = qualified[1:].split("}", 1)
    scope = element.nsmap or {}
    candidates = [p for p, uri in scope.items() if uri == namespace and not (attribute and p is None)]
    if not attribute and element.prefix in candidates:
        prefix = element.prefix
    elif candidates:
        prefix = candidates[0]
    else:
        prefix = _PREFIXES[namespace]
    return f"{prefix}:{local}" if prefix else local


def inline(element: etree._Element) -> str:
    """One element and everything in it on one line (text keeps its own line breaks)."""
    tag = _name(element.tag, element)
    parts = [f"<{tag}"]
    parent = element.getparent()
    for prefix, uri in (element.nsmap or {}).items():
        if parent is None or parent.nsmap.get(prefix) != uri:
            parts.append(f' xmlns:{prefix}="{uri}"' if prefix else f' xmlns="{uri}"')
    for key, value in element.attrib.items():
        parts.append(f' {_name(key, element, attribute=True)}="{_attribute(value)}"')
    if element.text is None and len(element) == 0:
        parts.append("/>" if tag in _TIGHT_EMPTY else " />")
        return "".join(parts)
    parts.append(">")
    if element.text:
        parts.append(_text(element.text))
    for child in element:
        parts.append(inline(child))
        if child.tail:
            parts.append(_text(child.tail))
    parts.append(f"</{tag}>")
    return "".join(parts)


def strip_layout_whitespace(element: etree._Element) -> None:
    """Drop indentation between child elements; text content (scripts, values) is kept."""
    for node in element.iter():
        if len(node):
            if node.text is not None and not node.text.strip():
                node.text = None
            for child in node:
                if child.tail is not None and not child.tail.strip():
                    child.tail = None


def _block(element: etree._Element, depth: int, keep_inline: frozenset[str]) -> list[str]:
    """An element whose element children each get their own line, one space deeper."""
    pad = " " * depth
    tag = _name(element.tag, element)
    if len(element) == 0 or tag in keep_inline:
        return [pad + inline(element)]
    lines = [f"{pad}<{tag}>"]
    for child in element:
        lines.extend(_block(child, depth + 1, keep_inline))
    lines.append(f"{pad}</{tag}>")
    return lines


def write_export_ma(root: etree._Element) -> str:
    """Serialise an `<export-ma>` tree the way Synchronization Service Manager exports it."""
    server = root.get("server", "")
    date = root.get("export-date", "")
    lines = [f"<export-ma server='{_attribute(server)}' export-date='{_attribute(date)}'>", WARNING, "<ma-data>"]
    ma_data = root.find("ma-data")
    for child in ma_data:
        tag = child.tag
        if tag in ("schema", "private-configuration") and len(child) == 0:
            lines.append(" " + inline(child))  # empty (carried so from an MA file): nothing to lay out
        elif tag == "schema":
            lines += [" <schema>", "  " + inline(child[0]), " </schema>"]
        elif tag == "controller-configuration":
            lines += [" <controller-configuration>", *(" " + inline(c) for c in child), "</controller-configuration>", ""]
        elif tag == "private-configuration":
            lines += [" <private-configuration>", "  " + inline(child[0]), " </private-configuration>"]
        elif tag == "ma-partition-data":
            lines.append(" <ma-partition-data>")
            for partition in child:
                lines += _block(partition, 1, frozenset({"ecma-partition-data"}))
            lines += ["</ma-partition-data>", ""]
        elif tag == "ma-run-data":
            lines.append(" <ma-run-data>")
            for profile in child:
                lines += [" <run-configuration>", *("  " + inline(c) for c in profile), " </run-configuration>"]
            lines += ["</ma-run-data>", ""]
        else:
            lines.append(" " + inline(child))
    lines += ["</ma-data>", "", "<mv-data>"]
    lines += [" " + inline(c) for c in root.find("mv-data")]
    lines += ["</mv-data>", "", "</export-ma>", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- reading

MAX_MA_FILE_BYTES = 64 * 1024 * 1024  # the largest real exports are a few MB


class UnsafeOrBrokenXml(Exception):
    """An MA file that is refused: malformed, hostile (DTD, entities) or too large."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xef\xbb\xbf", "utf-8"),
)
_DECLARED_ENCODING = re.compile(rb"""<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")


def _as_text(data: bytes) -> str:
    """The file as the XML parser will read it (best effort: BOM, then UTF-16 without a BOM,
    then the declared encoding, then UTF-8), so a DOCTYPE in UTF-16 or UTF-7 is found too."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, "replace")
    if data[:2] == b"<\x00":
        return data.decode("utf-16-le", "replace")
    if data[:2] == b"\x00<":
        return data.decode("utf-16-be", "replace")
    declared = _DECLARED_ENCODING.match(data[:300])
    if declared:
        try:
            return data.decode(declared.group(1).decode("ascii"), "replace")
        except LookupError:
            pass
    return data.decode("utf-8", "replace")


def _declaration_line(text: str, markup: str) -> int | None:
    found = text.lower().find(markup)
    return None if found < 0 else text.count("\n", 0, found) + 1


def _refuse_declarations(display: str, line: int | None) -> UnsafeOrBrokenXml:
    where = f"{display}:{line}" if line else display
    return UnsafeOrBrokenXml(f"{where}: has a DOCTYPE or ENTITY declaration; MA exports have none, and maforge does not expand them", line)


def _libxml_message(message: str) -> str:
    """libxml2's words for the limits it enforces, said in the terms of the file."""
    lowered = message.lower()
    if "excessive depth" in lowered:
        return f"elements nested too deeply ({message}); MA files nest a few levels"
    if any(limit in lowered for limit in ("length too long", "huge input lookup", "text node too long", "buffer size limit")):
        return f"a value longer than 10,000,000 characters ({message}); MA files hold no such value"
    return message


def parse_untrusted(data: bytes, display: str) -> etree._Element:
    """Parse an MA file from someone else's server: no DTD, no entity expansion, no
    network, size-limited; every refusal names the file and, where known, the line."""
    if len(data) > MAX_MA_FILE_BYTES:
        raise UnsafeOrBrokenXml(f"{display}: {len(data)} bytes is larger than the {MAX_MA_FILE_BYTES}-byte limit for an MA file")
    text = _as_text(data)
    doctype = _declaration_line(text[:4096], "<!doctype")
    entity = _declaration_line(text, "<!entity")
    if doctype is not None or entity is not None:
        raise _refuse_declarations(display, min(line for line in (doctype, entity) if line is not None))
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False, remove_comments=True
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        line = error.position[0] if error.position else None
        where = f"{display}:{line}" if line else display
        raise UnsafeOrBrokenXml(f"{where}: not well-formed XML: {_libxml_message(error.msg)}", line) from None
    # A DOCTYPE further down the prolog (after comments) or in an encoding the text above
    # was not decoded with: nothing was loaded or expanded, and the file is still refused.
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise _refuse_declarations(display, _declaration_line(text, "<!doctype"))
    return root
