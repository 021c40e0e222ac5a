"""Property-based: hypothesis-generated input for the four readers of untrusted text.

1. the spec loader (`load_spec`, `check_file`; a spec that loads is also built and compiled),
2. the expression compiler (parse, compile to Python, run the code on random rows),
3. the plan reader (`load_plan`),
4. the MA XML reader (`import-ma` and `diff`'s reading of an MA file).

The property is the same for all: a result, or a clean error that names the file and says
where (line, offset or field); never a traceback. Hypothesis runs programmatically (database
off, no shrinking, so the count is the number of examples that ran); a failure is recorded
with its input and the place it crashed, and the run goes on. Seed: MAFORGE_FUZZ_SEED, or
random (reported in the details, so any failure can be reproduced).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from . import Trial
from .strategies import (
    REFERENCE_EXPORTS,
    SAMPLE_SPEC,
    SAMPLES,
    damage_bytes,
    damage_json,
    json_values,
    load_sample,
    mutated_sample_specs,
    to_json_bytes,
    yaml_soup,
)

CATEGORY = "property-based"
QUICK_EXAMPLES = 100
FULL_EXAMPLES = 2000


class Broken(AssertionError):
    """The property does not hold for this input (an unclear or unlocated error, or an
    accepted input that should have been refused)."""


class _Tally:
    def __init__(self) -> None:
        self.examples = 0
        self.counts: dict[str, int] = {}
        self.failures: list[str] = []
        self.tracebacks = 0

    def count(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1


def _where(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__) if error.__traceback__ else []
    inside = [f for f in frames if "/reliability/" not in f.filename.replace("\\", "/")] or frames
    return f" at {Path(inside[-1].filename).name}:{inside[-1].lineno}" if inside else ""


def _explore(strategy: st.SearchStrategy[Any], check: Callable[[Any, _Tally], None], examples: int, run_seed: int) -> _Tally:
    """Run ``check`` on ``examples`` generated inputs; record, never raise."""
    tally = _Tally()

    @seed(run_seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck), print_blob=False)
    @given(strategy)
    def prop(value: Any) -> None:
        tally.examples += 1
        try:
            check(value, tally)
        except Broken as problem:
            if len(tally.failures) < 5:
                tally.failures.append(f"{problem} for {_show(value)}")
        except Exception as error:  # noqa: BLE001 - a crash is what we look for
            tally.tracebacks += 1
            if len(tally.failures) < 5:
                tally.failures.append(f"traceback {type(error).__name__}: {str(error)[:200]}{_where(error)} for {_show(value)}")

    prop()
    return tally


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 300 else text[:300] + f"… ({len(text):,} characters)"


def _trial(name: str, tally: _Tally, run_seed: int, detail: str) -> Trial:
    held = not tally.failures and tally.tracebacks == 0 and tally.examples > 0
    counts = ", ".join(f"{n:,} {what}" for what, n in sorted(tally.counts.items(), key=lambda kv: -kv[1]))
    result = f"{tally.examples:,} examples, {tally.tracebacks} tracebacks" + (f" ({counts})" if counts else "")
    if tally.failures:
        result += f"; {len(tally.failures)} failing, first: {tally.failures[0]}"
    return Trial(CATEGORY, name, tally.examples, held, result, {"seed": run_seed, "inputs": detail, "outcomes": tally.counts, "failures": tally.failures})


# --------------------------------------------------------------------------- 1. the spec loader


def _spec_inputs() -> st.SearchStrategy[tuple[str, bytes]]:
    sample = load_sample()
    json_soup = st.text(alphabet=st.sampled_from(list('{}[]:,"0123456789.eE-+ truefalsn\\u\n\t')), max_size=200)

    def dumped(value: Any) -> st.SearchStrategy[tuple[str, bytes]]:
        return st.sampled_from([
            (".yaml", yaml.safe_dump(value, allow_unicode=True, sort_keys=False).encode("utf-8")),
            (".json", json.dumps(value, ensure_ascii=False).encode("utf-8")),
        ])

    return st.one_of(
        st.tuples(st.sampled_from([".yaml", ".json"]), st.binary(max_size=400)),
        st.tuples(st.just(".yaml"), yaml_soup.map(lambda s: s.encode("utf-8"))),
        st.tuples(st.just(".json"), json_soup.map(lambda s: s.encode("utf-8"))),
        json_values.flatmap(dumped),
        mutated_sample_specs(sample).flatmap(dumped),
        mutated_sample_specs(sample).flatmap(dumped),  # twice: the deepest paths
    )


def _spec_check(folder: Path) -> Callable[[tuple[str, bytes], _Tally], None]:
    from maforge.compiler.build import render_outputs
    from maforge.compiler.diagnostics import SpecError
    from maforge.compiler.loader import UnreadableFile
    from maforge.compiler.powershell.scriptset import ScriptError
    from maforge.compiler.validate import check_file, load_spec
    from maforge.connectors.sync.rulebook import RuleBook, RuleBookError

    def located(diagnostics: Any, path: Path) -> None:
        for d in diagnostics:
            if d.file != str(path):
                raise Broken(f"a diagnostic names {d.file!r}, not the file")
            if not d.message or "Traceback" in d.message:
                raise Broken(f"an empty or traceback message: {d.format()}")
            if d.position is None and d.pointer is None and d.code != "MF000":
                raise Broken(f"no line and no field: {d.format()}")

    def check(value: tuple[str, bytes], tally: _Tally) -> None:
        suffix, content = value
        path = folder / f"spec{suffix}"
        path.write_bytes(content)
        report = check_file(path)
        located(report.diagnostics, path)
        try:
            model, warnings = load_spec(path)
        except SpecError as error:
            if not error.diagnostics:
                raise Broken("SpecError without a diagnostic") from None
            located(error.diagnostics, path)
            if report.valid:
                raise Broken("check_file says valid, load_spec refuses")
            tally.count("refused with a located error")
            return
        except UnreadableFile as error:
            if not str(error).startswith(str(path)):
                raise Broken(f"unreadable without the file name: {error}") from None
            tally.count("unreadable, named")
            return
        located(warnings, path)
        # A spec that loads must also build and compile to the runtime (or say why not).
        try:
            render_outputs(model, path.name)
        except (ScriptError, ValueError) as error:
            if not str(error):
                raise Broken("a build error without a message") from None
            tally.count("valid, build refused cleanly")
            return
        try:
            RuleBook.from_spec(model)
        except RuleBookError:
            pass
        tally.count("valid, built and compiled")

    return check


# --------------------------------------------------------------------------- 2. expressions

_ATTRIBUTES = ["a", "b", "c.d", "SPS-x"]


def _string_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _valid_expressions() -> st.SearchStrategy[str]:
    """Expressions valid by construction: every catalogue function with a fitting number of
    arguments, every operator, literals and attribute references."""
    from maforge.compiler.expressions import FUNCTIONS

    leaves = st.one_of(
        st.sampled_from([f"[{a}]" for a in _ATTRIBUTES]),
        st.text(max_size=8).map(_string_literal),
        st.sampled_from(['"2024-03-01"', '"01.03.2024"', '"2024-03-01T05:00:00Z"', '"dd.MM.yyyy"', '"yyyy-MM-dd HH:mm:ss.fff"', '"d"', '"yyyy"', '"m"', '"[0-9]+"', '"$1"', '"(a|b)*"', '"\\\\"']),
        st.integers(0, 10**6).map(str),
        st.sampled_from(["0.5", "9" * 40, "true", "false", "null", "Now()", "IgnoreThisFlow()", "AuthoritativeNull()"]),
    )
    names = sorted(n for n, f in FUNCTIONS.items() if f.min_args > 0)

    def counts(name: str) -> list[int]:
        f = FUNCTIONS[name]
        top = f.max_args if f.max_args is not None else f.min_args + 4
        return [n for n in range(f.min_args, top + 1) if f.pairs_after is None or (n - f.pairs_after) % 2 == 0]

    def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        call = st.sampled_from(names).flatmap(
            lambda name: st.sampled_from(counts(name)).flatmap(lambda n: st.lists(children, min_size=n, max_size=n).map(lambda args: f"{name}({', '.join(args)})"))
        )
        binary = st.tuples(children, st.sampled_from(["&", "=", "<>", "<", "<=", ">", ">=", "and", "or"]), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})")
        unary = st.tuples(st.sampled_from(["not ", "-"]), children).map(lambda t: f"({t[0]}({t[1]}))")
        return st.one_of(call, binary, unary)

    return st.recursive(leaves, extend, max_leaves=12)


def _mutated(text_strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pieces = list('()[],"&=<>- \\') + ["and", "or", "not", "IIF(", "Trim(", "[a]", '"x"', "1"]

    def mutate(text: str, rng_seed: int) -> str:
        rng = random.Random(rng_seed)
        for _ in range(rng.randint(1, 3)):
            at = rng.randint(0, len(text))
            kind = rng.randrange(3)
            if kind == 0:
                text = text[:at] + rng.choice(pieces) + text[at:]
            elif kind == 1:
                text = text[:at] + text[at + rng.randint(1, 4):]
            else:
                text = text[:at] + text[at:at + rng.randint(1, 8)] * 2 + text[at:]
        return text

    return st.builds(mutate, text_strategy, st.integers(0, 2**32 - 1))


def _expression_inputs() -> st.SearchStrategy[tuple[str, list[dict[str, Any]]]]:
    from maforge.compiler.expressions import FUNCTIONS

    examples = st.sampled_from([f.example for f in FUNCTIONS.values()])
    long_or_deep = st.one_of(
        st.builds(lambda op, n: op.join(["[a]"] * n), st.sampled_from([" & ", " and ", " or ", " = "]), st.integers(1, 3000)),
        st.builds(lambda prefix, n, tail: prefix * n + tail, st.sampled_from(["-", "not ", "Trim(", "(", "IIF(true, "]), st.integers(0, 3000), st.sampled_from(["1", "[a]", ""])),
    )
    texts = st.one_of(
        st.text(max_size=80),
        st.text(alphabet=st.sampled_from(list('()[],"&=<>- abcIJNFx1')), max_size=60),
        _valid_expressions(),
        _valid_expressions(),
        _mutated(_valid_expressions() | examples),
        long_or_deep,
    )
    scalar = st.one_of(
        st.none(),
        st.text(max_size=20),
        st.sampled_from(["", " ", "2024-03-01", "01.03.2024", "2024-03-01T05:00:00Z", "9999-12-31", "0001-01-01", "inf", "-inf", "nan", "1e400", "-1e400", "1e300", "9" * 30, "-0", "yes", "true"]),
        st.integers(-(10**20), 10**20),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
    )
    # JSON sources hand over whatever a document holds: lists of anything, objects too.
    value = st.one_of(scalar, st.lists(st.one_of(st.none(), st.text(max_size=10), st.integers()), max_size=4), json_values)
    rows = st.lists(st.dictionaries(st.sampled_from(_ATTRIBUTES), value, max_size=len(_ATTRIBUTES)), min_size=1, max_size=3)
    return st.tuples(texts, rows)


def _expression_check() -> Callable[[tuple[str, list[dict[str, Any]]], _Tally], None]:
    from maforge.compiler.expressions import ExpressionSyntaxError, parse_expression
    from maforge.compiler.python.expressions import to_python
    from maforge.connectors.sync import functions as F

    now = dt.datetime(2026, 11, 26, 5, 0, tzinfo=dt.timezone.utc)

    def check(value: tuple[str, list[dict[str, Any]]], tally: _Tally) -> None:
        text, rows = value
        try:
            expression = parse_expression(text)
        except ExpressionSyntaxError as error:
            if not (0 <= error.offset <= len(text)) or not error.message:
                raise Broken(f"syntax error without a place in the text: offset {error.offset} of {len(text)}: {error.message!r}") from None
            tally.count("refused with an offset")
            return
        expression.attributes()  # what the semantic rules walk
        code = compile(to_python(expression), "<expression>", "eval")
        failed = 0
        for row in rows:
            try:
                eval(code, {"F": F, "now": now, "__builtins__": {}}, {"row": row})  # noqa: S307 - our own generated code
            except F.ExpressionValueError as error:
                if not str(error):
                    raise Broken("ExpressionValueError without a message") from None
                failed += 1
        tally.count("compiled and ran" if not failed else "compiled, a row refused with ExpressionValueError")

    return check


# --------------------------------------------------------------------------- 3. the plan reader


def _valid_plan() -> dict[str, Any]:
    from maforge.connectors.sync.plan import Plan, ProfileChange, PropertyChange

    adele = "i:0#.f|membership|adele.vance@contoso.onmicrosoft.com"
    lee = "i:0#.f|membership|lee.gu@contoso.onmicrosoft.com"
    plan = Plan(
        "SPO User Profiles", "contoso", "ab" * 32, "0.1.0", "2026-11-26T05:00:00Z", True,
        [
            ProfileChange(adele, "hr row 1 (EmployeeId=E1001)", (
                PropertyChange("Department", "change", "Sales", "Engineering"),
                PropertyChange("SPS-Skills", "set", [], ["Cloud", "Hiring"]),
                PropertyChange("Office", "clear", "Oslo", None),
            )),
            ProfileChange(lee, "hr row 5", (PropertyChange("CostCenter", "set", "", "CC-1"),)),
        ],
        unchanged=3,
        problems=[{"kind": "unjoined-row", "subject": "hr row 9", "detail": "no join rule finds an object"}],
        multi_valued=["SPS-Skills"],
        warnings=[{"kind": "overwritten-by-entra-sync", "subject": "FirstName", "detail": "x"}],
        protected=["WorkEmail"],
    )
    return plan.to_json()


def _plan_inputs() -> st.SearchStrategy[tuple[int, Any, int, int]]:
    return st.tuples(st.integers(0, 2**32 - 1), json_values, st.integers(1, 3), st.sampled_from(["json", "json", "bytes", "both"]))


def _plan_check(folder: Path) -> Callable[[tuple[int, Any, int, int], _Tally], None]:
    from jsonschema import Draft202012Validator

    from maforge.connectors.sync.plan import ACTIONS, Plan, PlanError, load_plan
    from maforge.schemas import load_schema

    base = _valid_plan()
    schema = Draft202012Validator(load_schema("plan"))
    assert schema.is_valid(base)

    def check(value: tuple[int, Any, int, str], tally: _Tally) -> None:
        rng_seed, replacement, edits, how = value
        rng = random.Random(rng_seed)
        data: Any = base
        if how != "bytes":
            for _ in range(edits):
                data = damage_json(data, rng, replacement)
        content = to_json_bytes(data)
        if how in ("bytes", "both"):
            for _ in range(edits):
                content = damage_bytes(content, rng)
        path = folder / "plan.json"
        path.write_bytes(content)
        try:
            plan = load_plan(path)
        except PlanError as error:
            if not str(error).startswith(str(path)):
                raise Broken(f"the message does not start with the file: {error}") from None
            tally.count("refused naming the plan")
            return
        # Accepted: then it was a plan the schema allows, and it reads back the same.
        try:
            parsed = json.loads(content)
        except ValueError:
            raise Broken("accepted a file that is not JSON") from None
        if not schema.is_valid(parsed):
            first = next(iter(schema.iter_errors(parsed)))
            raise Broken(f"accepted a plan the schema refuses ({'/'.join(map(str, first.absolute_path))}: {first.message[:120]})")
        if any(c.action not in ACTIONS for p in plan.profiles for c in p.changes):
            raise Broken("accepted an unknown action")
        if Plan.from_json(plan.to_json(), "again") != plan:
            raise Broken("an accepted plan does not read back the same")
        tally.count("accepted, schema-valid" if parsed != base else "unchanged")

    return check


# --------------------------------------------------------------------------- 4. the MA XML reader


def _ma_corpus(folder: Path) -> list[Path]:
    """Small real exports when the reference folder is there, else what `maforge build`
    writes for the samples."""
    names = ("granfeldt-psma-ma-exported-2025.xml", "granfeldt-psma-ma-exported-2014.xml", "granfeldt-sqlma-ma-exported-2021.xml", "serverconfig-contoso-MA-HROrg-mssql.xml")
    found = [REFERENCE_EXPORTS / n for n in names if (REFERENCE_EXPORTS / n).is_file()]
    if found:
        return found
    from maforge.compiler.build import render_outputs
    from maforge.compiler.validate import load_spec

    corpus = []
    for spec_path in (SAMPLE_SPEC, SAMPLES / "powershell" / "flatfile-hr.yaml"):
        spec, _ = load_spec(spec_path)
        result = render_outputs(spec, spec_path.name)
        target = folder / f"{spec_path.stem}-built.xml"
        target.write_text(result.files[result.xml_name], encoding="utf-8")
        corpus.append(target)
    return corpus


def _damage_tree(data: bytes, rng: random.Random, text: str) -> bytes:
    """One structural edit of an (our own, trusted) XML document."""
    from lxml import etree

    root = etree.fromstring(data)
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    target = rng.choice(elements)
    parent = target.getparent()
    kind = rng.randrange(7)
    if kind == 0 and parent is not None:
        parent.remove(target)
    elif kind == 1 and parent is not None:
        parent.insert(parent.index(target), etree.fromstring(etree.tostring(target, with_tail=False)))
    elif kind == 2:
        target.text = text
    elif kind == 3:
        target.tag = rng.choice(["x", "id", "name", "attribute", "parameter", "ma-data", "schema", "script"])
    elif kind == 4:
        for child in list(target):
            target.remove(child)
    elif kind == 5:
        target.set(rng.choice(["name", "type", "id", "use", "multivalued", "x"]), text)
    else:
        source = rng.choice(elements)
        if source is not target and target not in set(source.iterancestors()) and source not in set(target.iterancestors()):
            target.append(etree.fromstring(etree.tostring(source, with_tail=False)))
    return etree.tostring(root, encoding="utf-8")


def _ma_inputs(corpus: list[Path]) -> st.SearchStrategy[tuple[int, int, int, str, str]]:
    xml_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30).map(
        lambda s: "".join(ch for ch in s if ch in "\t\n\r" or ord(ch) >= 0x20 and ch not in "\ufffe\uffff")
    )
    return st.tuples(st.integers(0, len(corpus) - 1), st.integers(0, 2**32 - 1), st.integers(1, 3), st.sampled_from(["tree", "tree", "bytes", "both"]), xml_text)


def _ma_check(folder: Path, corpus: list[Path]) -> Callable[[tuple[int, int, int, str, str], _Tally], None]:
    from maforge.compiler.mim.decompile import ImportError_
    from maforge.compiler.mim.importma import import_ma
    from maforge.compiler.mim.semdiff import semantic_diff
    from maforge.compiler.mim.sources import SourceError, load_ma_tree

    originals = [p.read_bytes() for p in corpus]
    mv = REFERENCE_EXPORTS / "serverconfig-contoso-MV.xml"
    counter = {"n": 0}

    def check(value: tuple[int, int, int, str, str], tally: _Tally) -> None:
        index, rng_seed, edits, how, text = value
        rng = random.Random(rng_seed)
        data = originals[index]
        if how in ("tree", "both"):
            for _ in range(edits):
                data = _damage_tree(data, rng, text)
        if how in ("bytes", "both"):
            for _ in range(edits):
                data = damage_bytes(data, rng)
        counter["n"] += 1
        path = folder / f"mutated-{counter['n']}.xml"
        path.write_bytes(data)
        out = folder / f"out-{counter['n']}"
        try:
            import_ma(path, out, mv if corpus[index].name.startswith("serverconfig") and mv.is_file() else None, str(path))
            outcome = "imported"
        except ImportError_ as error:
            if not str(error).startswith(str(path)):
                raise Broken(f"import-ma: the message does not start with the file: {str(error)[:200]}") from None
            if out.exists():
                raise Broken(f"import-ma refused but wrote {out}")
            outcome = "refused naming the file"
        try:
            semantic_diff(load_ma_tree(path), load_ma_tree(corpus[index]), str(path), str(corpus[index]))
        except SourceError as error:
            if not str(error).startswith(str(path)):
                raise Broken(f"diff: the message does not start with the file: {str(error)[:200]}") from None
        tally.count(outcome)
        path.unlink()
        shutil.rmtree(out, ignore_errors=True)

    return check


# --------------------------------------------------------------------------- entry point


def run(quick: bool) -> list[Trial]:
    examples = QUICK_EXAMPLES if quick else FULL_EXAMPLES
    run_seed = int(os.environ.get("MAFORGE_FUZZ_SEED") or random.randrange(2**32))
    trials: list[Trial] = []
    with tempfile.TemporaryDirectory(prefix="maforge-properties-") as scratch:
        work = Path(scratch)
        specs = work / "specs"
        specs.mkdir()
        (specs / "hr.csv").write_bytes((SAMPLES / "hr.csv").read_bytes())  # the mutated sample's source
        tally = _explore(_spec_inputs(), _spec_check(specs), examples, run_seed)
        trials.append(_trial("Spec loader: random bytes, YAML/JSON soup, mutated sample specs", tally, run_seed, "bytes, YAML and JSON punctuation soup, random structures, the SPO sample with parts replaced or deleted; valid ones are also built and compiled"))

        tally = _explore(_expression_inputs(), _expression_check(), examples, run_seed)
        trials.append(_trial("Expression compiler: random text and mutated valid expressions, compiled and run", tally, run_seed, "random text, generated valid expressions, mutated ones, long chains and deep nesting; compiled code run on random rows (None, text, dates, huge and infinite numbers, lists)"))

        plans = work / "plans"
        plans.mkdir()
        tally = _explore(_plan_inputs(), _plan_check(plans), examples, run_seed)
        trials.append(_trial("Plan reader: mutated valid plans", tally, run_seed, "a valid plan with keys dropped, values replaced or retyped, unknown keys, then bytes cut, dropped, repeated or flipped"))

        mas = work / "ma"
        mas.mkdir()
        corpus = _ma_corpus(mas)
        tally = _explore(_ma_inputs(corpus), _ma_check(mas, corpus), examples, run_seed)
        trials.append(_trial("MA XML reader: mutated real exports (import-ma, diff)", tally, run_seed, f"{', '.join(p.name for p in corpus)} with elements deleted, copied, renamed, emptied or given random text and attributes, and bytes damaged"))
    return trials
