"""The generated SharePoint Online user-profile scripts: syntax, the connector's contract,
declared parameters, no pipeline leaks, paging and watermarks, and the export rule book
(tests/data/spo_export_cases.json).

No PowerShell runs here: the scripts are read with tree-sitter's PowerShell grammar, so the
checks are structural. What they cannot prove (behaviour against a real connector and
tenant) is listed in the build's README and in the issue's report.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from maforge.compiler import psconnector
from maforge.compiler.build import render_outputs
from maforge.compiler.powershell.scriptset import ScriptError
from maforge.compiler.powershell.sposcripts import admin_notes, config_reader, render_spo_scripts
from maforge.compiler.validate import load_spec
from support import FIXTURES, SAMPLES, powershell_syntax_errors

CASES = json.loads((Path(__file__).parent / "data" / "spo_export_cases.json").read_text(encoding="utf-8"))

SPECS = {
    "sample": (SAMPLES / "spo-user-profiles.yaml", None),
    "sample-dev": (SAMPLES / "spo-user-profiles.yaml", "dev"),
    "sample-prod": (SAMPLES / "spo-user-profiles.yaml", "prod"),
    "minimal": (FIXTURES / "valid" / "minimal.yaml", None),
}

SLOTS = ("commonModule", "validation", "schema", "beginImport", "import", "endImport", "beginExport", "export", "endExport")


@cache
def spec_of(key: str):
    path, environment = SPECS[key]
    spec, _ = load_spec(path, environment)
    return spec


@cache
def scripts_of(key: str) -> dict[str, str]:
    return render_spo_scripts(spec_of(key))


# --------------------------------------------------------------------------- tree helpers


@cache
def _parser():
    from tree_sitter_language_pack import get_parser

    return get_parser("powershell")


@dataclass
class Script:
    text: str

    def __post_init__(self):
        self.data = self.text.encode("utf-8")
        self.root = _parser().parse(self.data).root_node

    def src(self, node) -> str:
        return self.data[node.start_byte : node.end_byte].decode("utf-8")

    def walk(self, node=None):
        stack = [node or self.root]
        while stack:
            current = stack.pop()
            yield current
            stack.extend(reversed(current.children))

    def functions(self) -> dict[str, object]:
        result = {}
        for node in self.walk():
            if node.type == "function_statement":
                name = next(c for c in node.children if c.type == "function_name")
                result[self.src(name)] = node
        return result

    def function(self, name: str):
        functions = self.functions()
        assert name in functions, f"function {name} not found"
        return functions[name]

    def strings(self, node) -> list[str]:
        """The values of the single-quoted string literals under ``node``."""
        values = []
        for child in self.walk(node):
            if child.type == "string_literal":
                text = self.src(child)
                if text.startswith("'") and text.endswith("'"):
                    values.append(text[1:-1].replace("''", "'"))
        return values

    def switch_clauses(self, node) -> dict[str, object]:
        """Label → statement block of every switch clause under ``node``."""
        clauses = {}
        for child in self.walk(node):
            if child.type == "switch_clause":
                condition = next(c for c in child.children if c.type == "switch_clause_condition")
                block = next(c for c in child.children if c.type == "statement_block")
                label = self.src(condition).strip("'")
                clauses[label] = block
        return clauses


def script(key: str, slot: str) -> Script:
    return Script(scripts_of(key)[slot])


# --------------------------------------------------------------------------- syntax


@pytest.mark.parametrize("key", SPECS)
def test_every_generated_script_parses(key):
    scripts = scripts_of(key)
    assert set(scripts) == set(SLOTS)
    for slot, text in scripts.items():
        assert powershell_syntax_errors(text) == [], f"{key}: {slot}"


# PowerShell 6/7 operators and parameters (the connectors host Windows PowerShell 5.1).
PS7_ONLY = [
    r"\?\?",  # null-coalescing
    r"\?\.",  # null-conditional member access
    r"&&",
    r"\|\|",
    r"-AsHashtable",
    r"-SkipHttpErrorCheck",
    r"-StatusCodeVariable",
    r"-ResponseHeadersVariable",
    r"-MaximumRetryCount",
    r"-Parallel",
    r"\bclean\s*\{",
]


def ps7_only(text: str) -> list[str]:
    """The PS7_ONLY patterns found in ``text`` outside comment lines."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return [pattern for pattern in PS7_ONLY if re.search(pattern, code)]


@pytest.mark.parametrize("key", SPECS)
def test_windows_powershell_5_1_syntax_only(key):
    """No PowerShell 6/7 operators or parameters (the connector hosts Windows PowerShell)."""
    for slot, text in scripts_of(key).items():
        assert ps7_only(text) == [], slot


# --------------------------------------------------------------------------- parameters


def _definition_names(key: str) -> set[str]:
    result = render_outputs(spec_of(key), "spec.yaml")
    root = etree.fromstring(result.files[result.xml_name].encode())
    names = {p.findtext("name") for p in root.iterfind(".//parameter-definitions/parameter")}
    return {n for n in names if n}


def _config_reads(doc: Script) -> tuple[set[str], list[str]]:
    """Names the script reads from $ConfigParameters: string-literal indexes and
    .Contains() arguments, and the arguments of every Get-MfSetting call. Second: the
    source of every index with a computed name (allowed only inside Get-MfSetting)."""
    names: set[str] = set()
    computed: list[str] = []
    setting = doc.functions().get("Get-MfSetting")
    for node in doc.walk():
        text = doc.src(node)
        if node.type == "element_access" and text.startswith("$ConfigParameters["):
            literal = re.fullmatch(r"\$ConfigParameters\['((?:[^']|'')*)'\]", text)
            if literal:
                names.add(literal.group(1).replace("''", "'"))
            elif not (setting and setting.start_byte <= node.start_byte < setting.end_byte):
                computed.append(text)
        if node.type == "invokation_expression" and text.startswith("$ConfigParameters.Contains("):
            names.update(doc.strings(node))
        if node.type == "command":
            name = next((c for c in node.children if c.type == "command_name"), None)
            if name is not None and doc.src(name) == "Get-MfSetting":
                names.update(doc.strings(node))
    return names, computed


@pytest.mark.parametrize("key", SPECS)
def test_every_config_parameter_read_is_declared_by_the_ma(key):
    declared = _definition_names(key)
    seen: set[str] = set()
    for slot, text in scripts_of(key).items():
        names, computed = _config_reads(Script(text))
        assert computed == [], f"{slot} indexes $ConfigParameters with a computed name outside Get-MfSetting"
        assert names <= declared, f"{slot} reads undeclared {sorted(names - declared)}"
        seen |= names
    # The scripts really do read the parameters maforge declares for them.
    for name in ("TenantName", "TenantId", "ClientId", "CertificateThumbprint", "AuthMode", "UserAgent", "LogLevel", "MaxRetryWaitSeconds"):
        assert f"{name}_Global" in seen and f"{name}_RunStep" in seen, name
    assert "Common Module Script" in seen


def test_run_step_values_win_over_global_ones():
    """The helper lists run step before global (no partition page: partitions are off)."""
    config = config_reader(spec_of("sample"))
    assert config("MaxRetryWaitSeconds") == "(Get-MfSetting $ConfigParameters 'MaxRetryWaitSeconds_RunStep','MaxRetryWaitSeconds_Global')"
    body = Script(scripts_of("sample")["commonModule"]).function("Get-MfSetting")
    assert "foreach ($name in $Names)" in Script(scripts_of("sample")["commonModule"]).src(body)


def test_the_config_helper_refuses_undeclared_names():
    config = config_reader(spec_of("minimal"))
    with pytest.raises(ScriptError, match="'HomeRegion', which this MA does not declare"):
        config("HomeRegion")  # no spec declares it
    with pytest.raises(ScriptError):
        config("Partition Server")  # only exists on MAs with partitions
    assert config("TenantName").startswith("(Get-MfSetting")
    assert config("AdminUrl").startswith("(Get-MfSetting")
    assert "Contains('Server')" in config("Server", raw=True)


# What the connector passes to each slot (psconnector-script-contract.md §1), with aliases.
CONTRACT = {
    "validation": [("ConfigParameters", ()), ("ConfigParameterPage", ()), ("Credential", ("PSCredential",))],
    "schema": [("ConfigParameters", ()), ("Credential", ("PSCredential",))],
    "beginImport": [("ConfigParameters", ()), ("Schema", ("Types",)), ("OpenImportConnectionRunStep", ()), ("Credential", ("PSCredential",))],
    "import": [
        ("ConfigParameters", ()),
        ("Schema", ("Types",)),
        ("OpenImportConnectionRunStep", ()),
        ("GetImportEntriesRunStep", ("ImportRunStep",)),
        ("Credential", ("PSCredential",)),
    ],
    "endImport": [
        ("ConfigParameters", ()),
        ("Schema", ("Types",)),
        ("OpenImportConnectionRunStep", ()),
        ("CloseImportConnectionRunStep", ()),
        ("Credential", ("PSCredential",)),
    ],
    "beginExport": [("ConfigParameters", ()), ("Schema", ("Types",)), ("OpenExportConnectionRunStep", ()), ("Credential", ("PSCredential",))],
    "export": [("ConfigParameters", ()), ("Schema", ("Types",)), ("OpenExportConnectionRunStep", ()), ("CSEntries", ()), ("Credential", ("PSCredential",))],
    "endExport": [
        ("ConfigParameters", ()),
        ("Schema", ("Types",)),
        ("OpenExportConnectionRunStep", ()),
        ("CloseExportConnectionRunStep", ()),
        ("Credential", ("PSCredential",)),
    ],
}


