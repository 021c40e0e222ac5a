"""The generated C# rules extension: what `maforge build` writes, that it compiles as C# 5
against the Microsoft.MetadirectoryServices API, and that under Mono it computes what the
Python runtime computes for the same objects (value, deletion or decline, error kind).

MIM calls the extension with the flow-rule names the MA export holds, so the export and the
class must agree name for name. The differential tests run the compiled DLL through the test
host (tests/csharp/MmsTestHost.cs), as the Synchronization Service would call it, and compare
with maforge's own evaluation of the same flows (planner.desired_value's rules).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import re
from pathlib import Path
from typing import Any

import pytest
from csharp_support import CSHARP_TESTS, JSON_CS, LANGUAGE_VERSION, run_json_lines, run_mcs, toolchain, under_ci
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from lxml import etree

from maforge.compiler.build import render_outputs
from maforge.compiler.csharp.extension import CLASS_NAME, FOLDER, collect_rules, namespace_for
from maforge.compiler.python.expressions import to_python
from maforge.compiler.model import AttributeType, MappingKind
from maforge.compiler.validate import load_spec
from maforge.connectors.sync import functions as F
from maforge.connectors.sync.functions import ExpressionValueError
from maforge.connectors.sync.planner import normalise
from maforge.connectors.sync.values import CLEAR, IGNORE, is_empty

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = {"spo": ROOT / "samples" / "spo-user-profiles.yaml", "flatfile": ROOT / "samples" / "powershell" / "flatfile-hr.yaml"}
STUB = CSHARP_TESTS / "Microsoft.MetadirectoryServices.cs"
HOST = CSHARP_TESTS / "MmsTestHost.cs"
DRIVER = CSHARP_TESTS / "ExtensionDriver.cs"
NOW = "2026-11-26T05:00:00Z"
_BUILT: dict[str, Path] = {}


def _spec(name: str):
    spec, _ = load_spec(SAMPLES[name])
    return spec


def _extension_sources(name: str) -> dict[str, str]:
    result = render_outputs(_spec(name), str(SAMPLES[name]))
    return {path.removeprefix(FOLDER + "/"): text for path, text in result.files.items() if path.startswith(FOLDER + "/")}


def build_extension(sources: dict[str, str], dll: str, tmp_root: Path) -> tuple[Path, str]:
    """Compile the generated sources as the DLL the MA names (C# 5, warnings as errors, as
    csc.exe of the .NET Framework 4 would see them), the API stub and test host it runs on,
    and the driver; all in one folder, so mono finds each assembly. Cached per sources."""
    key = hashlib.sha256(json.dumps(sources, sort_keys=True).encode("utf-8", "surrogatepass") + dll.encode()).hexdigest()[:16]
    if key in _BUILT:
        return _BUILT[key], dll[:-4]
    folder = tmp_root / key
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in sources.items():
        (folder / name).write_text(text, encoding="utf-8")
    run_mcs(folder, ["-target:library", "-out:Microsoft.MetadirectoryServicesEx.dll", str(STUB)])
    run_mcs(folder, ["-target:library", "-out:MmsTestHost.dll", "-r:Microsoft.MetadirectoryServicesEx.dll", "-r:System.Core.dll", str(HOST)])
    run_mcs(folder, ["-target:library", f"-langversion:{LANGUAGE_VERSION}", "-warnaserror+", "-warn:4", f"-out:{dll}", "-r:Microsoft.MetadirectoryServicesEx.dll", *sorted(n for n in sources if n.endswith(".cs"))])
    run_mcs(folder, ["-out:driver.exe", f"-r:{dll}", "-r:Microsoft.MetadirectoryServicesEx.dll", "-r:MmsTestHost.dll", "-r:System.Core.dll", str(DRIVER), str(JSON_CS)])
    _BUILT[key] = folder / "driver.exe"
    return _BUILT[key], dll[:-4]


def run_extension(exe: Path, class_name: str, assembly: str, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each call through the extension's class, in one mono process."""
    answers = run_json_lines(exe, calls, arguments=[f"{class_name}, {assembly}"], timeout=600)
    assert len(answers) == len(calls)
    return answers


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Each sample's extension, compiled and ready to run: name → (exe, class, assembly, spec)."""
    toolchain()
    root = tmp_path_factory.mktemp("extensions")
    built = {}
    for name in SAMPLES:
        spec = _spec(name)
        dll = spec.mim.rules_extension.assembly
        exe, assembly = build_extension(_extension_sources(name), dll, root)
        built[name] = (exe, f"{namespace_for(dll)}.{CLASS_NAME}", assembly, spec)
    return built


