"""Emitter: the model → the C# rules extension MIM runs for what it can only run as code.

The MA export (mim/maexport.py) writes every expression flow, scripted join mapping and
hand-written flow as an advanced (scripted) mapping with a flow-rule name (model.py's
*_rule_name); MIM then calls the MA's rules extension with that name. This module writes that
extension, so nobody has to: one class implementing IMASynchronization with one case per
flow-rule name and one method per rule, each computing the spec's expression (compiled once
by expressions.py) with the catalogue's .NET implementation (templates/csharp/MaforgeRuntime.cs)
and writing the result with the same null and decline rules `maforge plan` follows
(templates/csharp/MaforgeFlows.cs).

`maforge build` puts the files in DIR/rules-extension/ with `build.ps1`, which compiles the
DLL on the MIM server with the .NET Framework's own csc.exe. A rule the spec marks as written
by hand (`script:` mappings, scripted projection, join resolution, connector filter or
deprovisioning) is called, not generated: the admin writes it in a second file of the same
partial class, and the compiler names anything missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from maforge import __version__
from maforge.templates import environment

from ..model import (
    ConnectorSpec,
    DeprovisioningAction,
    MappingKind,
    ValueMapping,
    WhenNull,
    export_rule_name,
    import_rule_name,
    join_rule_name,
)
from .expressions import csharp_string, to_csharp

FOLDER = "rules-extension"
BOM = "\ufeff"
CLASS_NAME = "MAExtensionObject"  # the class name Synchronization Service Manager's own project template uses
RUNTIME_FILES = ("MaforgeRuntime.cs", "MaforgeFlows.cs")
# C# keywords, which an identifier may only use with '@' (C# language specification, §6.4.4).
_CSHARP_KEYWORDS = frozenset(
    "abstract as base bool break byte case catch char checked class const continue decimal default delegate do double else enum event "
    "explicit extern false finally fixed float for foreach goto if implicit in int interface internal is lock long namespace new null "
    "object operator out override params private protected public readonly ref return sbyte sealed short sizeof stackalloc static "
    "string struct switch this throw true try typeof uint ulong unchecked unsafe ushort using virtual void volatile while".split()
)
# Characters C# reads as the end of a line (§6.3.2): a comment must not hold one.
_NEW_LINES = re.compile("[\r\n\u0085\u2028\u2029]")


@dataclass(frozen=True, slots=True)
class Rule:
    """One flow-rule name of the extension and the method that answers it."""

    name: str  # the flow-rule name MIM passes
    member: str  # MapAttributesForExport | MapAttributesForImport | MapAttributesForJoin
    method: str
    generated: bool  # False: written by hand in another file of the class
    comment: tuple[str, ...] = ()
    body: tuple[str, ...] = ()
    reads_clock: bool = False  # the expression calls Now()

    @property
    def literal(self) -> str:
        return csharp_string(self.name)


@dataclass(slots=True)
class _Names:
    """Method names, unique within the class, readable from the rule they answer."""

    taken: set[str] = field(default_factory=lambda: {CLASS_NAME, "Initialize", "Terminate", "now"})

    def method(self, prefix: str, *parts: str) -> str:
        base = "_".join([prefix, *(re.sub(r"[^A-Za-z0-9]+", "_", p).strip("_") or "x" for p in parts)])
        name, number = base, 2
        while name in self.taken:
            name, number = f"{base}_{number}", number + 1
        self.taken.add(name)
        return name


def needs_extension(spec: ConnectorSpec) -> bool:
    """Whether the MA has anything MIM can only run as code."""
    return bool(collect_rules(spec)) or any(_by_hand(spec).values())


def collect_rules(spec: ConnectorSpec) -> list[Rule]:
    """Every scripted mapping of the MA, in the MA export's order: export flows, join
    criteria, then this MA's import flows."""
    names = _Names()
    rules: list[Rule] = []
    for flow_set in spec.export_flows:
        for flow in flow_set.flows:
            rule = export_rule_name(flow_set.cs_object_type, flow.target)
            if _scripted(flow.mapping):
                where = f"export flow {flow_set.mv_object_type} → {flow_set.cs_object_type}.{flow.target} (whenNull: {flow.when_null.value})"
                when_null = "WhenNull.Clear" if flow.when_null is WhenNull.CLEAR else "WhenNull.Skip"
                rules.append(
                    _rule(
                        flow.mapping,
                        rule,
                        "MapAttributesForExport",
                        names.method("Export", flow_set.cs_object_type, flow.target),
                        where,
                        "mventry",
                        lambda value, target=flow.target, when_null=when_null: f"Flows.Write(csentry[{csharp_string(target)}], {value}, {when_null}, csentry.MA);",
                    )
                )
    for type_name in dict.fromkeys(r.cs_object_type for r in spec.join):
        for index, join in enumerate(r for r in spec.join if r.cs_object_type == type_name):
            for criterion in join.criteria:
                if _scripted(criterion.mapping):
                    rule = join_rule_name(type_name, index + 1, criterion.mv_attribute)
                    where = f"join rule {index + 1} of {type_name}: metaverse {criterion.mv_attribute} equals any value given"
                    rules.append(
                        _rule(criterion.mapping, rule, "MapAttributesForJoin", names.method("Join", type_name, str(index + 1), criterion.mv_attribute), where, "csentry", lambda value: f"Flows.AddJoinValues(values, {value});")
                    )
    for flow_set in spec.import_flows:
        for flow in flow_set.flows:
            if _scripted(flow.mapping):
                rule = import_rule_name(flow_set.cs_object_type, flow.target)
                where = f"import flow {flow_set.cs_object_type} → {flow_set.mv_object_type}.{flow.target}"
                rules.append(
                    _rule(
                        flow.mapping,
                        rule,
                        "MapAttributesForImport",
                        names.method("Import", flow_set.cs_object_type, flow.target),
                        where,
                        "csentry",
                        lambda value, target=flow.target: f"Flows.Write(mventry[{csharp_string(target)}], {value}, WhenNull.Skip, null);",
                    )
                )
    return rules


