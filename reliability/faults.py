"""`maforge apply` under network faults, judged by the emulator's write log.

Each apply runs against a fresh emulated tenant whose SharePoint answers go wrong in one way
(or all at once); the plan is random per seed (sets, changes and clears of single- and
multi-valued properties, and custom properties the bulk import may take). An apply that does
not finish cleanly is run again, as a user would. Afterwards the write log, not what maforge
says, decides:

- the final profiles hold exactly the plan (a change not there is a *lost* write);
- nothing was written that the plan does not hold (a wrong value, an unplanned property);
- a non-idempotent call (queueing a bulk import job) was never sent twice for one data file;
- every run's report (the ApplyResult, PLAN.results.json) agrees with the writes made while
  it ran: "applied" was written, "already applied" was not, "failed" was not written unless
  the run said the outcome is unknown;
- every journal line names a write that happened (a re-run trusts the journal);
- a change a stopped run reported "not-attempted" was not written by it.

A property set to the same value again (a PeopleManager set repeated after an answer was
lost, or rows the bulk job wrote and a re-run wrote again) is harmless and counted as a
*repeat*, not a failure.

Every apply runs under the realistic profile (`REALISTIC`, `realistic()`): the emulator's own
limits (connectors/emulator/throttle.py: a silent PeopleManager budget whose 429s ask for
70-250 s, the app's resource units with RateLimit headers from 80 %, a delegated user's
requests) 100 times faster, with a budget of about half an apply's calls so that every apply
spends it; each trial's text says the limits. The faults of a trial come on top.

The trials (one row each; ``tried`` counts applies, a re-run included in its apply):
- 10 % of requests answer 500/502/503/504; 10 % are reset; 10 % answer after the client's
  time-out (the work still done); 10 % get a gateway 502/504 after SharePoint did the work;
- the bulk queue call (QueueImportProfileProperties, the one call that is not safe to repeat)
  answered by each of those faults in turn;
- 429 squalls: a small silent budget whose Retry-After outlasts its window; a storm whose
  Retry-After outlasts the client's `--max-wait` (the run stops cleanly: ThrottledTooLong,
  answered writes settled and journalled, the rest reported "not-attempted"; judged: nothing
  written twice, nothing lost, the journal names only real writes, and the re-run once the
  storm is over finishes the plan); in the full run a storm that spends the app's resource
  units too (RateLimit headers);
- in the full run, answers lost after the work while a storm outlasts `--max-wait`;
- all of them at once, at 20 %, under squalls.
Plans and bulk/check-prior modes rotate per seed: `--bulk never|always`, `--check-prior
auto|always|never`. The applies of one trial run PARALLEL at a time, each against its own
tenant (most of an apply's time is spent waiting on throttling).

How the faults are made: the emulator's own fault hook (`EmulatorConfig.fault_rate`, the kinds
of `server._Handler._fault`: an error status before any work, a reset before any work, an
answer slower than the client's time-out after which the work is still done) with the kinds
of one trial drawn by a seeded stand-in for its dice that also counts them; gateway errors
after SharePoint did the work (502/504 replacing a 2xx answer); and the emulator's throttling
(`Weather.limits`: EmulatorConfig overrides; a storm swaps in other limits for its runs with
`emu.throttle = Throttle(dataclasses.replace(emu.config, ...))`). The applier's rounds are cut
to a few profiles (`applier.CHUNK`) so each apply makes many requests for the faults to hit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import json
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maforge.connectors.emulator import server as emulated
from maforge.connectors.emulator.certs import ensure_certificates
from maforge.connectors.emulator.server import Emulator, EmulatorConfig, Response
from maforge.connectors.emulator.throttle import Throttle
from maforge.connectors.spo.bulk import BulkImporter
from maforge.connectors.spo.session import RetryPolicy, SpoError
from maforge.connectors.sync import applier
from maforge.connectors.sync.applier import ApplyResult, apply_plan
from maforge.connectors.sync.commands import open_session
from maforge.connectors.sync.plan import Plan, ProfileChange, PropertyChange, load_plan, save_plan
from maforge.connectors.sync.progress import Progress

from . import Trial

CATEGORY = "faults"
FIRST_SYNTHETIC = 26  # users after the sample's named ones (seed.py)
MULTI = ("SPS-Skills", "SPS-PastProjects")
BULK_ELIGIBLE = ("CostCenter", "ProfileSource")
PROPERTIES = ("AboutMe", "Department", "CellPhone", "SPS-Skills", "SPS-PastProjects", "CostCenter", "ProfileSource")
SKILLS = ("SharePoint", "PowerShell", "Python", "Negotiation", "Budgeting", "SQL", "Identity", "Writing", "Azure", "C#", "Project management", "Résumé writing")
DEPARTMENTS = ("Sales", "Finance", "Engineering", "Marketing", "Operations", "Legal", "Support", "Research", "Forschung & Entwicklung")
UNKNOWN_MARKERS = ("outcome unknown", "state unknown")  # how a run says it does not know whether a write landed
Key = tuple[str, str]  # (account in lower case, property)


# --------------------------------------------------------------------------- plans


def make_plan(emu: Emulator, rng: random.Random, profiles: int, tag: str, *, bulk_share: float = 0.5) -> Plan:
    """A random plan over ``profiles`` enabled synthetic users of ``emu``, with each change's
    prior value as the tenant holds it now. ``bulk_share``: the share of profiles with a
    bulk-eligible change (CostCenter, ProfileSource); a third of those have only such changes
    (`--check-prior auto` does not read them before a bulk job)."""
    enabled = [i for i in range(FIRST_SYNTHETIC, emu.config.profiles + 1) if emu.state.has_profile(i)]
    if len(enabled) < profiles:
        raise RuntimeError(f"the emulator has {len(enabled)} enabled synthetic users, {profiles} needed")
    changes: list[ProfileChange] = []
    for index in sorted(rng.sample(enabled, profiles)):
        held = emu.state.profile(index) or {}
        names = [p for p in PROPERTIES if p not in BULK_ELIGIBLE]
        roll = rng.random()
        chosen = [] if roll < bulk_share / 3 else rng.sample(names, rng.randint(1, 3))  # a third of them bulk-only
        if roll < bulk_share:
            chosen += rng.sample(BULK_ELIGIBLE, rng.randint(1, 2))
        profile_changes = tuple(_change(name, held.get(name, [] if name in MULTI else ""), rng, tag, index) for name in PROPERTIES if name in chosen)
        changes.append(ProfileChange(emu.state.user(index).account_name, f"reliability {tag}", profile_changes))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1_767_225_600 + rng.randrange(10_000_000)))
    return Plan("reliability", emu.config.tenant, "", "", f"{stamp}Z", True, changes, multi_valued=list(MULTI))


def _change(name: str, before: Any, rng: random.Random, tag: str, index: int) -> PropertyChange:
    if name in MULTI:
        before = list(before or [])
        if before and rng.random() < 0.35:
            return PropertyChange(name, "clear", before, None)
        after = before
        while after == before:
            after = rng.sample(SKILLS, rng.randint(1, 3)) if name == "SPS-Skills" else [f"Project {tag}-{index}-{n}" for n in range(rng.randint(1, 3))]
        return PropertyChange(name, "change" if before else "set", before, after)
    before = str(before or "")
    if name == "CellPhone" and before and rng.random() < 0.5:
        return PropertyChange(name, "clear", before, None)
    after = {
        "AboutMe": f"About {tag} #{index}: naïve café, “quotes” & <b>tags</b>",
        "Department": rng.choice([d for d in DEPARTMENTS if d != before]),
        "CellPhone": f"+47 4{index % 10} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
        "CostCenter": f"CC-{tag}-{index}",
        "ProfileSource": f"HR {tag}",
    }[name]
    return PropertyChange(name, "change" if before else "set", before, after)


def expected_values(plan: Plan) -> dict[Key, Any]:
    """What every planned property must hold once the plan is applied."""
    multi = set(plan.multi_valued)
    return {
        (p.account.lower(), c.property): (c.after if c.action != "clear" else ([] if c.property in multi else ""))
        for p in plan.profiles
        for c in p.changes
    }


# --------------------------------------------------------------------------- faults


class LateWork:
    """When the last answer slowed past the client's time-out will have done its work."""

    def __init__(self, slow_seconds: float):
        self.slow_seconds = slow_seconds
        self.until = 0.0
        self._lock = threading.Lock()

    def mark(self) -> None:
        with self._lock:
            self.until = max(self.until, time.monotonic() + self.slow_seconds + 0.3)

    def wait(self) -> None:
        left = self.until - time.monotonic()
        if left > 0:
            time.sleep(left)