def _script_parameters(doc: Script) -> list[tuple[str, tuple[str, ...]]]:
    block = next(n for n in doc.walk() if n.type == "param_block")  # the script's: it comes first
    result = []
    for parameter in (n for n in doc.walk(block) if n.type == "script_parameter"):
        variable = next(c for c in parameter.children if c.type == "variable")
        aliases = tuple(
            s for a in doc.walk(parameter) if a.type == "attribute" and doc.src(a).startswith("[Alias(") for s in doc.strings(a)
        )
        result.append((doc.src(variable)[1:], aliases))
    return result


@pytest.mark.parametrize("slot", CONTRACT)
def test_each_script_declares_exactly_the_connector_parameters(slot):
    doc = script("sample", slot)
    assert _script_parameters(doc) == CONTRACT[slot]
    # No [Parameter()] or [CmdletBinding()]: an advanced script would refuse named arguments
    # a connector build adds.
    assert "[Parameter(" not in doc.text and "CmdletBinding" not in doc.text


# --------------------------------------------------------------------------- no pipeline leaks

# Commands that write nothing to the pipeline.
SILENT_COMMANDS = {
    "Start-Sleep",
    "Remove-Item",
    "Remove-Module",
    "Move-Item",
    "Remove-Variable",
    "Write-Verbose",
    "Write-Warning",
    "Export-ModuleMember",
    "Set-StrictMode",
}
RETURNS = {
    "validation": "ParameterValidationResult",
    "schema": "$schema",
    "beginImport": "OpenImportConnectionResults",
    "import": "$results",
    "endImport": "CloseImportConnectionResults",
    "beginExport": None,
    "export": "PutExportEntriesResults",
    "endExport": None,
}
CONTROL = {
    "if_statement",
    "else_clause",
    "elseif_clauses",
    "elseif_clause",
    "foreach_statement",
    "for_statement",
    "while_statement",
    "do_statement",
    "try_statement",
    "catch_clauses",
    "catch_clause",
    "finally_clause",
    "switch_statement",
    "switch_body",
    "switch_clauses",
    "switch_clause",
    "statement_block",
    "statement_list",
    "script_block",
    "script_block_body",
}


def _silent(doc: Script, pipeline, silent_functions: set[str]) -> bool:
    chain = next((c for c in pipeline.children if c.type == "pipeline_chain"), None)
    if any(c.type == "assignment_expression" for c in pipeline.children):
        return True
    if chain is None:
        return False
    elements = [c for c in chain.children if c.type != "|"]
    last = elements[-1]
    if last.type == "command":
        name = doc.src(next(c for c in last.children if c.type == "command_name"))
        if name == "Out-Null" or name in SILENT_COMMANDS or name in silent_functions:
            return True
        return False
    if len(elements) == 1:
        text = doc.src(last)
        # $i++ as a statement emits nothing.
        return text.startswith("[void]") or text.startswith("$null =") or re.fullmatch(r"\$[\w:]+(\+\+|--)", text) is not None
    return False


def _statements(doc: Script, node):
    """Statements in ``node``'s blocks, descending into control flow, not into nested
    functions or script blocks used as values."""
    for child in node.children:
        if child.type == "function_statement":
            continue
        if child.type in ("pipeline", "flow_control_statement"):
            if node.type == "statement_list":  # not a condition or a loop header
                yield child
            continue
        if child.type in CONTROL:
            yield from _statements(doc, child)


def _value_returns(doc: Script, node) -> list:
    return [
        s
        for s in _statements(doc, node)
        if s.type == "flow_control_statement" and doc.src(s).startswith("return") and any(c.type == "pipeline" for c in s.children)
    ]


def _body(function):
    return next(c for c in function.children if c.type == "script_block")


def _leaks(doc: Script, node, silent_functions: set[str]) -> list[str]:
    found = []
    for statement in _statements(doc, node):
        if statement.type == "pipeline" and not _silent(doc, statement, silent_functions):
            found.append(f"line {statement.start_point[0] + 1}: {doc.src(statement)[:80]}")
    return found


@pytest.mark.parametrize("key", ["sample", "minimal"])
def test_nothing_but_the_intended_object_reaches_the_pipeline(key):
    scripts = scripts_of(key)
    module = Script(scripts["commonModule"])
    functions = dict(module.functions())
    for slot in RETURNS:
        functions.update(Script(scripts[slot]).functions())
    # Functions that only ever emit through `return`; the ones without a value-return are
    # silent and may be called as statements.
    docs = [module] + [Script(scripts[s]) for s in RETURNS]
    silent = set()
    for doc in docs:
        for name, function in doc.functions().items():
            if not _value_returns(doc, _body(function)):
                silent.add(name)
    problems = []
    for doc in docs:
        for name, function in doc.functions().items():
            problems += [f"{name}: {leak}" for leak in _leaks(doc, _body(function), silent)]
    for slot, expected in RETURNS.items():
        doc = Script(scripts[slot])
        problems += [f"{slot}: {leak}" for leak in _leaks(doc, doc.root, silent)]
        returns = _value_returns(doc, doc.root)
        if expected is None:
            assert returns == [], slot
        else:
            # Validation returns a failure or a success; every other script returns once.
            assert returns and all(expected in doc.src(r) or "New-MfValidationResult" in doc.src(r) for r in returns), slot
            assert len(returns) == (2 if slot == "validation" else 1), slot
    assert problems == []


def test_the_leak_check_catches_leaks():
    doc = Script("function F { $x.Add(1); [void]$x.Add(2); $y = 3; G }\nfunction G { }\n$list.Count\nStart-Sleep 1\n")
    leaks = _leaks(doc, _body(doc.function("F")), {"G"}) + _leaks(doc, doc.root, set())
    assert [leak.split(": ", 1)[1] for leak in leaks] == ["$x.Add(1)", "$list.Count"]


# --------------------------------------------------------------------------- paging and watermarks


def _assignment(doc: Script, target: str, within=None) -> list[str]:
    """Right-hand sides assigned to ``target`` anywhere in the script (or under ``within``)."""
    result = []
    for node in doc.walk(within):
        if node.type == "assignment_expression":
            left = next(c for c in node.children if c.type == "left_assignment_expression")
            if doc.src(left).strip() == target:
                right = next(c for c in reversed(node.children) if c.type not in ("assignement_operator",))
                result.append(doc.src(right))
    return result


def test_import_pages_through_the_cursor():
    doc = script("sample", "import")
    assert _assignment(doc, "$cursor") == ["ConvertFrom-MfCursor -Text ([string]$GetImportEntriesRunStep.CustomData)"]
    # The page itself is the common module's (Get-MfImportPage); the script hands it the
    # cursor and the run profile's page size and returns what it says.
    assert _assignment(doc, "$page") == ["Get-MfImportPage -Cursor $cursor -PageSize $pageSize"]
    assert _assignment(doc, "$results.MoreToImport") == ["$page.More"]
    assert _assignment(doc, "$results.CustomData") == ["ConvertTo-MfCursor -Cursor $page.Cursor"]
    assert _assignment(doc, "$results.CSEntries") == ["$entries"]
    assert _assignment(doc, "$pageSize") == ["[int]$OpenImportConnectionRunStep.PageSize"]
    module = script("sample", "commonModule")
    page = module.function("Get-MfImportPage")
    assert _assignment(module, "$cursor", page) == ["$Cursor"]
    assert _assignment(module, "$more", page) == ["($cursor.phase -ne 'done')"]
    assert [module.src(r) for r in _value_returns(module, _body(page))] == ["return @{ Entries = $entries; Cursor = $cursor; More = $more }"]
    assert _assignment(module, "$cursor.next", page) == ["$page.Next"]
    assert _assignment(module, "$pageSize", page) == ["$PageSize", "100"]
    # One upstream page never exceeds the run profile's page size.
    assert _assignment(module, "$top", page) == ["[Math]::Min($settings.ImportPageSize, $pageSize)"]
    # Deletes are paged by the offset in the cursor.
    assert _assignment(module, "$cursor.offset", page) == ["$offset"]
    assert "[int]$cursor.offset" in _assignment(module, "$offset", page)
    # Begin Import starts the cursor (Start-MfImport) that Import reads, and returns it as CustomData.
    begin = script("sample", "beginImport")
    assert _assignment(begin, "$cursor") == ["Start-MfImport -Mode $mode -Stored $stored"]
    ret = _value_returns(begin, begin.root)
    assert [begin.src(r) for r in ret] == [
        "return (New-Object Microsoft.MetadirectoryServices.OpenImportConnectionResults -ArgumentList (ConvertTo-MfCursor $cursor))"
    ]
    start = module.src(module.function("Start-MfImport"))
    assert "phase   = 'users'" in start and "prev    = $stored" in start


