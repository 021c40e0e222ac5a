"""docs/emulator.md is the emulator's contract: every behaviour it models is a row that names
its public source, whether that source verifies it or it is inferred, the switch that changes it,
and the tests that prove it. This test keeps the page honest: a row without a test, or naming a
test that does not exist, fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "emulator.md"
HEADER = ["Behaviour", "Source", "Evidence", "Switch", "Test"]
_TEST_REF = re.compile(r"tests/(test_[a-z0-9_]+\.py)::(test_[A-Za-z0-9_]+)")


def _cells(line: str) -> list[str]:
    # A cell may hold `|` inside backticks (claims strings): split outside code spans only.
    cells, current, in_code = [], [], False
    for ch in line.strip().strip("|"):
        if ch == "`":
            in_code = not in_code
        if ch == "|" and not in_code:
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    cells.append("".join(current).strip())
    return cells


def rows() -> list[tuple[int, str, list[str]]]:
    """(line number, section, cells) of every behaviour row."""
    found, section, in_table = [], "", False
    for number, line in enumerate(PAGE.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("## "):
            section, in_table = line[3:].strip(), False
            continue
        if not line.startswith("|"):
            in_table = False
            continue
        cells = _cells(line)
        if cells == HEADER:
            in_table = True
            continue
        if in_table and not set("".join(cells)) <= set("-: "):
            found.append((number, section, cells))
    return found


def _defined_tests() -> dict[str, set[str]]:
    tests: dict[str, set[str]] = {}
    for path in (REPO / "tests").glob("test_*.py"):
        tests[path.name] = set(re.findall(r"^(?:async )?def (test_\w+)\(", path.read_text(encoding="utf-8"), re.M))
    return tests


def test_every_section_has_rows():
    sections = {section for _n, section, _c in rows()}
    for expected in ("Throttling", "Sign-in and tokens", "Who may read and write profiles", "PeopleManager REST", "`$batch` and request limits", "Microsoft Graph", "Bulk import", "Files, CSOM, SOAP and search"):
        assert expected in sections, f"docs/emulator.md: section {expected!r} has no behaviour rows"


@pytest.mark.parametrize("number,section,cells", rows(), ids=lambda v: str(v) if isinstance(v, int) else None)
def test_row_is_complete_and_its_tests_exist(number, section, cells):
    where = f"docs/emulator.md:{number} ({section})"
    assert len(cells) == len(HEADER), f"{where}: a row has {len(HEADER)} cells ({', '.join(HEADER)}), this one {len(cells)}"
    behaviour, source, evidence, switch, tests = cells
    assert behaviour and source and switch, f"{where}: behaviour, source and switch must be filled (`—` for no switch)"
    assert evidence.split()[0].lower() in ("verified", "inferred"), f"{where}: evidence must start with verified or inferred, not {evidence!r}"
    references = _TEST_REF.findall(tests)
    assert references, f"{where}: name the tests that prove this row as tests/test_x.py::test_name"
    defined = _defined_tests()
    for file, name in references:
        assert name in defined.get(file, set()), f"{where}: tests/{file}::{name} does not exist"
