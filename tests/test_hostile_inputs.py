"""Regressions for what the bad-input and property-based trials (reliability/inputs.py,
reliability/properties.py) found: each test is one input that once crashed, was accepted, or
was refused without saying which file or where."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from maforge.compiler.mim.decompile import ImportError_, read_ma_file
from maforge.compiler.expressions import ExpressionSyntaxError, parse_expression
from maforge.compiler.python.expressions import to_python
from maforge.compiler.validate import check_file
from maforge.connectors.sync import functions as F
from maforge.connectors.sync.applier import ApplyRefused
from maforge.connectors.sync.commands import run_apply
from maforge.connectors.sync.plan import Plan, PlanError, ProfileChange, PropertyChange, load_plan, save_plan
from support import SAMPLES

BODY = "<export-ma server='X'><ma-data><id>{1}</id><name>n</name></ma-data><mv-data /></export-ma>\n"
HEAD = "apiVersion: maforge/v1\nkind: Connector\nname: Hostile\ntype: spo-user-profiles\n"


# --------------------------------------------------------------------------- MA XML


def test_a_doctype_after_a_long_comment_is_refused(cli, tmp_path):
    """The DOCTYPE check looked at the first 4 KB only: an external DTD after a 5 KB comment
    was imported (nothing was fetched, but the file was not refused either)."""
    export = tmp_path / "late-doctype.xml"
    export.write_text("<!--" + "x" * 5000 + '-->\n<!DOCTYPE export-ma SYSTEM "http://127.0.0.1:9/evil.dtd">\n' + BODY, encoding="utf-8")
    result = cli("import-ma", str(export), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert f"{export}:2: has a DOCTYPE or ENTITY declaration" in result.output
    assert not (tmp_path / "out").exists()
    assert cli("diff", str(export), str(export)).exit_code == 2


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-7"])
def test_entities_are_found_in_any_encoding(encoding):
    """A UTF-16 file hid its DOCTYPE and ENTITY from a check of the raw bytes; it was then
    refused for the wrong reason (or, with libxml2's amplification guard, a cryptic one)."""
    text = f'<?xml version="1.0" encoding="{encoding}"?>\n<!DOCTYPE export-ma [\n <!ENTITY secret SYSTEM "file:///etc/passwd">\n]>\n' + BODY.replace("<name>n</name>", "<name>&secret;</name>")
    data = text.encode(encoding)
    if encoding == "utf-7":  # as a hostile writer would: the markup itself encoded
        data = data.replace(b"<!", b"+ADwAIQ-")
    with pytest.raises(ImportError_, match=r"^hostile\.xml:2: has a DOCTYPE or ENTITY declaration"):
        read_ma_file(data, "hostile.xml")


def test_libxml2_limits_are_explained():
    with pytest.raises(ImportError_, match=r"^big\.xml:1: not well-formed XML: a value longer than 10,000,000 characters"):
        read_ma_file(BODY.replace("server='X'", "server='" + "A" * 11_000_000 + "'").encode(), "big.xml")
    with pytest.raises(ImportError_, match=r"^deep\.xml:1: not well-formed XML: elements nested too deeply"):
        read_ma_file(BODY.replace("<mv-data />", "<x>" * 1000 + "</x>" * 1000).encode(), "deep.xml")


# --------------------------------------------------------------------------- YAML


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (HEAD + "description: " + "[" * 100_000 + "]" * 100_000 + "\n", 5),
        (HEAD + "description:\n" + "- " * 100_000 + "x\n", 6),
    ],
    ids=["flow", "block"],
)
def test_very_deep_yaml_does_not_kill_the_process(tmp_path, text, line):
    """libyaml's composer recursed in C until the stack overflowed: 50,000 nested lists
    ended `maforge validate` with a segmentation fault. Run in a child process, so a
    regression fails this test instead of killing the test run."""
    spec = tmp_path / "deep.yaml"
    spec.write_text(text, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "maforge", "validate", str(spec)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-500:]
    assert f"{spec}:{line}:" in result.stdout and "nesting deeper than 64 levels" in result.stdout


def test_nesting_beyond_the_pure_python_composer_still_has_a_place(tmp_path):
    spec = tmp_path / "deep.yaml"
    spec.write_text(HEAD + "d: " + "{a: " * 20_000 + "1" + "}" * 20_000 + "\n", encoding="utf-8")
    (problem,) = check_file(spec).diagnostics
    assert problem.code == "MF004" and problem.position is not None and problem.position.line == 5


# --------------------------------------------------------------------------- expressions


@pytest.mark.parametrize("op", [" & ", " and ", " or "])
def test_long_operator_chains_are_refused_before_python_refuses_them(op):
    """A flat chain compiles to nested calls: 300 `or` passed validation, then `maforge plan`
    died in Python's compiler ("too many nested parentheses")."""
    fine = parse_expression(op.join(["[a]"] * 64))
    compile(to_python(fine), "<expression>", "eval")
    with pytest.raises(ExpressionSyntaxError, match=f"every '{op.strip()}' in a row counts as one"):
        parse_expression(op.join(["[a]"] * 300))


