"""Every semantic rule fails its fixture with the exact message at the exact place."""

from __future__ import annotations

import re

import pytest

from maforge.compiler.rules import RULES

from support import FIXTURES, expected_problems, reported_problems

RULE_FIXTURES = sorted((FIXTURES / "rules").glob("*.yaml"))


@pytest.mark.parametrize("fixture", RULE_FIXTURES, ids=lambda p: p.stem)
def test_rule_fixture_reports_exactly_its_problems(fixture):
    expected = expected_problems(fixture)
    assert expected, f"{fixture.name} has no '# expect:' lines"
    assert reported_problems(fixture) == expected


def _codes_in_fixtures() -> set[str]:
    from maforge.compiler.validate import check_file

    codes: set[str] = set()
    for fixture in RULE_FIXTURES:
        codes |= {d.code for d in check_file(fixture).diagnostics}
    return codes


def test_every_registered_rule_has_a_failing_fixture():
    covered = _codes_in_fixtures()
    missing = [r.code for r in RULES if r.code not in covered]
    assert not missing, f"rules without a failing fixture: {missing}"


def test_every_code_a_rule_module_can_emit_is_covered_by_a_fixture():
    from pathlib import Path

    import maforge.compiler.modelbuilder as modelbuilder
    import maforge.compiler.rules as rules

    emitted: set[str] = set()
    for module in (rules, modelbuilder):
        emitted |= set(re.findall(r'"(MF2\d\d)"', Path(module.__file__).read_text(encoding="utf-8")))
    missing = sorted(emitted - _codes_in_fixtures())
    assert not missing, f"diagnostic codes no fixture triggers: {missing}"


def test_rules_have_unique_codes_and_titles():
    codes = [r.code for r in RULES]
    assert len(codes) == len(set(codes))
    assert all(r.title for r in RULES)
