"""The reliability scenarios (reliability/) in their quick form: every fault survived, every
bad input refused cleanly, nothing lost, no secret leaked. `python -m reliability` runs the
same scenarios with more repetitions and writes RELIABILITY.md."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # reliability/ sits beside the package; appended, so an installed maforge still wins

from reliability.__main__ import SCENARIOS, render_markdown  # noqa: E402


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_trial_holds(scenario):
    trials = importlib.import_module(f"reliability.{scenario}").run(True)
    assert trials, f"reliability.{scenario} tried nothing"
    failed = [f"{t.name}: {t.result} {t.details}" for t in trials if not t.held]
    assert not failed, "\n".join(failed)
    assert all(t.tried > 0 for t in trials)
    report = render_markdown(trials, "now", 1.0, True)
    assert all(t.name.replace("|", "\\|") in report for t in trials)
    if scenario in ("faults", "kills"):
        # Issue 15: they run under the realistic profile, whose budget every trial spends.
        unthrottled = [t.name for t in trials if not t.details.get("throttled_429")]
        assert not unthrottled, f"met no 429: {unthrottled}"
        assert all("realistic profile" in t.result for t in trials if "storm" not in t.name and "squall" not in t.name)
