"""A static checker for the PowerShell scripts of a "PowerShell (Microsoft)" connector: what a
parser alone cannot see.

No PowerShell runs where maforge is built and tested, and a script the connector runs fails
only on the MIM server, mid-run. Parsing proves the syntax; this module reads the same
tree-sitter tree (tree-sitter-language-pack's PowerShell grammar) and checks the meaning a
typo breaks, script by script, together with the common module the scripts call:

========  ===================================================================================
PS101     a command is neither a function of the script or its common module, a Windows
          PowerShell 5.1 cmdlet or built-in function, nor an alias of one (ps51_cmdlets.json)
PS102     a script calls a common-module function but never loads the module
PS201     a named parameter the called script/module function does not declare
PS202     a mandatory parameter of a script/module function is not given
PS301     a variable is read but never assigned before, in its scope or an enclosing one
PS401     a [Type] (or New-Object type name) that is no known type (known_types.json)
PS501     ``$ConfigParameters['Name']`` names a parameter the MA does not declare
PS601     a value leaks onto the pipeline (ArrayList.Add, StringBuilder.Append, New-Item, ...)
PS602     a script the connector expects to write nothing writes something
PS603     a script that must return one object writes another before its result
========  ===================================================================================

What each check does not cover is said at the check. The grammar is tree-sitter's, not
PowerShell's own parser: where the two disagree (the grammar misreads ``1..3`` at the start
of a pipeline as a command name, and ``default`` in a switch as an error) the checker skips
rather than guesses, so it errs towards silence.

Entry points: :func:`check_scripts` (texts in, findings out) and :func:`check_spec` (a
spec's script set). :func:`available` says whether the grammar is installed: it ships with
the test extra, so a plain install of maforge checks nothing and says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from .. import psconnector
from ..suggest import closest, did_you_mean

_HERE = Path(__file__).resolve().parent

# --------------------------------------------------------------------------- findings


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: where (1-based line and character column), a PSnnn code, and what to do."""

    file: str
    line: int
    column: int
    code: str
    message: str

    def format(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.code} {self.message}"


@dataclass(frozen=True, slots=True)
class Script:
    """One text to check. ``slot`` is the connector slot (``import``, ``schema`` ...; see
    scriptset.SCRIPT_FILES), ``None`` for the common module or a text of no known slot."""

    name: str
    text: str
    slot: str | None = None


# --------------------------------------------------------------------------- the contract

@dataclass(frozen=True, slots=True)
class SlotContract:
    """What the connector passes a slot's script, and what it must write to the pipeline:
    ``one`` object, ``none`` at all, or ``one-or-list``."""

    variables: tuple[str, ...]
    output: str
    source: str


_SCHEMA = ("Schema", "Types")  # Microsoft's scripts say Schema, the doc says Types (§1.1)
_CREDENTIAL = ("Credential", "PSCredential")  # Lync: the RTM connector sent PSCredential (§0)

# psconnector-script-contract.md §1 ("Per-slot parameters and return values"), sources S1/S2/S5.
SLOT_CONTRACTS: dict[str, SlotContract] = {
    "validation": SlotContract(("ConfigParameters", "ConfigParameterPage", *_CREDENTIAL), "one", "§1 Validation Script [S2][S1][S5]"),
    "schema": SlotContract(("ConfigParameters", *_CREDENTIAL), "one", "§1 Schema Script [S2][S1]"),
    "partition": SlotContract(("ConfigParameters", *_CREDENTIAL), "one-or-list", "§1 Partition Script [S2][S1]"),
    "hierarchy": SlotContract(("HierarchyNode", "ParentNode", "ConfigParameters", *_CREDENTIAL), "one-or-list", "§1 Hierarchy Script [S2][S1]"),
    # Not in the contract table (unverified): taken to get what the Validation script gets.
    "partitionValidation": SlotContract(("ConfigParameters", "ConfigParameterPage", *_CREDENTIAL), "one", "unverified: as Validation Script"),
    "beginImport": SlotContract(("ConfigParameters", *_SCHEMA, "OpenImportConnectionRunStep", *_CREDENTIAL), "one", "§1 Begin Import Script [S2][S1]"),
    "import": SlotContract(
        ("ConfigParameters", *_SCHEMA, "OpenImportConnectionRunStep", "GetImportEntriesRunStep", "ImportRunStep", *_CREDENTIAL), "one", "§1 Import Script [S2][S1]"
    ),
    "endImport": SlotContract(
        ("ConfigParameters", *_SCHEMA, "OpenImportConnectionRunStep", "CloseImportConnectionRunStep", *_CREDENTIAL), "one", "§1 End Import Script [S2][S1]"
    ),
    "beginExport": SlotContract(("ConfigParameters", *_SCHEMA, "OpenExportConnectionRunStep", *_CREDENTIAL), "none", "§1 Begin Export Script [S2][S1]"),
    "export": SlotContract(("ConfigParameters", *_SCHEMA, "OpenExportConnectionRunStep", "CSEntries", *_CREDENTIAL), "one", "§1 Export Script [S2][S1]"),
    "endExport": SlotContract(
        ("ConfigParameters", *_SCHEMA, "OpenExportConnectionRunStep", "CloseExportConnectionRunStep", *_CREDENTIAL), "none", "§1 End Export Script [S2][S1]"
    ),
    "password": SlotContract(
        ("ConfigParameters", *_CREDENTIAL, "Partition", "CSEntry", "OperationType", "PasswordOptions", "OldPassword", "NewPassword"),
        "none",
        "§1 Password Extension Script [S2]",
    ),
    # Undocumented (unverified): ConfigParameters, Credential and probably Partition.
    "beginPassword": SlotContract(("ConfigParameters", *_CREDENTIAL, "Partition"), "none", "unverified: §1 Begin/End Password Script"),
    "endPassword": SlotContract(("ConfigParameters", *_CREDENTIAL, "Partition"), "none", "unverified: §1 Begin/End Password Script"),
}


# Granfeldt's PSMA (connector: psma), from its source at 2e5a276 (MA.cs GetDefaultScriptParameters,
# MA.Import.cs, MA.Export.cs, MA.Password.cs): every script gets the credentials and the
# configuration lines; PSMA sets the three globals around each import call. Its scripts write
# any number of objects (hashtables, or the schema's PSCustomObjects). Keyed "psma:<slot>".
_PSMA_COMMON = (
    "Username", "Password", "Credentials", "AuxUsername", "AuxPassword", "AuxCredentials",
    "ImpersonationDomain", "ImpersonationUsername", "ImpersonationPassword", "ConfigurationParameter",
)
SLOT_CONTRACTS.update(
    {
        "psma:schema": SlotContract(_PSMA_COMMON, "one-or-list", "PSMA MA.Schema.cs GetSchema"),
        "psma:import": SlotContract(
            (*_PSMA_COMMON, "OperationType", "UsePagedImport", "PageSize", "ImportPageNumber", "Schema", "RunStepCustomData", "PageToken", "MoreToImport"),
            "one-or-list",
            "PSMA MA.Import.cs GetImportEntries",
        ),
        "psma:export": SlotContract((*_PSMA_COMMON, "ExportType", "Schema", "ExportPageNumber"), "one-or-list", "PSMA MA.Export.cs PutExportEntries"),
        "psma:password": SlotContract(
            (*_PSMA_COMMON, "Action", "UnlockAccount", "ForceChangeAtLogOn", "ValidatePassword", "NewPassword", "OldPassword"),
            "none",
            "PSMA MA.Password.cs",
        ),
    }
)


