"""`GET /_emulator/stats`: what the tenant has seen, for benchmarks and tests to read from
outside the emulator's process: PeopleManager calls counted against the budget (a `$batch`
counts each inner request), how many were answered 429, and how many property writes landed.
Emulator-only; no counterpart in SharePoint."""

from __future__ import annotations

from .server import Request, Response, route


@route("GET", r"/_emulator/stats", "emulator")
def stats(request: Request) -> Response:
    throttle = request.emulator.throttle
    return Response.json(200, {"calls": throttle.counted, "throttled": throttle.throttled, "writes": len(request.state.writes)})
