"""The expression functions at their edges, as the MIM 2016 functions reference states them.

The table (tests/data/function_edge_cases.json) quotes the reference for each case; every
back-end that evaluates flow expressions runs it (the C# rules extension too, in
tests/test_csharp_expressions.py), so a flow means the same in MIM and in `maforge plan`.
Rows whose source starts with NET settle where Python and .NET differ: .NET's documented
behaviour wins, because MIM runs .NET.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_expression_runtime import evaluate

from maforge.connectors.sync.functions import ExpressionValueError

TABLE = json.loads((Path(__file__).parent / "data" / "function_edge_cases.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", TABLE["cases"], ids=[c["expression"] for c in TABLE["cases"]])
def test_the_python_runtime_follows_the_table(case):
    if "error" in case:  # the table's way to say: refused in every runtime
        with pytest.raises(ExpressionValueError):
            evaluate(case["expression"], {})
        return
    result = evaluate(case["expression"], {})
    assert result == case["result"] and type(result) is type(case["result"]), case["source"]


def test_every_case_names_its_source():
    for case in TABLE["cases"]:
        assert re.match(r"(MIM|ECS|NET|maforge)\b", case["source"]), case
        assert ("result" in case) != ("error" in case), case