def declared_config_names(custom: Iterable[str]) -> frozenset[str]:
    """Every name ``$ConfigParameters`` can hold on an MA whose "Additional (Encrypted) Config
    Parameter Names" list ``custom``: the connector's own parameters, and each custom name
    with the ``_Global``, ``_Partition`` and ``_RunStep`` suffixes the connector defines it
    under (contract §3.2; psconnector.SUFFIX)."""
    names = set(psconnector.BUILTIN_PARAMETER_NAMES)
    for name in custom:
        names.update(psconnector.scoped_name(name, page) for page in psconnector.SUFFIX)
    return frozenset(names)


# --------------------------------------------------------------------------- data files


@dataclass(frozen=True, slots=True)
class _Catalogue:
    commands: dict[str, str]  # lower-case name → name as Microsoft spells it (cmdlets, functions, aliases)
    common_parameters: dict[str, str]  # lower-case name or alias → parameter name
    automatic: frozenset[str]  # lower-case variable names
    types: frozenset[str]  # lower-case full names and accelerators
    type_names: tuple[str, ...]  # as spelled, for suggestions


@cache
def _catalogue() -> _Catalogue:
    cmdlets = json.loads((_HERE / "ps51_cmdlets.json").read_text(encoding="utf-8"))
    commands: dict[str, str] = {}
    for names in cmdlets["modules"].values():
        commands.update((n.lower(), n) for n in names)
    commands.update((n.lower(), n) for n in cmdlets["builtinFunctions"])
    commands.update((a.lower(), a) for a in cmdlets["aliases"])
    common: dict[str, str] = {}
    for name, aliases in cmdlets["commonParameters"].items():
        common[name.lower()] = name
        common.update((a.lower(), name) for a in aliases)
    automatic = frozenset(v.lower() for v in cmdlets["automaticVariables"] + cmdlets["preferenceVariables"])
    known = json.loads((_HERE / "known_types.json").read_text(encoding="utf-8"))
    spelled = [f"{known['ecma2Namespace']}.{t}" for t in known["ecma2"]] + known["accelerators"] + known["dotnet"]
    return _Catalogue(commands, common, automatic, frozenset(t.lower() for t in spelled), tuple(spelled))


@cache
def _parser() -> Any:
    from tree_sitter_language_pack import get_parser

    return get_parser("powershell")


def available() -> bool:
    """Whether tree-sitter's PowerShell grammar is installed (the ``test`` extra)."""
    try:
        _parser()
    except Exception:  # noqa: BLE001 - ImportError, or a grammar that will not load
        return False
    return True


# --------------------------------------------------------------------------- the tree

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_QUALIFIERS = ("global", "script", "local", "private")
_LOOPS = frozenset({"foreach_statement", "for_statement", "while_statement", "do_statement"})
_WRAPPERS = frozenset(
    """pipeline_chain logical_expression bitwise_expression comparison_expression additive_expression multiplicative_expression
    format_expression range_expression array_literal_expression unary_expression logical_argument_expression bitwise_argument_expression
    comparison_argument_expression additive_argument_expression multiplicative_argument_expression format_argument_expression
    range_argument_expression argument_expression""".split()
)
_CAPTURING = frozenset({"assignment_expression", "sub_expression", "array_expression", "parenthesized_expression", "cast_expression", "script_block_expression", "hash_literal_expression"})


class _Text:
    """A parsed file: its bytes, tree, and 1-based positions in characters (tree-sitter
    counts bytes)."""

    def __init__(self, script: Script):
        self.script = script
        self.data = script.text.encode("utf-8")
        self.root = _parser().parse(self.data).root_node
        self.lines = self.data.split(b"\n")
        self.by_type: dict[str, list[Any]] = {}
        for node in self.walk():
            self.by_type.setdefault(node.type, []).append(node)
        self.calls: list[_Call] | None = None
        self.variable_walks: dict[bool, _VariableWalk] = {}  # is_module → the walk (it does not depend on the other files)

    def of(self, *kinds: str) -> list[Any]:
        """Every node of these kinds, in document order (the tree is walked once)."""
        if len(kinds) == 1:
            return self.by_type.get(kinds[0], [])
        return sorted((n for k in kinds for n in self.by_type.get(k, [])), key=lambda n: (n.start_byte, -n.end_byte))

    def src(self, node: Any) -> str:
        return self.data[node.start_byte : node.end_byte].decode("utf-8", errors="replace")

    def position(self, node: Any) -> tuple[int, int]:
        row, column = node.start_point
        return row + 1, len(self.lines[row][:column].decode("utf-8", errors="replace")) + 1

    def finding(self, node: Any, code: str, message: str) -> Finding:
        line, column = self.position(node)
        return Finding(self.script.name, line, column, code, message)

    def walk(self, node: Any = None) -> Iterator[Any]:
        """Every node under ``node`` (the root by default) in document order; a tree cursor,
        which is several times faster than asking each node for its children."""
        cursor = (node or self.root).walk()
        depth = 0
        while True:
            yield cursor.node
            if cursor.goto_first_child():
                depth += 1
                continue
            while not cursor.goto_next_sibling():
                if depth == 0 or not cursor.goto_parent():
                    return
                depth -= 1


@lru_cache(maxsize=64)
def _parsed(script: Script) -> _Text:
    """A parsed file, kept for the next check of the same text (a spec's scripts are
    checked again and again by tests and `maforge validate --env` runs)."""
    return _Text(script)


def _in_error(node: Any) -> bool:
    """Whether the grammar failed to read the statement around ``node``."""
    current = node
    while current is not None:
        if current.type == "ERROR":
            return True
        if current.type in ("pipeline", "function_statement"):
            return current.has_error
        current = current.parent
    return False


def _first(node: Any, kind: str) -> Any | None:
    return next((c for c in node.children if c.type == kind), None)


def _unwrap(node: Any) -> Any:
    """The expression a chain of one-child wrappers (logical_expression → … → unary_expression) holds."""
    while node.child_count == 1 and node.type != "variable":
        node = node.children[0]
    return node


def _variable_name(text: str) -> tuple[str | None, str]:
    """``$script:Name`` → ('script', 'name'); ``${x}``/``@x`` → (None, 'x'). Lower case."""
    body = text[1:] if text[:1] in "$@" else text
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    if ":" in body:
        qualifier, name = body.split(":", 1)
        return qualifier.lower(), name.lower()
    return None, body.lower()