def _scripted(mapping: ValueMapping) -> bool:
    return mapping.kind in (MappingKind.EXPRESSION, MappingKind.SCRIPT)


def _rule(mapping: ValueMapping, rule: str, member: str, method: str, where: str, reads: str, write) -> Rule:  # type: ignore[no-untyped-def]
    if mapping.kind is MappingKind.SCRIPT:
        return Rule(mapping.script_context or rule, member, method, False, _comment(mapping.script_context or rule, where, None))
    assert mapping.expression is not None
    sources = ", ".join(csharp_string(s) for s in mapping.source_attributes())
    body = (
        f"IDictionary<string, object> row = Flows.Read({reads}{', ' + sources if sources else ''});",
        f"object value = {to_csharp(mapping.expression)};",
        write("value"),
    )
    reads_clock = any(call.name == "Now" for call in mapping.expression.calls())
    return Rule(rule, member, method, True, _comment(rule, where, mapping.expression.text), body, reads_clock)


def _comment(rule: str, where: str, expression: str | None) -> tuple[str, ...]:
    lines = [f"{rule}: {where}"]
    if expression is not None:
        lines += [f"  {line}" if index else f"= {line}" for index, line in enumerate(_NEW_LINES.split(expression))]
    return tuple(_NEW_LINES.sub(" ", line) for line in lines)


def _by_hand(spec: ConnectorSpec) -> dict[str, bool]:
    """The IMASynchronization members the spec leaves to code written by hand."""
    return {
        "project": any(rule.scripted for rule in spec.projection),
        "deprovision": spec.deprovisioning.action is DeprovisioningAction.SCRIPTED,
        "filter": any(alternative.scripted for alternative in spec.connector_filter),
        "resolve": any(rule.resolution_script for rule in spec.join),
    }


_BY_HAND_SIGNATURES = {
    "project": ("projection is scripted", "bool ShouldProjectToMVByHand(CSEntry csentry, out string MVObjectType)"),
    "deprovision": ("deprovisioning is scripted", "DeprovisionAction DeprovisionByHand(CSEntry csentry)"),
    "filter": ("the connector filter is scripted", "bool FilterForDisconnectionByHand(CSEntry csentry)"),
    "resolve": ("a join rule has a resolution script", "bool ResolveJoinSearchByHand(string joinCriteriaName, CSEntry csentry, MVEntry[] rgmventry, out int imventry, ref string MVObjectType)"),
}
_PARAMETERS = {
    "MapAttributesForExport": "MVEntry mventry, CSEntry csentry",
    "MapAttributesForImport": "CSEntry csentry, MVEntry mventry",
    "MapAttributesForJoin": "CSEntry csentry, ValueCollection values",
}