def test_end_import_moves_the_watermark_only_after_a_normal_end():
    doc = script("sample", "endImport")
    # The decision is the common module's (Stop-MfImport), shared with the PSMA set.
    module = script("sample", "commonModule")
    stop = module.function("Stop-MfImport")
    branch = next(n for n in module.walk(stop) if n.type == "if_statement" and "$Reason -eq 'Normal'" in module.src(n))
    condition = module.src(branch).split("{", 1)[0]
    assert "$Reason -eq 'Normal'" in condition and "$Cursor.phase -eq 'done'" in condition
    then_block = next(c for c in branch.children if c.type == "statement_block")
    else_block = next(c for c in branch.children if c.type == "else_clause")
    assert "$Watermark = Complete-MfSnapshot -Cursor $Cursor" in module.src(then_block)
    assert "$Watermark" not in module.src(else_block).replace("-f $Reason, $Watermark", "")
    assert [module.src(r) for r in _value_returns(module, _body(stop))] == ["return $Watermark"]
    # The watermark starts as the stored one (the cursor's copy if the engine passes none).
    assert _assignment(doc, "$watermark") == [
        "[string]$OpenImportConnectionRunStep.CustomData",
        "[string]$cursor.prev",
        "Stop-MfImport -Cursor $cursor -Reason $reason -Watermark $watermark",
    ]
    assert _assignment(doc, "$reason") == ["[string]$CloseImportConnectionRunStep.Reason"]
    returns = _value_returns(doc, doc.root)
    assert [doc.src(r) for r in returns] == ["return (New-Object Microsoft.MetadirectoryServices.CloseImportConnectionResults -ArgumentList $watermark)"]


def test_a_delta_import_needs_a_snapshot_and_a_full_import_makes_one():
    module = script("sample", "commonModule")
    start = module.function("Start-MfImport")
    assert "Run a Full Import first" in module.src(start)
    _, needs_full, _ = _the_if(module, start, "$mode -eq 'Delta' -and $base -eq ''")
    assert _throws(module, needs_full) == ["needs-full"]
    # Begin Import raises it as this connector's error.
    begin = script("sample", "beginImport")
    _, raised, _ = _the_if(begin, None, "'needs-full'")
    assert _throws(begin, raised) == ["throw (New-Object Microsoft.MetadirectoryServices.ExtensibleExtensionException -ArgumentList $failure.Message)"]
    assert "Move-Item" in module.src(module.function("Complete-MfSnapshot"))


# --------------------------------------------------------------------------- export rule book


def _valence(case, name: str) -> str:
    return "multi" if CASES["schema"]["attributes"][name]["multiValued"] else "single"


def _attribute_cases(case) -> list[tuple[str, str]]:
    """(switch label, attribute) the export mapping uses for ``case``."""
    attributes = CASES["schema"]["attributes"]
    entry = case["entry"]
    if entry["objectModificationType"] == "Delete":
        return []
    labels = []
    for change in entry["attributeChanges"]:
        if attributes[change["name"]]["access"] == "ImportOnly":
            continue
        labels.append((f"{change['modificationType']}:{_valence(case, change['name'])}", change["name"]))
    if entry["objectModificationType"] == "Replace":
        carried = {c["name"] for c in entry["attributeChanges"]}
        labels += [(f"Delete:{_valence(case, n)}", n) for n in case["managed"] if n not in carried]
    return labels


@pytest.mark.parametrize("case", CASES["cases"], ids=[c["name"] for c in CASES["cases"]])
def test_export_mapping_follows_the_rule_book(case):
    # The mapping and the per-entry rules are the common module's, shared by both connectors;
    # the export script only adapts CSEntryChanges and results.
    doc = script("sample", "commonModule")
    export = script("sample", "export")
    mapping = doc.function("ConvertTo-MfSpoCalls")
    shaping = doc.function("New-MfSpoCall")
    object_switch = next(n for n in doc.walk(mapping) if n.type == "switch_statement")
    object_clauses = doc.switch_clauses(object_switch)
    attribute_switch = [n for n in doc.walk(mapping) if n.type == "switch_statement"][-1]
    attribute_clauses = doc.switch_clauses(attribute_switch)
    shapes = doc.switch_clauses(shaping)

    entry = case["entry"]
    assert entry["objectModificationType"] in object_clauses
    object_block = doc.src(object_clauses[entry["objectModificationType"]])
    if entry["objectModificationType"] == "Delete":
        assert "return , $calls" in object_block and case["calls"] == []
    if entry["objectModificationType"] == "Replace":
        assert "$clearAbsent = $true" in object_block

    sets = [c for c in case["calls"] if c["method"] == "POST"]
    labels = _attribute_cases(case)
    if case["result"].get("errorName") == "spo-profile-not-found":
        # The profile is looked up before any call is sent.
        entry_rules = doc.src(doc.function("Invoke-MfExportEntry"))
        assert entry_rules.index("$current = Get-MfProfile -Account $account") < entry_rules.index("Invoke-MfSpoCall -Call $call")
        labels = []
    # Retries repeat a call; the mapping produces each once.
    distinct = [c for i, c in enumerate(sets) if c not in sets[:i]]
    assert len(labels) == len(distinct), "one call per exported attribute change"
    for (label, name), call in zip(labels, distinct, strict=True):
        assert label in attribute_clauses, label
        endpoint = call["path"].rsplit("/", 1)[1]
        clause = attribute_clauses[label]
        assert endpoint in doc.strings(clause), f"{label} → {endpoint}"
        assert call["body"]["propertyName"] == name
        # The body's keys are exactly the ones New-MfSpoCall writes for that endpoint.
        body = doc.src(shapes[endpoint])
        written = set(re.findall(r"(\w+) = ", body.split("[ordered]@{", 1)[1].split("}", 1)[0]))
        assert written == set(call["body"]), endpoint
        assert call["path"] == "/_api/SP.UserProfiles.PeopleManager/" + endpoint
        # Clearing is explicit: an empty value or an empty list.
        if label.startswith("Delete:"):
            assert call["body"].get("propertyValue", "") == "" and call["body"].get("propertyValues", []) == []
            assert ("@('')" if label.endswith("single") else "-Values @()") in doc.src(clause)
        if label == "Update:multi":
            assert "-Adds" in doc.src(clause) and "-Deletes" in doc.src(clause)
    reads = [c for c in case["calls"] if c["method"] == "GET"]
    if reads:
        module = script("sample", "commonModule")
        assert all(r["path"] in module.src(module.function("Get-MfProfile")) + "(accountName=@v)" for r in reads)
        assert "/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName=@v)?@v=" in module.text
    expected = case["result"]
    module = doc
    if expected.get("stopsRun"):
        # Every entry would meet it: the run stops with one message naming the fix.
        _, stop, _ = _the_if(doc, _export_catch(doc), "UnauthorizedAccess")
        assert _block(doc, stop).splitlines()[-3:] == ["$outcome.Stop = 'permission'", "$outcome.Message = $message", "return $outcome"]
        _, raised, _ = _the_if(export, None, "$outcome.Stop -eq 'permission'")
        assert _throws(export, raised) == ["throw (New-Object Microsoft.MetadirectoryServices.ExtensibleExtensionException -ArgumentList $outcome.Message)"]
        advice = doc.strings(next(n for n in doc.walk() if n.type == "assignment_expression" and doc.src(n).startswith("$MfPermissionAdvice")))[0]
        message = "".join(doc.strings(stop)) + advice
        denied = next(a for a in case["responses"] if a["status"] == 403)
        # What SharePoint said goes into the message (Get-MfErrorDetail), the permission from the script.
        for text in expected["messageContains"]:
            assert text in message or text in denied["body"]["odata.error"]["message"]["value"], text
        assert "$status -eq 403" not in _block(doc, stop)
    elif expected["errorCode"] != "Success":
        assert expected["errorName"] in module.strings(module.function("Get-MfErrorName"))
        assert "ExportErrorCustomContinueRun, $name, $detail" in export.text
    else:
        assert "[Microsoft.MetadirectoryServices.MAExportError]::Success" in export.text
    if expected.get("errorName") == "spo-profile-not-found":
        # Whatever form "no profile" takes in the row, the script reads it as no profile.
        for answer in [a for a in case.get("responses", []) if a["status"] >= 300]:
            code = answer["body"]["odata.error"]["code"]
            assert _no_profile(answer["status"], code, answer["body"]["odata.error"]["message"]["value"]), code
    if "anchor" in expected:
        assert "$outcome.Anchors[$anchorName] = $value" in doc.src(doc.function("Invoke-MfExportEntry"))
        assert "CreateAttributeAdd($anchorName, $value)" in export.text
    throttles = [a for a in case.get("responses", []) if a["status"] in (429, 503) and "Retry-After" in a.get("headers", {})]
    if throttles:
        # Waited out as asked, however often (see test_throttled_calls_wait_as_long_as_asked...).
        assert case["waits"] == [float(a["headers"]["Retry-After"]) for a in throttles]
        assert max(case["waits"]) <= _single_wait_guard()


