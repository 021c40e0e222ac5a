"""Apply a saved plan, and nothing else.

Per profile, apply first reads the current values (in `$batch` reads) and writes a property
only while SharePoint still holds the plan's prior value: a value that changed since the plan
is reported as stale, never overwritten. A property already holding the planned value counts
as applied without a write, and every write is recorded in a journal (JSON Lines, appended
and flushed after each batch), so an apply killed at any moment and run again finishes the
plan with nothing written twice.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maforge.atomic import write_text_atomic
from maforge.connectors.spo.people import PeopleClient, Write
from maforge.connectors.spo.session import SpoSession

from .plan import Plan, PlanError, ProfileChange, PropertyChange
from .planner import normalise
from .progress import Progress

CHUNK = 100  # profiles per round: one $batch of reads, then their writes


class ApplyRefused(Exception):
    """A guard stopped the apply before anything was written."""


@dataclass(slots=True)
class ApplyResult:
    applied: int = 0
    already: int = 0  # held the planned value already (an earlier, interrupted apply)
    stale: int = 0
    failed: int = 0
    missing: int = 0  # the profile no longer exists
    profiles: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.stale == 0 and self.missing == 0

    def summary(self) -> str:
        return f"Apply: {self.applied} applied, {self.already} already applied, {self.stale} stale, {self.failed} failed, {self.missing} on missing profiles"


def check_guards(plan: Plan, *, tenant: str, max_changes: int | None, protected: Iterable[str] = ()) -> None:
    if plan.tenant != tenant:
        raise ApplyRefused(f"the plan is for tenant {plan.tenant!r}, the connection is to {tenant!r}")
    if max_changes is not None and plan.change_count > max_changes:
        raise ApplyRefused(f"the plan changes {plan.change_count} properties, more than --max-changes {max_changes}; review it, then raise the limit")
    protected_set = {p.lower() for p in protected}
    touched = sorted({c.property for p in plan.profiles for c in p.changes if c.property.lower() in protected_set})
    if touched:
        raise ApplyRefused(f"the plan changes protected properties: {', '.join(touched)}")


class Journal:
    """Writes done, one JSON line each; read back to skip them on a re-run."""

    def __init__(self, path: Path, plan: Plan):
        self.path = path
        self.key = f"{plan.spec_hash}:{plan.created_at}"
        self.done: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a kill: its write is re-checked against SharePoint
                if entry.get("plan") == self.key:
                    self.done.add((entry["account"].lower(), entry["property"]))
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(path, "a", encoding="utf-8")

    def record(self, entries: list[tuple[str, str]]) -> None:
        if not entries:
            return
        with self._lock:
            self._handle.write("".join(json.dumps({"plan": self.key, "account": a, "property": p}) + "\n" for a, p in entries))
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self.done.update((a.lower(), p) for a, p in entries)

    def close(self) -> None:
        self._handle.close()


def _write_value(change: PropertyChange, multi: bool) -> Any:
    if change.action == "clear":
        return [] if multi else ""
    return change.after


def apply_plan(
    plan: Plan,
    session: SpoSession,
    *,
    journal_path: Path,
    results_path: Path | None = None,
    max_changes: int | None = None,
    protected: Iterable[str] = (),
    progress: Progress | None = None,
    replan_stale: bool = False,
) -> ApplyResult:
    """Apply ``plan``. With ``replan_stale`` a property changed since the plan is re-planned
    against its value now (the planned value still wins) instead of being reported stale."""
    check_guards(plan, tenant=session.connection.tenant, max_changes=max_changes, protected=(*protected, *plan.protected))
    multi = set(plan.multi_valued)
    people = PeopleClient(session, multi)
    journal = Journal(journal_path, plan)
    result = ApplyResult()
    lock = threading.Lock()
    tracker = progress or Progress("applying", total=plan.change_count)
    chunks = [plan.profiles[i : i + CHUNK] for i in range(0, len(plan.profiles), CHUNK)]

    def run(chunk: list[ProfileChange]) -> None:
        current = people.get_many([p.account for p in chunk])
        writes: list[tuple[ProfileChange, PropertyChange, Write]] = []
        outcomes: dict[str, list[dict[str, Any]]] = {p.account: [] for p in chunk}
        counts = ApplyResult()
        for profile, values in zip(chunk, current):
            for change in profile.changes:
                is_multi = change.property in multi
                outcome = {"property": change.property, "action": change.action}
                if values is None:
                    outcome["status"] = "missing"
                    counts.missing += 1
                elif (profile.account.lower(), change.property) in journal.done or normalise(values.get(change.property), is_multi) == normalise(change.after, is_multi):
                    outcome["status"] = "already-applied"
                    counts.already += 1
                elif normalise(values.get(change.property), is_multi) != normalise(change.before, is_multi) and not replan_stale:
                    outcome["status"] = "stale"
                    outcome["now"] = normalise(values.get(change.property), is_multi)
                    counts.stale += 1
                else:
                    writes.append((profile, change, Write(profile.account, change.property, _write_value(change, is_multi))))
                    outcome["status"] = "pending"
                    held = normalise(values.get(change.property), is_multi)
                    if held != normalise(change.before, is_multi):
                        outcome["replanned_from"] = held  # --refresh: the newer value is overwritten knowingly
                outcomes[profile.account].append(outcome)
        answers = people.set_many([w for _, _, w in writes]) if writes else []
        done = []
        for (profile, change, _write), answer in zip(writes, answers):
            outcome = next(o for o in outcomes[profile.account] if o["property"] == change.property and o["status"] == "pending")
            if 200 <= answer.status < 300:
                outcome["status"] = "applied"
                counts.applied += 1
                done.append((profile.account, change.property))
            else:
                outcome["status"] = "failed"
                outcome["error"] = f"HTTP {answer.status}: {_error_text(answer.body)}"
                counts.failed += 1
        journal.record(done)
        with lock:
            result.applied += counts.applied
            result.already += counts.already
            result.stale += counts.stale
            result.failed += counts.failed
            result.missing += counts.missing
            result.profiles.extend({"account": a, "properties": o} for a, o in outcomes.items())
            tracker.advance(sum(len(p.changes) for p in chunk))

    try:
        session.map(run, chunks)
    finally:
        journal.close()
    tracker.finish()
    result.profiles.sort(key=lambda p: p["account"].lower())
    if results_path is not None:
        write_text_atomic(results_path, json.dumps({"summary": result.summary(), "profiles": result.profiles}, indent=1, ensure_ascii=False) + "\n")
    return result


def _error_text(body: bytes) -> str:
    try:
        data = json.loads(body.decode("utf-8-sig"))
        error = data.get("error") or data.get("odata.error") or {}
        message = error.get("message")
        return str(message.get("value") if isinstance(message, dict) else message or body[:200].decode("utf-8", "replace"))
    except (ValueError, AttributeError):
        return body[:200].decode("utf-8", "replace")


__all__ = ["ApplyRefused", "ApplyResult", "Journal", "PlanError", "apply_plan", "check_guards"]