class FaultDice:
    """Stands in for the emulator's fault dice (`Emulator.faults`, a `random.Random` its
    `_fault` asks for a roll, then a kind): the same seeded rolls, the kind drawn from this
    trial's kinds only, and a count of every fault the emulator then injects."""

    def __init__(self, seed: int, rate: float, kinds: Sequence[int | str], late: LateWork):
        self._rng = random.Random(seed)
        self.rate = rate
        self.kinds = list(kinds)
        self.injected: Counter[str] = Counter()
        self.late = late
        self._roll = 1.0
        self.rolls = 0  # SharePoint and Graph requests the emulator rolled for

    def random(self) -> float:
        self._roll = self._rng.random()
        self.rolls += 1
        return self._roll

    def choice(self, _emulator_kinds: Sequence[int | str]) -> int | str:
        kind = self._rng.choice(self.kinds)
        if self._roll < self.rate:
            self.injected[str(kind)] += 1
            if kind == "slow":
                self.late.mark()
        return kind


class LostAnswers:
    """A gateway between client and SharePoint that answers 502 or 504 to a share of requests
    after SharePoint has done them (the emulator's own faults all strike before the work)."""

    def __init__(self, emu: Emulator, seed: int, rate: float, statuses: Sequence[int] = (502, 504)):
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.rate = rate
        self.statuses = list(statuses)
        self.injected: Counter[str] = Counter()
        self._real = emu.dispatch
        emu.dispatch = self.dispatch  # type: ignore[method-assign]

    def dispatch(self, request: Any) -> Response:
        response = self._real(request)
        if not request.path.startswith("/spo/") or not 200 <= response.status < 300:
            return response
        with self._lock:
            roll, status = self._rng.random(), self._rng.choice(self.statuses)
            if roll >= self.rate:
                return response
            self.injected[f"{status} after the work"] += 1
        return Response.json(status, {"error": {"code": "-1, Gateway", "message": {"lang": "en-US", "value": "Injected gateway error after the work was done."}}})


class AimedHandler(emulated._Handler):
    """The emulator's request handler with one addition: an emulator that has an ``aim``
    (request → fault kind or None) gets that fault for the requests it picks, through the
    emulator's own fault path; all others get the emulator's dice as usual."""

    def _fault(self, emulator: Emulator, request: Any) -> str | int | None:
        aim = getattr(emulator, "aim", None)
        kind = aim(request) if aim is not None else None
        return kind if kind is not None else super()._fault(emulator, request)


