"""Apply a saved plan, and nothing else.

Per profile, apply first reads the current values (in `$batch` reads) and writes a property
only while SharePoint still holds the plan's prior value: a value that changed since the plan
is reported as stale, never overwritten. A property already holding the planned value counts
as applied without a write, and every write is recorded in a journal (JSON Lines, appended
and flushed after each batch), so an apply killed at any moment and run again finishes the
plan with nothing written twice.

That prior-value read costs one PeopleManager call per profile, as much of the tenant's
budget as the write itself, so ``check_prior`` says when to pay it:
- "always": every profile is read first.
- "auto" (the default): profiles whose every change goes through the bulk import are not
  read. Reading them would spend the budget the bulk job exists to save, and the check could
  not hold anyway: the job runs minutes after it is queued and cannot be made conditional.
- "never": no profile is read; the plan's prior values are trusted (for a plan just made with
  `--refresh=true`). Writes are still journalled, so a re-run skips what is done; a changed
  value is overwritten instead of reported stale, and a missing profile fails on its write.

A connection that may not write at all (a delegated sign-in, which SharePoint refuses for
other users' profiles; an app without User.ReadWrite.All) must not fail every profile, one
call each. Until SharePoint has answered a write with anything but a refusal for want of
rights, writes go out a few at a time, one such probe at a time; after STOP_AFTER_DENIALS
identical refusals in a row apply stops writing. The writes not sent are reported
"not-attempted" and not journalled, so the same apply run again (with a connection that may
write) does them; the refused ones are failed and not journalled either.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maforge.atomic import write_text_atomic
from maforge.connectors.spo import catalogue
from maforge.connectors.spo.bulk import ID_PROPERTY, MAX_VALUES_PER_FILE, BulkImporter, BulkUnknown, IneligibleProperties
from maforge.connectors.spo.people import PeopleClient, Write
from maforge.connectors.spo.session import SpoError, SpoSession, ThrottledTooLong

from .plan import Plan, PlanError, ProfileChange, PropertyChange
from .planner import normalise, same_values
from .progress import Progress
from .signin import rights_hint

CHUNK = 100  # profiles per round: one $batch of reads, then their writes
BULK_THRESHOLD = 1000  # eligible writes from which "auto" prefers one bulk job to PeopleManager calls
SHOWN_TROUBLE = 20  # properties not written, listed on the console; the results file has them all
TROUBLE = ("stale", "failed", "missing", "not-attempted")
STOP_AFTER_DENIALS = 3  # identical refusals for want of rights, in a row, before apply stops writing


class ApplyRefused(Exception):
    """A guard stopped the apply before anything was written."""


@dataclass(slots=True)
class ApplyResult:
    applied: int = 0
    already: int = 0  # held the planned value already (an earlier, interrupted apply)
    stale: int = 0
    failed: int = 0
    missing: int = 0  # the profile no longer exists
    not_attempted: int = 0  # left unsent after apply stopped (see `stopped`); not journalled
    profiles: list[dict[str, Any]] = field(default_factory=list)
    stopped: str | None = None  # why apply stopped writing, with the next step

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.stale == 0 and self.missing == 0 and self.not_attempted == 0 and self.stopped is None

    def summary(self) -> str:
        text = f"Apply: {self.applied} applied, {self.already} already applied, {self.stale} stale, {self.failed} failed, {self.missing} on missing profiles"
        return text + (f", {self.not_attempted} not attempted" if self.not_attempted else "")

    def trouble_lines(self, results: Path | None, shown: int = SHOWN_TROUBLE) -> list[str]:
        """The properties that were not written, one line each (profile, property, what
        happened and why), the first ``shown`` of them, then how many more the results file
        lists. A count alone ("3 stale, 2 failed") left the admin to dig in JSON for whom."""
        found = [
            f"  {outcome['status']}: {entry['account']}: {outcome['property']}" + (f": {outcome['error']}" if outcome.get("error") else f" (SharePoint holds {json.dumps(outcome['now'], ensure_ascii=False)})" if "now" in outcome else "")
            for entry in self.profiles
            for outcome in entry["properties"]
            if outcome["status"] in TROUBLE
        ]
        lines = found[:shown]
        if len(found) > shown:
            lines.append(f"  and {len(found) - shown} more" + (f" in {results}" if results is not None else ""))
        return lines


def check_guards(plan: Plan, *, tenant: str, max_changes: int | None, protected: Iterable[str] = (), spec_hash: str | None = None) -> None:
    """Refuse a plan before anything is written: another tenant, another spec (when the
    caller knows which spec it runs: a built package always does), too many changes, or
    protected properties."""
    if plan.tenant != tenant:
        raise ApplyRefused(f"the plan is for tenant {plan.tenant!r}, the connection is to {tenant!r}")
    if spec_hash and plan.spec_hash != spec_hash:
        made_from = f"spec {plan.spec_hash[:12]}…" if plan.spec_hash else "no recorded spec"
        raise ApplyRefused(f"the plan was made from {made_from}, not from this spec ({spec_hash[:12]}…, environment overlay included); make a new plan with `maforge plan --out`")
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
        # Owner-only, like the plan and results beside it: they name every profile changed.
        self._handle = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a", encoding="utf-8")
        if path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            self._handle.write("\n")  # end a line a kill cut short, so the next entry stays whole

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


Pending = tuple[ProfileChange, PropertyChange, Write, dict[str, Any]]  # …, the outcome to fill in

_RIGHTS_TEXTS = ("access denied", "managing your own data", "do not have permission", "does not have the required permissions")


def refused_for_rights(status: int, text: str) -> bool:
    """A write SharePoint refused for want of rights: 401/403, or one of its access-denied
    texts under another status (the status of "managing your own data" is unverified)."""
    return status in (401, 403) or any(marker in text.lower() for marker in _RIGHTS_TEXTS)


class _Breaker:
    """Stops the writes once SharePoint has refused STOP_AFTER_DENIALS of them in a row with
    the same rights error (module docstring). Refusals of taxonomy-bound properties count
    towards a streak but cannot make one alone, nor prove the connection: they may be the
    term-store right only, which the other properties do not need."""

    def __init__(self, method: str):
        self.method = method
        self.lock = threading.Lock()
        self.probing = threading.Lock()  # one probe at a time until the connection has proved itself
        self.settled = False  # SharePoint answered a write with something other than a refusal for rights
        self.streak: tuple[tuple[int, str] | None, int, bool] = (None, 0, False)  # (status, text), length, holds a non-taxonomy write
        self.stopped: str | None = None

    def observe(self, answered: list[tuple[str, int, str]]) -> None:
        """(property, status, error text) of each answered write, in order."""
        with self.lock:
            for prop, status, text in answered:
                if 200 <= status < 300 or not refused_for_rights(status, text):
                    self.settled = True
                    if 200 <= status < 300:
                        self.streak = (None, 0, False)
                    continue
                info = catalogue.lookup(prop)
                plain = info is None or not info.taxonomy
                key = (status, text)
                if self.streak[0] == key:
                    self.streak = (key, self.streak[1] + 1, self.streak[2] or plain)
                else:
                    self.streak = (key, 1, plain)
                _key, count, holds_plain = self.streak
                if count >= STOP_AFTER_DENIALS and holds_plain and self.stopped is None:
                    self.stopped = (
                        f"stopped writing after SharePoint refused {count} writes in a row with HTTP {status} \"{text}\"; "
                        f"{rights_hint(self.method)}; the writes not sent are reported \"not attempted\" and not journalled: "
                        "run the same apply again once that is done"
                    )


UNREAD: Any = object()  # a profile apply did not read (check_prior): its prior values are trusted


def bulk_candidate(change: PropertyChange, multi: set[str]) -> bool:
    """Could go through the bulk import: a custom (not catalogue), single-valued property being
    set or changed. Clears stay per user: how the bulk job treats a null is unverified."""
    return change.action != "clear" and change.property not in multi and catalogue.lookup(change.property) is None


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
    bulk: str = "auto",
    bulk_threshold: int = BULK_THRESHOLD,
    bulk_importer: BulkImporter | None = None,
    check_prior: str = "auto",
    spec_hash: str | None = None,
) -> ApplyResult:
    """Apply ``plan``. With ``replan_stale`` a property changed since the plan is re-planned
    against its value now (the planned value still wins) instead of being reported stale.

    ``bulk``: "auto" sends eligible writes through the bulk import when there are at least
    ``bulk_threshold`` of them, "always" whenever there are any, "never" not at all. Writes
    the bulk job refuses or fails fall back to PeopleManager calls.

    ``check_prior``: "always", "auto" or "never" (see the module's docstring). ``spec_hash``:
    the spec the caller runs; a plan made from another is refused."""
    if check_prior not in ("always", "auto", "never"):
        raise ValueError(f"check_prior must be always, auto or never, not {check_prior!r}")
    check_guards(plan, tenant=session.connection.tenant, max_changes=max_changes, protected=(*protected, *plan.protected), spec_hash=spec_hash)
    multi = set(plan.multi_valued)
    ordered = set(plan.ordered)
    people = PeopleClient(session, multi)
    journal = Journal(journal_path, plan)
    result = ApplyResult()
    lock = threading.Lock()
    tracker = progress or Progress("applying", total=plan.change_count)
    chunks = [plan.profiles[i : i + CHUNK] for i in range(0, len(plan.profiles), CHUNK)]
    candidates = sum(1 for p in plan.profiles for c in p.changes if bulk_candidate(c, multi))
    use_bulk = candidates > 0 and (bulk == "always" or (bulk == "auto" and candidates >= bulk_threshold))
    for_bulk: list[Pending] = []
    breaker = _Breaker(session.credential.method)
    halted: list[str] = []  # why the run stopped waiting on throttling (--max-wait): resumable

    def settle(done: list[Pending], failed: list[tuple[Pending, str]], journal_them: bool = True) -> None:
        """Record outcomes of writes: journal first, then the counts."""
        if journal_them:
            journal.record([(p.account, c.property) for p, c, _w, _o in done])
        with lock:
            for _p, _c, _w, outcome in done:
                outcome["status"] = "applied"
            for (_p, _c, _w, outcome), error in failed:
                outcome["status"] = "failed"
                outcome["error"] = error
            result.applied += len(done)
            result.failed += len(failed)

    def not_attempted(pending: list[Pending]) -> None:
        """Writes left unsent because apply stopped: not journalled, so a re-run sends them."""
        why = "throttling outlasted --max-wait" if halted else "repeated access-denied answers"
        with lock:
            for _p, _c, _w, outcome in pending:
                outcome["status"] = "not-attempted"
                outcome["error"] = f"not sent: apply stopped after {why} (see the run's message); run the same apply again"
            result.not_attempted += len(pending)

    def halt(stop: ThrottledTooLong) -> None:
        with lock:
            if not halted:
                halted.append(f"{stop}; stopped cleanly: the journal keeps every write done; run the same apply again to resume")

    def send(pending: list[Pending]) -> None:
        try:
            answers = people.set_many([w for _p, _c, w, _o in pending]) if pending else []
        except ThrottledTooLong as stop:
            # Parts answered before the stop are settled as usual; the others were answered
            # 429 or never sent, so nothing of them was written: not attempted, not journalled.
            # Parts sent whose answer was lost may have been written: outcome unknown, not
            # journalled (a re-run checks or repeats them; a repeated set is harmless).
            halt(stop)
            partial = stop.partial or [None] * len(pending)
            lost = stop.unanswered if isinstance(stop.unanswered, set) else set()
            answered = [(item, answer) for item, answer in zip(pending, partial) if answer is not None]
            unknown = [(item, f"outcome unknown, not journalled: its answer was lost and {stop}") for index, (item, answer) in enumerate(zip(pending, partial)) if answer is None and index in lost]
            settle([item for item, answer in answered if 200 <= answer.status < 300], [(item, f"HTTP {answer.status}: {_error_text(answer.body)}") for item, answer in answered if not 200 <= answer.status < 300] + unknown)
            not_attempted([item for index, (item, answer) in enumerate(zip(pending, partial)) if answer is None and index not in lost])
            return
        except SpoError as error:
            # No answer after the session's retries, or its wait budget ran out: parts of an
            # earlier round may have landed. Reported, not journalled: a re-run checks them.
            settle([], [(item, f"outcome unknown, not journalled: {error}; run the same apply again") for item in pending])
            return
        texts = [_error_text(answer.body) if not 200 <= answer.status < 300 else "" for answer in answers]
        breaker.observe([(item[1].property, answer.status, text) for item, answer, text in zip(pending, answers, texts)])
        done = [item for item, answer in zip(pending, answers) if 200 <= answer.status < 300]
        failed = [(item, f"HTTP {answer.status}: {text}") for item, answer, text in zip(pending, answers, texts) if not 200 <= answer.status < 300]
        settle(done, failed)

    def per_user(pending: list[Pending]) -> None:
        if halted:
            not_attempted(pending)
            return
        if pending and not breaker.settled:
            with breaker.probing:
                while pending and not breaker.settled and breaker.stopped is None:
                    send(pending[:STOP_AFTER_DENIALS])
                    pending = pending[STOP_AFTER_DENIALS:]
        if breaker.stopped is not None:
            not_attempted(pending)
            return
        if pending:
            send(pending)

    def to_bulk(change: PropertyChange) -> bool:
        return use_bulk and bulk_candidate(change, multi)

    def needs_read(profile: ProfileChange) -> bool:
        if check_prior == "always":
            return True
        return check_prior == "auto" and not all(to_bulk(c) for c in profile.changes)

    def skip(chunk: list[ProfileChange]) -> None:
        """A round not started because the run stopped: every change not attempted."""
        outcomes = {p.account: [{"property": c.property, "action": c.action, "status": "not-attempted", "error": "not sent: apply stopped after throttling outlasted --max-wait; run the same apply again"} for c in p.changes] for p in chunk}
        with lock:
            result.not_attempted += sum(len(p.changes) for p in chunk)
            result.profiles.extend({"account": a, "properties": o} for a, o in outcomes.items())
            tracker.advance(sum(len(p.changes) for p in chunk))

    def run(chunk: list[ProfileChange]) -> None:
        if halted:
            skip(chunk)
            return
        to_read = [p for p in chunk if needs_read(p)]
        try:
            read = people.get_many([p.account for p in to_read]) if to_read else []
        except ThrottledTooLong as stop:
            halt(stop)
            skip(chunk)
            return
        except SpoError as error:
            # Reading failed after the session's retries: these profiles fail, the rest go on.
            failed = {p.account: [{"property": c.property, "action": c.action, "status": "failed", "error": f"reading the profile: {error}"} for c in p.changes] for p in to_read}
            with lock:
                result.failed += sum(len(p.changes) for p in to_read)
                result.profiles.extend({"account": a, "properties": o} for a, o in failed.items())
                tracker.advance(sum(len(p.changes) for p in to_read))
            chunk = [p for p in chunk if not needs_read(p)]
            to_read, read = [], []
        held_now = {id(p): values for p, values in zip(to_read, read)}
        current = [held_now.get(id(p), UNREAD) for p in chunk]
        writes: list[Pending] = []
        outcomes: dict[str, list[dict[str, Any]]] = {p.account: [] for p in chunk}
        counts = ApplyResult()
        for profile, values in zip(chunk, current):
            for change in profile.changes:
                is_multi = change.property in multi
                outcome: dict[str, Any] = {"property": change.property, "action": change.action}
                if values is UNREAD:
                    if (profile.account.lower(), change.property) in journal.done:
                        outcome["status"] = "already-applied"
                        counts.already += 1
                    else:
                        writes.append((profile, change, Write(profile.account, change.property, _write_value(change, is_multi)), outcome))
                        outcome["status"] = "pending"
                        outcome["prior"] = "not checked"
                elif values is None:
                    outcome["status"] = "missing"
                    counts.missing += 1
                elif (profile.account.lower(), change.property) in journal.done or same_values(values.get(change.property), change.after, is_multi, change.property in ordered):
                    outcome["status"] = "already-applied"
                    counts.already += 1
                elif not same_values(values.get(change.property), change.before, is_multi, change.property in ordered) and not replan_stale:
                    outcome["status"] = "stale"
                    outcome["now"] = normalise(values.get(change.property), is_multi)
                    counts.stale += 1
                else:
                    writes.append((profile, change, Write(profile.account, change.property, _write_value(change, is_multi)), outcome))
                    outcome["status"] = "pending"
                    held = normalise(values.get(change.property), is_multi)
                    if not same_values(held, change.before, is_multi, change.property in ordered):
                        outcome["replanned_from"] = held  # --refresh: the newer value is overwritten knowingly
                outcomes[profile.account].append(outcome)
        with lock:
            result.already += counts.already
            result.stale += counts.stale
            result.missing += counts.missing
            result.profiles.extend({"account": a, "properties": o} for a, o in outcomes.items())
            for_bulk.extend(item for item in writes if to_bulk(item[1]))
        per_user([item for item in writes if not to_bulk(item[1])])
        with lock:
            tracker.advance(sum(len(p.changes) for p in chunk))

    try:
        session.map(run, chunks)
        if for_bulk and (breaker.stopped is not None or halted):
            not_attempted(for_bulk)
        elif for_bulk:
            try:
                _bulk_writes(for_bulk, bulk_importer or BulkImporter(session), per_user, settle)
            except ThrottledTooLong as stop:
                halt(stop)  # before the job was queued (a queued job is BulkUnknown): not attempted
                not_attempted([item for item in for_bulk if item[3].get("status") == "pending"])
    except BaseException:
        tracker.close()  # no longer the progress line in use
        raise
    finally:
        journal.close()
    tracker.finish()
    result.stopped = breaker.stopped or (halted[0] if halted else None)
    result.profiles.sort(key=lambda p: p["account"].lower())
    if results_path is not None:
        # One profile per line: greppable, and written by json's C encoder (indent= is not).
        lines = ",\n".join(json.dumps(entry, ensure_ascii=False) for entry in result.profiles)
        stopped = f'"stopped": {json.dumps(result.stopped, ensure_ascii=False)},\n' if result.stopped else ""
        write_text_atomic(results_path, f'{{"summary": {json.dumps(result.summary(), ensure_ascii=False)},\n{stopped}"profiles": [\n{lines}\n]}}\n', mode=0o600)
    return result


_LOG_PROPERTY = re.compile(r"Property '([^']+)'")


def _mentions(line: str, upn: str) -> bool:
    """Whether a job log line names ``upn`` as a whole identity (UPNs may hold ' and -)."""
    return re.search(r"(?<![\w.@'-])" + re.escape(upn) + r"(?![\w.@'-])", line, re.IGNORECASE) is not None


def _bulk_writes(
    pending: list[Pending],
    importer: BulkImporter,
    per_user: Callable[[list[Pending]], None],
    settle: Callable[..., None],
) -> None:
    """Send ``pending`` through bulk import jobs; what the job refuses goes per user, what its
    log reports failed is failed, the rest is applied. When the job's fate is unknown (no
    answer to the queue call, or still running at the time-out) nothing falls back and nothing
    is journalled: a second writer could write twice, and a re-run's prior-value check sees
    what the job did."""
    refused: set[str] = set()
    while pending:
        moved = [item for item in pending if item[1].property.lower() in refused]
        if moved:
            per_user(moved)
            pending = [item for item in pending if item[1].property.lower() not in refused]
            continue
        rows: dict[str, dict[str, str]] = {}
        for profile, change, write, _outcome in pending:
            upn = upn_of(profile.account)
            rows.setdefault(upn.lower(), {ID_PROPERTY: upn})[change.property] = str(write.value)
        batch: list[dict[str, str]] = []
        values = 0
        for row in rows.values():
            if batch and values + len(row) - 1 > MAX_VALUES_PER_FILE:
                break
            batch.append(row)
            values += len(row) - 1
        in_batch = {row[ID_PROPERTY].lower() for row in batch}
        this_round = [item for item in pending if upn_of(item[0].account).lower() in in_batch]
        pending = [item for item in pending if upn_of(item[0].account).lower() not in in_batch]
        properties = sorted({c.property for _p, c, _w, _o in this_round})
        try:
            outcome = importer.run(batch, properties)
        except IneligibleProperties as refusal:
            names = {n.lower() for n in refusal.names} & {p.lower() for p in properties}
            if not names:
                per_user(this_round + pending)  # refused for a reason we cannot act on
                return
            refused |= names
            pending = this_round + pending
            continue
        except BulkUnknown as error:
            settle([], [(item, f"bulk import state unknown ({error}); run the same apply again once the job has finished") for item in this_round])
            continue
        except ThrottledTooLong:
            raise  # before the job was queued: the caller stops the run, these not attempted
        except SpoError as error:
            for _p, _c, _w, outcome_ in this_round:
                outcome_["bulk"] = f"bulk import failed ({error}); written per user"
            per_user(this_round)
            continue
        if not outcome.succeeded:
            for _p, _c, _w, outcome_ in this_round:
                outcome_["bulk"] = f"bulk job {outcome.job_id} ended {outcome.error}: {outcome.error_message}; written per user"
            per_user(this_round)
            continue
        done, failed = [], []
        named: set[int] = set()
        for item in this_round:
            upn = upn_of(item[0].account)
            item[3]["bulk"] = outcome.job_id
            line = None
            for number, candidate in enumerate(outcome.log_lines):
                if _mentions(candidate, upn):
                    found = _LOG_PROPERTY.search(candidate)
                    if found is None or found.group(1).lower() == item[1].property.lower():
                        line = candidate
                    named.add(number)
            if line:
                failed.append((item, f"bulk import: {line}"))
            else:
                done.append(item)
        if len(named) < len(outcome.log_lines):
            # A log line we cannot tie to a user: the rows are written as far as we know, but
            # not journalled, so a re-run checks each against SharePoint instead of trusting us.
            for item in done:
                item[3]["bulk_note"] = "the job's log holds lines maforge could not map; not journalled"
            settle(done, [], False)
            settle([], failed)
        else:
            settle(done, failed)


def upn_of(account: str) -> str:
    """The UPN in a claims login (i:0#.f|membership|<upn>)."""
    return account.rsplit("|", 1)[-1]


def _error_text(body: bytes) -> str:
    try:
        data = json.loads(body.decode("utf-8-sig"))
        error = data.get("error") or data.get("odata.error") or {}
        message = error.get("message")
        return str(message.get("value") if isinstance(message, dict) else message or body[:200].decode("utf-8", "replace"))
    except (ValueError, AttributeError):
        return body[:200].decode("utf-8", "replace")


__all__ = ["ApplyRefused", "ApplyResult", "Journal", "PlanError", "apply_plan", "check_guards"]
