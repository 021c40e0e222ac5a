"""The plan: versioned data, separate from how it is computed (planner.py), shown
(planrender.py) or applied (applier.py). Its JSON form is described by
schemas/plan.schema.json; `format_version` changes whenever a reader would misread it.

Every change holds the property's prior value: apply writes a property only while SharePoint
still holds that value, so a plan made from an old snapshot can never overwrite a newer edit.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from maforge.atomic import open_atomic

FORMAT_VERSION = 2  # 2: the join state (state_serial, joins, leavers)
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


_FIELDS = ("property", "action", "before", "after")
assert tuple(f.name for f in fields(PropertyChange)) == _FIELDS, "property_change() sets exactly these"
_new_change = object.__new__
_set_property, _set_action, _set_before, _set_after = (PropertyChange.__dict__[name].__set__ for name in _FIELDS)


def property_change(prop: str, action: str, before: Any, after: Any) -> PropertyChange:
    """PropertyChange(prop, action, before, after), the same frozen object, made in 0.48 µs
    instead of 1.07 µs (timeit): a frozen dataclass's __init__ sets each field through
    object.__setattr__, this sets the slots directly. A plan of 100,000 rows makes 625,000."""
    change = _new_change(PropertyChange)
    _set_property(change, prop)
    _set_action(change, action)
    _set_before(change, before)
    _set_after(change, after)
    return change


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
    ordered: list[str] = field(default_factory=list)  # multi-valued properties whose order matters; the others are sets
    state_serial: int | None = None  # the join state's serial the plan was made against (None: no join state)
    state_digest: str | None = None  # links.links_digest of the links the plan relies on without changing them
    joins: list[dict[str, Any]] = field(default_factory=list)  # join state changes: join | disconnect, per person
    leavers: list[dict[str, Any]] = field(default_factory=list)  # source rows that left a joined person
    id: str = field(default_factory=lambda: uuid.uuid4().hex)  # this plan, among plans made the same second
    targets: list[str] = field(default_factory=list)  # --target: the users (and properties) the plan was limited to

    @property
    def plan_id(self) -> str:
        """What the join state records of the plan that last changed it."""
        return self.id

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
        return self._json([p.to_json() for p in self.profiles])

    def _json(self, profiles: Any) -> dict[str, Any]:
        """to_json() with ``profiles`` in the place of the profile changes (save_plan writes
        those itself, as they are, without a dict per change)."""
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
            "profiles": profiles,
            "problems": self.problems,
            "warnings": self.warnings,
            "protected": self.protected,
            "ordered": sorted(self.ordered),
            "id": self.id,
            "state_serial": self.state_serial,
            "state_digest": self.state_digest,
            "joins": self.joins,
            "leavers": self.leavers,
            "targets": self.targets,
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
                ProfileChange(p["account"], p.get("origin", ""), tuple(property_change(c["property"], c["action"], c.get("before"), c.get("after")) for c in p["changes"]))
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
                list(data.get("ordered", [])),
                state_serial=data.get("state_serial"),
                state_digest=data.get("state_digest"),
                joins=list(data.get("joins", [])),
                leavers=list(data.get("leavers", [])),
                id=str(data.get("id") or ""),
                targets=[str(t) for t in data.get("targets", [])],
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise PlanError(f"{where}: a damaged plan ({type(error).__name__}: {error})") from None


def parse_target(target: str) -> tuple[str, str | None]:
    """`--target USER` or `--target USER:PROPERTY` → (the user, a UPN or a claims login,
    case-folded; the property or None). A claims login has colons of its own
    (`i:0#.f|membership|upn`); a property is only looked for after its last `|`."""
    text = target.strip()
    head, bar, tail = text.rpartition("|")
    upn, colon, prop = tail.partition(":")
    if colon and not prop.strip():
        raise PlanError(f"--target {target!r}: name a property after the colon, or leave the colon out")
    if not upn.strip():
        raise PlanError(f"--target {target!r}: name a user (a UPN or a claims login)")
    return f"{head}{bar}{upn.strip()}".casefold(), prop.strip() or None


def select_targets(plan: Plan, targets: list[str]) -> Plan:
    """The plan limited to ``targets`` (as Terraform's -target): only the changes of the
    users named, and of a user's named properties when a target names any, and only their
    joins. The plan records the targets, and warns that the rest of the drift is left for a
    later plan. No targets: the plan as it is."""
    if not targets:
        return plan
    wanted: dict[str, set[str] | None] = {}
    for target in targets:
        user, prop = parse_target(target)
        if prop is None:
            wanted[user] = None
        elif wanted.get(user, set()) is not None:
            wanted.setdefault(user, set()).add(prop.casefold())  # type: ignore[union-attr]

    def rule(account: str) -> tuple[bool, set[str] | None]:
        login = account.casefold()
        for user, props in wanted.items():
            if login == user or login.rpartition("|")[2] == user:
                return True, props
        return False, None

    kept: list[ProfileChange] = []
    for profile in plan.profiles:
        named, props = rule(profile.account)
        if not named:
            continue
        changes = tuple(c for c in profile.changes if props is None or c.property.casefold() in props)
        if changes:
            kept.append(ProfileChange(profile.account, profile.origin, changes))
    left_out = plan.change_count - sum(len(p.changes) for p in kept)
    plan.profiles = kept
    plan.joins = [j for j in plan.joins if rule(str(j.get("account", "")))[0]]
    plan.leavers = [j for j in plan.leavers if rule(str(j.get("account", "")))[0]]
    plan.targets = list(targets)
    plan.warnings.append({"kind": "targeted", "subject": ", ".join(targets), "detail": f"the plan is limited to --target; {left_out} other change{'s' if left_out != 1 else ''} of this drift {'are' if left_out != 1 else 'is'} left for a later plan"})
    return plan


def looks_like_plan(path: Path) -> bool:
    """A JSON file with `format_version` (a plan), as opposed to a spec."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096).lstrip()
    except OSError:
        return False
    return head.startswith(b"{") and b'"format_version"' in head


_END = "\n}\n"
_DIGEST_MEMBER = ',\n "digest": "sha256:'


def save_plan(plan: Plan, path: Path) -> None:
    """Write the plan as ``json.dumps(plan.to_json(), indent=1, ensure_ascii=False)`` and a
    newline, byte for byte, streamed (plan_json_chunks says how and why), sealed with its
    digest as the last member (plan_digest)."""
    digest = hashlib.sha256()
    with open_atomic(path, mode=0o600) as handle:  # profile data: the owner's only
        for chunk in plan_json_chunks(plan):
            if chunk == _END:
                break
            handle.write(chunk)
            digest.update(chunk.encode("utf-8"))
        digest.update(_END.encode("utf-8"))
        handle.write(f'{_DIGEST_MEMBER}{digest.hexdigest()}"{_END}')


def content_digest(raw: bytes) -> str | None:
    """The digest of a saved plan's content: SHA-256 of its text without its last member,
    `"digest"` (None when the text has no such last member).

    The digest `maforge plan` writes is this, so what a reviewer approved (plan.txt, the PR
    comment) and what apply writes cannot drift apart by an edit, a merge or a copy that
    re-formats it. It stops accidents, not a forger: anyone who can edit the plan can compute
    a new digest (docs/ci.md says so)."""
    at = raw.rfind(_DIGEST_MEMBER.encode("utf-8"))
    if at < 0:
        return None
    return "sha256:" + hashlib.sha256(raw[:at] + _END.encode("utf-8")).hexdigest()


_DEPTH = 64  # deeper values (none in a plan) are left to json.dumps, which also finds cycles
_BREAK = ["\n" + " " * level for level in range(_DEPTH + 2)]  # a new line at each indent level
_encode_text = json.encoder.encode_basestring  # what json.dumps(text, ensure_ascii=False) returns
PROFILES_PER_CHUNK = 1000


def json_indent1(value: Any, level: int = 0) -> str:
    """``json.dumps(value, indent=1, ensure_ascii=False)`` as it reads ``level`` deep inside an
    enclosing value, for text, numbers, booleans, null, lists and text-keyed dicts; anything
    else (a float, a tuple) is json.dumps's own text.

    json.dumps takes its C encoder only without indent; with it, it yields every bracket,
    comma and value from Python generators and joins the lot at the end, which made saving a
    100,000-profile plan take 6.7 s and 530 MB. Here each list and dict is one join, and text
    is quoted by json's own C function."""
    kind = type(value)
    if kind is str:
        return _encode_text(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return int.__repr__(value)
    if level < _DEPTH:
        inner = _BREAK[level + 1]
        if kind is list:
            if not value:
                return "[]"
            return "[" + inner + ("," + inner).join([json_indent1(item, level + 1) for item in value]) + _BREAK[level] + "]"
        if kind is dict and all(type(key) is str for key in value):
            if not value:
                return "{}"
            return "{" + inner + ("," + inner).join([_encode_text(key) + ": " + json_indent1(item, level + 1) for key, item in value.items()]) + _BREAK[level] + "}"
    return json.dumps(value, indent=1, ensure_ascii=False).replace("\n", _BREAK[level])


def _change_json(change: PropertyChange) -> str:
    """PropertyChange.to_json() in a saved plan: the item of a "changes" list, 4 deep."""
    return (
        '{\n     "property": ' + json_indent1(change.property, 5)
        + ',\n     "action": ' + json_indent1(change.action, 5)
        + ',\n     "before": ' + json_indent1(change.before, 5)
        + ',\n     "after": ' + json_indent1(change.after, 5)
        + "\n    }"
    )  # fmt: skip


def _profile_json(profile: ProfileChange) -> str:
    """ProfileChange.to_json() in a saved plan: the item of the "profiles" list, 2 deep."""
    changes = "[\n    " + ",\n    ".join([_change_json(change) for change in profile.changes]) + "\n   ]" if profile.changes else "[]"
    return '{\n   "account": ' + json_indent1(profile.account, 3) + ',\n   "origin": ' + json_indent1(profile.origin, 3) + ',\n   "changes": ' + changes + "\n  }"


def plan_json_chunks(plan: Plan) -> Iterator[str]:
    """The saved plan's text in pieces of at most PROFILES_PER_CHUNK profiles: the same text
    as ``json.dumps(plan.to_json(), indent=1, ensure_ascii=False) + "\\n"``, written without
    a dict per change or the whole text in memory. Measured on the benchmark's 100,000-row
    plan (625,000 changes): 6.7 s → 1.2 s, and the process's RSS after saving 1,095 MB →
    569 MB, what it held before."""
    marker = object()
    separator = _BREAK[1]
    yield "{"
    for key, value in plan._json(marker).items():
        yield separator + _encode_text(key) + ": "
        separator = "," + _BREAK[1]
        if value is not marker:
            yield json_indent1(value, 1)
        elif not plan.profiles:
            yield "[]"
        else:
            for start in range(0, len(plan.profiles), PROFILES_PER_CHUNK):
                chunk = plan.profiles[start : start + PROFILES_PER_CHUNK]
                yield ("[\n  " if start == 0 else ",\n  ") + ",\n  ".join([_profile_json(profile) for profile in chunk])
            yield "\n ]"
    yield "\n}\n"


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
        # json's own words ("Unterminated string starting at") read as half a sentence.
        what = re.sub(r"\s+(starting )?at$", "", error.msg).lower()
        broken = "the plan breaks off here: it was cut short" if error.pos >= len(text.rstrip()) - 1 or "unterminated" in what else "the plan is damaged here"
        raise PlanError(f"{path}:{error.lineno}:{error.colno}: {broken} (JSON: {what}); make a new one with `maforge plan --out`") from None
    except RecursionError:
        raise PlanError(f"{path}: not a plan: JSON nested too deeply; make a new one with `maforge plan --out`") from None
    if isinstance(data, dict) and data.get("format_version") == FORMAT_VERSION:
        _check_schema(data, path)
        carried = data.get("digest")
        if carried is None:
            raise PlanError(f"{path}: the plan carries no digest, so nothing shows it is the plan `maforge plan` wrote; make a new one with `maforge plan --out`")
        if carried != content_digest(raw):
            raise PlanError(f"{path}: this plan was changed after `maforge plan` wrote it (its digest no longer matches its content); review and make a new one with `maforge plan --out`")
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
