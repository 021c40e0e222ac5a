"""`python -m benchmarks [--quick] [--json FILE]`: every benchmark in one run, side by side."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import apply, build, emulator, plan, runtime_import

SUITES = {"build": build.run, "emulator": emulator.run, "import": runtime_import.run, "plan": plan.run, "apply": apply.run}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, for a smoke run")
    parser.add_argument("--only", choices=sorted(SUITES), action="append", help="run only this suite (repeatable)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    results = []
    for name, suite in SUITES.items():
        if args.only and name not in args.only:
            continue
        results.extend(suite(args.quick))
    width = max(len(str(r["benchmark"])) for r in results)
    print(f"{'benchmark'.ljust(width)}  {'measured':>10}  {'target':>8}  ratio  notes")
    for row in results:
        notes = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("benchmark", "median_s", "target_s", "ratio_to_target", "unit"))
        unit = str(row.get("unit", "s"))  # median_s/target_s hold this unit (seconds unless said)
        print(f"{str(row['benchmark']).ljust(width)}  {row['median_s']:9.4f}{unit}  {row['target_s']:7.3f}{unit}  {row['ratio_to_target']:5.2f}  {notes}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
