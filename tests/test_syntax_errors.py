"""Broken files get a clear message at the right line, exit 1, and never a traceback."""

from __future__ import annotations

import pytest

from support import FIXTURES, expected_problems, reported_problems

YAML_FIXTURES = sorted((FIXTURES / "syntax").glob("*.yaml"))


@pytest.mark.parametrize("fixture", YAML_FIXTURES, ids=lambda p: p.stem)
def test_broken_yaml_is_reported_at_its_line(fixture, cli):
    expected = expected_problems(fixture)
    assert expected
    assert reported_problems(fixture) == expected
    result = cli("validate", str(fixture))
    assert result.exit_code == 1
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "duplicate-key.json",
            "6:3: error: duplicate key 'name' (first defined at line 4): a JSON reader would silently keep only one of them; "
            "remove or rename one (at /name)",
        ),
        ("missing-comma.json", "5:3: error: JSON syntax error: expected ',' or '}' (at /)"),
    ],
)
def test_broken_json_is_reported_at_its_line(name, expected):
    assert reported_problems(FIXTURES / "syntax" / name) == [expected]


def test_file_that_is_not_utf8_names_the_byte(tmp_path, cli):
    spec = tmp_path / "latin1.yaml"
    spec.write_bytes(b"apiVersion: maforge/v1\nkind: Connector\nname: Caf\xe9\n")
    assert reported_problems(spec) == ["3:10: error: the file is not UTF-8 (byte 0xe9): save it as UTF-8"]
    assert cli("validate", str(spec)).exit_code == 1


def test_utf16_file_is_refused_with_advice(tmp_path):
    spec = tmp_path / "utf16.yaml"
    spec.write_bytes("apiVersion: maforge/v1\n".encode("utf-16"))
    assert reported_problems(spec) == ["1:1: error: the file is UTF-16: save it as UTF-8"]


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    spec = tmp_path / "bom.yaml"
    spec.write_bytes(b"\xef\xbb\xbfapiVersion: maforge/v1\nkind: Connector\nname: Bom\ntype: spo-user-profiles\n")
    assert reported_problems(spec) == [
        "1:1: error: missing required field 'schema' at the top of the spec (required when type is spo-user-profiles) (at /)",
        "1:1: error: missing required field 'sharepoint' at the top of the spec (required when type is spo-user-profiles) (at /)",
    ]


def test_empty_file(tmp_path, cli):
    spec = tmp_path / "empty.yaml"
    spec.write_text("")
    result = cli("validate", str(spec))
    assert result.exit_code == 1
    assert "the file is empty" in result.output


def test_nul_character_is_refused(tmp_path):
    spec = tmp_path / "nul.yaml"
    spec.write_bytes(b"apiVersion: maforge/v1\nname: a\x00b\n")
    assert reported_problems(spec) == ["2:8: error: NUL character in the file: a spec is plain UTF-8 text"]


def test_alias_bomb_is_refused_without_expanding(tmp_path):
    lines = ["apiVersion: maforge/v1", 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    spec = tmp_path / "bomb.yaml"
    spec.write_text("\n".join(lines) + "\n")
    problems = reported_problems(spec)
    assert problems == ["3:10: error: aliases (*name) are not supported in specs: write the value out (at /a1/0)"]


def test_yaml_11_booleans_stay_text(tmp_path):
    from maforge.compiler.loader import load_document

    spec = tmp_path / "norway.yaml"
    spec.write_text("country: no\nflag: yes\nreal: true\nversion: 1.10\nwhen: 2026-01-02\n")
    assert load_document(spec).data == {"country": "no", "flag": "yes", "real": True, "version": 1.1, "when": "2026-01-02"}
