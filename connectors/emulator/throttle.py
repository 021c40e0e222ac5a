"""Throttling modelled on SharePoint Online's documented budgets.

SharePoint counts PeopleManager calls per tenant over a sliding window ("PeopleManagerAPIs":
3,000 to 15,000 per 5 minutes by licence count) and answers 429 with Retry-After in seconds
once the budget is spent; throttled calls still count. It adds RateLimit-Limit / -Remaining /
-Reset (IETF draft) best-effort from 80 % of a budget. Each request inside a `$batch` counts
on its own. spo-profiles-api.md §6.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .server import Request, Response


@dataclass(frozen=True, slots=True)
class ThrottleProfile:
    name: str
    limit: int  # calls per window; 0 = unlimited
    window_seconds: float
    headers_always: bool  # RateLimit-* on every counted response, not only near the limit
    retry_after_floor: int = 1  # seconds


PROFILES = {
    "none": ThrottleProfile("none", 0, 1.0, False),
    # The smallest tenant's PeopleManagerAPIs budget.
    "spo": ThrottleProfile("spo", 3000, 300.0, False),
    "realistic": ThrottleProfile("realistic", 3000, 300.0, False),  # interim: being rewritten
    # The benchmarks' profile: 200 PeopleManager calls per second per tenant, headers on.
    "bench": ThrottleProfile("bench", 200, 1.0, True),
    # Long Retry-After storms, for reliability tests.
    "storm": ThrottleProfile("storm", 20, 30.0, True, retry_after_floor=5),
}


def throttle_profile(name: str) -> ThrottleProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown throttle profile {name!r} (known: {', '.join(PROFILES)})") from None


class Throttle:
    """A sliding-window budget for the tenant's PeopleManager calls."""

    def __init__(self, profile: ThrottleProfile):
        self.profile = profile
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()
        self.throttled = 0  # how many responses were 429s (for benchmarks)
        self.counted = 0

    def _trim(self, now: float) -> None:
        horizon = now - self.profile.window_seconds
        while self._calls and self._calls[0] <= horizon:
            self._calls.popleft()

    def charge(self, calls: int = 1) -> float | None:
        """Count ``calls``; the seconds to wait when the budget is spent, else None."""
        profile = self.profile
        if profile.limit <= 0 or calls <= 0:
            with self._lock:
                self.counted += calls
            return None
        now = time.monotonic()
        with self._lock:
            self._trim(now)
            over = len(self._calls) + calls > profile.limit
            self._calls.extend([now] * calls)  # throttled calls still count
            self.counted += calls
            if not over:
                return None
            self.throttled += 1
            excess = len(self._calls) - profile.limit
            release = self._calls[min(excess, len(self._calls) - 1)] + profile.window_seconds
            return max(release - now, 0.0)

    def check(self, request: Request, counts: bool) -> Response | None:
        if not counts:
            return None
        wait = self.charge(1)
        if wait is None:
            return None
        from .server import Response

        retry_after = max(self.profile.retry_after_floor, math.ceil(wait))
        return Response.json(
            429,
            {"error": {"code": "-2147024860, Microsoft.SharePoint.SPQueryThrottledException", "message": {"lang": "en-US", "value": "The request has been throttled."}}},
            headers={
                "Retry-After": str(retry_after),
                "RateLimit-Limit": str(self.profile.limit),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(retry_after),
            },
        )

    def decorate(self, response: Response) -> None:
        """RateLimit headers on a served response (always in `headers_always` profiles,
        otherwise from 80 % of the budget, as SharePoint does)."""
        profile = self.profile
        if profile.limit <= 0 or response.status == 429:
            return
        now = time.monotonic()
        with self._lock:
            self._trim(now)
            used = len(self._calls)
            reset = math.ceil(self._calls[0] + profile.window_seconds - now) if self._calls else 0
        if profile.headers_always or used >= 0.8 * profile.limit:
            response.headers["RateLimit-Limit"] = str(profile.limit)
            response.headers["RateLimit-Remaining"] = str(max(profile.limit - used, 0))
            response.headers["RateLimit-Reset"] = str(max(reset, 0))
