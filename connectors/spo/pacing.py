"""Pacing: how maforge stays inside SharePoint Online's limits instead of bouncing off 429s.

What SharePoint tells a client (docs/emulator.md, "Throttling", has the sources):

- **Nothing about the tenant's PeopleManager budget**: 3,000 to 15,000 calls per 5 minutes by
  licence count, shared by every client of the tenant, each `$batch` part counted. A client
  learns it was spent from a 429 whose Retry-After is long (70 to 250 s reported).
- **RateLimit-Limit / -Remaining / -Reset for the app's resource units per minute**, from about
  80 % use and only for app-only tokens, counted in resource units (about 2 per REST call).
- **Retry-After** on every 429.

So the pacer keeps two gates and one hold:

1. *The budget gate* (PeopleManager calls and `$batch` parts, a sliding window of the
   documented 5 minutes, divided by the connection's time scale). Its limit is, in order:
   a budget the user states (`sharepoint.budget`, or the connection file), kept exactly; the
   ceiling learnt at a 429 that came without RateLimit headers (the calls SharePoint had
   accepted in the window at that moment; a later 429 halves it at most); or the budget that goes with the app's resource-unit
   limit once the headers announce it, since both of Microsoft's tables are by licence count
   (1,200 RU/min goes with 3,000 calls/5 min, and so on; inferred). With none of these it
   *probes*: full speed up to the highest count in a window that SharePoint has answered
   without a 429 ("safe", at least START_SAFE), and above it at most PROBE_IN_FLIGHT calls in flight, so the first
   429 refuses a handful of calls, not eight batches of a hundred (throttled calls count
   against the budget too). A learnt ceiling grows by a quarter after three whole windows at
   the limit with no 429 (another client may have stopped; the band above is probed), twice
   as rarely after each probe up that met a 429, after one window when a 429 halved it
   while this client had spent little, and any silent 429 brings it down at once. Above
   the largest documented budget (15,000) answered without a 429 it does not probe at all.
2. *The resource-unit gate* (every SharePoint request of an app-only caller). Until the
   headers have told the limit, and once the last minute's calls come near 80 % of the
   smallest documented limit, at most RU_BLIND_IN_FLIGHT calls are in flight (20 % of that
   limit), so that the answer that first carries the headers cannot find more in flight than
   is left. Then each answer's RateLimit-Remaining is the
   truth, and the calls sent since count against it until RateLimit-Reset.
3. *The hold*: a 429 stops every thread for its Retry-After (the larger of Retry-After and
   RateLimit-Reset, as SharePoint asks). Holds are throttling; they have no total cap unless
   the user sets one (`--max-wait`), and each is reported ("SharePoint asked us to wait 118 s;
   resuming at 10:42"). Past the cap the pacer raises ThrottleWaitLimit in every thread, so a
   run stops cleanly and the next one resumes.

What was learnt is remembered per tenant in the state folder (BudgetStore): the next run
starts at the learnt ceiling and with its own recent calls still in the window.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from maforge.durations import format_duration

DOCUMENTED_WINDOW = 300.0  # seconds: "PeopleManagerAPIs ... per 5 minutes"
RU_PER_CALL = 2  # the throttling page's rough guide for a REST or CSOM request
SMALLEST_APP_RU = 1200  # resource units per minute for a 0-1k licence tenant
APP_RU_WINDOW = 60.0  # seconds: the app's resource units are counted per minute
RU_BLIND_IN_FLIGHT = int(0.2 * SMALLEST_APP_RU / RU_PER_CALL)  # 120 calls
# Below this many calls in the last minute, no app can be near 80 % of even the smallest
# limit (480 calls), so the blind cap is not needed yet.
RU_BLIND_FROM = int(0.8 * SMALLEST_APP_RU / RU_PER_CALL) - RU_BLIND_IN_FLIGHT  # 360 calls
PROBE_IN_FLIGHT = 24  # calls in flight above the known-safe count (1 % of 2,400)
# A tenant's budget is at least 3,000 calls per 5 minutes; assuming a tenth of it is free
# lets small runs go at full speed (inferred: other clients could in theory use it all).
START_SAFE = 300
MAX_BATCH = 100
# Per-app resource units per minute → PeopleManager calls per 5 minutes, both by licence count
# (0-1k, 1k-5k, 5k-15k, 15k-50k, 50k+). The RU column has been 1,250 ... 6,250 in older versions
# of the page, hence the upper bounds. Inferred, not documented as a pair.
TIERS = ((1250, 3000), (2500, 6000), (3750, 9000), (5000, 12000))
LARGEST_TIER = 15000
GROWTH = 1.25  # a learnt ceiling grows this much at a time
# Clean windows at the limit before a learnt ceiling is probed upwards. A probe that meets a
# 429 costs a Retry-After hold (70 to 250 s, about half a window) and some refused calls, so
# a ceiling learnt at our own full use is probed rarely (and twice as rarely after each
# failed probe); one halved by a 429 while we had spent little (another client's burst,
# likely over soon) is probed again after one window.
GROW_AFTER_WINDOWS = 3
GROW_AFTER_BURST = 1
SLACK = 0.005  # seconds added to windows for timer granularity
REPORT_AFTER = 5.0  # gate waits longer than this are reported, like holds


class ThrottleWaitLimit(Exception):
    """Throttling would make the run wait longer in total than the user allows (`--max-wait`)."""


def budget_for_app_limit(ru_per_minute: int) -> int:
    """The PeopleManager budget of the licence tier whose app limit is ``ru_per_minute``."""
    for upper, calls in TIERS:
        if ru_per_minute <= upper:
            return calls
    return LARGEST_TIER


@dataclass(slots=True)
class Ticket:
    """One request's calls, from sending to the answer (then counted from the answer: the
    server charged them somewhere in between, so the answer's time is the safe one)."""

    at: float
    calls: int
    budgeted: bool
    in_flight: bool = True
    ok: int = 0  # calls answered without a 429
    envelope: int = 0  # 1 for a `$batch`: its envelope is a request too, for the resource units


