"""`maforge import` from the emulator (its own process, as `maforge emulator` runs): a full
import of a large unthrottled tenant (wall time and the importer's peak memory); a cold read
under the realistic, silent PeopleManager budget with the budget unknown to maforge and given
to it, against the floor the budget allows (benchmarks/floors.py); and a full import of a large
tenant under the emulator's default limits, which must live through its throttling to the end."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .apply import BUDGET_BOUND, DEFAULTS, GIVEN_TARGET, SHARE_429_TARGET, UNKNOWN_TARGET, describe, emulator_stats, give_budget, limit_options, start_emulator
from .floors import budget_floor, floor_row, share_429

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "spo-user-profiles.yaml"
TIME_PER_PROFILE_TARGET_S = 0.001  # 100,000 profiles in 100 s
MEMORY_TARGET_MB = 1024

# Runs in a child process so its peak memory is its own, not the benchmark driver's.
_IMPORTER = """
import json, resource, sys, time
from pathlib import Path
from maforge.compiler.validate import load_spec
from maforge.connectors.sync.commands import open_session, run_import
from maforge.connectors.sync.progress import Progress
from maforge.connectors.sync.rulebook import RuleBook
import io
book = RuleBook.from_spec(load_spec(Path(sys.argv[1]))[0])
started = time.perf_counter()
with open_session(book, Path(sys.argv[2])) as session:
    snapshot = run_import(book, session, Path(sys.argv[3]), progress=Progress("import", stream=io.StringIO()))
    stats = session.stats
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed, "profiles": len(snapshot.profiles), "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "cpu_s": resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(resource.RUSAGE_SELF).ru_stime, "requests": stats.http_requests}))
"""


def import_once(folder: Path) -> dict:
    """`maforge import` of the sample spec from the emulator whose connection is in ``folder``,
    in a child process: its wall time, peak memory, CPU time and requests."""
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTER, str(SAMPLE), str(folder / "connection.json"), str(folder / "state")],
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    measured["snapshot_mb"] = (folder / "state" / "snapshot.jsonl").stat().st_size / 1e6
    return measured


STATED_FOR_SPEED = 1_000_000


def run(quick: bool) -> list[dict[str, object]]:
    users = 3_000 if quick else 100_000
    with tempfile.TemporaryDirectory() as scratch:
        emulator, _connection = start_emulator(Path(scratch), users, ["--throttle", "none"], latency_ms=0)
        try:
            # The importer's own speed: no limits, and a budget stated far above the run, so
            # the pacer never probes (probing an unknown budget has its rows: cold read,
            # import under the default limits).
            give_budget(Path(scratch), STATED_FOR_SPEED)
            measured = import_once(Path(scratch))
        finally:
            emulator.terminate()
            emulator.wait(timeout=30)
    seconds = measured["seconds"]
    target = TIME_PER_PROFILE_TARGET_S * users
    peak_mb = measured["peak_kb"] / 1024
    return [
        {
            "benchmark": f"maforge import: full, {users:,} users from the emulator",
            "median_s": round(seconds, 2),
            "target_s": target,
            "ratio_to_target": round(seconds / target, 2),
            "profiles": measured["profiles"],
            "profiles_per_s": round(measured["profiles"] / seconds),
            "http_requests": measured["requests"],
            # CPU the importer used: far below the wall time means the emulator is the bound.
            "importer_cpu_s": round(measured["cpu_s"], 1),
            "snapshot_mb": round(measured["snapshot_mb"], 1),
            "budget": f"stated, {STATED_FOR_SPEED:,} calls/5 min (no limits in the emulator)",
        },
        {
            "benchmark": f"maforge import: peak memory, {users:,} users",
            "median_s": round(peak_mb, 1),
            "target_s": MEMORY_TARGET_MB,
            "ratio_to_target": round(peak_mb / MEMORY_TARGET_MB, 2),
            "unit": "MB",
        },
    ]


def _throttled_import(users: int, limits: dict, time_scale: float, given: bool) -> tuple[dict, int, int]:
    """A full import against a fresh emulator with these limits: what import_once measures,
    the budgeted calls the emulator counted and how many it answered 429."""
    with tempfile.TemporaryDirectory() as scratch:
        emulator, connection = start_emulator(Path(scratch), users, limit_options(limits, time_scale))
        try:
            if given:
                give_budget(Path(scratch), limits["budget"])
            before = emulator_stats(connection)
            measured = import_once(Path(scratch))
            after = emulator_stats(connection)
        finally:
            emulator.terminate()
            emulator.wait(timeout=30)
    return measured, after["calls"] - before["calls"], after["throttled"] - before["throttled"]


def run_cold_read(quick: bool) -> list[dict[str, object]]:
    """A cold read (a first full import) under the silent budget: every profile costs one
    budgeted call, maforge must read at the pace the budget allows, learning it when it is not
    given (at most 1.25x the floor, at most 1 % of calls answered 429) and keeping to it when it
    is (at most 1.1x, no 429)."""
    users = 600 if quick else 20_000
    scale = 300.0 if quick else 20.0
    limits = {"budget": 250, "app_ru_per_minute": 6000} if quick else BUDGET_BOUND
    rows = []
    for given, target in ((False, UNKNOWN_TARGET), (True, GIVEN_TARGET)):
        measured, calls, throttled = _throttled_import(users, limits, scale, given)
        floor = budget_floor(measured["profiles"], budget=limits["budget"], app_ru_per_minute=limits["app_ru_per_minute"], time_scale=scale)
        share = throttled / max(calls, 1)
        rows.append(
            floor_row(
                f"cold read (maforge import), budget {'given' if given else 'unknown'}: {users:,} users",
                measured["seconds"],
                floor,
                target,
                profiles=measured["profiles"],
                calls=calls,
                answered_429=throttled,
                share_429=share_429(throttled, calls),
                share_429_met=(throttled == 0) if given else share <= SHARE_429_TARGET,
                http_requests=measured["requests"],
                limits=describe(limits, scale),
            )
        )
    return rows


def run_throttled_import(quick: bool) -> list[dict[str, object]]:
    """A full import of a large tenant under the emulator's defaults (the 3,000-call budget,
    1,200 RU per minute, Retry-After 70 to 250 s), time-scaled: it must reach the end, at a pace
    near what the limits allow (target 1.25x the floor)."""
    users = 3_000 if quick else 100_000
    # 25: a budget minute of 2.4 s. The floor assumes SharePoint answers in no time; the
    # emulator needs a share of a scaled minute to serve the 600 calls it allows, and that
    # share grows with the scale (20,000 users: 1.14x the floor at 25, 1.27x at 50; at 100
    # the serving took half the minute), so a faster clock measures the emulator, not maforge.
    scale = 600.0 if quick else 25.0
    measured, calls, throttled = _throttled_import(users, DEFAULTS, scale, False)
    floor = budget_floor(measured["profiles"], budget=DEFAULTS["budget"], app_ru_per_minute=DEFAULTS["app_ru_per_minute"], time_scale=scale)
    return [
        floor_row(
            f"maforge import under the default limits: {users:,} users",
            measured["seconds"],
            floor,
            UNKNOWN_TARGET,
            profiles=measured["profiles"],
            calls=calls,
            answered_429=throttled,
            limits=describe(DEFAULTS, scale),
        )
    ]
