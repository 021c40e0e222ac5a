"""docs/reference/spec.md is generated from schemas/connector.schema.json and must stay current."""

from __future__ import annotations

import json
from pathlib import Path

from maforge.compiler.schemadocs import render
from maforge.schemas import load_schema

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference" / "spec.md"


def test_the_committed_spec_reference_is_what_the_schema_gives_today():
    assert REFERENCE.read_text(encoding="utf-8") == render(load_schema("connector")), "docs/reference/spec.md is stale: run `maforge schema-docs --out docs/reference/spec.md`"


def test_every_key_and_definition_of_the_schema_is_in_the_reference():
    schema = load_schema("connector")
    text = render(schema)
    for name in schema["properties"]:
        assert f"| `{name}` |" in text
    for name, node in schema["$defs"].items():
        assert f"\n## {name}\n" in text
        for key in node.get("properties", {}):
            assert f"| `{key}` |" in text, (name, key)
    # Every link points at a section that exists (anchors are the lower-cased headings).
    anchors = {name.lower() for name in schema["$defs"]}
    targets = {part.split(")")[0] for part in text.split("](#")[1:]}
    assert targets and targets <= anchors, targets - anchors


def test_check_fails_on_a_stale_page_and_names_the_command_to_run(cli, tmp_path):
    page = tmp_path / "spec.md"
    assert cli("schema-docs", "--out", str(page)).exit_code == 0
    assert cli("schema-docs", "--check", str(page)).exit_code == 0
    page.write_text(page.read_text(encoding="utf-8").replace("Spec reference", "Spec reference (edited)"), encoding="utf-8")
    stale = cli("schema-docs", "--check", str(page))
    assert stale.exit_code == 1 and f"maforge schema-docs --out {page}" in stale.output
    # A schema change shows up in the page: descriptions are rendered, not copied once.
    schema = json.loads(json.dumps(load_schema("connector")))
    schema["properties"]["name"]["description"] = "Renamed for the test."
    assert "Renamed for the test." in render(schema)
