"""A canonical form of MA export XML, for comparing two files by meaning.

Two exports of the same MA differ in things that carry no meaning: layout, attribute
order, `<x/>` versus `<x></x>`, CRLF versus LF, and engine state that changes on every run
(export date, times, version counters, partition watermarks and run counters). The
canonical form drops or normalises exactly those (ma-export-format.md §21, §23) and keeps
everything else, so what remains different is a real difference.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

from lxml import etree

from .mimxml import strip_layout_whitespace

# Engine state that a fresh import resets: (parent tag or None for any, tag).
VOLATILE_ELEMENTS = frozenset(
    {
        ("ma-data", "creation-time"),
        ("ma-data", "last-modification-time"),
        ("ma-data", "version"),
        ("partition", "creation-time"),
        ("partition", "last-modification-time"),
        ("partition", "version"),
        ("partition", "allowed-operations"),
        ("partition", "current"),
        ("partition", "last-successful-batch"),
        ("run-configuration", "creation-time"),
        ("run-configuration", "last-modification-time"),
        ("run-configuration", "version"),
        ("custom-data", "water-mark"),
        ("ma-data", "ma-ui-settings"),
    }
)
VOLATILE_ROOT_ATTRIBUTES = frozenset({"export-date", "server"})


def canonicalize(root: etree._Element) -> etree._Element:
    """A normalised deep copy of ``root``."""
    tree = copy.deepcopy(root)
    for name in VOLATILE_ROOT_ATTRIBUTES:
        tree.attrib.pop(name, None)
    for element in list(tree.iter()):
        if not isinstance(element.tag, str):  # comments, processing instructions
            element.getparent().remove(element)
            continue
        parent = element.getparent()
        if parent is not None and (parent.tag, element.tag) in VOLATILE_ELEMENTS:
            parent.remove(element)
    strip_layout_whitespace(tree)
    for element in tree.iter():
        attributes = sorted(element.attrib.items())
        element.attrib.clear()
        for key, value in attributes:
            element.set(key, value)
        if element.text is not None:
            element.text = element.text.replace("\r\n", "\n")
        if element.text == "":
            element.text = None
    return tree


def facts(element: etree._Element, path: str = "") -> Iterator[str]:
    """One line per element: its path, sorted attributes and text (line breaks as \\n).
    Diffing two such listings shows differences at the element that holds them."""
    here = f"{path}/{etree.QName(element).localname}"
    attrs = " ".join(f'{etree.QName(k).localname}="{v}"' for k, v in sorted(element.attrib.items()))
    text = (element.text or "").replace("\n", "\\n")
    yield f"{here}[{attrs}] {text}".rstrip()
    for child in element:
        yield from facts(child, here)
