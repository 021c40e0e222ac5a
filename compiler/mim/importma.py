"""`maforge import-ma`: decompile an MA file, prove the round trip, write the spec.

The modelled spec is built back into XML and compared with the original after canonical
normalisation (canonical.py). Sections that differ are carried verbatim in `mim.preserve`,
finest level first (one parameter, one run profile, one MAConfig child …) and coarser only
where needed, until the rebuilt MA equals the original. The result is written atomically:
`DIR/<name>.yaml`, `DIR/scripts/…`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from lxml import etree

from maforge.atomic import write_text_atomic

from ..build import render_outputs
from .canonical import VOLATILE_ELEMENTS, canonicalize, facts
from .decompile import Carried, Decompiled, ImportError_, decompile_model, read_ma_file
from ..diagnostics import SpecError
from ..loader import UnreadableFile, _Core12Resolver, read_bytes
from .mimxml import MAX_MA_FILE_BYTES, UnsafeOrBrokenXml, parse_untrusted
from ..validate import load_spec

_SPLIT_CONTAINERS = ("private-configuration", "ma-partition-data", "ma-run-data")

# Why a carried element is carried, by the first step of its path.
_REASONS = {
    "category": "the MA's category is not an ECMA2 connector's",
    "subtype": "another connector's identity (the spec's type is 'other')",
    "ma-listname": "another connector's identity (the spec's type is 'other')",
    "ma-companyname": "another connector's identity (the spec's type is 'other')",
    "internal-version": "another connector's package version",
    "password-sync-allowed": "password synchronisation settings are not modelled",
    "password-sync": "password synchronisation settings are not modelled",
    "schema": "a schema in a form the spec does not model (not ECMA2 DSML, or without anchors)",
    "attribute-inclusion": "the attribute selection differs from the schema's order or contents",
    "capabilities-mask": "capability bits that do not follow the PowerShell connector's rules",
    "export-type": "another connector's export type",
    "dn-construction": "DN construction of a non-ECMA2 MA",
    "controller-configuration": "another MA type's controller settings",
    "private-configuration": "the connector's own configuration pages",
    "ma-partition-data": "partition data the spec does not model",
    "ma-run-data": "run profile steps the spec does not model",
    "join": "join rules the spec does not model (declarative sync rules or intrinsic attributes)",
    "projection": "projection rules the spec does not model",
    "export-attribute-flow": "export flows the spec does not model (declarative sync rules or intrinsic attributes)",
    "stay-disconnector": "a connector filter the spec does not model",
    ".": "an MA layout the spec does not model (not MIM's own export order)",
}


def _reason(path: str, notes: list[str]) -> str:
    if path.startswith("private-configuration/MAConfig/parameter-values/parameter"):
        return "a parameter value the spec would write differently (for example spacing in a name list)"
    if path.startswith("private-configuration/MAConfig/"):
        return f"the connector's {path.rsplit('/', 1)[-1]} differs from what the spec would write"
    if path.startswith("/mv-data"):
        return "import flows the spec does not model"
    first = path.split("/", 1)[0].split("[", 1)[0]
    reason = _REASONS.get(first, "differs from what the spec would write")
    detail = [n for n in notes if n.split(":", 1)[0].replace(" ", "-") in path or n.split(":", 1)[0] in reason]
    return f"{reason}; {detail[0]}" if detail else reason


@dataclass(frozen=True, slots=True)
class ImportResult:
    spec_path: Path
    files: dict[str, str]
    carried: tuple[Carried, ...]
    notes: tuple[str, ...]


class _SpecDumper(yaml.SafeDumper):
    """YAML for people: multi-line text as literal blocks, and quotes wherever maforge's
    YAML 1.2 reader would otherwise read a string as something else."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value and not any(ch in value for ch in "\r\t\x85\u2028\u2029") and value == value.rstrip(" "):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    resolved = _Core12Resolver().resolve(yaml.ScalarNode, value, (True, False))
    if resolved != "tag:yaml.org,2002:str":
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_str(value)


_SpecDumper.add_representer(str, _represent_str)


def dump_spec(spec: dict[str, Any]) -> str:
    header = (
        "# Written by `maforge import-ma`. Review it, then keep it in version control:\n"
        "# `maforge build` turns it back into the MA export (see mim.preserve for what is carried as it was).\n"
    )
    return header + yaml.dump(spec, Dumper=_SpecDumper, sort_keys=False, allow_unicode=True, width=120)


def _xml(element: etree._Element) -> str:
    """The element as reviewable text: indented, one child per line (the build strips the
    indentation again, and text content such as scripts is never touched)."""
    copy = etree.fromstring(etree.tostring(element, with_tail=False))  # text after it is not its own
    etree.indent(copy, space="  ")
    return etree.tostring(copy, encoding="unicode") + "\n"


def _find(ma: etree._Element, root: etree._Element, path: str) -> list[etree._Element]:
    if path == ".":
        return [ma]
    if path.startswith("/"):
        return root.xpath(path.lstrip("/"))
    return ma.xpath(path)


def _candidates(ma: etree._Element) -> list[list[str]]:
    """Carry points, finest level first."""
    fine: list[str] = []
    for child in ma:
        if not isinstance(child.tag, str) or ("ma-data", child.tag) in VOLATILE_ELEMENTS:
            continue
        if child.tag not in _SPLIT_CONTAINERS:
            fine.append(child.tag)
    config = ma.find("private-configuration/MAConfig")
    if config is not None:
        for child in config:
            if child.tag != "parameter-values":
                fine.append(f"private-configuration/MAConfig/{child.tag}")
        for parameter in config.iterfind("parameter-values/parameter"):
            name = parameter.get("name", "")
            if "'" not in name:
                fine.append(f"private-configuration/MAConfig/parameter-values/parameter[@name='{name}']")
    for partition in ma.iterfind("ma-partition-data/partition"):
        fine.append(f"ma-partition-data/partition[id='{partition.findtext('id')}']")
    for profile in ma.iterfind("ma-run-data/run-configuration"):
        fine.append(f"ma-run-data/run-configuration[id='{profile.findtext('id')}']")
    middle = ["private-configuration/MAConfig/parameter-values", "private-configuration/MAConfig", "ma-partition-data", "ma-run-data"]
    return [fine, middle, ["private-configuration"], ["."]]