@dataclass(slots=True)
class BudgetMemory:
    """What a run leaves for the next one about a tenant's budget."""

    ceiling: int | None = None  # calls per window, learnt at a 429
    safe: int = 0  # the highest count in a window answered without a 429
    recent: list[tuple[float, int]] = field(default_factory=list)  # (wall-clock time, calls) in the last window

    def to_json(self) -> dict[str, Any]:
        return {"ceiling": self.ceiling, "safe": self.safe, "recent": [[round(t, 3), n] for t, n in self.recent]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BudgetMemory:
        ceiling = data.get("ceiling")
        return cls(
            int(ceiling) if isinstance(ceiling, (int, float)) and ceiling > 0 else None,
            int(data.get("safe") or 0),
            [(float(t), int(n)) for t, n in data.get("recent") or [] if isinstance(n, (int, float))],
        )


class BudgetStore:
    """`<state folder>/throttling/<tenant>.json`: the learnt budget of one tenant. A damaged
    file is ignored (the pacer learns again), never an error."""

    def __init__(self, folder: Path, tenant_key: str):
        safe_key = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in tenant_key) or "tenant"
        self.path = folder / "throttling" / f"{safe_key}.json"

    def load(self) -> BudgetMemory | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return BudgetMemory.from_json(data) if isinstance(data, dict) else None

    def save(self, memory: BudgetMemory) -> None:
        """Keep ``memory``; a run that learnt nothing and spent nothing (a plan refused before
        its first call, say) writes nothing."""
        from maforge.atomic import write_text_atomic

        if memory.ceiling is None and not memory.safe and not memory.recent:
            return

        payload = {"format": "maforge-budget", "version": 1, "updated": _now_iso(), "window_seconds": DOCUMENTED_WINDOW, **memory.to_json()}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_text_atomic(self.path, json.dumps(payload) + "\n", mode=0o600)
        except OSError:
            pass  # remembering is an optimisation; a read-only state folder must not fail a run