def _string_value(text: str) -> str | None:
    """The value of a quoted literal without expansion (``'a''b'`` → ``a'b``), else None."""
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if len(text) >= 2 and text[0] == text[-1] == '"' and "$" not in text and "`" not in text:
        return text[1:-1]
    return None


# --------------------------------------------------------------------------- functions


@dataclass(slots=True)
class _Parameter:
    name: str
    aliases: tuple[str, ...] = ()
    mandatory: bool = False
    switch: bool = False
    position: int | None = None
    from_pipeline: bool = False


@dataclass(slots=True)
class _Function:
    name: str
    parameters: list[_Parameter]
    advanced: bool
    reads_args: bool
    file: str


def _attribute_arguments(text: _Text, attribute: Any) -> dict[str, str]:
    """``[Parameter(Mandatory, Position = 0)]`` → {'mandatory': '', 'position': '0'}."""
    result: dict[str, str] = {}
    arguments = _first(attribute, "attribute_arguments")
    for argument in arguments.children if arguments is not None else ():
        if argument.type != "attribute_argument":
            continue
        name = _first(argument, "simple_name")
        if name is not None:
            value = argument.children[-1] if argument.children[-1] != name else None
            result[text.src(name).lower()] = text.src(value).strip() if value is not None else ""
    return result


def _parameter(text: _Text, node: Any) -> _Parameter | None:
    variable = _first(node, "variable")
    if variable is None:
        return None
    parameter = _Parameter(_variable_name(text.src(variable))[1])
    attributes = _first(node, "attribute_list")
    for attribute in attributes.children if attributes is not None else ():
        literal = _first(attribute, "type_literal")
        if literal is not None:
            parameter.switch = parameter.switch or text.src(literal).lower().replace(" ", "") in ("[switch]", "[system.management.automation.switchparameter]")
            continue
        name_node = _first(attribute, "attribute_name")
        kind = text.src(name_node).lower() if name_node is not None else ""
        arguments = _attribute_arguments(text, attribute)
        if kind == "parameter":
            mandatory = arguments.get("mandatory")
            parameter.mandatory = mandatory is not None and mandatory.lower() in ("", "$true", "1")
            if arguments.get("position", "").isdigit():
                parameter.position = int(arguments["position"])
            parameter.from_pipeline = any(k.startswith("valuefrompipeline") and v.lower() in ("", "$true") for k, v in arguments.items())
        elif kind == "alias":
            found = re.findall(r"'([^']*)'|\"([^\"]*)\"", text.src(_first(attribute, "attribute_arguments") or attribute))
            parameter.aliases = tuple((a or b).lower() for a, b in found)
    return parameter


def _functions(text: _Text) -> dict[str, _Function]:
    """Every function the file defines (nested ones too), by lower-case name."""
    found: dict[str, _Function] = {}
    arg_reads = [n.start_byte for n in text.of("variable") if _variable_name(text.src(n)) == (None, "args")]
    for node in text.of("function_statement"):
        name_node = _first(node, "function_name")
        if name_node is None:
            continue
        body = _first(node, "script_block")
        blocks = [c for c in (_first(node, "function_parameter_declaration"), _first(body, "param_block") if body is not None else None) if c is not None]
        parameters: list[_Parameter] = []
        advanced = False
        for block in blocks:
            if any(text.src(a).lower().replace(" ", "").startswith("[cmdletbinding") for a in block.children if a.type == "attribute_list"):
                advanced = True
            params = _first(block, "parameter_list")
            for item in params.children if params is not None else ():
                if item.type == "script_parameter" and (parameter := _parameter(text, item)) is not None:
                    parameters.append(parameter)
        advanced = advanced or any("[parameter" in text.src(_first(b, "parameter_list") or b).lower() for b in blocks)
        reads_args = body is not None and any(body.start_byte <= at < body.end_byte for at in arg_reads)
        found.setdefault(text.src(name_node).lower(), _Function(text.src(name_node), parameters, advanced, reads_args, text.script.name))
    return found


# --------------------------------------------------------------------------- commands


@dataclass(slots=True)
class _Call:
    node: Any  # the command node
    name_node: Any
    name: str
    elements: list[Any]  # parameters and arguments, in order
    piped: bool  # receives pipeline input


def _calls(text: _Text) -> Iterator[_Call]:
    """Every command called by a plain name (not ``& $block``, ``. .\\file.ps1``, paths or programs)."""
    if text.calls is None:
        text.calls = list(_find_calls(text))
    return iter(text.calls)


def _find_calls(text: _Text) -> Iterator[_Call]:
    for node in text.of("command"):
        name_node = _first(node, "command_name")
        if name_node is None:
            expr = _first(node, "command_name_expr")
            name_node = _first(expr, "command_name") if expr is not None and _first(node, "command_invokation_operator") is None else None
        if name_node is None:
            continue
        name = text.src(name_node)
        if not _NAME.match(name):
            continue  # a path, a program (x.exe), or the grammar reading `1..3` as a command
        elements_node = _first(node, "command_elements")
        elements = [c for c in (elements_node.children if elements_node is not None else ()) if c.type not in ("command_argument_sep", "redirection", "comment")]
        chain = node.parent
        piped = chain is not None and chain.type == "pipeline_chain" and chain.children[0] != node
        yield _Call(node, name_node, name, elements, piped)


def _named_argument(text: _Text, call: _Call, names: tuple[str, ...]) -> str | None:
    """The literal value given to parameter ``-Name`` (or its first positional argument when
    ``names`` ends with '#0'), for reading Import-Module/Set-Variable/New-Object targets."""
    positional: list[Any] = []
    index = 0
    while index < len(call.elements):
        element = call.elements[index]
        if element.type == "command_parameter":
            taken = text.src(element).lstrip("-").rstrip(":").lower()
            following = call.elements[index + 1] if index + 1 < len(call.elements) else None
            if following is not None and following.type != "command_parameter":
                if any(n != "#0" and n.startswith(taken) and taken for n in names):
                    return text.src(following)
                index += 1
        else:
            positional.append(element)
        index += 1
    if "#0" in names and positional:
        return text.src(positional[0])
    return None


_IMPORTERS = frozenset({"import-module", "ipmo"})
_EXTERNAL_IMPORTERS = frozenset({"import-pssession", "ipsn", "add-pssnapin", "asnp"})
_MODULE_LOADERS = frozenset({"new-module", "nmo"})


