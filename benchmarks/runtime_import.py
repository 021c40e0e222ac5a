"""`maforge import` from the emulator (its own process, as `maforge emulator` runs): a full
import of a large unthrottled tenant (wall time and the importer's peak memory), and a cold
read of the bench tenant against the floor its PeopleManager budget allows."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .apply import BUDGET_PER_SECOND, emulator_stats, start_emulator

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


def run(quick: bool) -> list[dict[str, object]]:
    users = 3_000 if quick else 100_000
    with tempfile.TemporaryDirectory() as scratch:
        emulator, _connection = start_emulator(Path(scratch), users, throttle="none", latency_ms=0)
        try:
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
        },
        {
            "benchmark": f"maforge import: peak memory, {users:,} users",
            "median_s": round(peak_mb, 1),
            "target_s": MEMORY_TARGET_MB,
            "ratio_to_target": round(peak_mb / MEMORY_TARGET_MB, 2),
            "unit": "MB",
        },
    ]


def run_cold_read(quick: bool) -> list[dict[str, object]]:
    """A cold read against the bench tenant: every profile costs one budgeted call, so the
    floor is the calls made ÷ the budget; maforge must read at that pace without 429s."""
    users = 600 if quick else 20_000
    with tempfile.TemporaryDirectory() as scratch:
        emulator, connection = start_emulator(Path(scratch), users)
        try:
            time.sleep(1.1)  # an empty budget window
            before = emulator_stats(connection)
            measured = import_once(Path(scratch))
            after = emulator_stats(connection)
        finally:
            emulator.terminate()
            emulator.wait(timeout=30)
    calls = after["calls"] - before["calls"]
    floor = calls / BUDGET_PER_SECOND
    return [
        {
            "benchmark": f"cold read (maforge import, bench tenant): {users:,} users",
            "median_s": round(measured["seconds"], 2),
            "target_s": round(1.15 * floor, 2),
            "ratio_to_target": round(measured["seconds"] / (1.15 * floor), 2),
            "vs_floor": round(measured["seconds"] / floor, 2),
            "floor_s": round(floor, 2),
            "profiles": measured["profiles"],
            "calls": calls,
            "share_429": f"{100 * (after['throttled'] - before['throttled']) / max(calls, 1):.1f} %",
            "http_requests": measured["requests"],
        }
    ]
