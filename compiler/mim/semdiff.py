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

import copy

from .. import psconnector
from .canonical import VOLATILE_ELEMENTS, canonicalize, facts
from .decompile import own_import_flows
from .psmapages import targets_psma

_SCRIPTS = set(psconnector.SCRIPT_PARAMETERS.values())
_CAPABILITIES = {name for name, _ in psconnector.CAPABILITY_PARAMETERS}
# Sections whose content belongs to the connector the MA runs on rather than to the rules:
# two builds of one spec for different connectors differ only in these.
CONNECTOR_SECTIONS = frozenset({"connector", "capabilities", "parameters", "scripts", "run-step settings"})
# Per run step, what the connector decides: its page size and its own step data.
_STEP_SETTINGS = ("threshold/batch-size", "custom-data")


def connector_of(root: etree._Element) -> str:
    """Which connector an MA targets, as people name it: the connector and its version."""
    ma = _ma(root)
    if ma is None:
        return "unknown"
    config = "private-configuration/MAConfig/extension-config/"
    filename = (ma.findtext(config + "filename") or "").strip()
    version = (ma.findtext(config + "assembly-version") or "").strip()
    category = (ma.findtext("category") or "").strip()
    subtype = (ma.findtext("subtype") or "").strip()
    if targets_psma(ma):
        name = "Granfeldt PowerShell Management Agent (PSMA)"
    elif category == psconnector.CATEGORY and subtype == psconnector.SUBTYPE:
        name = psconnector.SUBTYPE
    elif category == "Extensible2":
        name = f"ECMA2 connector {subtype or filename or '(unnamed)'}"
    else:
        name = f"{category or 'unknown'} MA"
    return f"{name} {version}".strip()


def _embeds_scripts(ma: etree._Element) -> bool:
    """The Microsoft connector holds script text in its parameters; PSMA holds file paths
    under some of the same names ("Schema Script"), which are ordinary parameters."""
    return not targets_psma(ma)


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


def _connector(root: etree._Element, ma: etree._Element) -> list[etree._Element]:
    """The connector's identity, its help text and its password support."""
    marker = etree.Element("connector")
    marker.text = connector_of(root)
    return [marker, *_wizard_password(ma), *_elements(
        ma,
        "subtype",
        "ma-listname",
        "ma-companyname",
        "password-sync-allowed",
        "password-sync",
        "private-configuration/MAConfig/password-extension-config",
        "private-configuration/MAConfig/ui-data/ma-help-text",
    )]


def _run_profiles(root: etree._Element, ma: etree._Element, *, settings: bool) -> list[etree._Element]:
    """ma-run-data without each step's connector settings, or only those settings."""
    result = []
    for data in ma.findall("ma-run-data"):
        data = copy.deepcopy(data)
        for step in data.iterfind("run-configuration/configuration/step"):
            if settings:
                for child in list(step):
                    if child.tag not in ("threshold", "custom-data"):
                        step.remove(child)
                for threshold in step.findall("threshold"):
                    for child in list(threshold):
                        if child.tag != "batch-size":
                            threshold.remove(child)
            else:
                for path in _STEP_SETTINGS:
                    for element in step.findall(path):
                        element.getparent().remove(element)
        result.append(data)
    return result


_WIZARD_PASSWORD = "xmlwizard/object_classes/object_class/attribute"


def _ui_data(ma: etree._Element) -> list[etree._Element]:
    """The wizard's data, less what the connector writes there whatever the rules say: its
    help text, and the password attribute PSMA lists under each object class (both are in
    the connector section)."""
    found = []
    for ui_data in ma.findall("private-configuration/MAConfig/ui-data"):
        ui_data = copy.deepcopy(ui_data)
        for text in ui_data.findall("ma-help-text"):
            ui_data.remove(text)
        for attribute in ui_data.findall(_WIZARD_PASSWORD):
            if (attribute.text or "").strip() == "export_password":
                attribute.getparent().remove(attribute)
        found.append(ui_data)
    return found