# --------------------------------------------------------------------------- what the build writes


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_build_writes_the_extension_the_ma_names(name):
    spec = _spec(name)
    result = render_outputs(spec, str(SAMPLES[name]))
    dll = spec.mim.rules_extension.assembly
    stem = dll[: -len(".dll")]
    assert {p for p in result.files if p.startswith(FOLDER + "/")} == {f"{FOLDER}/{stem}.cs", f"{FOLDER}/MaforgeRuntime.cs", f"{FOLDER}/MaforgeFlows.cs", f"{FOLDER}/build.ps1"}
    xml = etree.fromstring(result.files[result.xml_name].encode("utf-8"))
    assert xml.findtext(".//extension/assembly-name") == dll
    assert '.\\build.ps1 -Install' in result.files["README.md"] and f"`{FOLDER}/`" in result.files["README.md"]
    assert f"'{dll}'" in result.files[f"{FOLDER}/build.ps1"]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_flow_rule_name_in_the_export_has_exactly_one_case(name):
    """MIM passes the export's script-context as FlowRuleName: each must reach one method, in
    the member MIM calls for that kind of mapping."""
    spec = _spec(name)
    result = render_outputs(spec, str(SAMPLES[name]))
    xml = etree.fromstring(result.files[result.xml_name].encode("utf-8"))
    wanted = {
        "MapAttributesForExport": sorted(x.text for x in xml.iterfind(".//export-flow/scripted-mapping/script-context")),
        "MapAttributesForImport": sorted(x.text for x in xml.iterfind(".//import-flow/scripted-mapping/script-context")),
        "MapAttributesForJoin": sorted(x.text for x in xml.iterfind(".//join-criterion//scripted-mapping/script-context")),
    }
    assert sum(map(len, wanted.values())) >= 2
    source = result.files[f"{FOLDER}/{spec.mim.rules_extension.assembly[:-4]}.cs"]
    for member, names in wanted.items():
        body = source[source.index(f"public void {member}(") :]
        body = body[: body.index("default:")]
        cases = sorted(json.loads(m) for m in re.findall(r'case ("(?:[^"\\]|\\.)*"):', body))
        assert cases == names, member


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_build_ps1_parses_as_powershell(name):
    """build.ps1 runs in Windows PowerShell 5.1 on the MIM server; no PowerShell here, so the
    grammar proves it parses, and its text that it compiles with the Framework's csc.exe
    against the assembly of the Synchronization Service's Bin\\Assemblies folder."""
    from support import powershell_syntax_errors

    script = _extension_sources(name)["build.ps1"].removeprefix("\ufeff")
    assert powershell_syntax_errors(script) == []
    assert "GetRuntimeDirectory()) 'csc.exe'" in script and "'Bin\\Assemblies\\Microsoft.MetadirectoryServicesEx.dll'" in script
    assert "/target:library" in script and "$LASTEXITCODE" in script


def test_each_method_shows_the_spec_expression_above_it():
    source = _extension_sources("spo")["Contoso.SpoUserProfiles.RulesExtension.cs"]
    assert '        // export:user.PreferredName: export flow person → user.PreferredName (whenNull: skip)\n        // = Join(" ", Coalesce([preferredName], [firstName]), [lastName])\n        private void Export_user_PreferredName(MVEntry mventry, CSEntry csentry)' in source
    assert source.count("throw new EntryPointNotImplementedException();") == 7  # 4 members, 3 switch defaults


def test_the_same_spec_gives_byte_identical_files():
    assert _extension_sources("spo") == _extension_sources("spo")
    assert all(text.startswith("\ufeff") for text in _extension_sources("spo").values())