def _imports(text: _Text, module_file: str | None) -> tuple[bool, bool]:
    """(loads the common module, imports something the checker cannot see).

    An Import-Module of a computed path (``Join-Path $folder $ConfigParameters[...]``) is
    taken to load the common module: that is how the connector's scripts find it (contract
    §3.3). A literal module name other than the common module's (ActiveDirectory, ...), a
    PSSession import or a snap-in is an external import: its commands are unknown here."""
    common = external = False
    module_names = {module_file.lower(), module_file.lower().rsplit(".", 1)[0]} if module_file else set()
    for call in _calls(text):
        lowered = call.name.lower()
        if lowered in _MODULE_LOADERS:
            common = True
        elif lowered in _EXTERNAL_IMPORTERS:
            external = True
        elif lowered in _IMPORTERS:
            target = _named_argument(text, call, ("name", "#0"))
            literal = _string_value(target) if target is not None and target[:1] in "'\"" else target
            if target is None or literal is None or "$" in target or "(" in target:
                common = True
            elif Path(literal.replace("\\", "/")).name.lower() in module_names:
                common = True
            else:
                external = True
    return common, external


def _defined_aliases(text: _Text) -> set[str]:
    """Aliases the file creates with Set-Alias/New-Alias (they resolve like commands)."""
    names = set()
    for call in _calls(text):
        if call.name.lower() in ("set-alias", "new-alias", "sal", "nal"):
            value = _named_argument(text, call, ("name", "#0"))
            if value:
                names.add((_string_value(value) or value).lower())
    return names


# --------------------------------------------------------------------------- the checker


@dataclass(slots=True)
class _Context:
    """What the scripts of one set share: the module's functions, the globals any of them
    assigns, the declared config parameter names."""

    module: _Text | None
    module_functions: dict[str, _Function]
    globals_: set[str] = field(default_factory=set)
    config_names: frozenset[str] | None = None


def check_scripts(
    scripts: Iterable[Script],
    *,
    module: Script | None = None,
    config_names: Iterable[str] | None = None,
) -> list[Finding]:
    """Every finding in ``scripts`` and their common ``module``.

    ``config_names``: the names ``$ConfigParameters`` holds (:func:`declared_config_names`);
    ``None`` skips check PS501. Raises ImportError when the grammar is not installed."""
    texts = [_parsed(s) for s in scripts]
    module_text = _parsed(module) if module is not None else None
    context = _Context(module_text, _functions(module_text) if module_text is not None else {})
    context.config_names = frozenset(config_names) if config_names is not None else None
    for text in texts + ([module_text] if module_text is not None else []):
        context.globals_ |= _global_assignments(text)
    findings: list[Finding] = []
    for text in texts:
        findings += _check_file(text, context, is_module=False)
    if module_text is not None:
        findings += _check_file(module_text, context, is_module=True)
    return sorted(findings, key=lambda f: (f.file, f.line, f.column, f.code))


def _check_file(text: _Text, context: _Context, *, is_module: bool) -> list[Finding]:
    own = _functions(text)
    findings = list(_check_commands(text, context, own, is_module))
    findings += _check_variables(text, context, is_module)
    findings += _check_types(text)
    findings += _check_config_names(text, context)
    findings += _check_output(text, own)
    findings += _check_one_object(text)
    return findings


# ----------------------------------------------------------------- 1 and 2: commands, parameters


def _check_commands(text: _Text, context: _Context, own: dict[str, _Function], is_module: bool) -> Iterator[Finding]:
    catalogue = _catalogue()
    module_file = context.module.script.name if context.module is not None else None
    loads_module, external = _imports(text, module_file)
    if is_module:
        loads_module = True  # its own functions
    aliases = _defined_aliases(text)
    visible = dict(context.module_functions) if loads_module else {}
    visible.update(own)
    for call in _calls(text):
        if _in_error(call.node):
            continue  # the grammar could not read this part: skip rather than guess
        lowered = call.name.lower()
        function = visible.get(lowered)
        if function is not None:
            yield from _check_arguments(text, call, function)
            continue
        if lowered in catalogue.commands or lowered in aliases:
            continue
        if lowered in context.module_functions:
            yield text.finding(
                call.name_node,
                "PS102",
                f"'{call.name}' is a function of the common module '{module_file}', which this script never loads: "
                "Import-Module the module first (see the Import script's prologue)",
            )
            continue
        functions = [f.name for f in visible.values()] + [f.name for f in context.module_functions.values()]
        if external:
            # Commands may come from a module the checker cannot see: report near-misses of our own functions only.
            match = closest(call.name, functions, cutoff=0.85)
            if match is None or match.lower() == lowered:
                continue
        hint = did_you_mean(call.name, functions + list(catalogue.commands.values()))
        yield text.finding(
            call.name_node,
            "PS101",
            f"unknown command '{call.name}': not a function of this script or its common module, nor a Windows PowerShell 5.1 "
            f"cmdlet or alias{hint}; a program on the MIM server needs its extension ({call.name}.exe)",
        )


def _resolve_parameter(function: _Function, written: str) -> tuple[_Parameter | None, bool]:
    """(the parameter ``-written`` binds to, whether it is a common parameter). PowerShell
    accepts any unambiguous prefix of a name or alias."""
    lowered = written.lower()
    exact = [p for p in function.parameters if p.name == lowered or lowered in p.aliases]
    if exact:
        return exact[0], False
    common = _catalogue().common_parameters
    if function.advanced and lowered in common:
        return None, True
    prefixed = [p for p in function.parameters if p.name.startswith(lowered) or any(a.startswith(lowered) for a in p.aliases)]
    if len(prefixed) == 1:
        return prefixed[0], False
    if function.advanced and any(c.startswith(lowered) for c in common):
        return None, True
    return None, False


def _check_arguments(text: _Text, call: _Call, function: _Function) -> Iterator[Finding]:
    """Check 2: named parameters exist; mandatory ones are given (named or positional).
    Not checked: parameter sets (a mandatory parameter of another set is still required
    here), and calls that splat (``@args``) or take pipeline input skip the mandatory check."""
    bound: set[str] = set()
    positional = 0
    splatted = False
    index = 0
    while index < len(call.elements):
        element = call.elements[index]
        following = call.elements[index + 1] if index + 1 < len(call.elements) else None
        if element.type != "command_parameter":
            if text.src(element).startswith("@") and _unwrap(element).type == "variable":
                splatted = True
            else:
                positional += 1
            index += 1
            continue
        written = text.src(element).lstrip("-")
        colon = written.endswith(":")
        written = written.rstrip(":")
        parameter, common = _resolve_parameter(function, written)
        takes_value = following is not None and following.type != "command_parameter"
        if parameter is not None:
            bound.add(parameter.name)
            takes_value = takes_value and (colon or not parameter.switch)
        elif not common and not (function.reads_args and not function.advanced):
            names = [f"-{p.name}" for p in function.parameters]
            hint = did_you_mean(f"-{written}", names) if names else ""
            declared = ", ".join(f"-{p.name}" for p in function.parameters) or "none"
            yield text.finding(element, "PS201", f"'{function.name}' has no parameter '-{written}'{hint} (it declares: {declared})")
        index += 2 if takes_value else 1
    if splatted or call.piped:
        return
    unbound = sorted((p for p in function.parameters if p.name not in bound and not p.switch), key=lambda p: (p.position is None, p.position or 0))
    for parameter in unbound[positional:]:
        if parameter.mandatory and not parameter.from_pipeline:
            yield text.finding(call.name_node, "PS202", f"'{function.name}' is called without its mandatory parameter -{parameter.name}: give it, or the script stops here waiting for input")