class Aim:
    """Fault the first ``times`` requests whose path or body holds ``marker`` (a CSOM method is
    named in the ProcessQuery body) with ``kind``: an error status, "reset" or "slow" (the
    emulator's faults, before the work), or "502 after" / "504 after" (the work done, the
    answer replaced by a gateway error)."""

    def __init__(self, emu: Emulator, late: LateWork, marker: str, kind: int | str, times: int = 1):
        self.marker, self.kind, self.left, self.late = marker.lower(), kind, times, late
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._real = emu.dispatch
        if isinstance(kind, str) and kind.endswith(" after"):
            emu.dispatch = self.dispatch  # type: ignore[method-assign]
        else:
            emu.aim = self  # type: ignore[attr-defined]

    def _take(self, request: Any) -> bool:
        with self._lock:
            if self.left <= 0 or (self.marker not in request.path.lower() and self.marker.encode() not in request.body.lower()):
                return False
            self.left -= 1
            self.injected[str(self.kind)] += 1
            if self.kind == "slow":
                self.late.mark()
            return True

    def __call__(self, request: Any) -> int | str | None:
        return self.kind if self._take(request) else None

    def dispatch(self, request: Any) -> Response:
        response = self._real(request)
        if not 200 <= response.status < 300 or not self._take(request):
            return response
        status = int(str(self.kind).split()[0])
        return Response.json(status, {"error": {"code": "-1, Gateway", "message": {"lang": "en-US", "value": "Injected gateway error after the work was done."}}})


class JobLog(dict):
    """`TenantState.jobs` that remembers every bulk job ever queued (jobs are deleted once
    done): two jobs for one data file mean the queue call was repeated."""

    def __init__(self) -> None:
        super().__init__()
        self.queued: list[Any] = []

    def __setitem__(self, key: str, job: Any) -> None:
        self.queued.append(job)
        super().__setitem__(key, job)


# --------------------------------------------------------------------------- throttling

# The realistic profile: the emulator's own limits (connectors/emulator/throttle.py: a silent
# PeopleManager budget whose 429s ask for 70-250 s, the app's 1,200 resource units a minute with
# RateLimit headers from 80 %, a delegated user's 3,000 requests in 5 minutes) on a clock 100
# times faster (the five-minute window lasts 3 s, a 429 asks for 1-3 s), with a budget small
# enough that every apply spends it: about half the calls of one apply. Every trial runs under
# it unless it names harsher limits; the runs' own faults come on top.
TIME_SCALE = 100.0
_DEFAULTS = EmulatorConfig()


def realistic(budget: int, time_scale: float = TIME_SCALE) -> dict[str, Any]:
    """The emulator's default limits with ``budget`` calls per 5 minutes, ``time_scale`` times faster."""
    return {
        "throttle": "realistic",
        "budget": budget,
        "time_scale": time_scale,
        "retry_after": _DEFAULTS.retry_after,
        "app_ru_per_minute": _DEFAULTS.app_ru_per_minute,
        "user_requests_per_5_minutes": _DEFAULTS.user_requests_per_5_minutes,
    }


def is_realistic(limits: Mapping[str, Any]) -> bool:
    config = EmulatorConfig(**limits)
    return config.throttle == "realistic" and config.retry_after == _DEFAULTS.retry_after and config.app_ru_per_minute == _DEFAULTS.app_ru_per_minute


REALISTIC = realistic(60)


def limits_text(limits: Mapping[str, Any]) -> str:
    """The limits of ``limits`` (EmulatorConfig overrides) in words, as the trials state them."""
    config = EmulatorConfig(**limits)
    scale = config.time_scale
    low, high = (max(1, math.ceil(s / scale)) for s in config.retry_after)
    after = f"{low} s" if low == high else f"{low}-{high} s"
    parts = [f"budget {config.budget:,} calls per 5 minutes (silent; a 429 asks for {config.retry_after[0]:.0f}-{config.retry_after[1]:.0f} s)"]
    if config.app_ru_per_minute:
        parts.append(f"{config.app_ru_per_minute:,} app resource units a minute (RateLimit headers from 80 %)")
    text = ", ".join(parts)
    if scale != 1:
        text += f"; time scale {scale:g}: a {300 / scale:g} s window, Retry-After {after}"
    return text


@dataclass(frozen=True, slots=True)
class Weather:
    """What goes wrong in one trial."""

    fault_rate: float = 0.0
    kinds: tuple[int | str, ...] = ()
    slow_seconds: float = 2.0
    client_timeout: float = 60.0
    lost_answer_rate: float = 0.0
    limits: Mapping[str, Any] = field(default_factory=lambda: dict(REALISTIC))  # EmulatorConfig overrides: budget, time_scale, retry_after, app_ru_per_minute...
    max_wait: float | None = None  # the client's --max-wait (None: waits out any throttling)
    aim: tuple[str, int | str, int] | None = None  # (path marker, kind, times): see Aim
    storm_runs: int | None = None  # ``limits`` last this many runs, then the storm is over: ``calm``
    calm: Mapping[str, Any] = field(default_factory=lambda: dict(REALISTIC))  # the limits after the storm


@contextlib.contextmanager
def small_rounds(profiles: int) -> Iterator[None]:
    """Apply in rounds of ``profiles`` profiles (more, smaller requests for faults to hit)."""
    saved = applier.CHUNK
    applier.CHUNK = profiles
    try:
        yield
    finally:
        applier.CHUNK = saved