def _export_catch(doc: Script):
    """The per-entry catch clause of the common module's Invoke-MfExportEntry."""
    return next(n for n in doc.walk(doc.function("Invoke-MfExportEntry")) if n.type == "catch_clause")


def _no_profile(status: int, code: str, message: str) -> bool:
    """Test-MfNoProfile of the common module, evaluated on one failed GetPropertiesFor: its
    status list and its pattern (PowerShell's -match is a case-insensitive .NET regex)."""
    module = script("sample", "commonModule")
    test = module.function("Test-MfNoProfile")
    body = module.src(test)
    pattern = re.search(r"\$text -match '([^']+)'", body).group(1)
    if status == 404:
        return True
    statuses = [int(n) for n in re.search(r"@\(([\d, ]+)\) -notcontains \$status", body).group(1).split(",")]
    return status in statuses and re.search(pattern, f"{code} HTTP {status}: {message}", re.IGNORECASE) is not None


def test_rule_book_is_consistent():
    """Every row is complete and on the admin host; every attribute-level switch label of
    the script is exercised by some row."""
    assert CASES["host"] == "https://contoso-admin.sharepoint.com"
    used = {label for case in CASES["cases"] for label, _ in _attribute_cases(case)}
    doc = script("sample", "commonModule")
    mapping = doc.function("ConvertTo-MfSpoCalls")
    attribute_switch = [n for n in doc.walk(mapping) if n.type == "switch_statement"][-1]
    assert set(doc.switch_clauses(attribute_switch)) - {"default"} == used
    assert all(c["result"].get("errorCode") or c["result"].get("stopsRun") for c in CASES["cases"])
    objects = {c["entry"]["objectModificationType"] for c in CASES["cases"]}
    assert objects == {"Add", "Update", "Replace", "Delete"}
    for case in CASES["cases"]:
        for call in case["calls"]:
            assert call["method"] in ("GET", "POST")
            if call["method"] == "POST":
                assert set(call["body"]) in ({"accountName", "propertyName", "propertyValue"}, {"accountName", "propertyName", "propertyValues"})
                assert call["body"]["accountName"] == CASES["account"]


def test_requests_are_utf8_json_with_the_user_agent():
    module = script("sample", "commonModule")
    assert "[System.Text.Encoding]::UTF8.GetBytes($json)" in module.src(module.function("ConvertTo-MfUtf8Json"))
    http = module.src(module.function("Invoke-MfHttp"))
    assert "$request.UserAgent = $settings.UserAgent" in http
    assert "$status -eq 429 -or $status -eq 503 -or $status -eq 504" in http
    assert "Retry-After" in http
    assert "[System.Net.SecurityProtocolType]::Tls12" in module.src(module.function("Initialize-MfRun"))
    token = module.src(module.function("Get-MfToken"))
    # The hosts are the cloud's (see test_the_cloud_sets_every_host).
    assert "'https://{0}/{1}/oauth2/v2.0/token' -f $settings.LoginHost, $settings.TenantId" in token
    assert "client_credentials" in token and "'password'" in token
    assert "'https://{0}.{1}/.default' -f $settings.TenantName, $settings.SpoDomain" in module.src(module.function("Get-MfScope"))
    assert "AddMinutes(5)" in token


def test_user_agent_and_hosts_come_from_the_spec():
    spec = spec_of("sample-dev")
    assert spec.parameter("UserAgent").value == "NONISV|Contoso|maforge/0.1.0"
    assert spec.connectivity.server == "https://contosodev-admin.sharepoint.com"


# --------------------------------------------------------------------------- throttling and pacing
# Issue 15: throttling is part of the job. A 429/503 with Retry-After is waited out with no
# attempt cap and, by default, no cap on the total; faults without Retry-After keep bounded
# retries; an admin may cap the waiting (MaxRetryWaitSeconds); PeopleManager calls keep to
# CallsPer5Minutes in a sliding 5-minute window.


def _if_statements(doc: Script, node) -> list[tuple[str, object, object]]:
    """(condition, then-block, else-clause or None) of every ``if`` under ``node``."""
    result = []
    for n in doc.walk(node):
        if n.type == "if_statement":
            condition = next(c for c in n.children if c.type == "pipeline")
            then = next(c for c in n.children if c.type == "statement_block")
            other = next((c for c in n.children if c.type == "else_clause"), None)
            result.append((doc.src(condition), then, other))
    return result


def _the_if(doc: Script, node, *needles: str):
    """The one ``if`` under ``node`` whose condition holds every needle."""
    found = [i for i in _if_statements(doc, node) if all(n in i[0] for n in needles)]
    assert len(found) == 1, (needles, [f[0] for f in found])
    return found[0]


def _block(doc: Script, block) -> str:
    """A statement block's statements, without braces, comments and indentation."""
    lines = [line.strip() for line in doc.src(block).strip()[1:-1].splitlines()]
    return "\n".join(line for line in lines if line and not line.startswith("#"))


def _throws(doc: Script, node) -> list[str]:
    """Failure kinds thrown under ``node`` (New-MfFailure's -Kind), in order; other throws as written."""
    kinds = []
    for n in doc.walk(node):
        if n.type == "flow_control_statement" and doc.src(n).startswith("throw"):
            kind = re.search(r"New-MfFailure -Kind '([\w-]+)'", doc.src(n))
            kinds.append(kind.group(1) if kind else doc.src(n))
    return kinds


def _commands(doc: Script, node) -> list[str]:
    """Names of the commands invoked under ``node``, in source order."""
    names = []
    for n in doc.walk(node):
        if n.type == "command":
            name = next((c for c in n.children if c.type == "command_name"), None)
            if name is not None:
                names.append(doc.src(name))
    return names


def _command_calls(doc: Script, node, name: str) -> list[str]:
    return [doc.src(n) for n in doc.walk(node) if n.type == "command" and doc.src(n).startswith(name + " ")]


def _module_numbers(text: str) -> dict[str, tuple[int, int, int]]:
    """Initialize-MfRun's whole-number settings: key → (fallback, minimum, maximum), read
    from each ``ConvertTo-MfInt $Setting['Key'] fallback minimum maximum``; the setting
    must be the raw value of the key's name (which the entry scripts read: _setting_reads)."""
    doc = Script(text)
    result = {}
    for entry in doc.walk(doc.function("Initialize-MfRun")):
        if entry.type != "hash_entry":
            continue
        command = next((n for n in doc.walk(entry) if n.type == "command"), None)
        if command is None or doc.src(command).split(" ", 1)[0] != "ConvertTo-MfInt":
            continue
        key = doc.src(next(c for c in entry.children if c.type == "key_expression"))
        elements = next(c for c in command.children if c.type == "command_elements")
        arguments = [c for c in elements.children if c.type == "array_literal_expression"]
        assert doc.src(arguments[0]) == f"$Setting['{key}']", key
        result[key] = tuple(int(doc.src(a)) for a in arguments[1:])
    return result


# The run-time scripts that load the common module and hand it the MA's settings.
RUNTIME_SLOTS = ("beginImport", "import", "endImport", "beginExport", "export", "endExport")


def _setting_reads(text: str) -> dict[str, list[str]]:
    """An entry script's $mfSetting table (what it hands Initialize-MfRun): key → the names
    its Get-MfSetting call reads, in precedence order."""
    doc = Script(text)
    table = next(n for n in doc.walk() if n.type == "assignment_expression" and doc.src(n).startswith("$mfSetting = @{"))
    result = {}
    for entry in doc.walk(table):
        if entry.type == "hash_entry":
            key = doc.src(next(c for c in entry.children if c.type == "key_expression"))
            assert re.fullmatch(rf"{re.escape(key)}\s+= \(Get-MfSetting \$Config\w+ '.*'\)", doc.src(entry)), doc.src(entry)
            result[key] = doc.strings(entry)
    return result


def _validation_ranges(text: str) -> dict[str, tuple[int, int]]:
    """The validation script's $numbers table: name → (minimum, maximum)."""
    doc = Script(text)
    table = next(n for n in doc.walk() if n.type == "assignment_expression" and doc.src(n).startswith("$numbers"))
    result = {}
    for row in doc.walk(table):
        if row.type == "array_expression" and doc.src(row).startswith("@('"):
            numbers = [int(doc.src(n)) for n in doc.walk(row) if n.type == "integer_literal"]
            result[doc.strings(row)[0]] = tuple(numbers)
    return result


