"""The expression functions at their edges, as the MIM 2016 functions reference states them.

The table (tests/data/function_edge_cases.json) quotes the reference for each case; every
back-end that evaluates flow expressions runs it (the C# rules extension too), so a flow
means the same in MIM and in `maforge plan`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_expression_runtime import evaluate

TABLE = json.loads((Path(__file__).parent / "data" / "function_edge_cases.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", TABLE["cases"], ids=[c["expression"] for c in TABLE["cases"]])
def test_the_python_runtime_follows_the_table(case):
    assert evaluate(case["expression"], {}) == case["result"], case["source"]


def test_every_case_names_its_source():
    for case in TABLE["cases"]:
        assert re.match(r"(MIM|ECS|maforge)\b", case["source"]), case
