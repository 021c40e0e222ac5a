"""`maforge diff`: two MA exports (or a spec and an export) compared by meaning.

Both sides are canonicalised (canonical.py) and cut into the sections an admin thinks in;
each section is diffed on its own, scripts as unified diffs of their text. Engine state
(dates, counters, watermarks) never shows up as a difference.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

from .. import psconnector
from .canonical import VOLATILE_ELEMENTS, canonicalize, facts
from .decompile import own_import_flows

_SCRIPTS = set(psconnector.SCRIPT_PARAMETERS.values())
_CAPABILITIES = {name for name, _ in psconnector.CAPABILITY_PARAMETERS}


@dataclass(slots=True)
class SectionDiff:
    section: str
    lines: list[str] = field(default_factory=list)


def _ma(root: etree._Element) -> etree._Element:
    return root if root.tag == "ma-data" else root.find("ma-data")


def _elements(ma: etree._Element, *paths: str) -> list[etree._Element]:
    found: list[etree._Element] = []
    for path in paths:
        found.extend(ma.findall(path))
    return found


def _parameters(ma: etree._Element, keep: Callable[[etree._Element], bool]) -> list[etree._Element]:
    return [p for p in ma.iterfind("private-configuration/MAConfig/parameter-values/parameter") if keep(p)]


def _section_facts(elements: list[etree._Element]) -> list[str]:
    lines: list[str] = []
    for element in elements:
        lines.extend(facts(canonicalize(element)))
    return lines


SECTIONS: list[tuple[str, Callable[[etree._Element, etree._Element], list[etree._Element]]]] = [
    ("identity", lambda root, ma: _elements(ma, "id", "name", "category", "subtype", "ma-listname", "ma-companyname", "description")),
    ("schema", lambda root, ma: _elements(ma, "schema", "attribute-inclusion")),
    ("capabilities", lambda root, ma: _elements(ma, "capabilities-mask", "export-type", "private-configuration/MAConfig/extension-config")
     + _parameters(ma, lambda p: p.get("name") in _CAPABILITIES)),
    ("parameters", lambda root, ma: _elements(ma, "private-configuration/MAConfig/parameter-definitions")
     + _parameters(ma, lambda p: p.get("name") not in _CAPABILITIES and p.get("name") not in _SCRIPTS)),
    ("connector filter", lambda root, ma: _elements(ma, "stay-disconnector")),
    ("join", lambda root, ma: _elements(ma, "join")),
    ("projection", lambda root, ma: _elements(ma, "projection")),
    ("flows", lambda root, ma: _elements(ma, "export-attribute-flow")
     + [f for f in [own_import_flows(root.find("mv-data/import-attribute-flow"), ma.findtext("id") or "")] if f is not None]),
    ("deprovisioning", lambda root, ma: _elements(ma, "provisioning-cleanup", "extension", "controller-configuration")),
    ("partitions", lambda root, ma: _elements(ma, "ma-partition-data")),
    ("run profiles", lambda root, ma: _elements(ma, "ma-run-data")),
]
_COVERED = {
    "id", "name", "category", "subtype", "ma-listname", "ma-companyname", "description", "schema", "attribute-inclusion",
    "capabilities-mask", "export-type", "stay-disconnector", "join", "projection", "export-attribute-flow",
    "provisioning-cleanup", "extension", "controller-configuration", "ma-partition-data", "ma-run-data",
    "private-configuration",
}


def _other(root: etree._Element, ma: etree._Element) -> list[etree._Element]:
    """Everything else in ma-data and MAConfig, so no difference goes unreported."""
    rest = [c for c in ma if isinstance(c.tag, str) and c.tag not in _COVERED and ("ma-data", c.tag) not in VOLATILE_ELEMENTS]
    config = ma.find("private-configuration/MAConfig")
    if config is not None:
        rest += [c for c in config if c.tag not in ("extension-config", "parameter-definitions", "parameter-values")]
    return rest


def _scripts(ma: etree._Element) -> dict[str, str]:
    return {p.get("name", ""): (p.text or "").replace("\r\n", "\n") for p in _parameters(ma, lambda p: p.get("name") in _SCRIPTS)}


def semantic_diff(left: etree._Element, right: etree._Element, left_name: str = "a", right_name: str = "b") -> list[SectionDiff]:
    """Per-section differences between two `<export-ma>` (or `<ma-data>`) trees."""
    left_ma, right_ma = _ma(left), _ma(right)
    result: list[SectionDiff] = []
    for name, pick in [*SECTIONS[:4], ("scripts", None), *SECTIONS[4:], ("other", _other)]:
        if pick is None:
            lines = []
            a, b = _scripts(left_ma), _scripts(right_ma)
            for script in sorted(set(a) | set(b), key=lambda n: list(psconnector.SCRIPT_PARAMETERS.values()).index(n)):
                if a.get(script, "") != b.get(script, ""):
                    lines += list(
                        difflib.unified_diff(
                            a.get(script, "").splitlines(),
                            b.get(script, "").splitlines(),
                            f"{left_name}: {script}",
                            f"{right_name}: {script}",
                            lineterm="",
                        )
                    )
            if lines:
                result.append(SectionDiff(name, lines))
            continue
        a_facts = _section_facts(pick(left, left_ma))
        b_facts = _section_facts(pick(right, right_ma))
        if a_facts != b_facts:
            changes = [line for line in difflib.unified_diff(a_facts, b_facts, left_name, right_name, n=0, lineterm="") if not line.startswith(("---", "+++", "@@"))]
            result.append(SectionDiff(name, changes))
    return result
