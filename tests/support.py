"""Helpers shared by maforge's tests (imported as `support`)."""

from __future__ import annotations

import re
from pathlib import Path


REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

_EXPECT = re.compile(r"^# expect: (.*)$")


def expected_problems(path: Path) -> list[str]:
    """The `# expect:` lines a fixture file ends with."""
    return [m.group(1) for line in path.read_text(encoding="utf-8").splitlines() if (m := _EXPECT.match(line))]


def reported_problems(path: Path) -> list[str]:
    """What `maforge validate` reports for ``path``, without the file name prefix."""
    from maforge.compiler.validate import check_file

    report = check_file(path, path.name)
    return [d.format().removeprefix(f"{path.name}:") for d in sorted(report.diagnostics, key=lambda d: d.sort_key())]


