"""`python -m reliability [--quick] [--only SCENARIO]`: try every fault and bad input, then
write RELIABILITY.md (a full run) with what was tried, how often, and what happened."""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from maforge.atomic import write_text_atomic

from . import Trial

ROOT = Path(__file__).resolve().parents[1]
# Module names under reliability/, in report order. Each exposes run(quick) -> list[Trial].
SCENARIOS = ("faults", "kills", "inputs", "properties", "secrets")


def run_all(quick: bool, only: list[str] | None = None) -> list[Trial]:
    trials: list[Trial] = []
    for name in SCENARIOS:
        if only and name not in only:
            continue
        module = importlib.import_module(f"reliability.{name}")
        started = time.perf_counter()
        trials.extend(module.run(quick))
        print(f"[{name}: done in {time.perf_counter() - started:.0f} s]", file=sys.stderr, flush=True)
    return trials


def render_markdown(trials: list[Trial], when: str, seconds: float, quick: bool) -> str:
    held = sum(1 for t in trials if t.held)
    lines = [
        "# Reliability",
        "",
        "Written by `python -m reliability`; do not edit by hand. Each row is a fault or a bad",
        "input, how many times it was tried, and what maforge did. Faults run against the emulator",
        "and are judged by its write log, not by what maforge says it did. The same scenarios run",
        "in CI with smaller counts (tests/test_reliability.py).",
        "",
        f"Run on {when}{' (quick)' if quick else ''}, {seconds:.0f} s, Python {platform.python_version()}: {held} of {len(trials)} held.",
        "",
    ]
    for category in dict.fromkeys(t.category for t in trials):
        lines += [f"## {category[0].upper()}{category[1:]}", "", "| tried | times | held | what happened |", "|---|---:|:---:|---|"]
        for trial in (t for t in trials if t.category == category):
            result = trial.result.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {trial.name.replace('|', chr(92) + '|')} | {trial.tried:,} | {'yes' if trial.held else '**no**'} | {result} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (what CI runs)")
    parser.add_argument("--only", choices=SCENARIOS, action="append", help="run only this scenario (repeatable)")
    parser.add_argument("--markdown", type=Path, help="write the report here (a full run: RELIABILITY.md)")
    parser.add_argument("--json", type=Path, help="also write the trials as JSON here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    trials = run_all(args.quick, args.only)
    seconds = time.perf_counter() - started
    for trial in trials:
        print(f"{'held ' if trial.held else 'FAILED'}  {trial.category:<14} {trial.name}  ×{trial.tried}: {trial.result}")
    markdown = args.markdown or (ROOT / "RELIABILITY.md" if not args.quick and not args.only else None)
    if markdown is not None:
        write_text_atomic(markdown, render_markdown(trials, datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), seconds, args.quick))
    if args.json:
        write_text_atomic(args.json, json.dumps([t.to_json() for t in trials], indent=2, ensure_ascii=False) + "\n")
    return 0 if all(t.held for t in trials) else 1


if __name__ == "__main__":
    sys.exit(main())