# ----------------------------------------------------------------- 3: variables


@dataclass(slots=True)
class _Scope:
    kind: str  # file, function, block
    node: Any
    parent: _Scope | None
    defined: dict[str, int] = field(default_factory=dict)  # name → earliest byte where it holds a value


def _global_assignments(text: _Text) -> set[str]:
    """Names the file assigns as ``$global:x`` or with ``Set-Variable -Scope Global``: any
    script of the set may read them (one runspace per run step; contract §0)."""
    names: set[str] = set()
    for node in text.of("left_assignment_expression"):
        for target in _assignment_targets(node):
            qualifier, name = _variable_name(text.src(target))
            if qualifier == "global":
                names.add(name)
    for call in _calls(text):
        if call.name.lower() in ("set-variable", "new-variable", "sv", "set", "nv"):
            scope = _named_argument(text, call, ("scope",))
            name = _named_argument(text, call, ("name", "#0"))
            if scope and name and (_string_value(scope) or scope).lower() == "global":
                names.add((_string_value(name) or name).lower())
    return names


def _assignment_targets(lhs: Any) -> list[Any]:
    """The variables an assignment's left side assigns: ``$x``, ``[int]$x``, ``$a, $b``;
    not ``$x.Prop`` or ``$x[0]``, which read ``$x``."""
    core = _unwrap(lhs)
    if core.type == "cast_expression":
        core = _unwrap(core.children[-1])
    if core.type == "variable":
        return [core]
    if core.type == "array_literal_expression":
        return [v for c in core.children if (v := _unwrap(c)).type == "variable"]
    return []


class _VariableWalk:
    """Check 3. Scopes: the file, each function, each script block. A read must follow an
    assignment in its own scope (an assignment inside a loop counts from the loop's start,
    so a value carried to the next pass is fine), or be assigned anywhere in a function's
    enclosing scopes (PowerShell scopes are dynamic: a function sees its caller's
    variables, and the script's own are set by the time it is called), or be a global some
    script of the set assigns, a contract variable of the slot, or automatic.

    Not covered: variables created by Invoke-Expression, dot-sourced files, Import-Csv
    property names, or ``Set-Variable`` with a computed name."""

    def __init__(self, text: _Text, is_module: bool):
        self.text = text
        self.reads: list[tuple[_Scope, Any, int, str | None, str]] = []
        self.spelled: dict[str, str] = {}  # lower-case name → as first written
        contract = SLOT_CONTRACTS.get(text.script.slot or "")
        self.file_scope = _Scope("file", text.root, None)
        if contract is not None and not is_module:
            self.file_scope.defined.update((v.lower(), -1) for v in contract.variables)
            self.spelled.update((v.lower(), v) for v in contract.variables)

    def run(self, context: _Context) -> Iterator[Finding]:
        self.context = context
        automatic = _catalogue().automatic
        reported: set[tuple[int, str]] = set()
        for scope, node, position, qualifier, name in self.reads:
            if name in automatic or name in self.context.globals_ or (id(scope), name) in reported or _in_error(node):
                continue
            if qualifier == "global":
                ok = False
            elif qualifier == "script":
                ok = name in self.file_scope.defined
            else:
                ok = self.resolves(scope, name, position)
            if ok:
                continue
            reported.add((id(scope), name))
            visible = sorted("$" + self.spelled.get(v, v) for v in self.visible(scope))
            hint = did_you_mean("$" + self.text.src(node).lstrip("$@{").rstrip("}"), visible)
            yield self.text.finding(node, "PS301", self.message(scope, node, qualifier, name, hint))

    def message(self, scope: _Scope, node: Any, qualifier: str | None, name: str, hint: str) -> str:
        spelled = self.text.src(node)
        if qualifier == "global":
            return f"variable '{spelled}' is never assigned: no script of the set nor the common module sets it{hint}"
        later = self.assigned_later(scope, name)
        if later is not None:
            return f"variable '{spelled}' is read before it is first assigned (line {later}): assign it before this line"
        where = "this function" if scope.kind == "function" else "the script" if scope.kind == "file" else "this script block"
        return f"variable '{spelled}' is read but nothing assigns it in {where}{hint}: assign it first, or declare it in param()"

    def assigned_later(self, scope: _Scope, name: str) -> int | None:
        current: _Scope | None = scope
        while current is not None:
            at = current.defined.get(name)
            if at is not None and at >= 0:
                return self.text.data.count(b"\n", 0, at) + 1
            current = current.parent
        return None

    def resolves(self, scope: _Scope, name: str, position: int) -> bool:
        limit: int | None = position
        current: _Scope | None = scope
        while current is not None:
            at = current.defined.get(name)
            if at is not None and (limit is None or at <= limit):
                return True
            if current.kind == "function":
                limit = None  # dynamic scope: the caller's variables, whenever it calls
            current = current.parent
        return False

    def visible(self, scope: _Scope) -> set[str]:
        names = set(self.context.globals_)
        current: _Scope | None = scope
        while current is not None:
            names.update(current.defined)
            current = current.parent
        return names

    def define(self, scope: _Scope, node: Any, at: int) -> None:
        qualifier, name = _variable_name(self.text.src(node))
        if qualifier in ("env", "using", "function", "alias", "variable"):
            return
        self.spelled.setdefault(name, self.text.src(node).lstrip("$@{").rstrip("}").split(":")[-1])
        target = self.file_scope if qualifier == "script" else scope
        if qualifier == "script" or qualifier == "global":
            at = -1
        if qualifier != "global" and (name not in target.defined or target.defined[name] > at):
            target.defined[name] = at

    def read(self, scope: _Scope, node: Any) -> None:
        text = self.text.src(node)
        qualifier, name = _variable_name(text)
        if qualifier is not None and qualifier not in _QUALIFIERS:
            return  # $env:X, $using:x, ${function:f}, drive-qualified: not variables of this script
        self.reads.append((scope, node, node.start_byte, qualifier, name))

    def parameters(self, block: Any | None, scope: _Scope, loop: int | None) -> None:
        params = _first(block, "parameter_list") if block is not None else None
        if block is not None:
            for child in block.children:
                if child.type == "attribute_list":
                    self.visit(child, scope, loop)
        for item in params.children if params is not None else ():
            if item.type != "script_parameter":
                continue
            for child in item.children:
                if child.type == "variable":
                    self.define(scope, child, -1)
                else:
                    self.visit(child, scope, loop)

    def visit(self, node: Any, scope: _Scope, loop: int | None) -> None:  # noqa: C901 - one branch per construct
        if node.child_count == 0 and node.type != "variable":
            return
        kind = node.type
        if kind == "function_statement":
            inner = _Scope("function", node, scope)
            body = _first(node, "script_block")
            self.parameters(_first(node, "function_parameter_declaration"), inner, None)
            if body is not None:
                self.parameters(_first(body, "param_block"), inner, None)
                for child in body.children:
                    if child.type != "param_block":
                        self.visit(child, inner, None)
            return
        if kind == "script_block_expression":
            inner = _Scope("block", node, scope)
            for child in node.children:
                if child.type == "param_block":
                    self.parameters(child, inner, None)
                else:
                    self.visit(child, inner, None)
            return
        if kind == "param_block":
            self.parameters(node, scope, loop)
            return
        if kind in _LOOPS:
            start = node.start_byte if loop is None else loop
            if kind == "foreach_statement":
                variable = _first(node, "variable")
                if variable is not None:
                    self.define(scope, variable, start)
                for child in node.children:
                    if child != variable:
                        self.visit(child, scope, start)
                return
            for child in node.children:
                self.visit(child, scope, start)
            return
        if kind == "assignment_expression":
            lhs = _first(node, "left_assignment_expression")
            operator = _first(node, "assignement_operator")
            compound = operator is not None and self.text.src(operator).strip() != "="
            for child in node.children:
                if child != lhs:
                    self.visit(child, scope, loop)
            targets = _assignment_targets(lhs) if lhs is not None else []
            if lhs is not None:
                self.visit_lhs(lhs, targets, scope, loop, compound)
            # Where the grammar fails to read the value it may swallow the next lines into
            # it: then the variable counts from the assignment's start.
            at = node.start_byte if node.has_error else node.end_byte
            for target in targets:
                self.define(scope, target, loop if loop is not None else at)
            return
        if kind == "command":
            self.command_definitions(node, scope, loop)
        if kind == "variable":
            self.read(scope, node)
            return
        children = node.children
        while len(children) == 1 and children[0].type in _WRAPPERS:
            children = children[0].children  # one-child expression chains: nothing to do on the way down
        for child in children:
            self.visit(child, scope, loop)

    def visit_lhs(self, node: Any, targets: list[Any], scope: _Scope, loop: int | None, compound: bool) -> None:
        if node.type == "variable":
            if compound or not any(node == t for t in targets):
                self.read(scope, node)
            return
        if node.type == "type_literal":
            return
        for child in node.children:
            self.visit_lhs(child, targets, scope, loop, compound)

    def command_definitions(self, node: Any, scope: _Scope, loop: int | None) -> None:
        """``-OutVariable x``, ``-ErrorVariable +x``, ``Set-Variable -Name x``: assignments too."""
        at = loop if loop is not None else node.end_byte
        elements = _first(node, "command_elements")
        items = [c for c in (elements.children if elements is not None else ()) if c.type not in ("command_argument_sep", "comment")]
        for index, item in enumerate(items[:-1]):
            if item.type != "command_parameter":
                continue
            name = self.text.src(item).lstrip("-").rstrip(":").lower()
            if name in ("outvariable", "ov", "errorvariable", "ev", "warningvariable", "wv", "informationvariable", "iv", "pipelinevariable", "pv"):
                value = _string_value(self.text.src(items[index + 1])) or self.text.src(items[index + 1])
                self._define_name(scope, value.lstrip("+"), at)
        name_node = _first(node, "command_name")
        if name_node is not None and self.text.src(name_node).lower() in ("set-variable", "new-variable", "sv", "set", "nv"):
            call = _Call(node, name_node, self.text.src(name_node), [c for c in items if c.type != "redirection"], False)
            target = _named_argument(self.text, call, ("name", "#0"))
            if target:
                scope_name = (_named_argument(self.text, call, ("scope",)) or "").strip("'\"").lower()
                where = self.file_scope if scope_name == "script" else scope
                self._define_name(where, _string_value(target) or target, -1 if scope_name else at)

    def _define_name(self, scope: _Scope, name: str, at: int) -> None:
        if _NAME.match(name):
            lowered = name.lower()
            if lowered not in scope.defined or scope.defined[lowered] > at:
                scope.defined[lowered] = at


