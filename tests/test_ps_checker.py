"""The static PowerShell checker (compiler/powershell/checker.py): each kind of fault it is
for is found where it is, the scripts maforge generates and ships pass it, Microsoft's own
connector scripts raise no false alarm, and `maforge validate` reports its findings for
bring-your-own scripts as warnings.
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from maforge.compiler import psconnector
from maforge.compiler.mim.decompile import decompile_model, read_ma_file
from maforge.compiler.mim.mimxml import parse_untrusted
from maforge.compiler.powershell.checker import Script, check_scripts, check_spec, declared_config_names
from maforge.compiler.powershell.scriptset import SCRIPT_FILES
from maforge.compiler.diagnostics import SpecError
from maforge.compiler.validate import load_spec
from support import REPO, SAMPLES

pytest.importorskip("tree_sitter_language_pack")

REFERENCE = REPO.parent / "shared" / "reference" / "ma-exports"
LYNC = REFERENCE / "mimpsconnectors-lync-skype-powershell-ecma2-export-ma.xml"
ECMA2HOST = REFERENCE / "related-ecma2host-csv-powershell-configuration.xml"
needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(), reason="the shared reference folder is not beside this checkout")

MODULE = Script(
    "common.psm1",
    """function Get-Thing {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)] [string] $Name,
        [int] $Count = 1
    )
    $Name * $Count
}
""",
)

# An Import script that is right; each test plants one fault in a copy of one line.
GOOD = """param($ConfigParameters, $Schema, $OpenImportConnectionRunStep, $GetImportEntriesRunStep, $Credential)
Import-Module (Join-Path $env:TEMP $ConfigParameters['Common Module Script Name (with extension)'].Value)
$value = Get-Thing -Name 'a' -Count 2
$list = New-Object System.Collections.ArrayList
[void]$list.Add($value)
$tenant = $ConfigParameters['Tenant_Global'].Value
$entry = [Microsoft.MetadirectoryServices.CSEntryChange]::Create()
$result = New-Object Microsoft.MetadirectoryServices.GetImportEntriesResults
$result
"""


def _findings(text: str, slot: str = "import") -> list[tuple[str, int, int]]:
    found = check_scripts([Script("import.ps1", text, slot)], module=MODULE, config_names=declared_config_names(["Tenant"]))
    return [(f.code, f.line, f.column) for f in found]


def _plant(line: int, new: str) -> str:
    lines = GOOD.splitlines()
    lines[line - 1] = new
    return "\n".join(lines) + "\n"


def test_the_unplanted_script_is_clean():
    assert _findings(GOOD) == []


@pytest.mark.parametrize(
    ("line", "planted", "expected"),
    [
        (3, "$value = Get-Thnig -Name 'a' -Count 2", ("PS101", 3, 10)),  # misspelt function
        (3, "$value = Get-Thing -Name 'a' -Cuont 2", ("PS201", 3, 30)),  # misspelt parameter
        (3, "$value = Get-Thing -Count 2", ("PS202", 3, 10)),  # mandatory -Name missing
        (5, "[void]$list.Add($vaule)", ("PS301", 5, 17)),  # misspelt variable
        (7, "$entry = [Microsoft.MetadirectoryServices.CSEntryChnage]::Create()", ("PS401", 7, 10)),  # unknown type
        (6, "$tenant = $ConfigParameters['Tennant_Global'].Value", ("PS501", 6, 29)),  # undeclared parameter
        (5, "$list.Add($value)", ("PS601", 5, 1)),  # ArrayList.Add leaks its index
    ],
    ids=["function", "parameter", "mandatory", "variable", "type", "config-parameter", "pipeline-leak"],
)
def test_a_planted_fault_is_found_where_it_is(line, planted, expected):
    assert _findings(_plant(line, planted)) == [expected]


def test_messages_say_what_was_meant():
    found = check_scripts([Script("import.ps1", _plant(3, "$value = Get-Thnig -Name 'a' -Cuont 2"), "import")], module=MODULE)
    assert "did you mean 'Get-Thing'?" in found[0].message
    found = check_scripts([Script("import.ps1", _plant(5, "[void]$list.Add($vaule)"), "import")], module=MODULE)
    assert "did you mean '$value'?" in found[0].message


def test_positional_arguments_bind_mandatory_parameters():
    assert _findings(_plant(3, "$value = Get-Thing 'a' 2")) == []


def test_a_module_function_without_loading_the_module():
    assert _findings(_plant(2, "$loaded = $false")) == [("PS102", 3, 10)]


def test_a_script_that_must_write_nothing_writes_something():
    begin_export = "param($ConfigParameters, $Schema, $OpenExportConnectionRunStep, $Credential)\n$x = 1\n$x\n[void]$x.ToString()\n"
    assert _findings(begin_export, "beginExport") == [("PS602", 3, 1)]


def test_a_script_that_must_return_one_object_writes_a_second():
    """Import must return one result object: a value written before it is a second object on
    the pipeline (a debugging line left in). Branches that each return one are fine."""
    leaky = "param($ConfigParameters, $Schema, $OpenImportConnectionRunStep, $GetImportEntriesRunStep, $Credential)\n$result = New-Object 'System.Collections.Hashtable'\n$result\nreturn $result\n"
    assert _findings(leaky, "import") == [("PS603", 3, 1)]
    branches = "param($ConfigParameters, $Schema, $OpenImportConnectionRunStep, $GetImportEntriesRunStep, $Credential)\n$a = 1\nif ($a) { return $a }\nreturn $a\n"
    assert _findings(branches, "import") == []
    assert _findings(leaky.replace("\n$result\n", "\n$result | Out-Null\n"), "import") == []


def test_a_read_before_the_assignment_and_a_loop_carried_value():
    assert _findings("param($CSEntries)\n$total\n$total = 0\n") == [("PS301", 2, 1)]
    carried = "$last = $null\nforeach ($e in @(1, 2)) { if ($previous) { $last = $previous }; $previous = $e }\n$last\n"
    assert _findings(carried) == []


# --------------------------------------------------------------------------- our own scripts


@pytest.mark.parametrize("sample", [SAMPLES / "spo-user-profiles.yaml", SAMPLES / "powershell" / "flatfile-hr.yaml"], ids=lambda p: p.stem)
def test_the_samples_scripts_are_clean(sample):
    spec, _ = load_spec(sample)
    assert [f.format() for f in check_spec(spec)] == []


# --------------------------------------------------------------------------- Microsoft's scripts


def _lync_scripts() -> tuple[list[Script], Script, frozenset[str]]:
    root, ma = read_ma_file(LYNC.read_bytes(), LYNC.name)
    decompiled = decompile_model(root, ma)
    slot_of = {path: slot for slot, path in decompiled.spec["scripts"].items()}
    scripts, module = [], None
    for path, text in decompiled.scripts.items():
        name = "lync/" + path.rsplit("/", 1)[-1]
        if slot_of[path] == "commonModule":
            module = Script(name, text)
        else:
            scripts.append(Script(name, text, slot_of[path]))
    present = {p.get("name", "") for p in ma.iterfind("private-configuration/MAConfig/parameter-values/parameter")}
    return scripts, module, declared_config_names(decompiled.spec.get("parameters", {})) | present


def _ecma2host_scripts() -> tuple[list[Script], Script, frozenset[str]]:
    # Not an MA export (the ECMA2Host's own <Configuration> file), so read it directly.
    root = parse_untrusted(ECMA2HOST.read_bytes(), ECMA2HOST.name)
    values = {p.findtext("Name"): p.findtext("Value") or "" for p in root.iter("Parameter")}
    slot_of = {name: slot for slot, name in psconnector.SCRIPT_PARAMETERS.items()}
    scripts, module = [], None
    for name, text in values.items():
        if name in slot_of and text.strip():
            if slot_of[name] == "commonModule":
                module = Script("ecma2host/" + values["Common Module Script Name (with extension)"], text)
            else:
                scripts.append(Script("ecma2host/" + SCRIPT_FILES[slot_of[name]], text, slot_of[name]))
    custom = [n.strip() for n in values["Additional Config Parameter Names"].split(",") if n.strip()]
    return scripts, module, declared_config_names(custom) | set(values)


@needs_reference
def test_microsofts_connector_scripts_raise_no_false_alarm():
    checked = 0
    findings = []
    for scripts, module, names in (_lync_scripts(), _ecma2host_scripts()):
        checked += len(scripts) + 1
        findings += [f.format() for f in check_scripts(scripts, module=module, config_names=names)]
    assert checked == 15  # Lync: module + 10 scripts; ECMA2Host CSV: module + 3
    # Real faults in Microsoft's ECMA2Host CSV sample, not false alarms: its Export script
    # logs $entry before the loop that sets it, and its copy of the module lost the line of
    # Lync's that sets $Global:ConnectorName (both fail under the Set-PSDebug -Strict it sets).
    assert findings == [
        "ecma2host/export.ps1:138:36: PS301 variable '$entry' is read before it is first assigned (line 141): assign it before this line",
        "ecma2host/xADSyncPSConnectorModule.psm1:26:20: PS301 variable '$Global:ConnectorName' is never assigned: "
        "no script of the set nor the common module sets it",
        "ecma2host/xADSyncPSConnectorModule.psm1:78:20: PS301 variable '$Global:ConnectorName' is never assigned: "
        "no script of the set nor the common module sets it",
    ]


# --------------------------------------------------------------------------- generated specs

_SAMPLE = yaml.safe_load((SAMPLES / "spo-user-profiles.yaml").read_text(encoding="utf-8"))
_RESERVED = {n.lower() for n in psconnector.reserved_names("spo-user-profiles")} | {n.lower() for n in psconnector.SPO_TUNABLE_PARAMETERS}
_names = st.from_regex(r"\A[A-Z][A-Za-z0-9]{2,14}\Z").filter(lambda n: n.lower() not in _RESERVED)
_attribute = st.fixed_dictionaries(
    {"access": st.sampled_from(["ImportOnly", "ExportOnly", "ImportExport"]), "multiValued": st.booleans()}
)
EXAMPLES = 30 if os.environ.get("CI") == "true" else 200


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    parameters=st.dictionaries(_names, st.one_of(st.none(), st.from_regex(r"\A[a-z0-9 ./:-]{0,20}\Z")), max_size=4),
    attributes=st.dictionaries(_names.map(lambda n: f"Custom{n}"), _attribute, max_size=5),
    tunables=st.fixed_dictionaries({name: st.integers(-5, 100000).map(str) for name in ("ImportPageSize", "MaxRetries", "MaxRetryWaitSeconds")}),
    delta=st.booleans(),
    export=st.booleans(),
    export_type=st.sampled_from(["AttributeReplace", "AttributeUpdate", "ObjectReplace"]),
)
def test_generated_scripts_of_varied_specs_pass(tmp_path_factory, parameters, attributes, tunables, delta, export, export_type):
    data = copy.deepcopy(_SAMPLE)
    data["parameters"].update({name: {"value": value} if value is not None else None for name, value in parameters.items()})
    for name, value in tunables.items():
        data["parameters"][name]["value"] = value
    data["schema"]["objectTypes"]["user"]["attributes"].update(attributes)
    data["capabilities"].update({"deltaImport": delta, "export": export, "exportType": export_type})
    # Without the capability the rules refuse what uses it (MF223): leave that out too, so
    # every example is checked rather than three in four filtered away.
    profiles = data["runProfiles"]
    for name in [n for n, steps in profiles.items() if any((not delta and "delta-import" in s["type"]) or (not export and s["type"] == "export") for s in steps)]:
        del profiles[name]
    if not export:
        data.pop("exportFlows", None)
    folder = tmp_path_factory.mktemp("spec")
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    try:
        spec, _ = load_spec(path)
    except SpecError:
        assume(False)  # a combination the rules refuse is not this test's business
    assert [f.format() for f in check_spec(spec)] == []


# --------------------------------------------------------------------------- maforge validate


def test_validate_warns_with_the_scripts_place(tmp_path, cli):
    shutil.copytree(SAMPLES / "powershell", tmp_path / "hr")
    shutil.copy(SAMPLES / "hr.csv", tmp_path / "hr.csv")
    script = tmp_path / "hr" / "scripts" / "import.ps1"
    text = script.read_text(encoding="utf-8")
    assert "$rows = $Global:HRImportRows" in text
    script.write_text(text.replace("$end = [Math]::Min($start + $pageSize, $rows.Count)", "$end = [Math]::Min($start + $pageSzie, $rows.Count)"), encoding="utf-8")
    line, column = next((i, l.index("$pageSzie") + 1) for i, l in enumerate(script.read_text(encoding="utf-8").splitlines(), 1) if "$pageSzie" in l)
    result = cli("validate", str(tmp_path / "hr" / "flatfile-hr.yaml"))
    assert result.exit_code == 0, result.output
    expected = (
        f"{tmp_path / 'hr' / 'scripts' / 'import.ps1'}:{line}:{column}: warning: PS301 variable '$pageSzie' is read but nothing "
        "assigns it in the script (did you mean '$pageSize'?): assign it first, or declare it in param() (at /scripts/import)"
    )
    assert expected in result.output.splitlines()
    assert result.output.splitlines()[-1].endswith("valid (0 errors, 1 warning)")


def test_without_the_grammar_validate_says_the_scripts_were_not_checked(tmp_path, cli, monkeypatch):
    """The grammar is the `check` extra, not a dependency of every install: without it,
    validate says once that the scripts went unchecked instead of passing them in silence."""
    from maforge.compiler.powershell import checker

    monkeypatch.setattr(checker, "available", lambda: False)
    result = cli("validate", str(SAMPLES / "powershell" / "flatfile-hr.yaml"))
    assert result.exit_code == 0, result.output
    [note] = [line for line in result.output.splitlines() if "MF251" in line or "not checked" in line]
    assert "the scripts were not checked" in note and "pip install 'maforge[check]'" in note
