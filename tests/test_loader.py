"""The loader keeps the position of every value and key, for YAML and JSON alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from maforge.compiler.diagnostics import Position
from maforge.compiler.loader import load_text


def test_yaml_positions_of_values_and_keys():
    doc = load_text("a:\n  b: [10, 'x']\n  c:\n    - d: true\n", Path("s.yaml"))
    assert doc.data == {"a": {"b": [10, "x"], "c": [{"d": True}]}}
    assert doc.position("/a/b") == Position(2, 6)
    assert doc.position("/a/b", key=True) == Position(2, 3)
    assert doc.position("/a/b/1") == Position(2, 11)
    assert doc.position("/a/c/0/d") == Position(4, 10)
    assert doc.position("/a/c/0/d", key=True) == Position(4, 7)


def test_position_of_a_missing_value_falls_back_to_its_parent():
    doc = load_text("a:\n  b: 1\n", Path("s.yaml"))
    assert doc.position("/a/zzz") == doc.position("/a")


def test_json_positions():
    doc = load_text('{\n  "a": {"b": [1, "two"]},\n  "c~/d": null\n}\n', Path("s.json"))
    assert doc.data == {"a": {"b": [1, "two"]}, "c~/d": None}
    assert doc.position("/a/b/1") == Position(2, 18)
    assert doc.position("/a", key=True) == Position(2, 3)
    assert doc.position("/c~0~1d") == Position(3, 11)


def test_json_is_recognised_without_extension():
    doc = load_text('{"a": 1}', Path("spec"))
    assert doc.data == {"a": 1}


@pytest.mark.parametrize(
    ("source", "offset", "expected"),
    [
        ("x: Coalesce([a], [b])\n", 9, Position(1, 13)),
        ("x: 'Coalesce([a], [b])'\n", 9, Position(1, 14)),
        ('x: "Coalesce([a], [b])"\n', 9, Position(1, 14)),
        ("x: |\n  Join(\" \",\n       [first])\n", 15, Position(3, 8)),
    ],
)
def test_offsets_inside_strings_map_to_file_positions(source, offset, expected):
    doc = load_text(source, Path("s.yaml"))
    assert doc.string_position("/x", offset) == expected


def test_escaped_string_falls_back_to_its_start():
    doc = load_text('x: "a\\tb [c]"\n', Path("s.yaml"))
    assert doc.string_position("/x", 5) == Position(1, 4)


def test_deep_nesting_is_refused_cleanly():
    from maforge.compiler.diagnostics import SpecError

    text = "a: " + "[" * 200 + "]" * 200 + "\n"
    with pytest.raises(SpecError) as caught:
        load_text(text, Path("s.yaml"))
    assert "nesting deeper than 64 levels" in str(caught.value)
    with pytest.raises(SpecError):
        load_text('{"a": ' + "[" * 200 + "]" * 200 + "}", Path("s.json"))