def _check_variables(text: _Text, context: _Context, is_module: bool) -> Iterator[Finding]:
    walk = text.variable_walks.get(is_module)
    if walk is None:
        walk = text.variable_walks[is_module] = _VariableWalk(text, is_module)
        walk.visit(text.root, walk.file_scope, None)
    return walk.run(context)


# ----------------------------------------------------------------- 4: types

_GENERIC_ARITY = re.compile(r"`\d+")


def _split_type(spelled: str) -> tuple[str, list[str]]:
    """``List[Dictionary[string,int]][]`` → ('List', ['Dictionary[string,int]'])."""
    spelled = _GENERIC_ARITY.sub("", spelled.strip())
    while spelled.endswith("[]") or re.search(r"\[,*\]$", spelled):
        spelled = spelled[: spelled.rindex("[")].rstrip()
    if "[" not in spelled:
        return spelled, []
    base, rest = spelled[: spelled.index("[")], spelled[spelled.index("[") + 1 : spelled.rindex("]")]
    arguments, depth, start = [], 0, 0
    for index, char in enumerate(rest):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth == 0:
            arguments.append(rest[start:index].strip().strip("[]"))
            start = index + 1
    arguments.append(rest[start:].strip())
    return base.strip(), [a.strip("[] ") if a.count("[") != a.count("]") else a for a in arguments if a]


def _unknown_types(spelled: str, extra: set[str]) -> Iterator[str]:
    """The names in ``spelled`` (generic arguments included) that are not known types."""
    known = _catalogue().types
    base, arguments = _split_type(spelled)
    lowered = base.lower()
    if not (lowered in known or f"system.{lowered}" in known or lowered in extra or lowered.split("+")[0] in known):
        yield base
    for argument in arguments:
        yield from _unknown_types(argument, extra)


def _script_defined_types(text: _Text) -> set[str] | None:
    """Classes and enums the file defines; None when it compiles C# (Add-Type), whose
    types the checker cannot list."""
    names: set[str] = set()
    for node in text.of("class_statement", "enum_statement", "command_name"):
        if node.type in ("class_statement", "enum_statement"):
            name = _first(node, "simple_name")
            if name is not None:
                names.add(text.src(name).lower())
        elif node.type == "command_name" and text.src(node).lower() == "add-type":
            command = node.parent
            if any(p.type == "command_parameter" and text.src(p).lower().startswith(("-typedef", "-memberdef")) for p in text.walk(command)):
                return None
    return names


