"""Cold `maforge build`: a new process each time, as an admin or CI runs it."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .synthetic import write_large_spec

REPO = Path(__file__).resolve().parent.parent


def _cold_build(spec: Path, runs: int) -> list[float]:
    times = []
    with tempfile.TemporaryDirectory() as scratch:
        for run in range(runs):
            out = Path(scratch) / f"out{run}"
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-m", "maforge", "build", str(spec), "--out", str(out)], capture_output=True, text=True
            )
            times.append(time.perf_counter() - started)
            if result.returncode != 0:
                raise RuntimeError(f"build of {spec} failed: {result.stderr}")
    return times


def run(quick: bool) -> list[dict[str, object]]:
    runs = 3 if quick else 7
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        cases = [
            ("build: SPO sample (cold)", REPO / "samples" / "spo-user-profiles.yaml", 0.5),
            ("build: 20 types x 200 attributes, 500 flows (cold)", write_large_spec(Path(scratch)), 2.0),
        ]
        baseline = _cold_build_interpreter(runs)
        for name, spec, target in cases:
            times = _cold_build(spec, runs)
            median = statistics.median(times)
            rows.append(
                {
                    "benchmark": name,
                    "median_s": round(median, 3),
                    "min_s": round(min(times), 3),
                    "target_s": target,
                    "ratio_to_target": round(median / target, 2),
                    "python_startup_s": round(baseline, 3),
                    "runs": runs,
                }
            )
    return rows


def _cold_build_interpreter(runs: int) -> float:
    """How long a bare `python -c pass` takes here: the floor under any cold command."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)