class Pacer:
    """The gates and the hold for one session (thread-safe)."""

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        stated: int | None = None,
        app_only: bool = True,
        memory: BudgetMemory | None = None,
        concurrency: int = 8,
        max_wait: float | None = None,
        report: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ):
        self.window = DOCUMENTED_WINDOW / max(time_scale, 1e-9)
        self.time_scale = max(time_scale, 1e-9)
        self.stated = stated
        self.app_only = app_only
        self.concurrency = max(1, concurrency)
        self.max_wait = max_wait
        self._report = report or (lambda message: None)
        self._sleep = sleep
        self._clock = clock
        self._wall = wall
        self._cond = threading.Condition()
        self.ceiling: int | None = None
        self.tier_budget: int | None = None
        self.safe = 0
        self._tickets: deque[Ticket] = deque()
        self._hold_until = 0.0
        self._stopped: str | None = None
        self.throttle_waited = 0.0  # seconds the run was held by 429s (overlaps counted once)
        self._started = self._grown_at = clock()
        self._last_silent_429 = -math.inf
        self._grow_after = GROW_AFTER_WINDOWS  # clean windows at the limit before the next probe up
        # the resource-unit gate
        self.ru_limit: int | None = None
        self._ru_end: float | None = None
        self._ru_base = 0.0  # calls SharePoint said were left at the last header
        self._ru_seen_remaining = math.inf  # that header's RateLimit-Remaining
        self._announced_until = 0.0  # the last gate wait reported ends then
        self._ru_committed = 0  # calls sent since that header (or in flight at it)
        if memory is not None:
            self._remember(memory)

    # ------------------------------------------------------------------ what is known

    @property
    def limit(self) -> int | None:
        """The budget gate's limit in calls per window, or None (probing)."""
        if self.stated is not None:
            return min(self.stated, self.ceiling) if self.ceiling is not None else self.stated
        if self.ceiling is not None:
            return self.ceiling
        return self.tier_budget

    def _in_flight_cap(self, now: float, count: int) -> int | None:
        """How many calls may be in flight at once, or None for no cap: limited while a limit
        is unknown and a 429 could be near, so that it refuses few calls."""
        caps = []
        if self.app_only and self.ru_limit is None:
            horizon = now - APP_RU_WINDOW / self.time_scale
            if sum(t.calls for t in self._tickets if t.in_flight or t.at > horizon) >= RU_BLIND_FROM:
                caps.append(RU_BLIND_IN_FLIGHT)
        if self.stated is None and count >= max(self.safe, START_SAFE) and self.safe <= LARGEST_TIER:
            # Above what SharePoint has answered without a 429 nothing is known for sure (a
            # tier's budget is only an upper bound: the tenant's budget is shared; a grown
            # ceiling is a guess): probe. Once a window has held more calls than the largest
            # documented budget without a 429, the PeopleManager limit does not bind here.
            caps.append(PROBE_IN_FLIGHT)
        return min(caps) if caps else None

    def batch_size(self) -> int:
        """The most parts one `$batch` may carry now (before the room in the windows is
        counted): no more than may be in flight at once; `acquire(shrink=True)` grants at
        most this."""
        with self._cond:
            now = self._clock()
            cap = self._in_flight_cap(now, self._count(now))
        return MAX_BATCH if cap is None else max(1, min(MAX_BATCH, cap))

    # ------------------------------------------------------------------ before a request

    def acquire(self, calls: int, budgeted: bool, *, shrink: bool = False, envelope: bool = False) -> Ticket:
        """Block until ``calls`` more may be sent; the ticket to hand back with the answer.
        With ``shrink`` (a `$batch` whose parts can be sent in several requests) the ticket
        may be for fewer calls, as many as fit now: its ``calls`` says how many to send.
        ``envelope``: the request is a `$batch`, whose envelope costs resource units too (as
        the emulator counts it; SharePoint documents no cost for REST, so the harsher guess)."""
        extra = 1 if envelope else 0
        reported = False
        while True:
            with self._cond:
                if self._stopped:
                    raise ThrottleWaitLimit(self._stopped)
                now = self._clock()
                granted = self._fit(now, calls, budgeted, extra) if shrink else calls
                if self._hold_until > now:
                    pause, certain = self._hold_until - now, True
                else:
                    pause, certain = self._gate(now, granted, budgeted, extra)
                if pause <= 0:
                    ticket = Ticket(now, granted, budgeted, envelope=extra)
                    self._tickets.append(ticket)
                    self._ru_committed += granted + extra
                    return ticket
                if not certain:
                    # waiting for requests in flight: they may come back any moment
                    self._cond.wait(timeout=min(pause, 0.25))
                    continue
                announce = pause >= REPORT_AFTER and not reported and self._hold_until <= now and now + pause > self._announced_until + 1.0
                if announce:
                    reported = True
                    self._announced_until = now + pause  # one line per wait, not one per thread
            if announce:
                self._report(f"keeping to the tenant's budget ({self.limit} calls per {format_duration(self.window)}): waiting {format_duration(pause)}; resuming at {self._resume_at(pause)}")
            self._sleep(pause)

    def _fit(self, now: float, calls: int, budgeted: bool, extra: int = 0) -> int:
        """How many of ``calls`` to send in one request now (at least one): no more than the
        calls allowed in flight, and no more than the room left in the budget's window and the
        resource units' minute, so a batch fills what is free instead of waiting for room for
        all of it."""
        count = self._count(now)
        granted = calls
        cap = self._in_flight_cap(now, count)
        if cap is not None:
            # one request may carry the whole cap: as many calls per round trip as eight
            # small ones, with one envelope instead of eight
            granted = min(granted, max(1, cap))
        limit = self.limit
        if budgeted and limit is not None and limit - count >= 1:
            granted = min(granted, limit - count)
        if self.ru_limit is not None and (self._ru_end is None or now < self._ru_end):
            room = int(self._ru_base - self._ru_committed) - extra
            if room >= 1:
                granted = min(granted, room)
        return max(1, granted)

    def _count(self, now: float) -> int:
        """Budgeted calls in the window (in flight ones as if charged now); prunes old tickets."""
        horizon = now - self.window - SLACK
        tickets = self._tickets
        while tickets and not tickets[0].in_flight and tickets[0].at <= horizon:
            tickets.popleft()
        return sum(t.calls for t in tickets if t.budgeted and (t.in_flight or t.at > horizon))

    def _gate(self, now: float, calls: int, budgeted: bool, extra: int = 0) -> tuple[float, bool]:
        """(seconds to wait, whether that time is known) for ``calls`` more now (``extra``:
        resource units of a `$batch` envelope, in calls)."""
        count = self._count(now)
        in_flight = sum(t.calls for t in self._tickets if t.in_flight)
        in_flight_ru = in_flight + sum(t.envelope for t in self._tickets if t.in_flight)
        cap = self._in_flight_cap(now, count) if budgeted or self.app_only else None
        if cap is not None and in_flight and in_flight + calls > cap:
            return 0.25, False
        limit = self.limit
        if budgeted and limit is not None and count + calls > limit:
            self._grow(now, count)
            limit = self.limit
        if budgeted and limit is not None and count + calls > limit:
            used, start, certain = count, now, True
            for ticket in sorted((t for t in self._tickets if t.budgeted), key=lambda t: t.at):
                if used + min(calls, limit) <= limit:
                    break
                if ticket.in_flight:
                    certain = False
                    start = max(start, now + 0.05)
                else:
                    start = max(start, ticket.at + self.window + SLACK)
                used -= ticket.calls
            if start > now:
                return start - now, certain
        if self.ru_limit is not None:
            if self._ru_end is not None and now >= self._ru_end:
                # A new minute: the full limit again, until SharePoint's headers (from 80 %)
                # say otherwise. Its window starts with its first request after the last one
                # ended, so this is an estimate the next headers correct.
                self._ru_end = now + APP_RU_WINDOW / self.time_scale + SLACK
                self._ru_base = self.ru_limit / RU_PER_CALL
                self._ru_committed = in_flight_ru
                self._ru_seen_remaining = math.inf
            # a request bigger than a whole minute's units can only go into an empty minute
            need = min(calls + extra, self.ru_limit / RU_PER_CALL)
            if self._ru_committed + need > self._ru_base and self._ru_end is not None:
                return self._ru_end - now + SLACK, True
        return 0.0, True

    def _grow(self, now: float, count: int) -> None:
        """A learnt ceiling grows (another client may have stopped) after some windows at the
        limit without a silent 429: 3 at first, twice as many after each probe up that met a
        429, so a budget that really is spent costs one probe's refusals now and then."""
        if self.ceiling is None or now - max(self._grown_at, self._last_silent_429) < self._grow_after * self.window:
            return
        cap = self.stated or self.tier_budget
        grown = int(self.ceiling * GROWTH) + 1
        self.ceiling = min(grown, cap) if cap else grown
        self._grown_at = now

    # ------------------------------------------------------------------ after the answer

    def answered(self, ticket: Ticket, status: int, headers: Mapping[str, str], retry_after: float | None) -> None:
        """A request came back: count its calls from now, read what SharePoint said."""
        with self._cond:
            now = self._clock()
            sent = ticket.at
            ticket.in_flight = False
            ticket.at = max(ticket.at, now)
            ticket.ok = ticket.calls if status not in (429, 503) else 0
            announced = self._read_headers(headers, now, sent_after=sent)
            if status == 429:
                self._throttled(now, ticket.calls, retry_after, announced)
            elif status == 503 and retry_after is not None:
                ticket.ok = 0
                self._hold(now, retry_after)  # "server busy": wait, but it says nothing of the budget
            elif ticket.budgeted:
                self.safe = max(self.safe, self._ok_in_window(now))
            self._cond.notify_all()

    def parts_throttled(self, ticket: Ticket, parts: int, retry_after: float | None, headers: Mapping[str, str]) -> None:
        """``parts`` of a `$batch` were answered 429 (the envelope said 200)."""
        with self._cond:
            now = self._clock()
            ticket.ok = max(ticket.ok - parts, 0)
            announced = self._read_headers(headers, now, sent_after=now)
            self._throttled(now, parts, retry_after, announced)
            self._cond.notify_all()

    def _read_headers(self, headers: Mapping[str, str], now: float, sent_after: float) -> bool:
        """Take the app's resource-unit state from RateLimit headers; True when present. The
        answer was written after SharePoint had counted the requests sent before it (they
        reached it first): only requests in flight sent later (``sent_after``) are not in
        its Remaining yet."""
        try:
            limit = int(headers["RateLimit-Limit"])
            remaining = float(headers["RateLimit-Remaining"])
            reset = float(headers["RateLimit-Reset"])
        except (KeyError, TypeError, ValueError):
            return False
        if limit <= 0:
            return False
        self.ru_limit = limit
        self.tier_budget = budget_for_app_limit(limit)
        end = now + reset + SLACK
        same_window = self._ru_end is not None and abs(end - self._ru_end) < 1.0 + 2 * SLACK
        if same_window and remaining > self._ru_seen_remaining:
            return True  # an answer written before the last one we read: older news
        self._ru_seen_remaining = remaining
        self._ru_end = max(end, self._ru_end) if same_window and self._ru_end is not None else end  # the later: rounding
        self._ru_base = max(remaining, 0.0) / RU_PER_CALL
        # calls still in flight may not have been charged when this answer was written
        self._ru_committed = sum(t.calls + t.envelope for t in self._tickets if t.in_flight and t.at > sent_after)
        return True

    def _ok_in_window(self, now: float) -> int:
        horizon = now - self.window
        return sum(t.ok for t in self._tickets if t.budgeted and not t.in_flight and t.at > horizon)

    def _throttled(self, now: float, calls: int, retry_after: float | None, announced: bool) -> None:
        wait = retry_after if retry_after is not None else 1.0
        if announced:
            self._ru_base = 0.0  # the minute is spent: nothing until RateLimit-Reset
            if self._ru_end is not None:
                wait = max(wait, self._ru_end - now)
        else:
            # A silent limit: the PeopleManager budget (or the user's). What SharePoint had
            # accepted in the window is what it allows, as far as this client can tell.
            accepted = max(self._ok_in_window(now), 1)
            if self.ceiling is None:
                self.ceiling = accepted
            else:
                if self._grown_at > self._last_silent_429 and self._grown_at > self._started:
                    self._grow_after *= 2  # the last probe up met a 429: try again later
                # Back off hard, but to no less than half: a 429 that comes when this client
                # has spent little (another client's burst, or a killed run of ours still in
                # the window) must not leave it crawling at a handful of calls.
                if accepted < self.ceiling // 2:
                    self._grow_after = GROW_AFTER_BURST
                self.ceiling = max(accepted, self.ceiling // 2)
            self.safe = min(self.safe, self.ceiling)  # above it, probe again
            self._last_silent_429 = now
        self._hold(now, wait)

    def _hold(self, now: float, seconds: float) -> None:
        """Every thread waits ``seconds`` (caller holds the lock)."""
        until = now + seconds
        if until <= self._hold_until:
            return
        extra = until - max(now, self._hold_until)
        if self.max_wait is not None and self.throttle_waited + extra > self.max_wait:
            self._stopped = (
                f"SharePoint asked us to wait {format_duration(seconds)} more, which would take the time spent waiting on throttling "
                f"past --max-wait {format_duration(self.max_wait)} ({format_duration(self.throttle_waited)} so far)"
            )
            self._cond.notify_all()
            raise ThrottleWaitLimit(self._stopped)
        self.throttle_waited += extra
        self._hold_until = until
        self._report(f"SharePoint asked us to wait {format_duration(seconds)}; resuming at {self._resume_at(seconds)}")

    def account_wait(self, seconds: float) -> None:
        """A throttling wait outside the gates (a Graph 429): counted against --max-wait and
        reported, but it holds no SharePoint traffic."""
        with self._cond:
            if self.max_wait is not None and self.throttle_waited + seconds > self.max_wait:
                self._stopped = f"Microsoft Graph asked us to wait {format_duration(seconds)}, past --max-wait {format_duration(self.max_wait)} ({format_duration(self.throttle_waited)} so far)"
                raise ThrottleWaitLimit(self._stopped)
            self.throttle_waited += seconds
        self._report(f"Microsoft Graph asked us to wait {format_duration(seconds)}; resuming at {self._resume_at(seconds)}")

    def _resume_at(self, seconds: float) -> str:
        return dt.datetime.fromtimestamp(self._wall() + seconds).strftime("%H:%M:%S")

    # ------------------------------------------------------------------ memory

    def memory(self) -> BudgetMemory:
        """What to remember for the next run: the learnt ceiling, the safe count, and this
        run's calls still inside the window (in wall-clock time)."""
        with self._cond:
            now, wall_now = self._clock(), self._wall()
            horizon = now - self.window
            recent = [(wall_now - (now - t.at), t.calls) for t in self._tickets if t.budgeted and (t.in_flight or t.at > horizon)]
            return BudgetMemory(self.ceiling, self.safe, recent)

    def _remember(self, memory: BudgetMemory) -> None:
        now, wall_now = self._clock(), self._wall()
        self.ceiling = memory.ceiling
        self.safe = memory.safe
        for at, calls in memory.recent:
            age = wall_now - at
            if 0 <= age < self.window:
                self._tickets.append(Ticket(now - age, calls, True, in_flight=False, ok=calls))


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def tenant_key(tenant: str, tenant_id: str | None, spo_url: str = "", time_scale: float = 1.0) -> str:
    """The name a tenant's learnt budget is kept under. A real tenant has one id and one
    host; the emulator gives every instance the same tenant id, so its port (and a clock
    that runs faster) are part of the key: a budget learnt from a 20-call emulator must not
    slow down the next emulator, nor a tenant the one learnt at another time scale."""
    key = f"{tenant}-{tenant_id}" if tenant_id else tenant
    port = urlsplit(spo_url).port if spo_url else None
    if port is not None and port != 443:
        key += f"-{port}"
    if time_scale != 1.0:
        key += f"-x{time_scale:g}"
    return key


__all__ = ["BudgetMemory", "BudgetStore", "Pacer", "ThrottleWaitLimit", "Ticket", "budget_for_app_limit", "tenant_key"]
