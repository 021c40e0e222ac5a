"""The budget floor: the least time N calls can take under the emulator's limits.

Each call is sent as early as the limits allow, with no time to send or answer it (so the floor
is what the limits force, nothing else): the tenant's PeopleManager budget is a sliding window
(B calls per W seconds); the app's resource units are a window that starts with the first
request after the last one ended (L calls per minute, at the emulator's 2 RU per call), as
connectors/emulator/throttle.py counts them. Sending each call at its earliest moment is
optimal for such count limits (delaying a call never lets a later one go sooner), so the floor
is the time the last call goes out."""

from __future__ import annotations

from collections import deque

RU_PER_CALL = 2
PEOPLE_MANAGER_WINDOW = 300.0
APP_RU_WINDOW = 60.0


def budget_floor(calls: int, *, budget: int, app_ru_per_minute: int = 0, time_scale: float = 1.0) -> float:
    """Seconds from the first call to the last one, under the limits (0 = no limit)."""
    window = PEOPLE_MANAGER_WINDOW / time_scale
    ru_window = APP_RU_WINDOW / time_scale
    ru_calls = app_ru_per_minute // RU_PER_CALL if app_ru_per_minute else 0
    sent: deque[tuple[float, int]] = deque()  # (time, calls) in the budget's window
    in_window = 0
    ru_end, ru_used = -1.0, 0
    now, left, last = 0.0, calls, 0.0
    while left > 0:
        while sent and sent[0][0] + window <= now:
            in_window -= sent.popleft()[1]
        if ru_calls and now >= ru_end:
            ru_end, ru_used = now + ru_window, 0
        room = left
        if budget:
            room = min(room, budget - in_window)
        if ru_calls:
            room = min(room, ru_calls - ru_used)
        if room > 0:
            sent.append((now, room))
            in_window += room
            ru_used += room
            left -= room
            last = now
            continue
        # nothing fits: wait for the next moment something frees
        moments = []
        if budget and in_window >= budget:
            freed, need = 0, in_window - budget + 1
            for when, count in sent:
                freed += count
                if freed >= need:
                    moments.append(when + window)
                    break
        if ru_calls and ru_used >= ru_calls:
            moments.append(ru_end)
        now = max(now, min(moments)) if moments else now
    return last


def floor_row(benchmark: str, seconds: float, floor: float, factor: float, **notes: object) -> dict[str, object]:
    """A results row for a run held to ``factor`` times its budget floor."""
    floor = max(floor, 0.001)  # a quick run may fit the limits entirely
    return {
        "benchmark": benchmark,
        "median_s": round(seconds, 2),
        "target_s": round(factor * floor, 2),
        "ratio_to_target": round(seconds / (factor * floor), 2),
        "vs_floor": round(seconds / floor, 2),
        "floor_s": round(floor, 2),
        **notes,
    }


def share_429(throttled: int, calls: int) -> str:
    return f"{100 * throttled / max(calls, 1):.2f} %"