def test_identifiers_are_escaped_and_literals_hold_any_unicode(tmp_path, compiled):
    """A target, source and flow-rule name that are not C# identifiers, and an expression with
    astral, combining and quote characters, compile and compute what Python computes."""
    spec_text = SAMPLES["spo"].read_text(encoding="utf-8")
    spec_text = spec_text.replace(
        "        expression: 'ToLower(Coalesce([mail], [upn]))'",
        "        expression: 'ToLower(Coalesce([mail], [upn])) & \"\U0001F600 e\u0301 \\\\ \\\"q\\\" \u200b\"'",
    )
    (tmp_path / "hr.csv").write_text((SAMPLES["spo"].parent / "hr.csv").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "spec.yaml").write_text(spec_text, encoding="utf-8")
    spec, _ = load_spec(tmp_path / "spec.yaml")
    result = render_outputs(spec, str(tmp_path / "spec.yaml"))
    sources = {p.removeprefix(FOLDER + "/"): t for p, t in result.files.items() if p.startswith(FOLDER + "/")}
    assert all(ch < "\x7f" for ch in "".join(l for l in sources["Contoso.SpoUserProfiles.RulesExtension.cs"].splitlines() if "object value" in l))
    exe, assembly = build_extension(sources, spec.mim.rules_extension.assembly, tmp_path / "build")
    rule = next(r for r in collect_rules(spec) if r.name == "export:user.WorkEmail")
    [answer] = run_extension(exe, f"{namespace_for(spec.mim.rules_extension.assembly)}.{CLASS_NAME}", assembly, [_export_call(spec, rule.name, {"mail": "A@B"})])
    assert answer["status"] == "ok" and answer["values"] == ["a@b\U0001F600 e\u0301 \\ \"q\" \u200b"]


# --------------------------------------------------------------------------- differential tests


def _cs_type(spec, object_type: str, name: str) -> tuple[str, bool]:
    definition = spec.object_type(object_type)
    attribute = definition.attribute(name) if definition else None
    if attribute is None:
        return "string", False
    return _type_name(attribute.type), attribute.multi_valued


def _mv_type(spec, name: str) -> tuple[str, bool]:
    for object_type in spec.mv_object_types:
        for attribute in object_type.attributes:
            if attribute.name == name:
                return _type_name(getattr(attribute, "type", AttributeType.STRING)), attribute.multi_valued
    return "string", False


def _type_name(kind) -> str:
    return {AttributeType.INTEGER: "integer", AttributeType.BOOLEAN: "boolean", AttributeType.REFERENCE: "reference", AttributeType.BINARY: "binary"}.get(kind, "string")


def _attribute(name: str, kind: tuple[str, bool], value: Any) -> dict[str, Any]:
    type_name, multi = kind
    if value is None or value == [] or value == "":
        values = None
    else:
        values = list(value) if isinstance(value, list) else [value]
    return {"name": name, "type": type_name, "multi": multi, "values": values}


def _flows(spec):
    """(member, flow-rule name, expression, reads, target, whenNull, object type) of every
    generated rule of the spec."""
    found = []
    for flow_set in spec.export_flows:
        for flow in flow_set.flows:
            if flow.mapping.kind is MappingKind.EXPRESSION:
                found.append(("export", f"export:{flow_set.cs_object_type}.{flow.target}", flow.mapping.expression, flow.mapping.source_attributes(), flow.target, flow.when_null.value, flow_set.cs_object_type))
    for flow_set in spec.import_flows:
        for flow in flow_set.flows:
            if flow.mapping.kind is MappingKind.EXPRESSION:
                found.append(("import", f"import:{flow_set.cs_object_type}.{flow.target}", flow.mapping.expression, flow.mapping.source_attributes(), flow.target, "skip", flow_set.cs_object_type))
    for type_name in dict.fromkeys(r.cs_object_type for r in spec.join):
        for index, rule in enumerate(r for r in spec.join if r.cs_object_type == type_name):
            for criterion in rule.criteria:
                if criterion.mapping.kind is MappingKind.EXPRESSION:
                    found.append(("join", f"join:{type_name}.{index + 1}.{criterion.mv_attribute}", criterion.mapping.expression, criterion.mapping.source_attributes(), criterion.mv_attribute, "skip", type_name))
    return found


def _export_call(spec, rule: str, row: dict[str, Any]) -> dict[str, Any]:
    [flow] = [f for f in _flows(spec) if f[1] == rule]
    return _call(spec, flow, row)


def _call(spec, flow, row: dict[str, Any]) -> dict[str, Any]:
    member, rule, _expression, reads, target, _when_null, object_type = flow
    if member == "export":
        mv = [_attribute(name, _mv_type(spec, name), row.get(name)) for name in reads]
        cs = [_attribute(target, _cs_type(spec, object_type, target), None)]
    else:
        cs = [_attribute(name, _cs_type(spec, object_type, name), row.get(name)) for name in reads]
        mv = [] if member == "join" else [_attribute(target, _mv_type(spec, target), None)]
    return {"member": member, "rule": rule, "mv": mv, "cs": cs, "target": target}