def _parameter_values(spec) -> dict[str, str]:
    result = render_outputs(spec, "spec.yaml")
    root = etree.fromstring(result.files[result.xml_name].encode())
    return {p.get("name"): p.text or "" for p in root.iterfind(".//parameter-values/parameter")}


def _single_wait_guard() -> int:
    """The most one Retry-After wait may last in the scripts (a guard against a garbled header)."""
    module = script("sample", "commonModule")
    limits = set(re.findall(r"\[Math\]::Min\(.*, (\d+)\)", module.src(module.function("Get-MfRetryAfter"))))
    assert len(limits) == 1, limits
    return int(limits.pop())


@pytest.fixture(scope="module")
def budgeted():
    """The SPO sample with `sharepoint.budget.callsPer5Minutes: 4500`."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        text = (SAMPLES / "spo-user-profiles.yaml").read_text(encoding="utf-8")
        anchor = "sharepoint:\n  tenant: contoso\n"
        assert anchor in text
        path = Path(folder) / "spo-user-profiles.yaml"
        path.write_text(text.replace(anchor, anchor + "  budget:\n    callsPer5Minutes: 4500\n"), encoding="utf-8")
        shutil.copy(SAMPLES / "hr.csv", Path(folder) / "hr.csv")
        spec, _ = load_spec(path)
        yield spec


# name → (maforge's default, minimum, maximum)
TUNABLES = {
    "ImportPageSize": (100, 1, 999),
    "MaxRetries": (8, 0, 50),
    "MaxRetryWaitSeconds": (0, 0, 86400),
    "CallsPer5Minutes": (0, 0, 1000000),
}


@pytest.mark.parametrize("key", ["sample", "minimal"])
def test_throttling_parameters_exist_with_their_defaults_and_ranges(key):
    values = _parameter_values(spec_of(key))
    assert {"MaxRetries", "MaxRetryWaitSeconds", "CallsPer5Minutes"} <= set(values["Additional Config Parameter Names"].split(","))
    # No cap on waiting and no pacing unless the spec or the admin says so.
    assert values["MaxRetryWaitSeconds_Global"] == "0"
    assert values["CallsPer5Minutes_Global"] == "0"
    assert values["MaxRetries_Global"] == "8"
    assert psconnector.SPO_NUMBER_RANGES == {name: t[1:] for name, t in TUNABLES.items()}
    # The module falls back to the MA's value and clamps into the range validation checks.
    scripts = scripts_of(key)
    assert _module_numbers(scripts["commonModule"]) == TUNABLES
    # Each run-time script reads them by the key's name, run step first.
    for slot in RUNTIME_SLOTS:
        reads = _setting_reads(scripts[slot])
        assert {name: reads[name] for name in TUNABLES} == {name: [f"{name}_RunStep", f"{name}_Global"] for name in TUNABLES}, slot
    assert _validation_ranges(scripts["validation"]) == {name: t[1:] for name, t in TUNABLES.items()}


def test_the_spec_budget_becomes_the_pacing_default(budgeted):
    assert budgeted.sharepoint.budget_per_5_minutes == 4500
    assert spec_of("sample").sharepoint.budget_per_5_minutes is None
    assert _parameter_values(budgeted)["CallsPer5Minutes_Global"] == "4500"
    assert _parameter_values(spec_of("sample"))["CallsPer5Minutes_Global"] == "0"
    scripts = render_spo_scripts(budgeted)
    for slot, text in scripts.items():
        assert powershell_syntax_errors(text) == [], slot
    assert _module_numbers(scripts["commonModule"])["CallsPer5Minutes"] == (4500, 0, 1000000)
    assert _module_numbers(scripts_of("sample")["commonModule"])["CallsPer5Minutes"] == (0, 0, 1000000)
    # The rest of the build does not change with the budget.
    plain = scripts_of("sample")
    assert [s for s in scripts if scripts[s] != plain[s]] == ["commonModule"]
    assert "here 4500, from the spec's" in admin_notes(budgeted)


def test_throttled_calls_wait_as_long_as_asked_with_no_attempt_cap():
    module = script("sample", "commonModule")
    http = module.function("Invoke-MfHttp")
    _, retry, _ = _the_if(module, http, "$timedOut -or", "$status -eq 429", "$status -eq 503", "$status -eq 504")
    # Retry-After is read for 429 and 503 only.
    _, read, other = _the_if(module, retry, "$status -eq 429 -or $status -eq 503")
    assert _block(module, read) == "$asked = Get-MfRetryAfter -RetryAfter $retryAfter" and other is None
    # SharePoint said how long: wait that long. No counter, no limit, no throw.
    condition, told, fault = _the_if(module, retry, "$asked")
    assert condition == "$asked -gt 0"
    assert _block(module, told).splitlines()[0] == "$wait = $asked"
    assert _throws(module, told) == [] and _if_statements(module, told) == []
    assert not re.search(r"MaxRetries\b|\$attempt|\$faults", module.src(told))
    # No Retry-After: bounded retries with back-off.
    fault_block = next(c for c in fault.children if c.type == "statement_block")
    assert _block(module, fault_block).splitlines()[0] == "$faults++"
    _, over, _ = _the_if(module, fault_block, "$faults -gt $settings.MaxRetries")
    assert _throws(module, over) == ["throttled"]
    assert "$wait = Get-MfBackoff -Attempt $faults" in _block(module, fault_block)
    # The only cap on the total: MaxRetryWaitSeconds, and only when it is set (0 = no cap).
    condition, cap, _ = _the_if(module, retry, "MaxRetryWaitSeconds")
    assert condition == "$settings.MaxRetryWaitSeconds -gt 0 -and ($state.RetryWaited + $wait) -gt $settings.MaxRetryWaitSeconds"
    assert _throws(module, cap) == ["wait-cap"]
    assert sorted(_throws(module, retry)) == ["throttled", "wait-cap"]
    # The attempt number limits nothing anywhere in the function.
    assert all("$attempt" not in c for c, _, _ in _if_statements(module, http))
    # Then the branch waits and sends the call again.
    tail = _block(module, retry).splitlines()[-3:]
    assert tail[0] == "$state.RetryWaited += $wait"
    assert tail[1].startswith("Wait-MfSeconds -Seconds $wait -Message $message") and tail[2] == "continue"
    # Retry-After is honoured as given: no 300 s clamp (one wait is only guarded at an hour).
    assert _single_wait_guard() == 3600
    after = module.function("Get-MfRetryAfter")
    assert [module.src(r) for r in _value_returns(module, _body(after))].count("return [double]-1") == 2
    # An admin's cap is read run step first, so one run-profile step can have its own.
    assert "MaxRetryWaitSeconds = ConvertTo-MfInt $Setting['MaxRetryWaitSeconds']" in module.src(module.function("Initialize-MfRun"))
    for slot in RUNTIME_SLOTS:
        assert _setting_reads(scripts_of("sample")[slot])["MaxRetryWaitSeconds"] == ["MaxRetryWaitSeconds_RunStep", "MaxRetryWaitSeconds_Global"], slot


def test_a_throttled_import_goes_on_and_only_the_admins_cap_stops_it():
    doc, _ = _import_page()
    catch = _import_catch(doc)
    stops = [(c, t) for c, t, _ in _if_statements(doc, catch) if _throws(doc, t)]
    assert len(stops) == 1
    condition, stop = stops[0]
    assert re.findall(r"\$failure\.Data\['MfKind'\] -eq '([\w-]+)'", condition) == ["systemic", "wait-cap"]
    assert "throttled" not in condition
    assert _throws(doc, stop) == ["stop"]
    assert "-Message ('maforge: ' + (Get-MfErrorDetail $failure) + $advice)" in _block(doc, stop)
    # The import script raises the module's 'stop' as the connector's run-ending error.
    imp = script("sample", "import")
    _, raised, _ = _the_if(imp, None, "$failure.Data['MfKind'] -eq 'stop'")
    assert _throws(imp, raised) == ["throw (New-Object Microsoft.MetadirectoryServices.ExtensibleExtensionException -ArgumentList $failure.Message)"]
    # Stopping on the cap says what to do.
    _, advice, _ = _the_if(doc, stop, "'wait-cap'")
    assert "MaxRetryWaitSeconds to 0" in _block(doc, advice)
    # Anything else (a throttled fault past MaxRetries included) is one error entry, and the run goes on.
    assert "New-MfImportError" in _commands(doc, catch)
    module = script("sample", "commonModule")
    names = module.switch_clauses(module.function("Get-MfErrorName"))
    assert _block(module, names["throttled"]) == _block(module, names["wait-cap"]) == "return 'spo-throttled'"


def test_every_wait_is_logged_with_the_time_the_run_resumes():
    module = script("sample", "commonModule")
    wait = module.function("Wait-MfSeconds")
    commands = _commands(module, wait)
    assert commands == ["Write-MfLog", "Start-Sleep"]
    assert _command_calls(module, wait, "Write-MfLog") == ["Write-MfLog Information $line"]
    # The MIM server's local time, not UTC.
    assert "[DateTime]::Now.AddSeconds($Seconds)" in module.src(wait) and "UtcNow" not in module.src(wait)
    assert {"HH:mm:ss", "{0}; resuming at {1}"} <= set(module.strings(wait))
    # Every throttling wait in Invoke-MfHttp goes through it; the Retry-After one says so.
    http = module.function("Invoke-MfHttp")
    assert "Start-Sleep" not in _commands(module, http) and _commands(module, http).count("Wait-MfSeconds") == 1
    _, told, _ = _the_if(module, http, "$asked -gt 0")
    message = next(s for s in module.strings(told) if s.startswith("SharePoint asked us to wait"))
    line = "{0}; resuming at {1}".format(message.replace("{0:0}", "{0}").format(118), "10:42:07")
    assert line == "SharePoint asked us to wait 118 s; resuming at 10:42:07"
    # Long pacing holds are logged the same way.
    assert "Wait-MfSeconds" in _commands(module, module.function("Wait-MfBudget"))


def test_peoplemanager_calls_keep_to_the_budget_in_a_sliding_window():
    module = script("sample", "commonModule")
    assert "Nothing tells a client how much of that is left" in module.text  # why pacing is stated, not learnt
    budget = module.function("Wait-MfBudget")
    assert _assignment(module, "$budget", budget) == ["[int]$settings.CallsPer5Minutes"]
    _, off, _ = _the_if(module, budget, "$budget -le 0")
    assert _block(module, off) == "return"
    assert _assignment(module, "$window", budget) == ["[TimeSpan]::FromMinutes(5)"]
    # The window lives in the run state, so it spans the pages of a run step ...
    assert _assignment(module, "$calls", budget) == ["$state.Calls"]
    assert "Calls       = New-Object 'System.Collections.Generic.Queue[datetime]'" in module.src(module.function("Get-MfState"))
    for slot in ("import", "export", "endImport", "endExport"):
        assert "Reset-MfState" not in _commands(script("sample", slot), None), slot
    # ... expires calls older than 5 minutes, holds the next call while it is full, records the call.
    loop = next(n for n in module.walk(budget) if n.type == "while_statement")
    inner = module.src(loop)
    assert "while ($calls.Count -gt 0 -and ($now - $calls.Peek()) -ge $window) { [void]$calls.Dequeue() }" in inner
    _, full, _ = _the_if(module, loop, "$calls.Count -lt $budget")
    assert _block(module, full) == "break"
    assert "$wait = [Math]::Max(($calls.Peek() + $window - $now).TotalSeconds, 0.001)" in inner
    assert module.src(budget).rstrip().endswith("[void]$calls.Enqueue([DateTime]::UtcNow)\n}")
    # Every attempt of a paced request counts (SharePoint counts throttled calls too).
    http = module.function("Invoke-MfHttp")
    attempts = next(n for n in module.walk(http) if n.type == "while_statement")
    _, paced, _ = _the_if(module, attempts, "$Paced")
    assert _block(module, paced) == "Wait-MfBudget"
    assert module.src(attempts).index("Wait-MfBudget") < module.src(attempts).index("$request.GetResponse()")
    # Paced are exactly the PeopleManager calls, and every one goes through Invoke-MfSpo.
    spo = module.function("Invoke-MfSpo")
    assert _assignment(module, "$paced", spo) == ["$Path.StartsWith('/_api/SP.UserProfiles.PeopleManager/', [System.StringComparison]::OrdinalIgnoreCase)"]
    assert all("-Paced:$paced" in call for call in _command_calls(module, spo, "Invoke-MfHttp") if "$uri" in call)
    for slot in ("commonModule", "export", "import"):
        doc = script("sample", slot)
        for call in _command_calls(doc, None, "Invoke-MfHttp"):
            assert "PeopleManager" not in call, call
    module_profile = module.src(module.function("Get-MfProfile"))
    assert "Invoke-MfSpo -Method GET -Path $path" in module_profile and "PeopleManager/GetPropertiesFor" in module_profile


def test_a_delta_import_call_ends_at_a_graph_page_once_it_has_run_a_while():
    doc, page = _import_page()
    assert _assignment(doc, "$MfCallSeconds", page) == ["300"]
    assert _assignment(doc, "$callClock", page) == ["[System.Diagnostics.Stopwatch]::StartNew()"]
    loop = next(n for n in doc.walk(page) if n.type == "while_statement" and "$cursor.phase -eq 'users'" in doc.src(n).split("{", 1)[0])
    condition, then, _ = _the_if(doc, loop, "$callClock.Elapsed.TotalSeconds -ge $MfCallSeconds")
    assert condition.startswith("$cursor.mode -ne 'Delta' -or") and _block(doc, then) == "break"


def test_throttling_is_logged_at_the_start_and_end_of_each_run_step():
    for slot in ("beginImport", "beginExport"):
        assert "Get-MfThrottlingSummary" in _commands(script("sample", slot), None), slot
    assert "$state.PaceWaited" in script("sample", "endExport").text
    # End Import's log line is the module's Stop-MfImport, which the script calls.
    module = script("sample", "commonModule")
    assert "Stop-MfImport" in _commands(script("sample", "endImport"), None)
    assert "$state.PaceWaited" in module.src(module.function("Stop-MfImport"))
    summary = module.src(module.function("Get-MfThrottlingSummary"))
    assert "MaxRetryWaitSeconds" in summary and "CallsPer5Minutes" in summary


# --------------------------------------------------------------------------- admin notes


@pytest.mark.parametrize("key", SPECS)
def test_admin_notes_cover_the_set_up(key):
    notes = admin_notes(spec_of(key))
    for text in (
        "miiserver.exe.config",
        "dllhost.exe.config",
        '<source name="ConnectorsLog"',
        "Cert:\\LocalMachine\\My",
        "private key",
        "User.ReadWrite.All",
        "TermStore.ReadWrite.All",
        "Microsoft Graph | `User.Read.All`",
        "Set-MIISECMA2Configuration",
        "not** been verified",
        "Snapshot",
        "Run a Full Import first",
    ):
        assert text in notes, text
    # Throttling (issue 15): no cap by default, how to set one, the budget, the log line, the watermark.
    throttling = notes.split("### Throttling", 1)[1].split("\n### ", 1)[0]
    for text in (
        "default 0 = no cap",
        "`MaxRetryWaitSeconds`",
        "`CallsPer5Minutes`",
        "SharePoint asked us to wait 118 s; resuming at 10:42:07",
        "delta watermark",
        "`MaxRetries`",
    ):
        assert text in throttling, text
    assert "exhausted-throttling" not in notes


def test_build_readme_carries_the_notes(tmp_path):
    result = render_outputs(spec_of("sample"), "spo-user-profiles.yaml")
    assert "## SharePoint Online set-up" in result.files["README.md"]
    assert "svc-mim-spo@contoso.onmicrosoft.com" in result.files["README.md"]


def test_validation_refuses_password_sign_in_for_an_ma_that_exports():
    """A password sign-in is delegated, and SharePoint refuses delegated writes to other
    users' profiles: an exporting MA's validation says so on the Global page, before the first
    run fails every export entry; an MA that only imports may keep Password."""
    import dataclasses

    exporting = spec_of("sample")
    assert exporting.capabilities.export
    text = render_spo_scripts(exporting)["validation"]
    branch = re.search(r"if \(\$mode -eq 'Password'\) \{(.*?)\n        \}", text, re.S)
    assert branch is not None and "delegated (password) sign-in" in branch.group(1) and "Set AuthMode to Certificate" in branch.group(1)
    assert text.index("$page -eq 'Global'") < branch.start()  # checked where AuthMode is set
    assert not powershell_syntax_errors(text)
    import_only = dataclasses.replace(exporting, capabilities=dataclasses.replace(exporting.capabilities, export=False))
    assert "if ($mode -eq 'Password')" not in render_spo_scripts(import_only)["validation"]


# --------------------------------------------------------------------------- review fixes
# An expert review of templates/spo/ (import errors, anchors, "no profile", throttling,
# certificates, clouds and smaller points). Each test below failed on the templates before.


def _import_catch(doc: Script):
    return next(n for n in doc.walk() if n.type == "catch_clause" and "New-MfImportError" in doc.src(n))


def _import_page() -> tuple[Script, object]:
    """The common module and its Get-MfImportPage, the import page both connectors run."""
    module = script("sample", "commonModule")
    return module, module.function("Get-MfImportPage")


def test_a_failed_profile_is_returned_again_by_the_next_delta():
    """The snapshot line of a profile whose import failed gets the hash '!' in delta runs too:
    a profile that recovers with unchanged values is returned again, which clears the error
    MIM holds on the object."""
    doc, page = _import_page()
    catch = _import_catch(doc)
    lines = _command_calls(doc, catch, "Format-MfSnapshotLine")
    assert lines == ["Format-MfSnapshotLine -Key $key -Hash '!' -Anchors $anchors"]
    assert "$previous.Hash" not in doc.src(catch) and "$keep" not in doc.src(page)
    # No profile hashes to '!' (a SHA-256 digest in base64), so a delta sees a change.
    assert "[Convert]::ToBase64String($digest)" in script("sample", "commonModule").src(script("sample", "commonModule").function("Get-MfValuesHash"))


def test_an_error_entry_carries_the_anchor_a_success_would():
    """One rule for the AccountName anchor on success and on error: the base snapshot is read
    in full runs too (an error entry takes the anchors MIM already has from it), and the
    claims login is normalised the same way on every path."""
    doc, page = _import_page()
    # The base snapshot, whatever the mode.
    assert _assignment(doc, "$base", page) == ["$null", "Read-MfSnapshot -Name $cursor.base"]
    condition, _, _ = _the_if(doc, page, "$cursor.base")
    assert "Delta" not in condition
    # Begin Import (Start-MfImport) names it for a full import too, with or without a stored watermark.
    begin = doc
    clause = next(n for n in begin.walk(begin.function("Start-MfImport")) if n.type == "elseif_clause" and "$mode -ne 'Delta'" in begin.src(n).split("{", 1)[0])
    fallback = next(c for c in clause.children if c.type == "statement_block")
    assert "-Filter 'maforge-spo-user-profiles-snapshot-*.tsv'" in begin.src(fallback)
    assert _block(begin, fallback).splitlines()[-1] == "if ($newest.Count -eq 1) { $base = [string]$newest[0].Name }"
    catch = _import_catch(doc)
    assert _assignment(doc, "$anchors", catch) == [
        "if ($null -ne $previous -and $previous.Anchors.Count -gt 0) { $previous.Anchors } else { Get-MfAnchors -UserProfile $null -Account $account -User $user }"
    ]
    # One form of the login for the key, the DN and the fallback anchor; requests keep the claims as given.
    assert _assignment(doc, "$claims", page) == ["Get-MfClaimsAccount -UserPrincipalName $user.Upn"]
    assert _assignment(doc, "$account", page) == ["ConvertTo-MfAccountName -Account $claims"]
    assert _assignment(doc, "$key", page) == ["$account"]
    assert _assignment(doc, "$userProfile", page) == ["Get-MfProfile -Account $claims"]
    # The AccountName anchor is normalised whether it came from SharePoint or from Graph.
    anchors = doc.function("Get-MfAnchors")
    _, normalise, _ = _the_if(doc, anchors, "$name -eq 'AccountName'", "$null -ne $value")
    assert _block(doc, normalise) == "$value = ConvertTo-MfAccountName -Account $value"
    module = script("sample", "commonModule")
    convert = module.function("ConvertTo-MfAccountName")
    assert [module.src(r) for r in _value_returns(module, _body(convert))] == ["return ''", "return $Account.ToLowerInvariant()"]
    # Decided from the reference, and what is unverified said where the code depends on it.
    comment = module.src(convert)
    assert "[MS-USPSWS] 3.1.4.28.2.1" in comment and "UNVERIFIED" in comment and "Designed for" in comment
    # The DN and an export's returned anchor take the same form.
    assert module.src(module.function("Get-MfDN")).count("$Account = ConvertTo-MfAccountName -Account $Account") == 1
    export = module.src(module.function("Invoke-MfExportEntry"))
    assert "if ($anchorName -eq 'AccountName') { $value = ConvertTo-MfAccountName -Account $value }" in export


@pytest.mark.parametrize(
    ("status", "code", "message", "none"),
    [
        (404, "", "Not Found", True),
        (500, "-1, Microsoft.Office.Server.UserProfiles.UserNotFoundException", "User Not Found: Could not load profile data from the database.", True),
        (500, "", "User Not Found: Could not load profile data from the database.", True),
        (500, "-1, Microsoft.Office.Server.UserProfiles.PropertyNotFoundException", "Property Not Found", False),
        (500, "-1, Microsoft.Office.Server.UserProfiles.PropertyNotEditableException", "Property Not Editable", False),
        (500, "-2147024891, System.UnauthorizedAccessException", "Access denied.", False),
        (503, "", "User Not Found", False),
    ],
)
def test_no_profile_is_recognised_in_either_form(status, code, message, none):
    """SharePoint's answer for an account without a profile is unverified: a 200 with a null
    entity and an error naming a missing user (404, 500 UserNotFoundException) are both "no
    profile", which import skips and export reports as spo-profile-not-found."""
    assert _no_profile(status, code, message) is none
    module = script("sample", "commonModule")
    profile = module.function("Get-MfProfile")
    catch = next(n for n in module.walk(profile) if n.type == "catch_clause")
    _, skip, _ = _the_if(module, catch, "Test-MfNoProfile -Failure $failure")
    assert _block(module, skip).splitlines()[-1] == "return $null"
    # The 200 forms stay "no profile" too.
    body = module.src(profile)
    assert "$body.PSObject.Properties['odata.null']" in body and "PSObject.Properties['GetPropertiesFor']" in body
    assert "[string]::IsNullOrEmpty([string]$body.AccountName)" in body
    # Import skips such a user without an error entry, on every run.
    doc, page = _import_page()
    _, skipped, _ = _the_if(doc, page, "$null -eq $userProfile")
    assert _block(doc, skipped).splitlines()[-1] == "continue" and "New-MfImportError" not in _block(doc, skipped)
    # A write for an account without a profile reads the same way.
    names = module.src(module.function("Get-MfErrorName"))
    assert "if ($code -match 'UserNotFound|UserProfileNotFound') { return 'spo-profile-not-found' }" in names


