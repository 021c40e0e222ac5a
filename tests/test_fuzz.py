"""Junk in, clean errors out: generated input never crashes the validator.

Only two outcomes are allowed for any input: a report (exit 1 with file:line:col messages,
or exit 0 when the junk happens to be valid) or, for unreadable files, exit 2. A Python
traceback is a bug.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maforge.compiler.expressions import ExpressionSyntaxError, parse_expression
from maforge.compiler.validate import check_file
from support import SAMPLES

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # reliability/ sits beside the package (see test_reliability.py)

# The strategies are shared with the property-based reliability trials (reliability/properties.py).
from reliability.strategies import YAML_PUNCTUATION, json_values, load_sample, mutate_data, paths  # noqa: E402

FUZZ = settings(max_examples=int(__import__("os").environ.get("MAFORGE_FUZZ_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _check(tmp_path, name: str, content: bytes):
    spec = tmp_path / name
    spec.write_bytes(content)
    report = check_file(spec)
    for diagnostic in report.diagnostics:
        assert diagnostic.message and "Traceback" not in diagnostic.message
        assert diagnostic.file == str(spec)
    return report


@FUZZ
@given(content=st.binary(max_size=400))
def test_random_bytes(tmp_path, content):
    report = _check(tmp_path, "junk.yaml", content)
    assert not report.valid


@FUZZ
@given(content=st.text(alphabet=st.sampled_from(YAML_PUNCTUATION), max_size=300))
def test_yaml_punctuation_soup(tmp_path, content):
    _check(tmp_path, "soup.yaml", content.encode())


@FUZZ
@given(value=json_values)
def test_random_structures_as_yaml_and_json(tmp_path, value):
    _check(tmp_path, "value.yaml", yaml.safe_dump(value, allow_unicode=True).encode())
    _check(tmp_path, "value.json", json.dumps(value).encode())


_SAMPLE = load_sample()
_SAMPLE_PATHS = [p for p in paths(_SAMPLE) if p]


@FUZZ
@given(seed=st.integers(0, 2**32 - 1), replacement=json_values, mutations=st.integers(1, 4))
def test_mutated_sample_spec(tmp_path, seed, replacement, mutations):
    """Replace or delete parts of the real sample: the schema passes many of these, so
    the model builder and every semantic rule see odd but schema-valid input."""
    data = mutate_data(_SAMPLE, _SAMPLE_PATHS, seed, replacement, mutations)
    spec = tmp_path / "mutated.yaml"
    spec.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    (tmp_path / "hr.csv").write_bytes((SAMPLES / "hr.csv").read_bytes())
    check_file(spec)


@FUZZ
@given(text=st.text(max_size=80) | st.text(alphabet=st.sampled_from(list('()[],"&=<>- abcIJNFx1')), max_size=60))
def test_expression_parser_fails_cleanly(text):
    try:
        parse_expression(text)
    except ExpressionSyntaxError as error:
        assert 0 <= error.offset <= len(text)
        assert error.message


@FUZZ
@given(content=st.text(max_size=300) | st.builds(lambda n: "a: " + "9" * n + "\n", st.integers(0, 6000)))
def test_cli_exit_codes_on_junk(tmp_path, content):
    """Through the real command line: only exit 0 or 1 with a summary, never a traceback."""
    from typer.testing import CliRunner

    from maforge.cli import app

    spec = tmp_path / "junk.yaml"
    spec.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(spec)], catch_exceptions=False)
    assert result.exit_code in (0, 1)
    assert result.output.rstrip().splitlines()[-1].startswith(f"{spec}: ")


@FUZZ
@given(
    depth=st.integers(0, 5000),
    prefix=st.sampled_from(["-", "not ", "Trim(", "(", "["]),
    tail=st.sampled_from(["1", "[a]", "9" * 5000, ""]),
)
def test_expression_parser_survives_deep_and_long_input(depth, prefix, tail):
    text = prefix * depth + tail
    try:
        parse_expression(text)
    except ExpressionSyntaxError as error:
        assert 0 <= error.offset <= len(text)