def start_emulator(workdir: Path, seed: int, weather: Weather, profiles: int) -> tuple[Emulator, list[Counter[str]], LateWork]:
    config = EmulatorConfig(
        profiles=profiles,
        fault_rate=weather.fault_rate,
        fault_seed=seed,
        slow_seconds=weather.slow_seconds,
        bulk_job_seconds=0.2,
        **weather.limits,
    )
    emu = Emulator(config, workdir)  # certificates are made once per workdir and reused
    dice = None
    late = LateWork(weather.slow_seconds)
    if weather.fault_rate:
        dice = FaultDice(seed, weather.fault_rate, weather.kinds, late)
        emu.faults = dice  # type: ignore[assignment]
    emu.state.jobs = JobLog()
    lost = LostAnswers(emu, seed * 7 + 1, weather.lost_answer_rate) if weather.lost_answer_rate else None
    aim = Aim(emu, late, *weather.aim) if weather.aim else None
    emu.start()
    emu._server.RequestHandlerClass = AimedHandler  # type: ignore[union-attr]
    emu.fault_dice = dice  # type: ignore[attr-defined]  # its rolls: the requests that could fail
    return emu, [counter.injected for counter in (dice, lost, aim) if counter is not None], late


# --------------------------------------------------------------------------- judging


@dataclass(slots=True)
class Tally:
    """What a set of applies did, from the write log's point of view."""

    applies: int = 0
    runs: int = 0
    planned: int = 0
    equal_to_plan: int = 0  # applies whose final state is the plan
    lost: int = 0
    wrong: int = 0  # writes of a value the plan does not hold, or of a property it does not name
    repeats: int = 0  # the planned value written again (harmless)
    repeats_bulk: int = 0  # of which by a second bulk job or by a per-user fallback after one
    requeued: int = 0  # a bulk job queued twice for one data file (a repeated queue call)
    reruns: int = 0  # applies that needed more than one run
    unknown_reported: int = 0  # changes a run reported failed with an unknown outcome
    unknown_written: int = 0  # of which the tenant had taken (by then, or later: a late answer, a job)
    honest_failures: int = 0  # changes a run reported failed and did not write
    mismatches: list[str] = field(default_factory=list)  # report or journal vs the write log
    faults: Counter[str] = field(default_factory=Counter)
    throttled: int = 0  # 429 answers the emulator gave (batch parts included)
    throttled_by: Counter[str] = field(default_factory=Counter)  # of which by limit: budget, app, user
    held_up: float = 0.0  # seconds the runs were held by 429s (the pacer's holds, overlaps once)
    stopped: int = 0  # runs that stopped cleanly (throttling outlasted --max-wait)
    not_attempted: int = 0  # changes a stopped run reported not attempted (and did not write)
    retries: int = 0  # the session's retries
    waited: float = 0.0
    bulk_jobs: int = 0
    errors: list[str] = field(default_factory=list)  # runs that stopped with an error (after retries)
    seconds: float = 0.0
    requests: int = 0  # SharePoint and Graph requests the tenant received (emulator's count)

    need_429: bool = False  # the trial is about throttling: it must have met some
    need_stop: bool = False  # the trial is about --max-wait: some run must have stopped on it
    once_only: bool = False  # no fault can lose an answer: no per-user write may be made twice

    @property
    def held(self) -> bool:
        return (
            self.applies > 0
            and self.equal_to_plan == self.applies
            and not (self.lost or self.wrong or self.requeued or self.mismatches)
            and (self.throttled > 0 or not self.need_429)
            and (self.stopped > 0 or not self.need_stop)
            and (self.repeats == self.repeats_bulk or not self.once_only)
        )

    def merge(self, other: Tally) -> None:
        """Add ``other``'s counts (another apply of the same trial) to these."""
        merge_counts(self, other)

    def details(self) -> dict[str, object]:
        return {
            "applies": self.applies,
            "runs": self.runs,
            "planned_writes": self.planned,
            "final_state_equals_plan": self.equal_to_plan,
            "lost": self.lost,
            "wrong_writes": self.wrong,
            "repeats_of_idempotent_sets": self.repeats,
            "repeats_via_bulk": self.repeats_bulk,
            "bulk_queue_calls_repeated": self.requeued,
            "applies_rerun": self.reruns,
            "changes_reported_unknown": self.unknown_reported,
            "of_which_written": self.unknown_written,
            "changes_reported_failed_not_written": self.honest_failures,
            "report_mismatches": self.mismatches[:20],
            "faults_injected": dict(self.faults),
            "requests_received": self.requests,
            "throttled_429": self.throttled,
            "throttled_by": dict(self.throttled_by),
            "seconds_held_by_429s": round(self.held_up, 1),
            "runs_stopped_past_max_wait": self.stopped,
            "changes_reported_not_attempted": self.not_attempted,
            "session_retries": self.retries,
            "seconds_waited": round(self.waited, 1),
            "bulk_jobs": self.bulk_jobs,
            "runs_stopped_with_error": self.errors[:10],
            "seconds": round(self.seconds, 1),
        }


def merge_counts(into: Any, other: Any) -> None:
    """Add the counts of dataclass ``other`` to ``into`` (numbers summed, lists and Counters
    joined; flags, which say what a trial needs, left alone)."""
    for spec in dataclasses.fields(into):
        mine, theirs = getattr(into, spec.name), getattr(other, spec.name)
        if isinstance(mine, bool):
            continue
        if isinstance(mine, Counter):
            mine.update(theirs)
        elif isinstance(mine, list):
            mine.extend(theirs)
        else:
            setattr(into, spec.name, mine + theirs)