def _check_types(text: _Text) -> Iterator[Finding]:
    """Check 4: ``[Type]`` literals and the literal type of ``New-Object [-TypeName] X``.
    Not covered: type names built at run time, ``-as 'TypeName'`` strings, COM objects."""
    extra = _script_defined_types(text)
    if extra is None:
        return
    catalogue = _catalogue()
    places: list[tuple[Any, str]] = []
    for node in text.of("type_literal"):
        spelled = text.src(node).strip()[1:-1].strip()
        if spelled[:1].isalpha():
            places.append((node, spelled))
    for call in _calls(text):
        if call.name.lower() == "new-object" and not any(text.src(e).lower().startswith("-com") for e in call.elements):
            value = _named_argument(text, call, ("typename", "#0"))
            literal = _string_value(value) if value and value[:1] in "'\"" else value
            if literal and re.match(r"^[A-Za-z_][\w.`\[\], +]*$", literal):
                node = next(e for e in call.elements if text.src(e) == value)
                places.append((node, literal))
    for node, spelled in places:
        for name in _unknown_types(spelled, extra):
            hint = did_you_mean(name, catalogue.type_names)
            yield text.finding(
                node,
                "PS401",
                f"unknown type [{name}]{hint}: not an ECMA2 type, a PowerShell 5.1 type accelerator or a .NET type maforge knows "
                "(compiler/powershell/known_types.json lists them; add it there if it is real)",
            )


# ----------------------------------------------------------------- 5: config parameter names


def _check_config_names(text: _Text, context: _Context) -> Iterator[Finding]:
    """Check 5: ``$ConfigParameters['Name']`` / ``["Name"]`` (then ``.Value`` or not) with a
    literal name. Not covered: names computed at run time or passed to a helper function
    (the SPO scripts' Get-MfSetting takes names the generator renders from the model)."""
    declared = context.config_names
    if declared is None:
        return
    for node in text.of("element_access"):
        if not node.children:
            continue
        target = node.children[0]
        if target.type != "variable" or _variable_name(text.src(target)) != (None, "configparameters"):
            continue
        index = node.children[2] if len(node.children) > 2 else None
        literal = _unwrap(index) if index is not None else None
        if literal is None or literal.type not in ("string_literal", "expandable_string_literal", "verbatim_string_characters"):
            continue
        name = _string_value(text.src(literal))
        if name is None or name in declared:
            continue
        hint = did_you_mean(name, sorted(declared))
        yield text.finding(
            literal,
            "PS501",
            f"config parameter '{name}' is not declared by this MA{hint}: a missing name throws KeyNotFoundException at run time; "
            "declare it under parameters (read as Name_Global, Name_Partition or Name_RunStep)",
        )


# ----------------------------------------------------------------- 6: pipeline output

# Commands that write an object as a side effect of what they do (New-Item writes the item).
_LEAKY_COMMANDS = {
    "new-item": "New-Item", "ni": "New-Item", "mkdir": "mkdir", "md": "md", "new-itemproperty": "New-ItemProperty",
    "new-psdrive": "New-PSDrive", "ndr": "New-PSDrive", "mount": "New-PSDrive", "import-pssession": "Import-PSSession",
    "ipsn": "Import-PSSession", "start-job": "Start-Job", "sajb": "Start-Job", "register-objectevent": "Register-ObjectEvent",
    "register-engineevent": "Register-EngineEvent", "register-wmievent": "Register-WmiEvent",
}
# Commands that never write to the output stream (unless -PassThru).
_QUIET_COMMANDS = frozenset(
    """write-host write-verbose write-debug write-warning write-error write-information write-progress set-strictmode
    import-module ipmo remove-module rmo export-modulemember start-sleep sleep out-file out-null set-variable sv set
    remove-variable rv clear-variable clv set-content sc add-content ac remove-item rm del ri set-item si set-itemproperty sp
    remove-itemproperty rp copy-item cp copy cpi move-item mv move mi rename-item ren rni clear-content clc add-member
    add-type set-location sl cd push-location pushd pop-location popd remove-pssession rsn stop-process kill spps throw
    set-alias sal new-alias nal new-variable nv export-csv epcsv export-clixml set-psdebug clear-host cls clear
    write-eventlog remove-job rjb stop-job spjb wait-event unregister-event""".split()
)
_METHOD_RESULTS = {
    "arraylist": {"add": "ArrayList.Add returns the new index"},
    "hashset": {"add": "HashSet.Add returns a Boolean", "remove": "HashSet.Remove returns a Boolean"},
    "list": {"remove": "List.Remove returns a Boolean"},
    "dictionary": {"remove": "Dictionary.Remove returns a Boolean"},
    "stringbuilder": {m: "StringBuilder methods return the builder" for m in ("append", "appendline", "appendformat", "insert", "remove", "replace", "clear")},
}
_STATIC_RESULTS = {("io.directory", "createdirectory"): "Directory.CreateDirectory returns a DirectoryInfo"}
_CONSTRUCTED = (
    ("arraylist", re.compile(r"(?i)collections\.arraylist\b")),
    ("hashset", re.compile(r"(?i)generic\.hashset\b")),
    ("stringbuilder", re.compile(r"(?i)text\.stringbuilder\b")),
    ("dictionary", re.compile(r"(?i)generic\.dictionary\b")),
    ("list", re.compile(r"(?i)generic\.list\b")),
)


def _collection_variables(text: _Text) -> dict[str, str]:
    """Variable (lower case) → the collection kind it is made as, where the file makes it
    with New-Object or a [Type] conversion. Flow-insensitive: one name, one kind."""
    kinds: dict[str, str] = {}
    for node in text.of("assignment_expression", "script_parameter"):
        if node.type == "assignment_expression":
            lhs = _first(node, "left_assignment_expression")
            targets = _assignment_targets(lhs) if lhs is not None else []
            value = text.src(node)[len(text.src(lhs)) if lhs is not None else 0 :].lstrip(" =\t")[:160]
            if lhs is not None and _unwrap(lhs).type == "cast_expression":
                value = text.src(lhs)
            elif not value.lower().startswith(("new-object", "[")):
                continue
            for kind, pattern in _CONSTRUCTED:
                if pattern.search(value):
                    for target in targets:
                        kinds[_variable_name(text.src(target))[1]] = kind
                    break
        elif node.type == "script_parameter":
            variable = _first(node, "variable")
            attributes = _first(node, "attribute_list")
            if variable is not None and attributes is not None:
                for kind, pattern in _CONSTRUCTED:
                    if pattern.search(text.src(attributes)):
                        kinds[_variable_name(text.src(variable))[1]] = kind
                        break
    return kinds


def _output_context(node: Any) -> str | None:
    """Where a statement list's output goes: 'file' (the script's own output), 'function',
    or None when something captures it (an assignment, $(...), @(...), a cast, a script
    block handed to a command)."""
    current = node.parent
    while current is not None:
        if current.type in _CAPTURING:
            return None
        if current.type == "function_statement":
            return "function"
        if current.type == "flow_control_statement":
            return None
        current = current.parent
    return "file"