def test_a_throttled_graph_page_is_waited_for_not_a_stop():
    """Listing users waits out throttling too: a 429/503 with Retry-After inside Invoke-MfHttp,
    the one helper import and export share (no attempt cap), and a page Graph keeps
    refusing without Retry-After is asked for again after a back-off; only the admin's
    MaxRetryWaitSeconds ends the waiting."""
    module = script("sample", "commonModule")
    page = module.function("Get-MfGraphUserPage")
    assert _command_calls(module, page, "Invoke-MfHttp")[0].startswith("Invoke-MfHttp -Method GET -Uri $Next")
    catch = next(n for n in module.walk(page) if n.type == "catch_clause")
    _, throttled, _ = _the_if(module, catch, "$failure.Data['MfKind'] -eq 'throttled'")
    lines = _block(module, throttled).splitlines()
    assert lines[-1] == "continue" and "Wait-MfSeconds" in _commands(module, throttled)
    assert "$state.RetryWaited += $wait" in lines
    assert _throws(module, throttled) == ["wait-cap"]
    _, cap, _ = _the_if(module, throttled, "MaxRetryWaitSeconds")
    assert _throws(module, cap) == ["wait-cap"]
    # PeopleManager reads (import) and writes (export) go through the same helper.
    spo = module.src(module.function("Invoke-MfSpo"))
    assert "Invoke-MfHttp -Method $Method -Uri $uri" in spo
    assert "Invoke-MfSpo -Method GET -Path $path" in module.src(module.function("Get-MfProfile"))
    assert "Invoke-MfSpo -Method $Call.Method -Path $Call.Path -Json $body" in module.src(module.function("Invoke-MfSpoCall"))


