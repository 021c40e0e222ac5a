"""Throttling as SharePoint Online documents and users report it (docs/emulator.md, "Throttling").

Three limits, each counted on its own; a request over any of them is answered 429, and
throttled requests still count ("throttled requests count towards usage limits", the
SharePoint throttling page in sp-dev-docs):

- **The tenant's PeopleManager budget**: 3,000 to 15,000 PeopleManager calls per 5 minutes by
  licence count, tenant-wide; each request inside a `$batch` counts on its own. SharePoint says
  nothing about how much is left: no RateLimit header is sent for it. A 429 carries only a
  Retry-After, and the values reported for user-profile throttling are 70 to 250 seconds
  (a Microsoft reply in sp-dev-docs issue 10076) or about 120 s (onedrive-api-docs issue 797).
  The emulator draws each Retry-After from that range, whether or not the budget frees sooner,
  and keeps a sliding window (harsher than fixed windows, which let a client spend twice the
  budget across a boundary): a client that retries while the window is still full is refused
  again, and that refusal counts too.
- **The app's resource units per minute** (app-only tokens): 1,200 RU per minute for the
  smallest tenants (the throttling page's table; older versions of it say 1,250). REST and CSOM
  have no fixed cost; about 2 RU per request is the page's rough guide, and `$batch` parts
  count one by one. This is the only limit SharePoint announces: from 80 % use it adds
  RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (IETF draft-03, in resource units,
  seconds to the reset), and only for application permissions (the devblog "Prevent throttling
  in your application by using RateLimit headers in SharePoint Online"). Its 429 says
  Retry-After equal to the reset, as the page's example does.
- **The user's requests** (delegated tokens): 3,000 requests per 5 minutes per user; silent,
  like the budget.

`time_scale` F divides every window and every Retry-After by F, so tests and benchmarks run
the real five-minute windows and two-minute waits in seconds. Retry-After stays a whole number
of seconds (at least 1): RFC 9110 defines it as delay-seconds and independent clients parse it
as an integer (office365-rest-python-client's `response_retry_after` uses `int()`).
RateLimit-Reset, which only maforge reads, is rounded to whole seconds of the unscaled clock.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .server import EmulatorConfig, Request, Response

PEOPLE_MANAGER_WINDOW = 300.0  # seconds: "per 5 minutes"
APP_RU_WINDOW = 60.0  # seconds: "per minute"
USER_WINDOW = 300.0
RU_PER_REQUEST = 2  # the throttling page's rough guide for REST and CSOM
HEADER_FROM = 0.8  # RateLimit headers from 80 % of the app's resource units
THROTTLED_CODE = "-2147024860, Microsoft.SharePoint.SPQueryThrottledException"
THROTTLED_TEXT = "The request has been throttled."


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits in force, already divided by the time scale."""

    budget: int  # PeopleManager calls per window; 0 = none
    budget_window: float
    retry_after: tuple[float, float]  # seconds a budget (or user) 429 asks for
    app_ru: int  # resource units per app per window; 0 = none
    app_window: float
    user_requests: int  # requests per user per window; 0 = none
    user_window: float
    scale: float = 1.0

    @classmethod
    def from_config(cls, config: EmulatorConfig) -> Limits:
        scale = max(float(config.time_scale), 1e-9)
        off = config.throttle == "none"
        if config.throttle not in ("none", "realistic"):
            raise ValueError(f"unknown throttle setting {config.throttle!r} (known: realistic, none)")
        low, high = config.retry_after
        return cls(
            budget=0 if off else int(config.budget),
            budget_window=PEOPLE_MANAGER_WINDOW / scale,
            retry_after=(low / scale, high / scale),
            app_ru=0 if off else int(config.app_ru_per_minute),
            app_window=APP_RU_WINDOW / scale,
            user_requests=0 if off else int(config.user_requests_per_5_minutes),
            user_window=USER_WINDOW / scale,
            scale=scale,
        )


class SlidingCount:
    """How many units arrived in the last ``window`` seconds (silent limits)."""

    def __init__(self, limit: int, window: float):
        self.limit = limit
        self.window = window
        self._entries: deque[tuple[float, int]] = deque()
        self._total = 0

    def charge(self, units: int, now: float) -> bool:
        """Count ``units`` at ``now``; True when that goes over the limit."""
        horizon = now - self.window
        entries = self._entries
        while entries and entries[0][0] <= horizon:
            self._total -= entries.popleft()[1]
        entries.append((now, units))
        self._total += units
        return self._total > self.limit


class FixedWindow:
    """Resource units in a window that starts with the first request after the last one
    ended: RateLimit-Reset is then the time to the window's end, as draft-03 defines it."""

    def __init__(self, limit: int, window: float):
        self.limit = limit
        self.window = window
        self.started = -math.inf
        self.used = 0

    def charge(self, units: int, now: float) -> bool:
        if now >= self.started + self.window:
            self.started, self.used = now, 0
        self.used += units
        return self.used > self.limit

    def reset_in(self, now: float) -> float:
        return max(self.started + self.window - now, 0.0)


@dataclass(slots=True)
class Verdict:
    """What one request (or one `$batch` part) gets: None for go, else why it is refused."""

    limit: str  # "budget" | "app" | "user"
    retry_after: int


