"""`GET /_emulator/stats`: what the tenant has seen, for benchmarks and tests to read from
outside the emulator's process: PeopleManager calls counted against the budget (a `$batch`
counts each inner request), how many were answered 429, how many property writes landed, every
SharePoint and Graph HTTP request served (whatever its answer), and each finished bulk job's
own duration from queueing to its end (deleted jobs included).
Emulator-only; no counterpart in SharePoint."""

from __future__ import annotations

from .server import Request, Response, route


@route("GET", r"/_emulator/stats", "emulator")
def stats(request: Request) -> Response:
    throttle = request.emulator.throttle.stats()
    jobs = [{"job_id": job_id, "seconds": round(seconds, 3)} for job_id, seconds in list(request.emulator.job_seconds.items())]
    return Response.json(
        200,
        {
            "calls": throttle["calls"],
            "throttled": throttle["throttled"],
            "throttled_by": throttle["throttled_by"],
            "writes": len(request.state.writes),
            "requests": request.emulator.requests_served,
            "bulk_jobs": jobs,
        },
    )
