"""`maforge plan --refresh=false` on a large tenant: 100,000 HR rows against a 100,000-profile
import snapshot, no network. Measures the engine (sources → metaverse → joins → compiled
export flows → diff), in its own process so peak memory is the planner's."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "spo-user-profiles.yaml"
TIME_PER_ROW_TARGET_S = 0.0002  # 100,000 rows × 10+ managed properties in 20 s (issue 9)
MEMORY_TARGET_MB = 1024

_PLANNER = """
import json, resource, sys, time
from pathlib import Path
from maforge.compiler.validate import load_spec
from maforge.connectors.sync.commands import run_plan
from maforge.connectors.sync.rulebook import RuleBook
started = time.perf_counter()
book = RuleBook.from_spec(load_spec(Path(sys.argv[1]))[0])
plan = run_plan(book, Path(sys.argv[1]).parent, None, refresh=False, state_dir=Path(sys.argv[2]), tenant="contoso")
elapsed = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": elapsed, "changes": plan.change_count, "profiles": len(plan.profiles), "unchanged": plan.unchanged, "peak_kb": usage.ru_maxrss}))
"""


def _write_inputs(folder: Path, rows: int) -> None:
    header = (ROOT / "samples" / "hr.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    (folder / "spo.yaml").write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    managed = ["AccountName", "FirstName", "LastName", "PreferredName", "WorkEmail", "Department", "SPS-JobTitle", "Office", "WorkPhone", "CellPhone", "Manager", "AboutMe", "SPS-Skills", "SPS-PastProjects", "SPS-Responsibility", "CostCenter", "ProfileSource"]
    state = folder / "state"
    state.mkdir()
    with open(folder / "hr.csv", "w", encoding="utf-8", newline="") as source, open(state / "snapshot.jsonl", "w", encoding="utf-8") as snapshot:
        writer = csv.DictWriter(source, header)
        writer.writeheader()
        snapshot.write(json.dumps({"format": "maforge-snapshot", "version": 1, "tenant": "contoso", "properties": sorted(managed), "taken_at": "2026-01-01T00:00:00Z", "complete": True, "watermark": None, "profiles": rows}) + "\n")
        for i in range(rows):
            upn = f"user{i:06d}@contoso.onmicrosoft.com"
            account = "i:0#.f|membership|" + upn
            writer.writerow({"EmployeeId": f"E{i:06d}", "UPN": upn, "FirstName": f"Given{i}", "LastName": f"Family{i}", "Department": ["Sales", "IT", "Finance"][i % 3], "JobTitle": "Engineer", "Office": "HQ", "CostCenter": f"CC-{i % 97}", "Skills": "Python;SQL", "ManagerUPN": f"user{i // 10:06d}@contoso.onmicrosoft.com"})
            values = {p: "" for p in managed}
            values.update({"AccountName": account, "FirstName": f"Given{i}", "LastName": f"Family{i}", "Department": ["Sales", "IT", "Finance"][(i + (i % 4 == 0)) % 3], "SPS-JobTitle": "Engineer", "Office": "HQ", "SPS-Skills": ["Python"], "SPS-PastProjects": [], "SPS-Responsibility": []})
            snapshot.write(json.dumps({"account": account, "upn": upn, "id": None, "values": values}) + "\n")


def _measure(rows: int) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        _write_inputs(folder, rows)
        done = subprocess.run([sys.executable, "-c", _PLANNER, str(folder / "spo.yaml"), str(folder / "state")], capture_output=True, text=True, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])


def run(quick: bool) -> list[dict[str, object]]:
    """The plan at two sizes, ten times apart, so the growth of time and memory shows."""
    sizes = (1_000, 10_000) if quick else (10_000, 100_000)
    measured = {rows: _measure(rows) for rows in sizes}
    small, large = sizes
    results: list[dict[str, object]] = []
    for rows in sizes:
        target = TIME_PER_ROW_TARGET_S * rows
        peak_mb = measured[rows]["peak_kb"] / 1024
        results.append(
            {
                "benchmark": f"maforge plan --refresh=false: {rows:,} rows against {rows:,} profiles",
                "median_s": round(measured[rows]["seconds"], 2),
                "target_s": target,
                "ratio_to_target": round(measured[rows]["seconds"] / target, 2),
                "rows_per_s": round(rows / measured[rows]["seconds"]),
                "changes": measured[rows]["changes"],
            }
        )
        results.append(
            {
                "benchmark": f"maforge plan: peak memory, {rows:,} rows",
                "median_s": round(peak_mb, 1),
                "target_s": MEMORY_TARGET_MB,
                "ratio_to_target": round(peak_mb / MEMORY_TARGET_MB, 2),
                "unit": "MB",
            }
        )
    # Linear growth: ten times the rows take about ten times the time; memory grows by less,
    # since the interpreter and the compiled rules are paid once.
    results[-2]["time_growth_for_10x_rows"] = round(measured[large]["seconds"] / measured[small]["seconds"], 1)
    results[-1]["memory_growth_for_10x_rows"] = round(measured[large]["peak_kb"] / measured[small]["peak_kb"], 1)
    return results