def statuses_of(result_profiles: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    return {(entry["account"].lower(), outcome["property"]): outcome for entry in result_profiles for outcome in entry["properties"]}


def read_results(path: Path) -> tuple[str, dict[Key, dict[str, Any]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return data["summary"], statuses_of(data["profiles"])


def judge_run(
    label: str,
    expected: dict[Key, Any],
    outcomes: dict[Key, dict[str, Any]],
    window: Sequence[Any],
    written_before: set[Key],
    tally: Tally,
) -> None:
    """One run's report against the writes made while it ran (``window``)."""
    written = {(w.account.lower(), w.property) for w in window}
    for key in sorted(set(expected) - set(outcomes)):
        tally.mismatches.append(f"{label}: {key[0]} {key[1]}: planned but not in the report")
    for key, outcome in sorted(outcomes.items()):
        status, error = outcome.get("status"), str(outcome.get("error", ""))
        if key not in expected:
            tally.mismatches.append(f"{label}: {key[0]} {key[1]}: reported but not planned")
        elif status == "applied" and key not in written:
            tally.mismatches.append(f"{label}: {key[0]} {key[1]}: reported applied, not written")
        elif status == "already-applied" and key in written:
            tally.mismatches.append(f"{label}: {key[0]} {key[1]}: reported already applied, but written by this run")
        elif status == "already-applied" and key not in written_before:
            tally.mismatches.append(f"{label}: {key[0]} {key[1]}: reported already applied, never written")
        elif status == "failed":
            unknown = any(marker in error.lower() for marker in UNKNOWN_MARKERS)
            if unknown:
                tally.unknown_reported += 1
                tally.unknown_written += key in written
            elif key in written:
                tally.mismatches.append(f"{label}: {key[0]} {key[1]}: reported failed ({error[:120]}), but written")
            else:
                tally.honest_failures += 1
        elif status == "not-attempted":
            if key in written:
                tally.mismatches.append(f"{label}: {key[0]} {key[1]}: reported not attempted ({error[:120]}), but written")
            else:
                tally.not_attempted += 1
        elif status not in ("applied", "already-applied", "failed"):
            tally.mismatches.append(f"{label}: {key[0]} {key[1]}: reported {status} ({error[:120]})")


def judge_counts(label: str, result: ApplyResult, summary: str, outcomes: dict[Key, dict[str, Any]], planned: int, tally: Tally) -> None:
    """The counts, the results file and the per-change outcomes tell one story."""
    counted = Counter(o.get("status") for o in outcomes.values())
    wanted = {"applied": result.applied, "already-applied": result.already, "stale": result.stale, "failed": result.failed, "missing": result.missing, "not-attempted": result.not_attempted}
    if any(counted.get(k, 0) != v for k, v in wanted.items()) or sum(counted.values()) != planned:
        tally.mismatches.append(f"{label}: counts {wanted} but outcomes {dict(counted)} for {planned} planned changes")
    if summary != result.summary():
        tally.mismatches.append(f"{label}: results file says {summary!r}, the run {result.summary()!r}")


def judge_journal(label: str, journal: Path, plan: Plan, ever_written: set[Key], tally: Tally) -> None:
    """Every journal line names a write the log holds (a re-run skips what it names)."""
    if not journal.exists():
        return
    key = f"{plan.spec_hash}:{plan.created_at}"
    for line in journal.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill; the applier skips it too
        if entry.get("plan") == key and (entry["account"].lower(), entry["property"]) not in ever_written:
            tally.mismatches.append(f"{label}: journal names {entry['account']} {entry['property']}, which was never written")


def judge_final(emu: Emulator, expected: dict[Key, Any], writes: Sequence[Any], tally: Tally) -> None:
    """The tenant now, and every write made since the plan, against the plan."""
    lost = 0
    for (account, name), value in expected.items():
        held = (emu.state.profile(emu.state.index_for_account(account)) or {}).get(name, [] if isinstance(value, list) else "")
        if held != value:
            lost += 1
    per_key: Counter[Key] = Counter()
    per_key_bulk: Counter[Key] = Counter()
    for write in writes:
        key = (write.account.lower(), write.property)
        if key not in expected or write.value != expected[key]:
            tally.wrong += 1
            continue
        per_key[key] += 1
        per_key_bulk[key] += write.via == "bulk"
    repeats = sum(n - 1 for n in per_key.values() if n > 1)
    tally.repeats += repeats
    tally.repeats_bulk += sum(n - 1 for k, n in per_key.items() if n > 1 and per_key_bulk[k])
    tally.lost += lost
    tally.equal_to_plan += lost == 0
    by_file = Counter(job.source_uri for job in getattr(emu.state.jobs, "queued", []))
    tally.requeued += sum(n - 1 for n in by_file.values() if n > 1)
    tally.bulk_jobs += len(getattr(emu.state.jobs, "queued", []))


def settle_down(emu: Emulator, late: LateWork, bulk: bool) -> None:
    """Wait until nothing started by the last run can still write: answers slower than the
    client's time-out do their work late (a job queued that way is created late), and queued
    bulk jobs run on their own."""
    late.wait()
    if bulk:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(job.done for job in list(getattr(emu.state.jobs, "queued", []))):
            time.sleep(0.05)


# --------------------------------------------------------------------------- one apply


def one_apply(
    workdir: Path,
    seed: int,
    weather: Weather,
    tally: Tally,
    *,
    profiles: int,
    bulk: str = "never",
    check_prior: str = "auto",
    max_runs: int = 6,
) -> None:
    """Plan ``profiles`` random profiles on a fresh tenant with ``weather``, apply until a run
    is clean (at most ``max_runs``), and judge every run and the end state by the write log.
    The applier's rounds are whatever `small_rounds` set around the trial."""
    rng = random.Random(seed)
    tag = f"s{seed}"
    emu, injected, late = start_emulator(workdir, seed, weather, FIRST_SYNTHETIC + max(3 * profiles, 100))
    folder = Path(tempfile.mkdtemp(prefix=f"apply-{seed}-", dir=workdir))
    try:
        plan = make_plan(emu, rng, profiles, tag, bulk_share=0.6 if bulk != "never" else 0.4)
        expected = expected_values(plan)
        path = folder / "plan.json"
        save_plan(plan, path)
        connection = folder / "connection.json"
        connection.write_text(json.dumps(emu.connection()), encoding="utf-8")
        journal, results = folder / "plan.json.journal", folder / "plan.json.results.json"
        tally.applies += 1
        tally.planned += plan.change_count
        start = len(emu.state.writes)
        storms: list[dict[str, Any]] = []  # the throttling stats of a storm that ended
        for run in range(1, max_runs + 1):
            label = f"seed {seed} run {run}"
            tally.runs += 1
            run_start = len(emu.state.writes)
            written_before = {(w.account.lower(), w.property) for w in emu.state.writes[start:run_start]}
            result: ApplyResult | None = None
            if weather.storm_runs is not None and run == weather.storm_runs + 1:
                storms.append(emu.throttle.stats())  # the storm is over: the realistic profile again
                emu.throttle = Throttle(dataclasses.replace(emu.config, **weather.calm))
            with open_session(None, connection, max_wait=weather.max_wait) as session:
                session.retry = RetryPolicy(timeout_seconds=weather.client_timeout, max_wait=weather.max_wait)
                importer = BulkImporter(session, sleep=lambda _seconds: time.sleep(0.05))
                try:
                    result = apply_plan(
                        load_plan(path),
                        session,
                        journal_path=journal,
                        results_path=results,
                        bulk=bulk,
                        check_prior=check_prior,
                        bulk_importer=importer,
                        progress=Progress("applying", total=plan.change_count, stream=io.StringIO()),
                    )
                except SpoError as error:  # the run gave up after the session's retries
                    tally.errors.append(f"{label}: {type(error).__name__}: {str(error)[:160]}")
                finally:
                    tally.retries += session.stats.retries
                    tally.waited += session.stats.waited_seconds
                    tally.held_up += session.pacer.throttle_waited
            settle_down(emu, late, bulk != "never")
            window = emu.state.writes[run_start:]
            ever = {(w.account.lower(), w.property) for w in emu.state.writes[start:]}
            judge_journal(label, journal, plan, ever, tally)
            if result is None:
                continue  # stopped with an error and no report: judged by the end state
            if result.stopped:
                tally.stopped += 1
                if weather.max_wait is None:
                    tally.mismatches.append(f"{label}: stopped with no --max-wait: {result.stopped[:160]}")
            summary, outcomes = read_results(results)
            if outcomes != statuses_of(result.profiles):
                tally.mismatches.append(f"{label}: the results file and the returned result differ")
            judge_counts(label, result, summary, outcomes, plan.change_count, tally)
            judge_run(label, expected, outcomes, window, written_before, tally)
            if result.ok:
                break
        if run > 1:
            tally.reruns += 1
        judge_final(emu, expected, emu.state.writes[start:], tally)
        for stats in [*storms, emu.throttle.stats()]:
            tally.throttled += int(stats["throttled"])
            tally.throttled_by.update({k: n for k, n in dict(stats["throttled_by"]).items() if n})
        dice = getattr(emu, "fault_dice", None)  # every request rolls, including those failed before dispatch
        tally.requests += dice.rolls if dice is not None else emu.requests_served
        for counter in injected:
            tally.faults.update(counter)
    finally:
        emu.stop()


# --------------------------------------------------------------------------- trials


def describe(tally: Tally, what: str) -> str:
    faults = sum(tally.faults.values())
    parts = [
        f"{tally.applies} applies ({tally.runs} runs), {tally.planned:,} writes planned: final state = plan in {tally.equal_to_plan}/{tally.applies}",
        f"{tally.lost} lost, {tally.wrong} wrong, {tally.requeued} bulk queue calls repeated",
        f"{tally.repeats} repeats of an idempotent set" + (f" ({tally.repeats_bulk} of bulk rows)" if tally.repeats_bulk else ""),
    ]
    if faults:
        kinds = ", ".join(f"{n} × {k}" for k, n in sorted(tally.faults.items(), key=lambda kv: (-kv[1], kv[0])))
        parts.append(f"{faults} {what} injected in {tally.requests:,} requests ({kinds}), {tally.retries} retries by the session")
    by = ", ".join(f"{n:,} {k}" for k, n in sorted(tally.throttled_by.items(), key=lambda kv: -kv[1]))
    parts.append(
        f"{tally.throttled:,} answers 429 (batch parts included{': ' + by if by else ''}), runs held {tally.held_up:.0f} s by Retry-After"
        + (f", {tally.waited:.0f} s of fault back-off (summed over threads)" if tally.waited >= 0.5 else "")
    )
    if tally.stopped:
        parts.append(f"{tally.stopped} runs stopped cleanly past --max-wait, reporting {tally.not_attempted:,} changes not attempted (none of them written)")
    if tally.bulk_jobs:
        parts.append(f"{tally.bulk_jobs} bulk jobs")
    if tally.reruns:
        parts.append(
            f"{tally.reruns} applies needed a re-run ({tally.unknown_reported} changes reported 'outcome unknown', of which {tally.unknown_written} had been written; {tally.honest_failures} reported failed and not written)"
        )
    if tally.errors:
        parts.append(f"{len(tally.errors)} runs stopped with an error and were run again")
    parts.append(f"reports agree with the write log: {'yes' if not tally.mismatches else f'no ({len(tally.mismatches)} mismatches)'}")
    return "; ".join(parts)


def climate(weathers: Sequence[Weather]) -> str:
    """The limits the applies ran under, in words (the realistic profile unless a storm's)."""
    said: list[str] = []
    for weather in weathers:
        limits = limits_text(weather.limits)
        if is_realistic(weather.limits):
            text = f"the realistic profile ({limits})"
        elif weather.storm_runs is not None:
            text = f"a storm for {weather.storm_runs} run{'s' if weather.storm_runs != 1 else ''} ({limits}), then the realistic profile ({limits_text(weather.calm)})"
        else:
            text = limits
        if weather.max_wait is not None:
            text += f", the client's --max-wait {weather.max_wait:g} s"
        if text not in said:
            said.append(text)
    return "; ".join(said)


def trial(name: str, what: str, tally: Tally, weathers: Sequence[Weather] = ()) -> Trial:
    text = describe(tally, what)
    if weathers:
        text = f"Under {climate(weathers)}: {text}"
    details = tally.details()
    details["limits"] = list({repr(sorted(w.limits.items())): dict(w.limits) for w in weathers}.values())
    return Trial(CATEGORY, name, tally.applies, tally.held, text, details)


Case = tuple[int, Weather, str, str]  # seed, weather, --bulk, --check-prior


# Applies of one trial run at once, each against its own tenant: most of an apply's time is
# spent waiting on throttling, not working.
PARALLEL = 4
Job = tuple[str, int, Weather, dict[str, Any]]  # label, seed, weather, one_apply's keywords


def _applies(workdir: Path, jobs: Sequence[Job], rounds_of: int) -> list[Tally]:
    """``one_apply`` for each job, PARALLEL at a time, each tallied on its own (in job order)."""

    def one(job: Job) -> Tally:
        label, seed, weather, options = job
        tally = Tally()
        try:
            one_apply(workdir, seed, weather, tally, **options)
        except Exception as error:  # a traceback is a failed trial, with its reason
            tally.mismatches.append(f"{label}: {type(error).__name__}: {error}")
        return tally

    with small_rounds(rounds_of), ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        return list(pool.map(one, jobs))


def _run_trial(workdir: Path, name: str, what: str, cases: Sequence[Case], *, profiles: int, rounds_of: int = 4, **needs: bool) -> Trial:
    tally = Tally(**needs)
    started = time.monotonic()
    jobs = [(f"seed {seed}", seed, weather, {"profiles": profiles, "bulk": bulk, "check_prior": check_prior}) for seed, weather, bulk, check_prior in cases]
    for each in _applies(workdir, jobs, rounds_of):
        tally.merge(each)
    tally.seconds = time.monotonic() - started
    return trial(name, what, tally, [case[1] for case in cases])


def _queue_trial(workdir: Path, per_kind: int, profiles: int, slow: dict[str, float], limits: Mapping[str, Any]) -> Trial:
    """The first QueueImportProfileProperties call of an apply with --bulk always gets one
    fault; each kind is tried ``per_kind`` times (check_prior auto, then always)."""
    tally = Tally()
    started = time.monotonic()
    jobs: list[Job] = []
    for number, kind in enumerate(QUEUE_FAULTS):
        for n in range(per_kind):
            seed = 700 + 10 * number + n
            weather = Weather(aim=("QueueImportProfileProperties", kind, 1), limits=limits, **slow)  # type: ignore[arg-type]
            jobs.append((f"{kind} seed {seed}", seed, weather, {"profiles": profiles, "bulk": "always", "check_prior": "auto" if n % 2 == 0 else "always"}))
    per: dict[str, dict[str, int]] = {}
    for job, each in zip(jobs, _applies(workdir, jobs, 4)):
        tally.merge(each)
        kind = str(job[2].aim[1]) if job[2].aim else "?"
        counts = per.setdefault(kind, {"applies": 0, "runs": 0, "bulk_jobs": 0, "repeats": 0, "reported_unknown": 0})
        for key, value in (("applies", 1), ("runs", each.runs), ("bulk_jobs", each.bulk_jobs), ("repeats", each.repeats), ("reported_unknown", each.unknown_reported)):
            counts[key] += value
    tally.seconds = time.monotonic() - started
    done = trial("the bulk queue call (not safe to repeat) answered by each fault: 500, 502, 503, 504, reset, slow, 502/504 after the work", "faults on the queue call", tally, [Weather(limits=limits)])
    done.details["per_kind"] = per
    done.result += "; per kind (runs / bulk jobs queued / repeats): " + ", ".join(f"{k} {v['runs']}/{v['bulk_jobs']}/{v['repeats']}" for k, v in per.items())
    return done


def _cases(first_seed: int, count: int, weather: Weather, modes: Sequence[tuple[str, str]], offset: int = 0) -> list[Case]:
    """``count`` seeds from ``first_seed``, taking the (bulk, check_prior) ``modes`` in turn."""
    return [(first_seed + n, weather, *modes[(n + offset) % len(modes)]) for n in range(count)]


SERVER_ERRORS = (500, 502, 503, 504)
QUEUE_FAULTS: tuple[int | str, ...] = (500, 502, 503, 504, "reset", "slow", "502 after", "504 after")
MIXED_MODES = (("never", "auto"), ("always", "auto"), ("never", "always"), ("always", "always"), ("never", "never"))
# A squall: a small silent budget whose Retry-After (4-6 s) outlasts its window (3 s): a
# client that came back early would find budget, one that obeys waits; the app's resource
# units are far off, so no RateLimit header warns the pacer.
SQUALL: dict[str, Any] = {**realistic(30), "retry_after": (400.0, 600.0)}
# A storm whose every 429 asks for longer (10-15 s) than the client's --max-wait (6 s) allows:
# the run stops cleanly at its first 429; the storm is over before the re-run.
PAST_THE_CAP: dict[str, Any] = {**realistic(40), "retry_after": (1000.0, 1500.0)}
MAX_WAIT = 6.0
# The full run's storm, on a clock 10 times faster than SharePoint's (a 30 s window,
# Retry-After 7-25 s): the app's resource units are nearly spent too (12 RU in a 6 s minute,
# about 5 calls; RateLimit headers from 80 %), so the pacer meets both kinds of 429.
STORM: dict[str, Any] = {**realistic(40, 10.0), "app_ru_per_minute": 12}


def run(quick: bool) -> list[Trial]:
    count = 2 if quick else 8  # applies per trial
    profiles = 30 if quick else 120
    # about half of one apply's calls (quick: some 150, full: some 450), so each apply spends it
    limits = realistic(60 if quick else 200)
    slow = {"slow_seconds": 1.2, "client_timeout": 0.6}
    trials = []
    with tempfile.TemporaryDirectory(prefix="maforge-faults-") as scratch:
        workdir = Path(scratch)
        ensure_certificates(workdir / "certs")  # once, before applies start tenants in parallel
        errors = Weather(0.1, SERVER_ERRORS, limits=limits)
        trials.append(_run_trial(workdir, "10 % of requests answer 500/502/503/504", "server errors", _cases(100, count, errors, MIXED_MODES), profiles=profiles))
        resets = Weather(0.1, ("reset",), limits=limits)
        trials.append(_run_trial(workdir, "connection reset mid-request (10 % of requests)", "resets", _cases(200, count, resets, MIXED_MODES, 1), profiles=profiles))
        late = Weather(0.1, ("slow",), limits=limits, **slow)
        trials.append(_run_trial(workdir, "answers slower than the client time-out (10 %; the work is still done)", "slow answers", _cases(300, count, late, MIXED_MODES, 2), profiles=profiles))
        lost = Weather(lost_answer_rate=0.1, limits=limits)
        trials.append(_run_trial(workdir, "gateway answers 502/504 after SharePoint did the work (10 %)", "lost answers", _cases(400, count, lost, MIXED_MODES, 3), profiles=profiles))
        trials.append(_queue_trial(workdir, 1 if quick else 3, 12 if quick else 60, slow, realistic(20 if quick else 60)))
        squall = Weather(limits=SQUALL)
        storm = _run_trial(
            workdir,
            "429 storms with long Retry-After, one outlasting the client's --max-wait (a clean stop, then a re-run after the storm)",
            "",
            _cases(500, 1 if quick else 3, squall, (("never", "always"), ("always", "auto"))),
            profiles=25 if quick else 60,
            rounds_of=100,
            need_429=True,
        )
        past_cap = Weather(limits=PAST_THE_CAP, max_wait=MAX_WAIT, storm_runs=1, calm=realistic(60 if quick else 120))
        outlasting = _run_trial(
            workdir,
            "",
            "",
            _cases(550, 2 if quick else 6, past_cap, (("never", "always"), ("always", "auto"), ("never", "never"))),
            profiles=40 if quick else 80,
            rounds_of=20,
            need_stop=True,
            once_only=True,
        )
        storm = merge(storm, outlasting, "; a storm outlasting --max-wait, each apply's run stopped cleanly at its first 429 and was run again once the storm was over: ", "outlasting_max_wait")
        if not quick:
            real = _run_trial(workdir, "", "", [(599, Weather(limits=STORM), "never", "always")], profiles=8, rounds_of=100, need_429=True)
            storm = merge(storm, real, "; a full-run storm that spends the app's resource units too: ", "storm")
        trials.append(storm)
        if not quick:
            # Answers lost (the work done) while a storm outlasts --max-wait: a $batch whose
            # answer was lost is sent again, and that retry is what the stop refuses.
            lossy = Weather(lost_answer_rate=0.15, limits=PAST_THE_CAP, max_wait=MAX_WAIT, storm_runs=1, calm=realistic(60))
            trials.append(
                _run_trial(
                    workdir,
                    "gateway answers 502/504 after SharePoint did the work (15 %) while a storm outlasts --max-wait (a clean stop, then a re-run)",
                    "lost answers",
                    _cases(650, 6, lossy, (("never", "never"), ("never", "auto"), ("always", "auto"))),
                    profiles=40,
                    rounds_of=5,
                    need_stop=True,
                )
            )
        everything = Weather(0.2, (*SERVER_ERRORS, "reset", "slow"), lost_answer_rate=0.05, limits=SQUALL, **slow)
        trials.append(
            _run_trial(
                workdir,
                "all of them at once: 20 % errors, resets and slow answers, 5 % lost answers, 429 squalls, bulk",
                "faults",
                _cases(600, count if quick else 6, everything, MIXED_MODES, 1),
                profiles=20 if quick else 40,
                rounds_of=3,
            )
        )
    return trials


def merge(first: Trial, second: Trial, joint: str, key: str) -> Trial:
    """One row for two sets of applies: ``second``'s details go under ``key``."""
    return Trial(first.category, first.name, first.tried + second.tried, first.held and second.held, first.result + joint + second.result, {**first.details, key: second.details})


__all__ = ["REALISTIC", "TIME_SCALE", "Tally", "Weather", "is_realistic", "limits_text", "realistic", "expected_values", "judge_counts", "judge_final", "judge_journal", "judge_run", "make_plan", "merge_counts", "read_results", "run", "statuses_of"]