def _wizard_password(ma: etree._Element) -> list[etree._Element]:
    listed = any((a.text or "").strip() == "export_password" for a in ma.iterfind("private-configuration/MAConfig/ui-data/" + _WIZARD_PASSWORD))
    marker = etree.Element("wizard-lists-export-password")
    marker.text = "yes" if listed else "no"
    return [marker]


def _section_facts(elements: list[etree._Element]) -> list[str]:
    lines: list[str] = []
    for element in elements:
        lines.extend(facts(canonicalize(element)))
    return lines


SECTIONS: list[tuple[str, Callable[[etree._Element, etree._Element], list[etree._Element]]]] = [
    ("connector", _connector),
    ("identity", lambda root, ma: _elements(ma, "id", "name", "category", "description")),
    ("schema", lambda root, ma: _elements(ma, "schema", "attribute-inclusion")),
    ("capabilities", lambda root, ma: _elements(ma, "capabilities-mask", "export-type", "private-configuration/MAConfig/extension-config")
     + _parameters(ma, lambda p: p.get("name") in _CAPABILITIES)),
    ("parameters", lambda root, ma: _elements(ma, "private-configuration/MAConfig/parameter-definitions")
     + _parameters(ma, lambda p: p.get("name") not in _CAPABILITIES and (p.get("name") not in _SCRIPTS or not _embeds_scripts(ma)))),
    ("connector filter", lambda root, ma: _elements(ma, "stay-disconnector")),
    ("join", lambda root, ma: _elements(ma, "join")),
    ("projection", lambda root, ma: _elements(ma, "projection")),
    ("flows", lambda root, ma: _elements(ma, "export-attribute-flow")
     + [f for f in [own_import_flows(root.find("mv-data/import-attribute-flow"), ma.findtext("id") or "")] if f is not None]),
    ("deprovisioning", lambda root, ma: _elements(ma, "provisioning-cleanup", "extension", "controller-configuration")),
    ("partitions", lambda root, ma: _elements(ma, "ma-partition-data")),
    ("run profiles", lambda root, ma: _run_profiles(root, ma, settings=False)),
    ("run-step settings", lambda root, ma: _run_profiles(root, ma, settings=True)),
]
_COVERED = {
    "id", "name", "category", "subtype", "ma-listname", "ma-companyname", "description", "schema", "attribute-inclusion",
    "capabilities-mask", "export-type", "stay-disconnector", "join", "projection", "export-attribute-flow",
    "provisioning-cleanup", "extension", "controller-configuration", "ma-partition-data", "ma-run-data",
    "private-configuration", "password-sync-allowed", "password-sync",
}


def _other(root: etree._Element, ma: etree._Element) -> list[etree._Element]:
    """Everything else in ma-data and MAConfig, so no difference goes unreported."""
    rest = [c for c in ma if isinstance(c.tag, str) and c.tag not in _COVERED and ("ma-data", c.tag) not in VOLATILE_ELEMENTS]
    config = ma.find("private-configuration/MAConfig")
    if config is not None:
        rest += [c for c in config if c.tag not in ("extension-config", "parameter-definitions", "parameter-values", "password-extension-config", "ui-data")]
        rest += _ui_data(ma)
    return rest


def _scripts(ma: etree._Element) -> dict[str, str]:
    if not _embeds_scripts(ma):
        return {}
    return {p.get("name", ""): (p.text or "").replace("\r\n", "\n") for p in _parameters(ma, lambda p: p.get("name") in _SCRIPTS)}


def semantic_diff(left: etree._Element, right: etree._Element, left_name: str = "a", right_name: str = "b") -> list[SectionDiff]:
    """Per-section differences between two `<export-ma>` (or `<ma-data>`) trees."""
    left_ma, right_ma = _ma(left), _ma(right)
    result: list[SectionDiff] = []
    for name, pick in [*SECTIONS[:5], ("scripts", None), *SECTIONS[5:], ("other", _other)]:
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
