"""`python -m benchmarks --quick` runs in CI so the runner cannot rot: every suite, the same
code paths as a full run with small N. Timings are not asserted here (they are for the full
run, side by side, in BENCHMARKS.md); the counts that do not depend on the machine are."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_quick_benchmark_run_measures_every_suite_and_writes_its_record(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--results-dir", str(tmp_path / "results"), "--markdown", str(tmp_path / "BENCHMARKS.md")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    records = list((tmp_path / "results").glob("*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text(encoding="utf-8"))
    assert record["quick"] is True and record["machine"]["cpus"]
    rows = record["results"]
    assert {row["suite"] for row in rows} == {"build", "emulator", "plan", "read", "apply", "bulk", "import", "throttled-import"}
    for row in rows:
        assert row["median_s"] > 0 and row["target_s"] > 0, row
        assert abs(row["ratio_to_target"] - row["median_s"] / row["target_s"]) < 0.02 + 0.01 * row["ratio_to_target"], row
        assert row["benchmark"] in done.stdout
    by_name = {row["benchmark"]: row for row in rows}
    # Apply without the prior-value check spends exactly one budgeted call per change; with it
    # (auto: these changes go per user), two. With the budget given, not one call is refused.
    assert by_name["apply, budget given, --check-prior never: 150 changes"]["calls"] == 150
    assert by_name["apply, budget given, --check-prior auto: 150 changes"]["calls"] == 300
    for name, row in by_name.items():
        if "budget given" in name:
            assert row["answered_429"] == 0 and row["share_429_met"] is True, row
        elif name.startswith("apply, budget unknown"):
            assert row["calls"] >= (150 if "never" in name else 300) and row["answered_429"] > 0  # it learnt the budget from a 429
    # The bulk path: one job, no PeopleManager calls, at most 20 REST calls.
    bulk = by_name["bulk apply: 2,000 changes, REST calls"]
    assert bulk["jobs"] == 1 and bulk["budgeted_calls"] == 0 and bulk["median_s"] <= 20
    # A cold read costs one budgeted call per profile read; the one under the default limits
    # lives through their throttling to the end.
    for read in (row for row in rows if row["suite"] in ("read", "throttled-import")):
        assert read["calls"] >= read["profiles"] > 0
    markdown = (tmp_path / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert markdown.startswith("# Benchmarks") and "| benchmark | measured | target | ratio | notes |" in markdown
    assert all(f"| {row['benchmark']} |" in markdown for row in rows)