def _python(spec, flow, row: dict[str, Any]) -> tuple:
    """What maforge's runtime makes of the flow for ``row``: the outcome MIM should see."""
    member, _rule, expression, reads, target, when_null, object_type = flow
    visible = {name: row.get(name) for name in reads if not is_empty(row.get(name))}
    try:
        result = eval(compile(to_python(expression), "<flow>", "eval"), {"F": F, "now": NOW, "__builtins__": {}}, {"row": visible})
    except ExpressionValueError:
        return ("error", "Maforge.Runtime.ExpressionValueException")
    if member == "join":
        if result is None or result is IGNORE or result is CLEAR:
            return ("join", [])
        return ("join", sorted({v.casefold() for v in normalise(result, True)}))
    if result is IGNORE:
        return ("declined",)
    if result is CLEAR:
        return ("deleted",)
    multi = (_cs_type(spec, object_type, target) if member == "export" else _mv_type(spec, target))[1]
    shaped = normalise(result, multi)
    if is_empty(shaped):
        return ("deleted",) if when_null == "clear" else ("declined",)
    return ("set", shaped if multi else [shaped])


def _csharp(answer: dict[str, Any]) -> tuple:
    if answer["status"] == "error":
        return ("error", answer["exception"])
    assert answer["status"] in ("ok", "declined"), answer
    if "state" not in answer:
        return ("join", sorted({v.casefold() for v in answer["values"]}))
    if answer["status"] == "declined":
        assert answer["state"] == "untouched"
        return ("declined",)
    if answer["state"] == "deleted":
        return ("deleted",)
    assert answer["state"] == "set", answer
    return ("set", answer["values"])


def _sample_rows(name: str) -> list[dict[str, Any]]:
    """The rows the sample's flows see: the metaverse of the SPO sample (its HR file through
    the Python runtime), the employees of the flat-file sample's own extract."""
    if name == "spo":
        from maforge.connectors.sync.metaverse import build_metaverse, flowing_values
        from maforge.connectors.sync.planner import now_utc
        from maforge.connectors.sync.rulebook import RuleBook

        book = RuleBook.from_spec(_spec(name))
        return [flowing_values(mv) for mv in build_metaverse(book, SAMPLES[name].parent, now_utc(), None).objects]
    import csv

    extract = next((SAMPLES[name].parent).rglob("*.csv"), None)
    rows = [dict(r) for r in csv.DictReader(extract.open(encoding="utf-8"))] if extract else []
    return rows + [{"FirstName": "  ANNE-MARIE", "LastName": "o'NEILL ", "Email": " Anne.ONeill@Contoso.COM "}, {"FirstName": "", "LastName": None, "Email": ""}]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_sample_flows_compute_in_csharp_what_python_computes(name, compiled):
    exe, class_name, assembly, spec = compiled[name]
    rows = _sample_rows(name)
    flows = _flows(spec)
    assert flows and len(rows) >= 2
    calls, expected = [], []
    for flow in flows:
        for row in rows:
            calls.append(_call(spec, flow, row))
            expected.append(_python(spec, flow, row))
    answers = run_extension(exe, class_name, assembly, calls)
    mismatches = [(c["rule"], c, e, _csharp(a)) for c, e, a in zip(calls, expected, answers) if _csharp(a) != e]
    assert not mismatches, mismatches[:5]
    assert any(e[0] == "set" for e in expected)


_TEXT = st.one_of(
    st.none(),
    st.just(""),
    st.text(max_size=12),
    st.sampled_from(["  Adele ", "ÅNGSTRÖM", "o'NEILL-smith", "ß", "İstanbul", "\U0001F600x", "e\u0301", "a\u00a0b", "\u2003x\u2003", "VAN DER BERG"]),
)


def _row_strategy(spec):
    names = sorted({name for flow in _flows(spec) for name in flow[3]})
    return st.fixed_dictionaries({name: _TEXT for name in names})


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_random_objects_compute_the_same_in_both(name, compiled):
    """Hypothesis draws objects for every generated flow (Unicode, white space, empty and
    absent values); all are run in one mono process. Seeded, so a failure reproduces."""
    exe, class_name, assembly, spec = compiled[name]
    flows = _flows(spec)
    rows: list[dict[str, Any]] = []

    @seed(20261203)
    @settings(max_examples=150 if under_ci() else 600, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_row_strategy(spec))
    def draw(row):
        rows.append(row)

    draw()
    calls = [_call(spec, flow, row) for flow in flows for row in rows]
    expected = [_python(spec, flow, row) for flow in flows for row in rows]
    answers = run_extension(exe, class_name, assembly, calls)
    mismatches = [(c["rule"], c, e, _csharp(a)) for c, e, a in zip(calls, expected, answers) if _csharp(a) != e]
    assert not mismatches, f"seed 20261203: {mismatches[:5]}"


