"""The plan: versioned data, separate from how it is computed (planner.py), shown
(planrender.py) or applied (applier.py). Its JSON form is described by
schemas/plan.schema.json; `format_version` changes whenever a reader would misread it.

Every change holds the property's prior value: apply writes a property only while SharePoint
still holds that value, so a plan made from an old snapshot can never overwrite a newer edit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maforge.atomic import write_text_atomic

FORMAT_VERSION = 1
ACTIONS = ("set", "change", "clear")
SYMBOLS = {"set": "+", "change": "~", "clear": "-"}


class PlanError(Exception):
    """A plan file that cannot be read or belongs to another connector or tenant."""


@dataclass(frozen=True, slots=True)
class PropertyChange:
    property: str
    action: str  # set | change | clear
    before: Any  # text, or a list for multi-valued properties
    after: Any  # None when the action is clear

    def to_json(self) -> dict[str, Any]:
        return {"property": self.property, "action": self.action, "before": self.before, "after": self.after}


@dataclass(frozen=True, slots=True)
class ProfileChange:
    account: str
    origin: str  # the source row(s) the desired values come from
    changes: tuple[PropertyChange, ...]

    def to_json(self) -> dict[str, Any]:
        return {"account": self.account, "origin": self.origin, "changes": [c.to_json() for c in self.changes]}


@dataclass(slots=True)
class Plan:
    connector: str
    tenant: str
    spec_hash: str
    maforge: str
    created_at: str
    refreshed: bool  # current values read from SharePoint (True) or from the import snapshot
    profiles: list[ProfileChange] = field(default_factory=list)
    unchanged: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)  # reported before apply; never applied
    multi_valued: list[str] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)  # planned, but worth knowing
    protected: list[str] = field(default_factory=list)  # the spec's sharepoint.protect: apply refuses to touch them

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(ACTIONS, 0)
        for profile in self.profiles:
            for change in profile.changes:
                counts[change.action] += 1
        return counts

    @property
    def change_count(self) -> int:
        return sum(len(p.changes) for p in self.profiles)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "maforge": self.maforge,
            "connector": self.connector,
            "tenant": self.tenant,
            "spec_hash": self.spec_hash,
            "created_at": self.created_at,
            "refreshed": self.refreshed,
            "summary": {**self.counts(), "unchanged": self.unchanged, "problems": len(self.problems)},
            "multi_valued": sorted(self.multi_valued),
            "profiles": [p.to_json() for p in self.profiles],
            "problems": self.problems,
            "warnings": self.warnings,
            "protected": self.protected,
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "plan") -> Plan:
        if not isinstance(data, dict) or "format_version" not in data:
            raise PlanError(f"{where}: not a maforge plan (no format_version)")
        if type(data["format_version"]) is not int or data["format_version"] != FORMAT_VERSION:
            shown = json.dumps(data["format_version"], ensure_ascii=False, default=str)[:40]
            raise PlanError(f"{where}: plan format {shown}, this maforge reads {FORMAT_VERSION}; plan again with this version")
        try:
            profiles = [
                ProfileChange(p["account"], p.get("origin", ""), tuple(PropertyChange(c["property"], c["action"], c.get("before"), c.get("after")) for c in p["changes"]))
                for p in data["profiles"]
            ]
            for profile in profiles:
                for change in profile.changes:
                    if change.action not in ACTIONS:
                        raise PlanError(f"{where}: {profile.account}: unknown action {change.action!r}")
            return cls(
                data["connector"],
                data["tenant"],
                data.get("spec_hash", ""),
                data.get("maforge", ""),
                data["created_at"],
                bool(data.get("refreshed")),
                profiles,
                int(data["summary"].get("unchanged", 0)),
                list(data.get("problems", [])),
                list(data.get("multi_valued", [])),
                list(data.get("warnings", [])),
                list(data.get("protected", [])),
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise PlanError(f"{where}: a damaged plan ({type(error).__name__}: {error})") from None


def looks_like_plan(path: Path) -> bool:
    """A JSON file with `format_version` (a plan), as opposed to a spec."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096).lstrip()
    except OSError:
        return False
    return head.startswith(b"{") and b'"format_version"' in head


def save_plan(plan: Plan, path: Path) -> None:
    write_text_atomic(path, json.dumps(plan.to_json(), indent=1, ensure_ascii=False) + "\n", mode=0o600)  # profile data: the owner's only


def load_plan(path: Path) -> Plan:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise PlanError(f"{path}: cannot read the plan ({error.strerror or error})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise PlanError(f"{path}:{line}:{column}: not a plan: the file is not UTF-8 (byte 0x{raw[error.start]:02x}); make a new one with `maforge plan --out`") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise PlanError(f"{path}:{error.lineno}:{error.colno}: not JSON: {error.msg}") from None
    except RecursionError:
        raise PlanError(f"{path}: not a plan: JSON nested too deeply; make a new one with `maforge plan --out`") from None
    if isinstance(data, dict) and data.get("format_version") == FORMAT_VERSION:
        _check_schema(data, path)
    return Plan.from_json(data, str(path))


_FAST_CHECK: Callable[[Any], Any] | None = None


def _check_schema(data: dict[str, Any], path: Path) -> None:
    """A hand-edited or damaged plan is refused with the place of its first fault.

    A plan that passes (the usual case) is checked by the schema compiled to Python once by
    fastjsonschema; only a refused one is checked again by jsonschema, whose messages are the
    better read. Both read the same schemas/plan.schema.json."""
    import fastjsonschema

    global _FAST_CHECK
    if _FAST_CHECK is None:
        from maforge.schemas import load_schema

        _FAST_CHECK = fastjsonschema.compile(load_schema("plan"))
    try:
        _FAST_CHECK(data)
        return
    except fastjsonschema.JsonSchemaException as fast:
        from jsonschema import Draft202012Validator

        from maforge.schemas import load_schema

        validator = Draft202012Validator(load_schema("plan"))
        error = next(iter(sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(top)"
            message = error.message
        else:  # only the compiled check objects (it also checks "format", e.g. date-time)
            where = "/".join(str(p) for p in (fast.path or [])[1:]) or "(top)"
            message = fast.message
        raise PlanError(f"{path}: not a valid plan at {where}: {message}; make a new one with `maforge plan --out`") from None
