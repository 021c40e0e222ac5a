"""Full `maforge import` of a large tenant from the emulator (its own process, as
`maforge emulator` runs): wall time and the importing process's peak memory."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

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


def run(quick: bool) -> list[dict[str, object]]:
    users = 10_000 if quick else 100_000
    with tempfile.TemporaryDirectory() as scratch:
        emulator = subprocess.Popen(
            [sys.executable, "-m", "maforge", "emulator", "--profiles", str(users), "--state-dir", scratch],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            line = json.loads(emulator.stdout.readline())
            connection = Path(scratch) / "connection.json"
            connection.write_text(json.dumps(line), encoding="utf-8")
            done = subprocess.run(
                [sys.executable, "-c", _IMPORTER, str(SAMPLE), str(connection), str(Path(scratch) / "state")],
                capture_output=True,
                text=True,
                check=True,
            )
            measured = json.loads(done.stdout.strip().splitlines()[-1])
            snapshot_mb = (Path(scratch) / "state" / "snapshot.jsonl").stat().st_size / 1e6
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
            "snapshot_mb": round(snapshot_mb, 1),
        },
        {
            "benchmark": f"maforge import: peak memory, {users:,} users",
            "median_s": round(peak_mb, 1),
            "target_s": MEMORY_TARGET_MB,
            "ratio_to_target": round(peak_mb / MEMORY_TARGET_MB, 2),
            "unit": "MB",
        },
    ]
