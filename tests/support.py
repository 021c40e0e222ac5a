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




def powershell_syntax_errors(text: str) -> list[str]:
    """ERROR and MISSING nodes tree-sitter's PowerShell grammar finds in ``text``
    (tree-sitter-language-pack 0.13.0 ships the grammar; it needs no network)."""
    from tree_sitter_language_pack import get_parser

    tree = get_parser("powershell").parse(text.encode("utf-8"))
    problems: list[str] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            row, column = node.start_point
            problems.append(f"line {row + 1}, column {column + 1}: {'missing ' + node.type if node.is_missing else 'syntax error'}")
        stack.extend(node.children)
    return sorted(problems)


def reseal_plan(path: Path, data: dict) -> None:
    """Write ``data`` as a saved plan with a digest that matches it: what a forger (or a test
    of the guards behind the digest) does after editing a plan."""
    import hashlib
    import json

    content = {key: value for key, value in data.items() if key != "digest"}
    body = json.dumps(content, indent=1, ensure_ascii=False) + "\n"
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    path.write_text(json.dumps({**content, "digest": f"sha256:{digest}"}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