def test_an_unreadable_private_key_is_told_apart_from_a_missing_one():
    """On .NET Framework GetRSAPrivateKey throws ("Keyset does not exist") when the account
    may not read the key: the run steps and the validation script catch that and say which
    account needs Read and how to grant it; a certificate without a private key is a
    different message."""
    module = script("sample", "commonModule")
    key = module.function("Get-MfPrivateKey")
    source = module.src(key)
    try_statement = next(n for n in module.walk(key) if n.type == "try_statement")
    assert "GetRSAPrivateKey($Certificate)" in module.src(try_statement)
    catch = next(n for n in module.walk(try_statement) if n.type == "catch_clause")
    assert _throws(module, catch) == ["systemic"]
    text = " ".join(module.strings(catch))
    assert "certlm.msc" in text and "Manage Private Keys" in text and "Read" in text
    assert "[System.Security.Principal.WindowsIdentity]::GetCurrent().Name" in source
    _, missing, _ = _the_if(module, key, "-not $Certificate.HasPrivateKey")
    assert "has no private key" in " ".join(module.strings(missing))
    assert "Get-MfPrivateKey -Certificate $certificate" in module.src(module.function("New-MfClientAssertion"))
    assert "Invalid algorithm specified" not in module.text
    validation = script("sample", "validation")
    tries = [n for n in validation.walk() if n.type == "try_statement" and "GetRSAPrivateKey" in validation.src(n)]
    assert len(tries) == 1
    catch = next(n for n in validation.walk(tries[0]) if n.type == "catch_clause")
    message = validation.src(catch)
    assert "cannot be read by $account" in message and "Manage Private Keys" in message and "certlm.msc" in message
    assert "$account = [System.Security.Principal.WindowsIdentity]::GetCurrent().Name" in validation.text
    assert "has no private key on this server" in validation.text