def _facts(element: etree._Element) -> list[str]:
    return list(facts(canonicalize(element)))


class _RoundTrip:
    def __init__(self, decompiled: Decompiled, root: etree._Element, workdir: Path):
        self.decompiled = decompiled
        self.original_root = root
        self.original_ma = decompiled.ma
        self.original_flows = decompiled.mv_flows
        self.workdir = workdir
        self.preserve: list[dict[str, str]] = []

    def build(self) -> etree._Element:
        spec = dict(self.decompiled.spec)
        if self.preserve:
            spec["mim"] = {**spec["mim"], "preserve": list(self.preserve)}
        spec_path = self.workdir / "spec.yaml"
        spec_path.write_text(dump_spec(spec), encoding="utf-8")
        for relative, text in self.decompiled.scripts.items():
            target = self.workdir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8", newline="")
        model, _ = load_spec(spec_path)
        result = render_outputs(model, spec_path.name)
        return etree.fromstring(result.files[result.xml_name].encode("utf-8"))

    def differs(self, built: etree._Element, path: str) -> bool | None:
        """True/False when both sides have the element once; None when it cannot be compared."""
        original = _find(self.original_ma, self.original_root, path)
        mine = _find(built.find("ma-data"), built, path)
        if len(original) != 1 or len(mine) != 1:
            return None
        return _facts(original[0]) != _facts(mine[0])

    def carry(self, path: str, reason: str) -> None:
        (element,) = _find(self.original_ma, self.original_root, path)
        inside = "" if path == "." else path + "/"
        self.preserve = [p for p in self.preserve if not (path == "." or p["path"].startswith(inside))]
        self.preserve.append({"path": path, "reason": reason, "xml": _xml(element)})

    def run(self) -> etree._Element:
        built = self.build()
        for level in _candidates(self.original_ma):
            changed = False
            for path in level:
                if any(path.startswith(p["path"] + "/") or p["path"] == path for p in self.preserve if p["path"] != "."):
                    continue
                if self.differs(built, path):
                    self.carry(path, _reason(path, self.decompiled.notes))
                    changed = True
            if changed:
                built = self.build()
            if not self.differs(built, "."):
                break
        if self.original_flows is not None:
            original = _facts(self.original_flows)
            mine = built.find("mv-data/import-attribute-flow")
            if mine is None or _facts(mine) != original:
                path = "/mv-data/import-attribute-flow"
                self.preserve.append({"path": path, "reason": _reason(path, self.decompiled.notes), "xml": _xml(self.original_flows)})
                built = self.build()
        return built


def import_ma(export: Path, out: Path, mv: Path | None = None, display: str | None = None) -> ImportResult:
    """Turn ``export`` into ``out/<name>.yaml`` and ``out/scripts/``; return what was written."""
    shown = display or str(export)
    data = _read(export, shown)
    root, ma = read_ma_file(data, shown)
    mv_root = None
    if mv is not None:
        try:
            mv_root = parse_untrusted(_read(mv, str(mv)), str(mv))
        except UnsafeOrBrokenXml as error:
            raise ImportError_(error.message) from None
    decompiled = decompile_model(root, ma, mv_root)
    with tempfile.TemporaryDirectory(prefix="maforge-import-") as scratch:
        trip = _RoundTrip(decompiled, root, Path(scratch))
        try:
            built = trip.run()
        except SpecError as error:  # a damaged file, or one MIM itself would not write
            problems = "; ".join(f"{d.message} (at {d.pointer or '/'})" for d in error.diagnostics[:3])
            raise ImportError_(
                f"{shown}: the MA it holds does not make a valid spec ({problems}), so nothing was written; "
                "is the file damaged? If MIM exported it as it is, please report it"
            ) from None
        if _facts(built.find("ma-data")) != _facts(ma):
            raise ImportError_(f"{shown}: internal error: the rebuilt MA still differs from the original; please report this file")
    spec = dict(decompiled.spec)
    if trip.preserve:
        spec["mim"] = {**spec["mim"], "preserve": trip.preserve}
    name = _file_stem(spec["name"])
    files = {f"{name}.yaml": dump_spec(spec), **decompiled.scripts}
    for relative, text in files.items():
        write_text_atomic(out / relative, text)
    carried = tuple(Carried(p["path"], p["reason"]) for p in trip.preserve)
    return ImportResult(out / f"{name}.yaml", files, carried, tuple(decompiled.notes))


def planned_spec_name(export: Path, mv: Path | None = None) -> str | None:
    """The file name import-ma will write for ``export`` (None if it cannot tell yet)."""
    try:
        _, ma = read_ma_file(_read(export, str(export)), str(export))
    except ImportError_:
        return None
    return f"{_file_stem((ma.findtext('name') or '').strip() or 'Imported MA')}.yaml"


def _file_stem(name: str) -> str:
    import re

    return re.sub(r'[<>:"/\\|?*\x00-\x1f]', "_", name).strip(" .") or "management-agent"


def _read(path: Path, shown: str) -> bytes:
    try:
        return read_bytes(path, limit=MAX_MA_FILE_BYTES, what="an MA file")
    except UnreadableFile as error:
        raise ImportError_(str(error).replace(str(path), shown, 1)) from None
