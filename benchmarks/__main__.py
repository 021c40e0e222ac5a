"""`python -m benchmarks [--quick] [--only SUITE]`: every benchmark in one run, side by side.

A full run (all suites, not --quick) writes benchmarks/results/<date>.json and the table in
BENCHMARKS.md, with the machine it ran on; --quick (small N, same code paths) is what CI runs
so the runner cannot rot, and writes only where --results-dir / --markdown say."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from maforge.atomic import write_text_atomic

from . import apply, build, bulk, emulator, plan, runtime_import

ROOT = Path(__file__).resolve().parents[1]
SUITES = {
    "build": build.run,
    "emulator": emulator.run,
    "plan": plan.run,
    "read": runtime_import.run_cold_read,
    "apply": apply.run,
    "bulk": bulk.run,
    "import": runtime_import.run,
    "throttled-import": runtime_import.run_throttled_import,
}
NOTES = ("benchmark", "median_s", "target_s", "ratio_to_target", "unit")


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    memory_gb = None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            memory_gb = round(int(handle.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "memory_gb": memory_gb,
    }


def render_table(results: list[dict[str, object]]) -> str:
    """The plain-text table the runner prints."""
    width = max(len(str(r["benchmark"])) for r in results)
    lines = [f"{'benchmark'.ljust(width)}  {'measured':>16}  {'target':>16}  ratio  notes"]
    for row in results:
        notes = ", ".join(f"{k}={v}" for k, v in row.items() if k not in NOTES)
        unit = str(row.get("unit", "s")).strip()  # median_s/target_s hold this unit (seconds unless said)
        lines.append(f"{str(row['benchmark']).ljust(width)}  {_number(row['median_s'])} {unit:<5}  {_number(row['target_s'])} {unit:<5}  {row['ratio_to_target']:5.2f}  {notes}")
    return "\n".join(lines) + "\n"


def _number(value: object, width: int = 10) -> str:
    return f"{value:{width}.4g}" if isinstance(value, float) else f"{value:>{width}}"


def render_markdown(results: list[dict[str, object]], about: dict[str, object], when: str, seconds: float) -> str:
    """BENCHMARKS.md: the latest full run, with the machine and the date."""
    cells = ["| benchmark | measured | target | ratio | notes |", "|---|---:|---:|---:|---|"]
    for row in results:
        unit = str(row.get("unit", "s")).strip()
        notes = "; ".join(f"{k} = {v}" for k, v in row.items() if k not in NOTES)
        verdict = "" if float(row["ratio_to_target"]) <= 1 else " (missed)"  # type: ignore[arg-type]
        cells.append(f"| {row['benchmark']} | {row['median_s']} {unit} | {row['target_s']} {unit} | {row['ratio_to_target']}{verdict} | {notes} |")
    machine_line = ", ".join(f"{k} {v}" for k, v in about.items())
    return (
        "# Benchmarks\n\n"
        "Written by `python -m benchmarks` (a full run); do not edit by hand. Every row was measured\n"
        "in the same run; ratio is measured ÷ target, so at most 1 meets the target. What each\n"
        "benchmark does and why its target is what it is: the docstring of its module in benchmarks/.\n\n"
        f"Run on {when} ({seconds:.0f} s in all) on: {machine_line}.\n\n" + "\n".join(cells) + "\n"
    )


def _byte_compile() -> None:
    """Compile maforge's modules to bytecode before anything is timed, as `pip install` does
    for an installed package: every command runs in a new process, and a machine that sets
    PYTHONDONTWRITEBYTECODE (this one does) would otherwise compile every module in every
    timed run, measuring the compiler instead of maforge's start-up."""
    import compileall

    for folder in ("maforge", "compiler", "connectors", "templates", "schemas"):
        compileall.compile_dir(str(ROOT / folder), quiet=1, workers=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small N, same code paths: a smoke run")
    parser.add_argument("--only", choices=sorted(SUITES), action="append", help="run only this suite (repeatable)")
    parser.add_argument("--results-dir", type=Path, help="write <date>.json here (a full run: benchmarks/results)")
    parser.add_argument("--markdown", type=Path, help="write the table as Markdown here (a full run: BENCHMARKS.md)")
    parser.add_argument("--json", type=Path, help="also write the rows alone as JSON to this file")
    args = parser.parse_args(argv)
    full = not args.quick and not args.only
    results_dir = args.results_dir or (ROOT / "benchmarks" / "results" if full else None)
    markdown = args.markdown or (ROOT / "BENCHMARKS.md" if full else None)
    _byte_compile()
    started = time.perf_counter()
    now = datetime.now(timezone.utc)
    results: list[dict[str, object]] = []
    for name, suite in SUITES.items():
        if args.only and name not in args.only:
            continue
        rows = suite(args.quick)
        for row in rows:
            row.setdefault("suite", name)
        results.extend(rows)
        print(f"[{name}: done in {time.perf_counter() - started:.0f} s]", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - started
    print(render_table(results), end="")
    about = machine()
    if results_dir is not None:
        record = {"date": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "quick": args.quick, "seconds": round(seconds, 1), "machine": about, "results": results}
        write_text_atomic(results_dir / f"{now:%Y-%m-%d}.json", json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    if markdown is not None:
        write_text_atomic(markdown, render_markdown(results, about, f"{now:%Y-%m-%d %H:%M} UTC", seconds))
    if args.json:
        write_text_atomic(args.json, json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