class Throttle:
    """The tenant's throttling state; shared by every request thread."""

    def __init__(self, config: EmulatorConfig):
        self.limits = Limits.from_config(config)
        self._lock = threading.Lock()
        self._budget = SlidingCount(self.limits.budget, self.limits.budget_window)
        self._apps: dict[str, FixedWindow] = {}
        self._users: dict[str, SlidingCount] = {}
        self._random = random.Random(config.fault_seed if config.fault_seed is not None else 1729)
        self.counted = 0  # PeopleManager calls counted against the budget
        self.throttled = 0  # requests and `$batch` parts answered 429, whatever the limit
        self.throttled_by = {"budget": 0, "app": 0, "user": 0}

    # ------------------------------------------------------------------ the decision

    def admit(self, claims: dict | None, people_manager: bool, now: float | None = None) -> Verdict | None:
        """Count one request (or one `$batch` part) of the caller in ``claims``; None when it
        may run, else the limit it broke and the Retry-After to send. Every limit counts the
        request, refused or not."""
        limits = self.limits
        now = time.monotonic() if now is None else now
        app, user = _caller(claims)
        verdicts: list[Verdict] = []
        with self._lock:
            if people_manager:
                self.counted += 1
                if limits.budget and self._budget.charge(1, now):
                    verdicts.append(Verdict("budget", self._drawn()))
            if app is not None and limits.app_ru:
                window = self._apps.setdefault(app, FixedWindow(limits.app_ru, limits.app_window))
                if window.charge(RU_PER_REQUEST, now):
                    verdicts.append(Verdict("app", max(1, math.ceil(window.reset_in(now)))))
            if user is not None and limits.user_requests:
                counter = self._users.setdefault(user, SlidingCount(limits.user_requests, limits.user_window))
                if counter.charge(1, now):
                    verdicts.append(Verdict("user", self._drawn()))
            if not verdicts:
                return None
            verdict = max(verdicts, key=lambda v: v.retry_after)  # wait for the slowest limit
            self.throttled += 1
            self.throttled_by[verdict.limit] += 1
            return verdict

    def _drawn(self) -> int:
        low, high = self.limits.retry_after
        return max(1, math.ceil(self._random.uniform(low, high)))

    # ------------------------------------------------------------------ the answers

    def refusal(self, verdict: Verdict, claims: dict | None, verbose: bool = False) -> Response:
        """The 429 for ``verdict``: SharePoint's throttling error with Retry-After (and the
        RateLimit headers when it is the app's resource-unit limit)."""
        from .server import Response

        key = "error" if verbose else "odata.error"
        response = Response.json(429, {key: {"code": THROTTLED_CODE, "message": {"lang": "en-US", "value": THROTTLED_TEXT}}})
        response.headers["Retry-After"] = str(verdict.retry_after)
        self.decorate(response, claims)
        return response

    def decorate(self, response: Response, claims: dict | None, now: float | None = None) -> None:
        """RateLimit headers for an app-only caller from 80 % of its resource units (never for
        the PeopleManager budget, never for delegated callers)."""
        app, _user = _caller(claims)
        if app is None or not self.limits.app_ru:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            window = self._apps.get(app)
            if window is None or now >= window.started + window.window or window.used < HEADER_FROM * window.limit:
                return
            response.headers["RateLimit-Limit"] = str(window.limit)
            response.headers["RateLimit-Remaining"] = str(max(window.limit - window.used, 0))
            response.headers["RateLimit-Reset"] = self._reset_text(window.reset_in(now))

    def _reset_text(self, seconds: float) -> str:
        """RateLimit-Reset in whole seconds of the unscaled clock: whole seconds at scale 1;
        under --time-scale F, multiples of 1/F s, so that a scaled minute is rounded in the
        same proportion as a real one (whole seconds would add up to a sixth to a 6-second
        minute). Only maforge reads this header; Retry-After stays whole seconds."""
        scale = self.limits.scale
        value = max(1.0, math.ceil(seconds * scale)) / scale
        return str(int(value)) if value == int(value) else f"{value:.6g}"

    def stats(self) -> dict[str, object]:
        with self._lock:
            return {"calls": self.counted, "throttled": self.throttled, "throttled_by": dict(self.throttled_by)}

    # ------------------------------------------------------------------ the server's hook

    def check(self, request: Request, people_manager: bool) -> Response | None:
        """Admit a whole SharePoint request at the door; the 429 when it is refused."""
        verdict = self.admit(request.claims, people_manager)
        if verdict is None:
            return None
        accept = (request.headers.get("accept") or "").lower()
        return self.refusal(verdict, request.claims, verbose="odata=verbose" in accept)


def _caller(claims: dict | None) -> tuple[str | None, str | None]:
    """(app id for an app-only token, user for a delegated one): who a limit is counted for."""
    if not claims:
        return None, None
    user = claims.get("upn") or claims.get("unique_name") or claims.get("preferred_username")
    if user or "scp" in claims:
        return None, str(user or claims.get("oid") or "")
    return str(claims.get("appid") or claims.get("azp") or "app"), None