def test_a_planted_difference_is_caught(compiled, tmp_path):
    """The control: the same extension with one function changed (PCase upper-cases every
    letter) must disagree with Python, or the differential tests prove nothing."""
    spec = _spec("flatfile")
    sources = _extension_sources("flatfile")
    planted = sources["MaforgeRuntime.cs"]
    assert "public static object PCase(" in planted
    planted = planted.replace("public static object PCase(object value)\n        {", "public static object PCase(object value)\n        {\n            if (value is string) return ((string)value).ToUpperInvariant();", 1)
    assert planted != sources["MaforgeRuntime.cs"]
    exe, assembly = build_extension({**sources, "MaforgeRuntime.cs": planted}, spec.mim.rules_extension.assembly, tmp_path)
    flow = next(f for f in _flows(spec) if f[0] == "import")
    row = {"FirstName": "adele", "LastName": "vance"}
    [answer] = run_extension(exe, f"{namespace_for(spec.mim.rules_extension.assembly)}.{CLASS_NAME}", assembly, [_call(spec, flow, row)])
    assert _csharp(answer) != _python(spec, flow, row)


@pytest.mark.parametrize("member", ["ShouldProjectToMV", "Deprovision", "FilterForDisconnection", "ResolveJoinSearch"])
def test_members_the_spec_does_not_use_throw_entry_point_not_implemented(member):
    source = _extension_sources("spo")["Contoso.SpoUserProfiles.RulesExtension.cs"]
    body = source[source.index(f" {member}(") :]
    body = body[: body.index("}")]
    assert "throw new EntryPointNotImplementedException();" in body


def test_an_unknown_flow_rule_name_throws_entry_point_not_implemented(compiled):
    exe, class_name, assembly, spec = compiled["spo"]
    [answer] = run_extension(exe, class_name, assembly, [{"member": "export", "rule": "export:user.Nothing", "mv": [], "cs": [_attribute("Office", ("string", False), None)], "target": "Office"}])
    assert answer["status"] == "not-implemented" and answer["state"] == "untouched"




_VARIANT = {
    # whenNull: clear on an expression flow: no value deletes the target
    "      CellPhone:\n        from: mobile\n        whenNull: clear\n": "      CellPhone:\n        expression: 'Replace(Trim([mobile]), \" \", \"\")'\n        whenNull: clear\n",
    # AuthoritativeNull() deletes, whatever whenNull says
    "      Manager:\n        from: manager\n        whenNull: clear\n": "      Manager:\n        expression: 'IIF(IsPresent([manager]), [manager], AuthoritativeNull())'\n",
    # IgnoreThisFlow() declines
    "      AboutMe:\n        from: aboutMe\n": "      AboutMe:\n        expression: 'IIF(Left([aboutMe], 1) = \"#\", IgnoreThisFlow(), [aboutMe])'\n",
    # a multi-valued target: the values as a set of texts, repeats dropped
    "      SPS-Skills:\n        from: skills\n": "      SPS-Skills:\n        expression: 'Split(Join(\";\", [skills], [pastProjects]), \";\")'\n",
}