def test_a_spec_with_a_long_chain_is_invalid_not_a_crash(cli, tmp_path):
    sample = (SAMPLES / "spo-user-profiles.yaml").read_text(encoding="utf-8")
    start = sample.index("expression: '")
    end = sample.index("'", start + len("expression: '"))
    spec = tmp_path / "chain.yaml"
    spec.write_text(sample[:start] + "expression: '" + " or ".join(["[firstName]"] * 300) + "'" + sample[end + 1 :], encoding="utf-8")
    (tmp_path / "hr.csv").write_bytes((SAMPLES / "hr.csv").read_bytes())
    result = cli("validate", str(spec))
    assert result.exit_code == 1 and "nested deeper than 64 levels" in result.output
    assert cli("plan", str(spec), "--refresh=false", "--snapshot", str(tmp_path)).exit_code == 1


def test_a_keyword_where_a_value_belongs_is_explained():
    with pytest.raises(ExpressionSyntaxError, match=r"'not' cannot stand here: put it in parentheses"):
        parse_expression("[a] & not ([b])")
    with pytest.raises(ExpressionSyntaxError, match=r"'or' cannot stand here"):
        parse_expression("[a] = or")


@pytest.mark.parametrize(
    "call",
    [
        lambda: F.DateAdd("d", 1e300, "2024-01-01"),
        lambda: F.DateAdd("d", "inf", "2024-01-01"),
        lambda: F.DateAdd("s", 10**15, "2024-01-01T00:00:00Z"),
        lambda: F.DateAdd("yyyy", 9000, "2024-01-01"),
        lambda: F.Left("abc", "inf"),
        lambda: F.Item(["a"], float("-inf")),
        lambda: F.RegexReplace("aaa", "a{4294967296}", "b"),
        lambda: F.FormatDateTime("01.03.2024", "dd.MM.yyyy", "\ud800"),
    ],
)
def test_runtime_functions_refuse_values_with_their_own_error(call):
    """OverflowError (not a ValueError) escaped the planner's row error handling."""
    with pytest.raises(F.ExpressionValueError):
        call()


def test_remove_duplicates_takes_values_from_json_sources():
    assert F.RemoveDuplicates([["a"], ["a"], {"b": 1}, {"b": 1}, "c"]) == [["a"], {"b": 1}, "c"]


# --------------------------------------------------------------------------- plans


def _plan(tenant: str = "contoso") -> Plan:
    return Plan("c", tenant, "ab" * 32, "0.1.0", "2026-11-26T05:00:00Z", True, [ProfileChange("i:0#.f|membership|a@contoso.onmicrosoft.com", "row 1", (PropertyChange("Department", "change", "A", "B"),))])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"format_version": 1, "connector": "caf\xe9"}', r"plan\.json:1:40: not a plan: the file is not UTF-8 \(byte 0xe9\)"),
        (b'{"format_version": 1, "problems": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", r"plan\.json: not a plan: JSON nested too deeply"),
        (b'{"format_version": "1"}', r'plan\.json: plan format "1", this maforge reads 2'),
        (json.dumps({**_plan().to_json(), "format_version": True}).encode(), r"plan\.json: (plan format true|not a valid plan at format_version)"),
    ],
    ids=["latin-1", "deep", "text-version", "true-version"],
)
def test_damaged_plans_are_refused_with_the_file_and_place(tmp_path, content, message):
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    with pytest.raises(PlanError, match=message):
        load_plan(path)


def test_a_cut_short_plan_is_called_a_damaged_plan_not_a_bad_spec(cli, tmp_path):
    save_plan(_plan(), tmp_path / "good.json")
    for size in (0, 5):
        path = tmp_path / f"cut{size}.json"
        path.write_bytes((tmp_path / "good.json").read_bytes()[:size])
        result = cli("apply", str(path), "--connection", str(tmp_path / "none.json"))
        assert result.exit_code == 1
        assert f"{path}: neither a plan" in result.output and "maforge plan --out" in result.output
        assert "apiVersion: maforge/v1" not in result.output


def test_guard_refusals_name_the_plan(tmp_path):
    """`maforge apply` said "the plan is for tenant ..." without saying which plan."""
    path = tmp_path / "plan.json"
    save_plan(_plan("fabrikam"), path)
    session = SimpleNamespace(connection=SimpleNamespace(tenant="contoso"))
    with pytest.raises(ApplyRefused, match=rf"^{path}: the plan is for tenant 'fabrikam'"):
        run_apply(path, session, state_dir=None)
    save_plan(_plan(), path)
    with pytest.raises(ApplyRefused, match=rf"^{path}: the plan was made from spec"):
        run_apply(path, session, state_dir=None, spec_hash="cd" * 32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]  # no journal, no results
    json.loads(path.read_text(encoding="utf-8"))