@pytest.mark.parametrize("slot", [s for s in SLOTS if s not in ("validation", "schema", "commonModule")])
def test_the_module_is_built_without_a_vain_lookup(slot):
    """A dynamic module from New-Module is not in the module table: Get-Module cannot find it
    to remove it, so the scripts do not pretend to."""
    doc = script("sample", slot)
    commands = _commands(doc, None)
    assert "New-Module" in commands
    assert "Get-Module" not in commands and "Remove-Module" not in commands


def test_a_missing_permission_stops_the_export_with_one_message():
    doc = script("sample", "commonModule")
    catch = _export_catch(doc)
    condition, stop, _ = _the_if(doc, catch, "UnauthorizedAccess")
    assert condition == "$failure.Data['MfKind'] -eq 'http' -and ([int]$failure.Data['Status'] -eq 403 -or [string]$failure.Data['Code'] -match 'UnauthorizedAccess')"
    assert "$MfPermissionAdvice" in doc.src(stop)
    advice = doc.strings(next(n for n in doc.walk() if n.type == "assignment_expression" and doc.src(n).startswith("$MfPermissionAdvice")))[0]
    assert "User.ReadWrite.All" in advice and "TermStore.ReadWrite.All" in advice
    # Checked before an entry is counted as failed.
    assert doc.src(catch).index("UnauthorizedAccess") < doc.src(catch).index("Get-MfErrorName")
    export = script("sample", "export")
    loop = next(n for n in export.walk() if n.type == "foreach_statement" and "$CSEntries" in export.src(n).split("{", 1)[0])
    assert export.src(loop).index("$outcome.Stop -eq 'permission'") < export.src(loop).index("$failed++")
    # The import stops on it too, and says what to grant.
    imp = script("sample", "commonModule")
    assert "$denied = $status -eq 403 -or [string]$failure.Data['Code'] -match 'UnauthorizedAccess'" in imp.text
    assert "User.Read.All" in imp.text


def test_a_delta_without_changes_returns_after_a_bounded_number_of_pages():
    doc, page = _import_page()
    assert _assignment(doc, "$MfDeltaPages", page) == ["20"]
    assert "$pagesRead++" in doc.src(page)
    loop = next(n for n in doc.walk(page) if n.type == "while_statement" and "$cursor.phase -eq 'users'" in doc.src(n).split("{", 1)[0])
    _, then, _ = _the_if(doc, loop, "$pagesRead -ge $MfDeltaPages")
    assert _block(doc, then) == "break"
    # The users phase is not done, so MIM is told there is more, with whatever entries there are (none).
    assert _assignment(doc, "$more", page) == ["($cursor.phase -ne 'done')"]
    assert _assignment(script("sample", "import"), "$results.MoreToImport") == ["$page.More"]


def test_validation_accepts_blank_optional_settings_with_the_scripts_defaults():
    validation = script("sample", "validation").text
    module = script("sample", "commonModule")
    run = module.src(module.function("Initialize-MfRun"))
    defaults = dict(re.findall(r"\$settings\.(\w+) = '(\w+)'", run))
    assert defaults["AuthMode"] == "Certificate" and defaults["DeltaStrategy"] == "Snapshot" and defaults["LogLevel"] == "Information"
    assert f"if ([string]::IsNullOrEmpty($mode)) {{ $mode = '{defaults['AuthMode']}' }}" in validation
    assert "if (-not [string]::IsNullOrEmpty($strategy) -and @('Snapshot') -notcontains $strategy)" in validation
    assert "if (-not [string]::IsNullOrEmpty($level) -and @('Error', 'Warning', 'Information', 'Verbose') -notcontains $level)" in validation
    # The module's blank LogLevel is Information too (not in the level table).
    assert "if (-not $Script:MfLevels.ContainsKey($settings.LogLevel)) { $settings.LogLevel = 'Information' }" in run


def test_deletes_take_the_dn_form_adds_take():
    doc, page = _import_page()
    entries = sorted(
        (n.start_byte, doc.src(n)) for n in doc.walk(page) if n.type == "command" and doc.src(n).startswith(("New-MfImportEntry ", "New-MfImportError "))
    )
    # Adds, replaces and errors name the normalised login; deletes the snapshot key, which is it.
    assert [re.search(r"-Account (\S+)", e).group(1) for _, e in entries] == ["$account", "$account", "$account", "$account", "$deleted[$offset"]
    module = script("sample", "commonModule")
    dn = module.function("Get-MfDN")
    assert _block(module, _body(dn)).splitlines()[1] == "$Account = ConvertTo-MfAccountName -Account $Account"
    for maker in ("New-MfImportEntry", "New-MfImportError"):
        assert "DN           = Get-MfDN -Account $Account" in module.src(module.function(maker))
    # The import script sets the entry's DN to it (the sample's DN style is not None).
    assert "$entry.DN = $Item.DN" in script("sample", "import").src(script("sample", "import").function("ConvertTo-MfCSEntryChange"))


CLOUDS = {
    # cloud: (sign-in, Graph, SharePoint domain) - see compiler/model.py SPO_CLOUDS for the sources.
    "global": ("login.microsoftonline.com", "graph.microsoft.com", "sharepoint.com"),
    "usgov-high": ("login.microsoftonline.us", "graph.microsoft.us", "sharepoint.us"),
    "usgov-dod": ("login.microsoftonline.us", "dod-graph.microsoft.us", "sharepoint-mil.us"),
    "china": ("login.chinacloudapi.cn", "microsoftgraph.chinacloudapi.cn", "sharepoint.cn"),
}


def _cloud_spec(tmp_path, cloud: str | None):
    text = (FIXTURES / "valid" / "minimal.yaml").read_text(encoding="utf-8")
    tenant = "sharepoint: {tenant: contoso}"
    assert tenant in text
    if cloud is not None:
        text = text.replace(tenant, f"sharepoint: {{tenant: contoso, cloud: {cloud}}}")
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    spec, _ = load_spec(path)
    return spec


@pytest.mark.parametrize("cloud", CLOUDS)
def test_the_cloud_sets_every_host(cloud, tmp_path):
    login, graph, domain = CLOUDS[cloud]
    spec = _cloud_spec(tmp_path, cloud)
    assert spec.sharepoint.cloud == cloud
    assert spec.sharepoint.admin_url == f"https://contoso-admin.{domain}"
    assert spec.connectivity.server == f"https://contoso-admin.{domain}"
    assert _parameter_values(spec)["AdminUrl_Global"] == f"https://contoso-admin.{domain}"
    scripts = render_spo_scripts(spec)
    for slot, text in scripts.items():
        assert powershell_syntax_errors(text) == [], slot
    module = Script(scripts["commonModule"])
    run = module.src(module.function("Initialize-MfRun"))
    for key, value in (("Cloud", cloud), ("LoginHost", login), ("GraphHost", graph), ("SpoDomain", domain)):
        assert re.search(rf"^\s+{key}\s+= '{re.escape(value)}'$", run, re.MULTILINE), key
    # No host is written anywhere else: scopes, token endpoint, Graph links and the admin
    # host fallback all come from these settings.
    code = "\n".join(line for line in scripts["commonModule"].splitlines() if not line.lstrip().startswith("#"))
    for host in {h for hosts in CLOUDS.values() for h in hosts}:
        assert len(re.findall(rf"(?<![\w.-]){re.escape(host)}", code)) == (1 if host in (login, graph, domain) else 0), host
    assert "'https://{0}/.default' -f $settings.GraphHost" in module.src(module.function("Get-MfScope"))
    assert "$graphRoot = 'https://{0}/' -f $settings.GraphHost" in module.src(module.function("Get-MfGraphUserPage"))
    assert "'https://{0}-admin.{1}' -f $settings.TenantName, $settings.SpoDomain" in run


def test_the_cloud_defaults_to_global_and_the_sample_keeps_it(tmp_path):
    assert _cloud_spec(tmp_path, None).sharepoint.cloud == "global"
    assert spec_of("sample").sharepoint.cloud == "global"
    from maforge.schemas import load_schema

    cloud = load_schema("connector")["$defs"]["sharepoint"]["properties"]["cloud"]
    assert cloud["enum"] == list(CLOUDS) and cloud["default"] == "global"
    from maforge.compiler.model import SPO_CLOUDS

    assert {name: (c.login, c.graph, c.sharepoint) for name, c in SPO_CLOUDS.items()} == CLOUDS