def written_by_hand(spec: ConnectorSpec, rules: list[Rule] | None = None) -> list[dict[str, str]]:
    """The members the admin writes in another file of the class: why, and the signature."""
    rules = collect_rules(spec) if rules is None else rules
    members = [{"why": f"flow rule {rule.name!r} is a script mapping", "text": f"void {rule.method}({_PARAMETERS[rule.member]})"} for rule in rules if not rule.generated]
    by_hand = _by_hand(spec)
    return members + [{"why": why, "text": text} for key, (why, text) in _BY_HAND_SIGNATURES.items() if by_hand[key]]


def namespace_for(assembly: str) -> str:
    """The class's namespace: the assembly's file name without `.dll`, each part a valid C#
    identifier (`Contoso.SpoUserProfiles.RulesExtension.dll` → the same without `.dll`)."""
    stem = re.sub(r"\.dll$", "", Path(assembly.replace("\\", "/")).name, flags=re.IGNORECASE)
    parts = []
    for part in stem.split("."):
        part = re.sub(r"[^A-Za-z0-9_]", "_", part) or "_"
        if part[0].isdigit():
            part = "_" + part
        parts.append("@" + part if part in _CSHARP_KEYWORDS else part)
    return ".".join(parts)


def assembly_file(spec: ConnectorSpec) -> str:
    """The DLL's file name, exactly as the MA export's extension/assembly-name has it."""
    assert spec.mim.rules_extension is not None
    return spec.mim.rules_extension.assembly


def extension_files(spec: ConnectorSpec, source: str) -> dict[str, str]:
    """DIR/rules-extension/*: the class, the runtime it calls and build.ps1. Empty when the
    MA needs no extension or the spec names none (rule MF241 warns about that)."""
    if spec.mim.rules_extension is None or not needs_extension(spec):
        return {}
    rules = collect_rules(spec)
    by_hand = _by_hand(spec)
    generated = [rule for rule in rules if rule.generated]
    hand_written = written_by_hand(spec, rules)
    env = environment()
    dll = assembly_file(spec)
    stem = re.sub(r"\.dll$", "", dll, flags=re.IGNORECASE)
    source_name = f"{stem}.cs"
    files = {
        f"{FOLDER}/{source_name}": env.get_template("csharp/extension.cs.j2").render(
            ma_name=_NEW_LINES.sub(" ", spec.name),
            version=__version__,
            source=Path(source).name,
            namespace=namespace_for(dll),
            class_name=CLASS_NAME,
            clock=any(rule.reads_clock for rule in generated),
            by_hand=by_hand,
            hand_written=hand_written,
            joins=[r for r in rules if r.member == "MapAttributesForJoin"],
            imports=[r for r in rules if r.member == "MapAttributesForImport"],
            exports=[r for r in rules if r.member == "MapAttributesForExport"],
            methods=[{"method": r.method, "parameters": _PARAMETERS[r.member], "comment": r.comment, "body": r.body} for r in generated],
        ),
        f"{FOLDER}/build.ps1": env.get_template("csharp/build.ps1.j2").render(
            version=__version__,
            dll=dll,
            ma_name=spec.name,
            hand_written=bool(hand_written),
            sources=[source_name, *RUNTIME_FILES],
        ),
    }
    for name in RUNTIME_FILES:
        files[f"{FOLDER}/{name}"] = _runtime_text(name)
    # A byte order mark on each: csc.exe and Windows PowerShell 5.1 read a file without one in
    # the server's ANSI code page, which would garble a non-ASCII name in a comment or message.
    return {path: BOM + text.removeprefix(BOM) for path, text in files.items()}


def _runtime_text(name: str) -> str:
    """A runtime file as shipped: copied, not rendered (its braces are C#'s, not Jinja's)."""
    return environment().loader.get_source(environment(), f"csharp/{name}")[0]  # type: ignore[union-attr]