def test_null_decline_delete_and_lists_follow_one_table(tmp_path):
    """whenNull, AuthoritativeNull(), IgnoreThisFlow() and multi-valued targets: the extension
    maps each to MIM's operation (Delete(), DeclineMappingException, Values) exactly where
    the Python runtime plans a clear, no change or a set of values (docs/mim-engine.md)."""
    text = SAMPLES["spo"].read_text(encoding="utf-8")
    for old, new in _VARIANT.items():
        assert old in text
        text = text.replace(old, new)
    (tmp_path / "hr.csv").write_bytes((SAMPLES["spo"].parent / "hr.csv").read_bytes())
    (tmp_path / "spec.yaml").write_text(text, encoding="utf-8")
    spec, _ = load_spec(tmp_path / "spec.yaml")
    dll = spec.mim.rules_extension.assembly
    sources = {p.removeprefix(FOLDER + "/"): t for p, t in render_outputs(spec, str(tmp_path / "spec.yaml")).files.items() if p.startswith(FOLDER + "/")}
    exe, assembly = build_extension(sources, dll, tmp_path / "build")
    flows = [f for f in _flows(spec) if f[4] in ("CellPhone", "Manager", "AboutMe", "SPS-Skills")]
    assert len(flows) == 4
    rows = [
        {"mobile": " +47 900 00 000 ", "manager": "i:0#.f|membership|a@b", "aboutMe": "Hi", "skills": ["SQL", "sql", "C#"], "pastProjects": ["Apollo"]},
        {"mobile": "   ", "manager": None, "aboutMe": "#private", "skills": [], "pastProjects": None},
        {"mobile": None, "manager": "", "aboutMe": None, "skills": ["x;y"], "pastProjects": ["y", ""]},
    ]
    calls = [_call(spec, flow, row) for flow in flows for row in rows]
    expected = [_python(spec, flow, row) for flow in flows for row in rows]
    answers = run_extension(exe, f"{namespace_for(dll)}.{CLASS_NAME}", assembly, calls)
    got = [_csharp(a) for a in answers]
    assert got == expected
    outcomes = {e[0] for e in expected}
    assert outcomes == {"set", "deleted", "declined"}  # every row of the table was met
    assert ("set", ["SQL", "C#", "Apollo"]) in expected  # set semantics: "sql" repeats "SQL"


def test_members_written_by_hand_are_called_and_missing_ones_fail_the_compile(tmp_path):
    """A join resolution script and a `script:` flow are the admin's code: the generated class
    calls them, compiles once the admin's partial file has them, and names what is missing
    when it has not."""
    from csharp_support import CSharpCompileError

    text = SAMPLES["flatfile"].read_text(encoding="utf-8")
    text = text.replace("      - mv: employeeId\n        from: EmployeeId\n", "      - mv: employeeId\n        from: EmployeeId\n    resolution: {script: ResolveByEmployeeId}\n", 1)
    text = text.replace("      jobTitle:\n        from: JobTitle\n", "      jobTitle:\n        script: {context: TitleFromHrCode, sources: [JobTitle]}\n", 1)
    (tmp_path / "spec.yaml").write_text(text, encoding="utf-8")
    shutil.copytree(SAMPLES["flatfile"].parent / "scripts", tmp_path / "scripts")
    spec, _ = load_spec(tmp_path / "spec.yaml")
    result = render_outputs(spec, str(tmp_path / "spec.yaml"))
    sources = {p.removeprefix(FOLDER + "/"): t for p, t in result.files.items() if p.startswith(FOLDER + "/")}
    main = sources["Contoso.HRFlatFile.RulesExtension.cs"]
    assert "return ResolveJoinSearchByHand(joinCriteriaName, csentry, rgmventry, out imventry, ref MVObjectType);" in main
    assert 'case "TitleFromHrCode":\n                    Import_employee_jobTitle(csentry, mventry);' in main
    assert "ResolveJoinSearchByHand" in result.files["README.md"] and "void Import_employee_jobTitle(CSEntry csentry, MVEntry mventry)" in result.files["README.md"]
    with pytest.raises(CSharpCompileError, match="Import_employee_jobTitle|ResolveJoinSearchByHand"):
        build_extension(sources, spec.mim.rules_extension.assembly, tmp_path / "missing")
    own = """using System;
using Microsoft.MetadirectoryServices;
namespace Contoso.HRFlatFile.RulesExtension
{
    public partial class MAExtensionObject
    {
        private bool ResolveJoinSearchByHand(string joinCriteriaName, CSEntry csentry, MVEntry[] rgmventry, out int imventry, ref string MVObjectType)
        {
            imventry = 0;
            return true;
        }

        private void Import_employee_jobTitle(CSEntry csentry, MVEntry mventry)
        {
            mventry["jobTitle"].Value = csentry["JobTitle"].Value.ToUpperInvariant();
        }
    }
}
"""
    exe, assembly = build_extension({**sources, "Own.cs": own}, spec.mim.rules_extension.assembly, tmp_path / "complete")
    call = {"member": "import", "rule": "TitleFromHrCode", "mv": [_attribute("jobTitle", ("string", False), None)], "cs": [_attribute("JobTitle", ("string", False), "engineer")], "target": "jobTitle"}
    [answer] = run_extension(exe, f"{namespace_for(spec.mim.rules_extension.assembly)}.{CLASS_NAME}", assembly, [call])
    assert answer["status"] == "ok" and answer["values"] == ["ENGINEER"]