def _stages(statement: Any) -> list[Any]:
    chain = _first(statement, "pipeline_chain")
    if chain is None:
        return [c for c in statement.children if c.type not in ("comment",)]
    return [c for c in chain.children if c.type not in ("|", "comment")]


def _redirected_to_null(text: _Text, command: Any) -> bool:
    for node in text.walk(command):
        if node.type == "redirection":
            operator = text.src(node.children[0]).strip() if node.children else ""
            target = text.src(node.children[-1]).strip().lower() if node.child_count > 1 else ""
            if operator in (">", "1>", ">>", "1>>", "*>") and target == "$null":
                return True
    return False


def _leak(text: _Text, last: Any, kinds: dict[str, str]) -> str | None:
    """Why the statement ending in ``last`` writes a value nobody asked for, or None."""
    if last.type == "command":
        name_node = _first(last, "command_name")
        name = text.src(name_node).lower() if name_node is not None else ""
        if name in _LEAKY_COMMANDS:
            return f"{_LEAKY_COMMANDS[name]} writes what it creates to the pipeline"
        return None
    core = _unwrap(last)
    if core.type != "invokation_expression" or core.child_count < 3:
        return None
    receiver, member = core.children[0], _first(core, "member_name")
    if member is None:
        return None
    method = text.src(member).lower()
    if receiver.type == "variable":
        kind = kinds.get(_variable_name(text.src(receiver))[1])
        return _METHOD_RESULTS.get(kind or "", {}).get(method)
    if receiver.type == "type_literal":
        spelled = text.src(receiver).strip("[] ").lower().removeprefix("system.")
        return _STATIC_RESULTS.get((spelled, method))
    return None


def _writes_something(text: _Text, last: Any) -> bool:
    """For the slots that must write nothing: a value written for sure (a variable, a
    literal, New-Object, Write-Output, a call with -PassThru). Calls of functions are
    given the benefit of the doubt."""
    if last.type == "command":
        name_node = _first(last, "command_name")
        name = text.src(name_node).lower() if name_node is not None else ""
        passthru = any(e.type == "command_parameter" and text.src(e).lower().startswith("-passthru") for e in text.walk(last))
        return name in ("write-output", "echo", "write", "new-object") or passthru
    core = _unwrap(last)
    if core.type == "cast_expression" and text.src(core).lower().replace(" ", "").startswith("[void]"):
        return False
    return core.type in ("variable", "string_literal", "expandable_string_literal", "integer_literal", "real_literal", "hash_literal_expression", "array_expression", "member_access", "element_access")


def _check_output(text: _Text, own: dict[str, _Function]) -> Iterator[Finding]:
    """Check 6. Everywhere: known value-returning calls used as statements (PS601). In the
    slots that must write nothing (Begin/End Export, password scripts): any statement of
    the script itself that surely writes a value (PS602).

    Not covered: whether a one-object slot writes exactly one object of the right type
    (functions' outputs are not followed), and leaks from script blocks given to commands."""
    kinds = _collection_variables(text)
    contract = SLOT_CONTRACTS.get(text.script.slot or "")
    silent = contract is not None and contract.output == "none"
    for node in text.of("flow_control_statement", "statement_list"):
        if node.type == "flow_control_statement" and silent and _output_context(node) == "file":
            value = _first(node, "pipeline")
            if value is not None and text.src(node.children[0]).lower() == "return":
                yield text.finding(node, "PS602", f"the {text.script.slot} script must write nothing ({contract.source}): 'return' without a value ends it")
            continue
        if node.type != "statement_list":
            continue
        where = _output_context(node)
        if where is None:
            continue
        for statement in node.children:
            if statement.type != "pipeline" or _first(statement, "assignment_expression") is not None:
                continue
            stages = _stages(statement)
            if not stages:
                continue
            last = stages[-1]
            if last.type == "command":
                name_node = _first(last, "command_name")
                if name_node is not None and text.src(name_node).lower() == "out-null":
                    continue
                if _redirected_to_null(text, last):
                    continue
            reason = _leak(text, last, kinds)
            if reason is not None:
                yield text.finding(
                    statement, "PS601", f"{reason}, which leaks into the script's output: cast it to [void], assign it to $null or pipe it to Out-Null"
                )
            elif silent and where == "file" and _writes_something(text, last):
                yield text.finding(
                    statement,
                    "PS602",
                    f"the {text.script.slot} script must write nothing to the pipeline ({contract.source}), but this statement writes a value: "
                    "assign it, or discard it with [void] / $null = / Out-Null",
                )


def _check_one_object(text: _Text) -> Iterator[Finding]:
    """Check 6, the one-object slots (Validation, Schema, Begin/End Import, Import, Export):
    in the script's own top-level statements, a value written for sure before a later
    statement that writes a value or returns one is a second object on the pipeline, and the
    connector takes the pipeline's output as the slot's result (PS603). Statements inside
    branches are left alone (each branch may return the one object), as are functions'
    outputs, which are not followed."""
    contract = SLOT_CONTRACTS.get(text.script.slot or "")
    if contract is None or contract.output != "one":
        return
    root = next((c for c in text.root.children if c.type == "statement_list"), None)
    if root is None:
        return
    writes = []
    for statement in root.children:
        if statement.type == "flow_control_statement" and text.src(statement.children[0]).lower() == "return" and _first(statement, "pipeline") is not None:
            writes.append(statement)
            break  # nothing after a return runs
        if statement.type != "pipeline" or _first(statement, "assignment_expression") is not None:
            continue
        stages = _stages(statement)
        if stages and _writes_something(text, stages[-1]) and not _redirected_to_null(text, stages[-1]):
            writes.append(statement)
    for early in writes[:-1]:
        yield text.finding(
            early,
            "PS603",
            f"the {text.script.slot} script must return exactly one object ({contract.source}), but this statement writes one before its result: "
            "assign it, or discard it with [void] / $null = / Out-Null",
        )


# --------------------------------------------------------------------------- a spec's scripts


def check_spec(spec: Any) -> list[Finding]:
    """The findings in a spec's script set (generated or the user's), file names as the
    build writes them (ScriptSet.file_name), each script held to its connector's contract."""
    from ..model import ConnectorTarget
    from .scriptset import script_set

    scripts = script_set(spec)
    module_text = scripts.texts.get("commonModule")
    module = Script(scripts.common_module, module_text) if module_text is not None else None
    prefix = "psma:" if spec.connector is ConnectorTarget.PSMA else ""
    items = [Script(scripts.file_name(slot), text, prefix + slot) for slot, text in scripts.texts.items() if slot != "commonModule"]
    return check_scripts(items, module=module, config_names=declared_config_names(p.name for p in spec.parameters))


__all__ = ["Finding", "SLOT_CONTRACTS", "Script", "SlotContract", "available", "check_scripts", "check_spec", "declared_config_names"]
