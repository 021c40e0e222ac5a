"""Stage 2b: the semantic rules a JSON Schema cannot express.

Each rule is a small function registered with a code and a one-line title (the reference
docs list them from :data:`RULES`). A rule reads the model and yields diagnostics; rules
never depend on each other, so adding one touches nothing else.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from maforge.connectors.spo import catalogue
from maforge.schemas import load_schema

from . import psconnector, psma
from .diagnostics import Diagnostic, Position, Severity
from .identity import element_keys
from .loader import Document
from .suggest import did_you_mean
from .model import (
    Access,
    ConnectorSpec,
    ConnectorTarget,
    ConnectorType,
    CsAttribute,
    CsObjectType,
    DeprovisioningAction,
    ExportFlowSet,
    ImportFlowSet,
    Loc,
    MappingKind,
    MvAttribute,
    MvObjectType,
    Source,
    SourceType,
    ValueMapping,
)

SECRET_REFERENCE = re.compile(load_schema("connector")["$defs"]["secretRef"]["pattern"])
# Files the rules open are read only this far: a spec pointing at /dev/zero must not hang.
MAX_SCRIPT_BYTES = 4 * 1024 * 1024
MAX_HEADER_LINE = 65536
SECRET_LOOKING_NAME = re.compile(r"(password|passwd|secret|token|apikey|api_key|privatekey|private_key)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    title: str
    check: Callable[[RuleContext], Iterable[Diagnostic]]


RULES: list[Rule] = []


def rule(code: str, title: str) -> Callable[[Callable[[RuleContext], Iterable[Diagnostic]]], Callable[[RuleContext], Iterable[Diagnostic]]]:
    def register(check: Callable[[RuleContext], Iterable[Diagnostic]]) -> Callable[[RuleContext], Iterable[Diagnostic]]:
        RULES.append(Rule(code, title, check))
        return check

    return register


class RuleContext:
    """What a rule gets: the model, and helpers that turn a finding into a diagnostic."""

    def __init__(self, spec: ConnectorSpec, doc: Document):
        self.spec = spec
        self.doc = doc

    def at(self, severity: Severity, code: str, message: str, loc: Loc) -> Diagnostic:
        return Diagnostic(severity, code, message, loc.file, loc.position, loc.pointer)

    def error(self, code: str, message: str, loc: Loc) -> Diagnostic:
        return self.at(Severity.ERROR, code, message, loc)

    def warning(self, code: str, message: str, loc: Loc) -> Diagnostic:
        return self.at(Severity.WARNING, code, message, loc)

    def field(self, pointer: str) -> Loc:
        """The location of the key at ``pointer`` (or its nearest written parent)."""
        return Loc(self.doc.display, pointer, self.doc.position(pointer, key=True))

    def member(self, loc: Loc, name: str) -> Loc:
        """The location of member ``name`` of the element at ``loc``."""
        return self.field(f"{loc.pointer}/{name}")

    def in_expression(self, mapping: ValueMapping, offset: int) -> Loc:
        """The location of character ``offset`` of an expression mapping."""
        position = self.doc.string_position(mapping.loc.pointer, offset)
        return Loc(mapping.loc.file, mapping.loc.pointer, position)


def _duplicates_ignoring_case(names: Iterable[tuple[str, Loc]]) -> Iterator[tuple[str, str, Loc]]:
    seen: dict[str, str] = {}
    for name, loc in names:
        lowered = name.lower()
        if lowered in seen:
            yield name, seen[lowered], loc
        else:
            seen[lowered] = name


# --------------------------------------------------------------------------- schema


@rule("MF201", "object type and attribute names are unique, ignoring case")
def unique_names(ctx: RuleContext) -> Iterator[Diagnostic]:
    for name, first, loc in _duplicates_ignoring_case((t.name, t.loc) for t in ctx.spec.object_types):
        yield ctx.error("MF201", f"object type '{name}' differs from '{first}' only in case: names that differ only in case are ambiguous in MIM", loc)
    for object_type in ctx.spec.object_types:
        for name, first, loc in _duplicates_ignoring_case((a.name, a.loc) for a in object_type.attributes):
            yield ctx.error(
                "MF201", f"attribute '{name}' of '{object_type.name}' differs from '{first}' only in case: names that differ only in case are ambiguous in MIM", loc
            )
    for name, first, loc in _duplicates_ignoring_case((t.name, t.loc) for t in ctx.spec.mv_object_types):
        yield ctx.error("MF201", f"metaverse object type '{name}' differs from '{first}' only in case: names that differ only in case are ambiguous in MIM", loc)
    for mv_type in ctx.spec.mv_object_types:
        for name, first, loc in _duplicates_ignoring_case((a.name, a.loc) for a in mv_type.attributes):
            yield ctx.error(
                "MF201", f"metaverse attribute '{name}' of '{mv_type.name}' differs from '{first}' only in case: names that differ only in case are ambiguous in MIM", loc
            )


@rule("MF202", "every anchor attribute exists and can be imported")
def anchors(ctx: RuleContext) -> Iterator[Diagnostic]:
    for object_type in ctx.spec.object_types:
        names = [a.name for a in object_type.attributes]
        for anchor in object_type.anchor:
            attribute = object_type.attribute(anchor)
            if attribute is None:
                yield ctx.error(
                    "MF202",
                    f"anchor '{anchor}' is not an attribute of '{object_type.name}'{did_you_mean(anchor, names)}",
                    object_type.anchor_loc,
                )
            elif attribute.access is Access.EXPORT_ONLY:
                yield ctx.error("MF202", f"anchor '{anchor}' is ExportOnly: the connector must import the anchor", object_type.anchor_loc)
            elif attribute.multi_valued:
                yield ctx.error("MF202", f"anchor '{anchor}' is multi-valued: an anchor holds one value", object_type.anchor_loc)
        if len(set(object_type.anchor)) != len(object_type.anchor):
            yield ctx.error("MF202", f"the anchor of '{object_type.name}' names the same attribute twice", object_type.anchor_loc)


# --------------------------------------------------------------------------- references


class _Names:
    """Resolves object type and attribute names on both sides, with 'did you mean'."""

    def __init__(self, ctx: RuleContext):
        self.ctx = ctx

    def cs_type(self, name: str, loc: Loc) -> tuple[CsObjectType | None, list[Diagnostic]]:
        found = self.ctx.spec.object_type(name)
        if found is not None:
            return found, []
        if self.ctx.spec.type is ConnectorType.OTHER and not self.ctx.spec.object_types:
            return None, []  # the connector's schema is carried verbatim: nothing to check against
        choices = [t.name for t in self.ctx.spec.object_types]
        return None, [self.ctx.error("MF210", f"unknown object type '{name}'{did_you_mean(name, choices)}", loc)]

    def mv_type(self, name: str, loc: Loc) -> tuple[MvObjectType | None, list[Diagnostic]]:
        found = self.ctx.spec.mv_object_type(name)
        if found is not None:
            return found, []
        if not self.ctx.spec.mv_object_types:
            return None, [
                self.ctx.error("MF212", f"metaverse object type '{name}' is not declared: add it under metaverse.objectTypes", loc)
            ]
        choices = [t.name for t in self.ctx.spec.mv_object_types]
        return None, [self.ctx.error("MF212", f"unknown metaverse object type '{name}'{did_you_mean(name, choices)}", loc)]

    def flow_set_types(self, flow_set: ImportFlowSet | ExportFlowSet) -> tuple[CsObjectType | None, MvObjectType | None, list[Diagnostic]]:
        """Both object types a flow set names, and the problems finding them."""
        object_type, cs_problems = self.cs_type(flow_set.cs_object_type, self.ctx.member(flow_set.loc, "objectType"))
        mv_type, mv_problems = self.mv_type(flow_set.mv_object_type, self.ctx.member(flow_set.loc, "mvObjectType"))
        return object_type, mv_type, cs_problems + mv_problems


def _mapping_sources(ctx: RuleContext, mapping: ValueMapping) -> Iterator[tuple[str, Loc]]:
    """The attributes a mapping reads, each with the best location for a message."""
    if mapping.kind is MappingKind.EXPRESSION and mapping.expression is not None:
        for ref in mapping.expression.attributes():
            yield ref.name, ctx.in_expression(mapping, ref.offset)
    else:
        for name in mapping.source_attributes():
            yield name, mapping.loc


def _check_cs_sources(ctx: RuleContext, mapping: ValueMapping, object_type: CsObjectType, what: str) -> Iterator[Diagnostic]:
    names = [a.name for a in object_type.attributes]
    for name, loc in _mapping_sources(ctx, mapping):
        attribute = object_type.attribute(name)
        if attribute is None:
            yield ctx.error("MF211", f"{what} reads '{name}', which is not an attribute of '{object_type.name}'{did_you_mean(name, names)}", loc)
        elif attribute.access is Access.EXPORT_ONLY:
            yield ctx.error("MF215", f"{what} reads '{name}', which is ExportOnly: it is never imported", loc)


def _check_mv_sources(ctx: RuleContext, mapping: ValueMapping, mv_type: MvObjectType, what: str) -> Iterator[Diagnostic]:
    names = [a.name for a in mv_type.attributes]
    for name, loc in _mapping_sources(ctx, mapping):
        if mv_type.attribute(name) is None:
            yield ctx.error(
                "MF213", f"{what} reads '{name}', which is not an attribute of metaverse type '{mv_type.name}'{did_you_mean(name, names)}", loc
            )


@rule("MF210", "rules name object types and attributes that exist")
def references(ctx: RuleContext) -> Iterator[Diagnostic]:
    names = _Names(ctx)
    spec = ctx.spec
    for partition in spec.partitions:
        for i, type_name in enumerate(partition.object_types):
            _, problems = names.cs_type(type_name, ctx.field(f"{partition.loc.pointer}/objectTypes/{i}"))
            yield from problems
    for component, object_class in spec.provisioning_hierarchy.items():
        _, problems = names.cs_type(object_class, ctx.field(f"/provisioningHierarchy/{component}"))
        yield from problems
    for alternative in spec.connector_filter:
        object_type, problems = names.cs_type(alternative.cs_object_type, ctx.member(alternative.loc, "objectType"))
        yield from problems
        if object_type is None:
            continue
        attr_names = [a.name for a in object_type.attributes]
        for condition in alternative.conditions:
            if object_type.attribute(condition.attribute) is None:
                yield ctx.error(
                    "MF211",
                    f"connector filter tests '{condition.attribute}', which is not an attribute of '{object_type.name}'"
                    f"{did_you_mean(condition.attribute, attr_names)}",
                    condition.loc,
                )
            if condition.operator not in ("present", "not-present") and condition.value is None:
                yield ctx.error("MF218", f"connector filter condition '{condition.operator}' needs a value", condition.loc)
    for join in spec.join:
        object_type, problems = names.cs_type(join.cs_object_type, ctx.member(join.loc, "objectType"))
        yield from problems
        mv_type = None
        if join.mv_object_type is not None:
            mv_type, problems = names.mv_type(join.mv_object_type, ctx.member(join.loc, "mvObjectType"))
            yield from problems
        for criterion in join.criteria:
            if object_type is not None:
                yield from _check_cs_sources(ctx, criterion.mapping, object_type, "join rule")
            if mv_type is not None and mv_type.attribute(criterion.mv_attribute) is None:
                choices = [a.name for a in mv_type.attributes]
                yield ctx.error(
                    "MF213",
                    f"join rule searches '{criterion.mv_attribute}', which is not an attribute of metaverse type '{mv_type.name}'"
                    f"{did_you_mean(criterion.mv_attribute, choices)}",
                    criterion.loc,
                )
            elif mv_type is None and join.mv_object_type is None and spec.mv_object_types:
                if not any(t.attribute(criterion.mv_attribute) for t in spec.mv_object_types):
                    every = [a.name for t in spec.mv_object_types for a in t.attributes]
                    yield ctx.error(
                        "MF213",
                        f"join rule searches '{criterion.mv_attribute}', which no metaverse object type has"
                        f"{did_you_mean(criterion.mv_attribute, every)}",
                        criterion.loc,
                    )
    for projection in spec.projection:
        _, problems = names.cs_type(projection.cs_object_type, ctx.member(projection.loc, "objectType"))
        yield from problems
        if projection.mv_object_type is not None:
            _, problems = names.mv_type(projection.mv_object_type, ctx.member(projection.loc, "mvObjectType"))
            yield from problems
    for flow_set in spec.import_flows:
        object_type, mv_type, problems = names.flow_set_types(flow_set)
        yield from problems
        for flow in flow_set.flows:
            if object_type is not None:
                yield from _check_cs_sources(ctx, flow.mapping, object_type, f"import flow into '{flow.target}'")
            if mv_type is not None and mv_type.attribute(flow.target) is None:
                choices = [a.name for a in mv_type.attributes]
                yield ctx.error(
                    "MF213",
                    f"import flow into '{flow.target}', which is not an attribute of metaverse type '{mv_type.name}'"
                    f"{did_you_mean(flow.target, choices)}",
                    flow.loc,
                )
    for flow_set in spec.export_flows:
        object_type, mv_type, problems = names.flow_set_types(flow_set)
        yield from problems
        for flow in flow_set.flows:
            if mv_type is not None:
                yield from _check_mv_sources(ctx, flow.mapping, mv_type, f"export flow into '{flow.target}'")
            if object_type is None:
                continue
            target = object_type.attribute(flow.target)
            if target is None:
                choices = [a.name for a in object_type.attributes]
                yield ctx.error(
                    "MF211",
                    f"export flow into '{flow.target}', which is not an attribute of '{object_type.name}'{did_you_mean(flow.target, choices)}",
                    flow.loc,
                )
            elif target.access is Access.IMPORT_ONLY:
                yield ctx.error("MF214", f"export flow into '{flow.target}', which is ImportOnly: the connector never exports it", flow.loc)


@rule("MF216", "each pair of object types has one flow set per direction; no flow target twice")
def flow_sets_unique(ctx: RuleContext) -> Iterator[Diagnostic]:
    for sets, direction in ((ctx.spec.import_flows, "import"), (ctx.spec.export_flows, "export")):
        seen: set[tuple[str, str]] = set()
        for flow_set in sets:
            pair = (flow_set.cs_object_type, flow_set.mv_object_type)
            if pair in seen:
                yield ctx.error(
                    "MF216",
                    f"a second {direction} flow set for {flow_set.cs_object_type} ↔ {flow_set.mv_object_type}: merge it into the first",
                    flow_set.loc,
                )
            seen.add(pair)
            for name, first, loc in _duplicates_ignoring_case((f.target, f.loc) for f in flow_set.flows):
                yield ctx.error("MF216", f"flows into '{name}' and '{first}' differ only in case: they are the same attribute", loc)
    export_targets: dict[tuple[str, str], str] = {}
    for flow_set in ctx.spec.export_flows:
        for flow in flow_set.flows:
            key = (flow_set.cs_object_type, flow.target)
            if key in export_targets and export_targets[key] != flow_set.mv_object_type:
                yield ctx.error(
                    "MF216",
                    f"'{flow.target}' of '{flow_set.cs_object_type}' already has an export flow from '{export_targets[key]}': "
                    "MIM allows one export flow per connector-space attribute",
                    flow.loc,
                )
            export_targets.setdefault(key, flow_set.mv_object_type)


@rule("MF217", "one projection rule per object type; a connector filter is declared or scripted, not both")
def one_rule_per_type(ctx: RuleContext) -> Iterator[Diagnostic]:
    projected: set[str] = set()
    for projection in ctx.spec.projection:
        if projection.cs_object_type in projected:
            yield ctx.error(
                "MF217", f"a second projection rule for '{projection.cs_object_type}': MIM holds one per object type", projection.loc
            )
        projected.add(projection.cs_object_type)
    kinds: dict[str, bool] = {}
    for alternative in ctx.spec.connector_filter:
        previous = kinds.setdefault(alternative.cs_object_type, alternative.scripted)
        if previous != alternative.scripted:
            yield ctx.error(
                "MF217",
                f"the connector filter of '{alternative.cs_object_type}' mixes declared conditions and a scripted entry: "
                "MIM's filter for one object type is either declared or scripted",
                alternative.loc,
            )


# --------------------------------------------------------------------------- capabilities


@rule("MF220", "capability combinations MIM accepts")
def capability_combinations(ctx: RuleContext) -> Iterator[Diagnostic]:
    if ctx.spec.type is ConnectorType.OTHER or ctx.spec.connector is ConnectorTarget.PSMA:
        return  # another connector's capabilities (PSMA's too) are declared by its code, not chosen here
    caps = ctx.spec.capabilities

    def at(field_name: str) -> Loc:
        return ctx.field(f"/capabilities/{field_name}")

    for field_name in ("partitions", "hierarchy", "dnAsAnchor"):
        if caps.spec_value(field_name) and caps.distinguished_name_style != "Ldap":
            yield ctx.error(
                "MF220",
                f"capabilities.{field_name} needs distinguishedNameStyle: Ldap (it is {caps.distinguished_name_style}): "
                "MIM offers it only for LDAP-style DNs",
                at(field_name),
            )
    if caps.delta_import and not caps.import_:
        yield ctx.error("MF220", "capabilities.deltaImport needs capabilities.import", at("deltaImport"))
    if caps.full_export and not caps.export:
        yield ctx.error("MF220", "capabilities.fullExport needs capabilities.export", at("fullExport"))
    if caps.export_password_in_first_pass and not caps.password_operations:
        yield ctx.error("MF220", "capabilities.exportPasswordInFirstPass needs capabilities.passwordOperations", at("exportPasswordInFirstPass"))
    if not caps.import_ and not caps.export:
        yield ctx.error("MF220", "the connector neither imports nor exports: enable capabilities.import or capabilities.export", at("import"))


@rule("MF223", "rules and run steps only use what the capabilities enable")
def capability_use(ctx: RuleContext) -> Iterator[Diagnostic]:
    spec = ctx.spec
    if spec.type is ConnectorType.OTHER:
        return  # see MF220
    caps = spec.capabilities
    if not caps.export:
        for flow_set in spec.export_flows:
            yield ctx.error("MF223", "export flows need capabilities.export: true", flow_set.loc)
    if not caps.import_:
        for item in (*spec.import_flows, *spec.join, *spec.projection):
            yield ctx.error("MF223", "import flows, join and projection rules need capabilities.import: true", item.loc)
    if len(spec.partitions) > 1 and not caps.partitions:
        yield ctx.error("MF223", "several partitions need capabilities.partitions: true", spec.partitions[1].loc)
    if spec.provisioning_hierarchy and not caps.hierarchy:
        yield ctx.error("MF223", "provisioningHierarchy needs capabilities.hierarchy: true", ctx.field("/provisioningHierarchy"))
    for partition in spec.partitions:
        if (partition.include or partition.exclude) and not caps.hierarchy:
            yield ctx.error(
                "MF223", f"container selection in partition '{partition.key}' needs capabilities.hierarchy: true", ctx.member(partition.loc, "containers")
            )
    for profile in spec.run_profiles:
        for step in profile.steps:
            if step.type.imports and not caps.import_:
                yield ctx.error("MF223", f"'{profile.name}' imports, but capabilities.import is false", step.loc)
            if step.type.delta_import and not caps.delta_import:
                yield ctx.error("MF223", f"'{profile.name}' runs a delta import, but capabilities.deltaImport is false", step.loc)
            if step.type.exports and not caps.export:
                yield ctx.error("MF223", f"'{profile.name}' exports, but capabilities.export is false", step.loc)


@rule("MF224", "pinned ids name elements that exist, each with its own GUID")
def pinned_ids(ctx: RuleContext) -> Iterator[Diagnostic]:
    known = element_keys(ctx.spec)
    for key in ctx.spec.mim.ids:
        if key not in known:
            escaped = key.replace("~", "~0").replace("/", "~1")
            yield ctx.error(
                "MF224", f"mim.ids pins '{key}', which is not an element of this MA{did_you_mean(key, sorted(known))}", ctx.field(f"/mim/ids/{escaped}")
            )
    ids = list(ctx.spec.mim.ids.values()) + ([ctx.spec.mim.id] if ctx.spec.mim.id else [])
    for guid in sorted({i for i in ids if ids.count(i) > 1}):
        yield ctx.error("MF224", f"GUID {guid} is pinned for more than one element: each needs its own", ctx.field("/mim/ids"))


@rule("MF222", "run steps name partitions that exist")
def run_step_partitions(ctx: RuleContext) -> Iterator[Diagnostic]:
    keys = [p.key for p in ctx.spec.partitions]
    for profile in ctx.spec.run_profiles:
        for step in profile.steps:
            if step.partition and ctx.spec.partition(step.partition) is None:
                yield ctx.error(
                    "MF222", f"'{profile.name}' runs against partition '{step.partition}', which is not declared{did_you_mean(step.partition, keys)}", step.loc
                )
            if step.type.syncs_only and step.page_size is not None:
                yield ctx.warning("MF222", f"'{profile.name}': pageSize has no effect on a synchronization step", step.loc)


# --------------------------------------------------------------------------- parameters and secrets


@rule("MF231", "parameter names do not collide with the connector's own")
def parameter_names(ctx: RuleContext) -> Iterator[Diagnostic]:
    reserved = {name.lower(): name for name in psconnector.reserved_names(ctx.spec.type.value)}
    for parameter in (p for p in ctx.spec.parameters if not p.generated):
        clash = reserved.get(parameter.name.lower())
        if clash is not None:
            whose = ("maforge's generated SPO scripts read" if clash in psconnector.SPO_RESERVED_PARAMETER_NAMES else "the connector already uses")
            yield ctx.error("MF231", f"parameter '{parameter.name}' collides with '{clash}', a name {whose}: rename it", parameter.loc)
    for name, first, loc in _duplicates_ignoring_case((p.name, p.loc) for p in ctx.spec.parameters if not p.generated):
        yield ctx.error("MF231", f"parameters '{name}' and '{first}' differ only in case: the connector cannot tell them apart", loc)


@rule("MF232", "partition and run-step values name declared parameters")
def parameter_values(ctx: RuleContext) -> Iterator[Diagnostic]:
    declared = [p.name for p in ctx.spec.parameters]
    places = [(f"partition '{p.key}'", p.parameters, p.loc) for p in ctx.spec.partitions]
    places += [(f"run profile '{r.name}'", s.parameters, s.loc) for r in ctx.spec.run_profiles for s in r.steps]
    for where, values, loc in places:
        for name in values:
            if ctx.spec.parameter(name) is None:
                yield ctx.error(
                    "MF232",
                    f"{where} sets '{name}', which is not declared under parameters{did_you_mean(name, declared)}",
                    ctx.field(f"{loc.pointer}/parameters/{name.replace('~', '~0').replace('/', '~1')}"),
                )


@rule("MF230", "secrets are given by reference, never written into the spec")
def literal_secrets(ctx: RuleContext) -> Iterator[Diagnostic]:
    spec = ctx.spec
    for parameter in spec.parameters:
        if parameter.encrypted:
            if parameter.value is not None and not SECRET_REFERENCE.match(parameter.value):
                yield ctx.error(
                    "MF230",
                    f"encrypted parameter '{parameter.name}' holds a literal value: give it as ${{env:NAME}} or ${{file:PATH}}",
                    parameter.loc,
                )
        elif SECRET_LOOKING_NAME.search(parameter.name):
            advice = "set 'encrypted: true' so MIM stores it encrypted and never exports it"
            if parameter.value:
                yield ctx.error(
                    "MF230",
                    f"parameter '{parameter.name}' looks like a secret and holds a literal value: {advice}, "
                    "and give the value as ${env:NAME} or ${file:PATH}",
                    parameter.loc,
                )
            else:
                yield ctx.warning("MF230", f"parameter '{parameter.name}' looks like a secret but is not encrypted: {advice}", parameter.loc)
    encrypted = {p.name for p in spec.parameters if p.encrypted}
    places = [(p.parameters, p.loc) for p in spec.partitions] + [(s.parameters, s.loc) for r in spec.run_profiles for s in r.steps]
    for values, loc in places:
        for name, value in values.items():
            if name in encrypted and value and not SECRET_REFERENCE.match(value):
                yield ctx.error(
                    "MF230", f"'{name}' is encrypted: give its value as ${{env:NAME}} or ${{file:PATH}}", ctx.field(f"{loc.pointer}/parameters/{name}")
                )


# --------------------------------------------------------------------------- scripts


@rule("MF250", "script files exist, are UTF-8 and fit the capabilities")
def script_files(ctx: RuleContext) -> Iterator[Diagnostic]:
    caps = ctx.spec.capabilities
    for script in ctx.spec.scripts:
        try:
            with open(script.path, "rb") as handle:
                data = handle.read(MAX_SCRIPT_BYTES + 1)
            if len(data) > MAX_SCRIPT_BYTES:
                yield ctx.error("MF250", f"script file '{script.written}' is larger than {MAX_SCRIPT_BYTES} bytes", script.loc)
                continue
            data.decode("utf-8-sig")
        except FileNotFoundError:
            yield ctx.error("MF250", f"script file '{script.written}' does not exist (paths are relative to the spec's folder)", script.loc)
            continue
        except IsADirectoryError:
            yield ctx.error("MF250", f"script path '{script.written}' is a folder, not a file", script.loc)
            continue
        except UnicodeDecodeError:
            yield ctx.error("MF250", f"script file '{script.written}' is not UTF-8: save it as UTF-8", script.loc)
            continue
        except OSError as error:
            yield ctx.error("MF250", f"cannot read script file '{script.written}': {error.strerror or error}", script.loc)
            continue
        needs = {
            "partition": ("partitions", caps.partitions),
            "partitionValidation": ("partitions", caps.partitions),
            "hierarchy": ("hierarchy", caps.hierarchy),
            "beginPassword": ("passwordOperations", caps.password_operations),
            "password": ("passwordOperations", caps.password_operations),
            "endPassword": ("passwordOperations", caps.password_operations),
            "beginExport": ("export", caps.export),
            "export": ("export", caps.export),
            "endExport": ("export", caps.export),
            "beginImport": ("import", caps.import_),
            "import": ("import", caps.import_),
            "endImport": ("import", caps.import_),
        }
        if script.slot in needs and not needs[script.slot][1]:
            yield ctx.warning(
                "MF250", f"the {script.slot} script never runs: capabilities.{needs[script.slot][0]} is false", script.loc
            )
    slots = {s.slot for s in ctx.spec.scripts}
    if ctx.spec.type is ConnectorType.POWERSHELL and ctx.spec.psma is not None:
        # A PSMA script may live only on the server (psma.paths).
        slots |= set(ctx.spec.psma.paths)
        # PSMA refuses to save an MA whose Import or Export Script path does not resolve
        # (its ValidateConfigParameters); a missing Password Management Script gets
        # maforge's placeholder (build.py).
        for slot, needed in (("schema", True), ("import", True), ("export", True)):
            if needed and slot not in slots:
                yield ctx.error(
                    "MF250",
                    f"scripts.{slot} is missing: PSMA cannot work without it (give the file under scripts, or its path on the server under psma.paths)",
                    ctx.field("/scripts") if ctx.spec.scripts else ctx.field("/psma"),
                )
    elif ctx.spec.type is ConnectorType.POWERSHELL:
        for slot, needed in (("schema", True), ("import", caps.import_), ("export", caps.export)):
            if needed and slot not in slots:
                yield ctx.error("MF250", f"scripts.{slot} is missing: the connector cannot work without it", ctx.field("/scripts"))


@rule("MF251", "script commands, parameters, variables, types and config names resolve (static check)")
def script_check(ctx: RuleContext) -> Iterator[Diagnostic]:
    """Bring-your-own scripts only (maforge's generated ones are tested): what
    compiler/powershell/checker.py finds, as warnings at the script's own line and column.
    Without the PowerShell grammar (the `check` extra: 180 MB of grammars, so not every
    install carries it) one warning says the scripts were not checked; nothing for a script
    MF250 already refuses."""
    if ctx.spec.type is not ConnectorType.POWERSHELL or not ctx.spec.scripts:
        return
    from pathlib import PurePath

    from .powershell import checker
    from .powershell.scriptset import ScriptError, script_set

    if not checker.available():
        yield ctx.warning("MF251", "the scripts were not checked (commands, parameters, variables, types): the PowerShell grammar is not installed; pip install 'maforge[check]'", ctx.field("/scripts"))
        return
    try:
        scripts = script_set(ctx.spec)
    except ScriptError:
        return  # MF250 reports the unreadable file
    written = {s.slot: s for s in ctx.spec.scripts}
    by_name = {}
    items, module = [], None
    for slot, text in scripts.texts.items():
        ref = written[slot]
        item = checker.Script(str(PurePath(ctx.doc.display).parent / ref.written), text, None if slot == "commonModule" else slot)
        by_name[item.name] = ref
        if slot == "commonModule":
            module = item
        else:
            items.append(item)
    names = checker.declared_config_names(p.name for p in ctx.spec.parameters)
    for finding in checker.check_scripts(items, module=module, config_names=names):
        ref = by_name[finding.file]
        yield Diagnostic(Severity.WARNING, "MF251", f"{finding.code} {finding.message}", finding.file, Position(finding.line, finding.column), ref.loc.pointer)


# --------------------------------------------------------------------------- expressions and flows


# --------------------------------------------------------------------------- PSMA


_PSMA_PREFIX = re.compile(r"^(anchor-|importonly-|exportonly-)", re.IGNORECASE)


@rule("MF280", "a spec for Granfeldt's PSMA uses only what PSMA has")
def psma_fit(ctx: RuleContext) -> Iterator[Diagnostic]:
    spec = ctx.spec
    data = ctx.doc.data if isinstance(ctx.doc.data, dict) else {}
    if spec.connector is not ConnectorTarget.PSMA:
        if "psma" in data:
            yield ctx.error("MF280", "psma settings apply only to connector: psma (this spec builds for the Microsoft connector)", ctx.field("/psma"))
        return
    settings = spec.psma
    if spec.type is ConnectorType.OTHER:
        yield ctx.error("MF280", "connector: psma needs type spo-user-profiles or powershell (type other carries another connector as it is)", ctx.field("/connector"))
    for script in spec.scripts:
        if script.slot not in psma.SLOTS:
            yield ctx.error(
                "MF280",
                f"PSMA has no {script.slot} script: it runs only {', '.join(sorted(psma.SCRIPT_PARAMETERS))} scripts (and a common module beside them)",
                script.loc,
            )
    for parameter in (p for p in spec.parameters if not p.generated):
        if parameter.encrypted:
            yield ctx.error(
                "MF280",
                f"parameter '{parameter.name}' is encrypted, but PSMA passes its configuration parameters as plain text: "
                "use psma.auxiliary (Username/Password (auxiliary), handed to every script) for a secret",
                parameter.loc,
            )
        if parameter.value is not None and re.search(r"[\r\n]", parameter.value):
            yield ctx.error("MF280", f"parameter '{parameter.name}': a configuration line cannot hold a line break", parameter.loc)
    for profile in spec.run_profiles:
        for step in profile.steps:
            if step.parameters:
                yield ctx.error(
                    "MF280",
                    f"run profile '{profile.name}' sets parameters for a step, but PSMA has no run-step parameters (set them under parameters)",
                    ctx.member(step.loc, "parameters"),
                )
    for partition in spec.partitions:
        if partition.parameters:
            yield ctx.error("MF280", f"partition '{partition.key}' sets parameters, but PSMA has no partition parameters", ctx.member(partition.loc, "parameters"))
    if len(spec.partitions) > 1:
        yield ctx.error("MF280", "PSMA has one partition ('default'); declare at most one", spec.partitions[1].loc)
    for object_type in spec.object_types:
        for attribute in object_type.attributes:
            if _PSMA_PREFIX.match(attribute.name) or attribute.name.lower() == "objectclass":
                yield ctx.error(
                    "MF280",
                    f"attribute '{attribute.name}' cannot be described to PSMA: its Schema script names attributes as "
                    "'[Anchor-|ImportOnly-|ExportOnly-]<name>|<type>' and reserves objectClass",
                    attribute.loc,
                )
        if len(object_type.anchor) > 1:
            yield ctx.error("MF280", f"object type '{object_type.name}' has {len(object_type.anchor)} anchor attributes; PSMA takes one", object_type.loc)
    conn = data.get("connectivity") if isinstance(data.get("connectivity"), dict) else {}
    ignored = {
        "server": "PSMA has no Server parameter (the SPO scripts read AdminUrl)",
        "domain": "PSMA's credentials have no domain (psma.impersonate has one)",
        "impersonate": "PSMA impersonates the account under psma.impersonate",
        "loadUserProfile": "PSMA has no such setting",
        "logonType": "PSMA has no such setting",
        "signedScriptsOnly": "PSMA has no such setting",
    }
    for name, why in ignored.items():
        if conn.get(name) not in (None, False, "None"):
            yield ctx.warning("MF280", f"connectivity.{name} is not used by PSMA: {why}", ctx.field(f"/connectivity/{name}"))
    major = psma.major(spec.mim.connector_version)
    if major == "5":
        for name, present in (
            ("auxiliary", settings.auxiliary_user or settings.auxiliary_password),
            ("powershell", settings.powershell != "5.1"),
            ("pwshPath", settings.pwsh_path),
        ):
            if present:
                yield ctx.error("MF280", f"psma.{name} needs PSMA 6 or later (psma.version is {spec.mim.connector_version})", ctx.field(f"/psma/{name}"))
        if spec.parameters:
            yield ctx.error("MF280", f"PSMA {spec.mim.connector_version} has no Configuration parameters box: parameters need PSMA 6 or later", ctx.field("/parameters"))
        # PSMA 5.x's own label says script paths cannot hold blanks; 6.x exports use them
        # ([PSMA25]). Unverified for 5.x: the harsher reading is the rule.
        for slot, path in settings.paths.items():
            if re.search(r"\s", path):
                yield ctx.error("MF280", f"PSMA {spec.mim.connector_version} cannot run a script whose path holds blanks ('{path}')", ctx.field(f"/psma/paths/{slot}"))
        # Some script path is taken from the folder unless psma.paths names all four.
        if any(slot not in settings.paths for slot in psma.SCRIPT_PARAMETERS) and re.search(r"\s", settings.script_folder):
            yield ctx.error(
                "MF280",
                f"PSMA {spec.mim.connector_version} cannot run scripts from a folder whose path holds blanks ('{settings.script_folder}'): set psma.scriptFolder",
                ctx.field("/psma/scriptFolder"),
            )
    if settings.powershell == "7" and settings.impersonation is not None:
        # PSMA 6.0.10xx builds before 6.0.1050 fell back to Windows PowerShell 5.1 when they
        # impersonated ([PSMA25]'s labels); 6.0.1050 impersonates under PowerShell 7 too, on
        # Windows Server 2019 or later (PSMA's "PS7 on Server 2012R2.md"). Both are possible.
        yield ctx.warning(
            "MF280",
            "PowerShell 7 with impersonation: PSMA builds before 6.0.1050 run the scripts in Windows PowerShell 5.1 instead, "
            "and 6.0.1050 needs Windows Server 2019 or later for it",
            ctx.field("/psma/powershell"),
        )
    if not psma.modelled(spec.mim.connector_version):
        yield ctx.warning(
            "MF280",
            f"PSMA {spec.mim.connector_version}'s parameter pages are not modelled (no real export of 5.6 was available): "
            "the build writes 6.x's, which MIM refreshes from the installed DLL",
            ctx.field("/psma/version"),
        )
    if major != "5":
        multi = [a for t in spec.object_types for a in t.attributes if a.multi_valued and a.access is not Access.EXPORT_ONLY]
        if multi:
            # Assembly version 6.0.0.0 names every 6.x build, so this cannot be told apart.
            yield ctx.warning(
                "MF280",
                f"PSMA 6.0.1050 fails imports of multi-valued attributes ({', '.join(a.name for a in multi[:3])}"
                f"{', …' if len(multi) > 3 else ''}; PSMA issue #35): run 6.1.0518 or later, or 5.6",
                multi[0].loc,
            )
    if settings.powershell != "7" and settings.pwsh_path and major != "5":
        yield ctx.warning("MF280", "psma.pwshPath is used only with psma.powershell: \"7\"", ctx.field("/psma/pwshPath"))


@rule("MF281", "capabilities a PSMA spec states are the ones PSMA's DLL declares")
def psma_capabilities(ctx: RuleContext) -> Iterator[Diagnostic]:
    if ctx.spec.connector is not ConnectorTarget.PSMA:
        return
    data = ctx.doc.data if isinstance(ctx.doc.data, dict) else {}
    written = data.get("capabilities") if isinstance(data.get("capabilities"), dict) else {}
    differ = [
        f"{name}: {json.dumps(written[name])} (PSMA: {json.dumps(psma.CAPABILITIES[name])})"
        for name in written
        if name in psma.CAPABILITIES and written[name] != psma.CAPABILITIES[name]
    ]
    if differ:
        yield ctx.warning(
            "MF281",
            "PSMA's DLL declares the capabilities and the MA gets PSMA's, not these: " + "; ".join(differ),
            ctx.field("/capabilities"),
        )


@rule("MF241", "expression and scripted flows have a rules extension in MIM")
def rules_extension(ctx: RuleContext) -> Iterator[Diagnostic]:
    if ctx.spec.mim.rules_extension is not None:
        return
    needs: list[Loc] = []
    for flow_set in (*ctx.spec.import_flows, *ctx.spec.export_flows):
        needs += [f.loc for f in flow_set.flows if f.mapping.kind in (MappingKind.EXPRESSION, MappingKind.SCRIPT)]
    for join in ctx.spec.join:
        needs += [c.loc for c in join.criteria if c.mapping.kind in (MappingKind.EXPRESSION, MappingKind.SCRIPT)]
        if join.resolution_script:
            needs.append(join.loc)
    needs += [p.loc for p in ctx.spec.projection if p.scripted]
    needs += [a.loc for a in ctx.spec.connector_filter if a.scripted]
    if ctx.spec.deprovisioning.action is DeprovisioningAction.SCRIPTED:
        needs.append(ctx.field("/deprovisioning/action"))
    if needs:
        count = len(needs)
        yield ctx.warning(
            "MF241",
            f"{count} rule{'s' if count != 1 else ''} run{'' if count != 1 else 's'} in a MIM rules extension (expression or scripted), "
            "but mim.rulesExtension names none: MIM will not run them until one is configured; "
            "name one (mim.rulesExtension.assembly) and `maforge build` writes it",
            needs[0],
        )


def _direct_pairs(ctx: RuleContext) -> Iterator[tuple[CsAttribute | MvAttribute, CsAttribute | MvAttribute, Loc]]:
    """(source attribute, target attribute, flow location) of every direct flow whose
    both ends exist, in both directions."""
    spec = ctx.spec
    for flow_set in spec.export_flows:
        object_type, mv_type = spec.object_type(flow_set.cs_object_type), spec.mv_object_type(flow_set.mv_object_type)
        if object_type is None or mv_type is None:
            continue
        for flow in flow_set.flows:
            if flow.mapping.kind is MappingKind.DIRECT:
                source, target = mv_type.attribute(flow.mapping.source or ""), object_type.attribute(flow.target)
                if source is not None and target is not None:
                    yield source, target, flow.loc
    for import_set in spec.import_flows:
        object_type, mv_type = spec.object_type(import_set.cs_object_type), spec.mv_object_type(import_set.mv_object_type)
        if object_type is None or mv_type is None:
            continue
        for flow in import_set.flows:
            if flow.mapping.kind is MappingKind.DIRECT:
                source, target = object_type.attribute(flow.mapping.source or ""), mv_type.attribute(flow.target)
                if source is not None and target is not None:
                    yield source, target, flow.loc


@rule("MF242", "flows into single-valued attributes do not carry lists")
def value_shapes(ctx: RuleContext) -> Iterator[Diagnostic]:
    for source, target, loc in _direct_pairs(ctx):
        if source.multi_valued and not target.multi_valued:
            yield ctx.error(
                "MF242",
                f"multi-valued '{source.name}' flows directly into single-valued '{target.name}': "
                "use an expression such as Join(\";\", [" + source.name + "]) or make the target multi-valued",
                loc,
            )


@rule("MF246", "a plain join rule joins on a single-valued attribute")
def single_valued_joins(ctx: RuleContext) -> Iterator[Diagnostic]:
    """MIM refuses a multi-valued attribute in a declared join rule
    (`join-object-id-must-be-single-valued`); a rules extension's MapAttributesForJoin may
    return several values instead, any of which may match: maforge's expression mapping."""
    for join in ctx.spec.join:
        object_type = ctx.spec.object_type(join.cs_object_type)
        if object_type is None:
            continue
        for criterion in join.criteria:
            if criterion.mapping.kind is not MappingKind.DIRECT:
                continue
            source = object_type.attribute(criterion.mapping.source or "")
            if source is not None and source.multi_valued:
                yield ctx.error(
                    "MF246",
                    f"join rule maps multi-valued '{source.name}' directly: MIM refuses a multi-valued attribute in a plain join rule; "
                    f"use an expression (for example `expression: '[{source.name}]'`, whose values are tried as \"any of these\")",
                    criterion.loc,
                )


@rule("MF245", "only a multi-valued property's flow can be ordered")
def ordered_flows(ctx: RuleContext) -> Iterator[Diagnostic]:
    for flow_set in ctx.spec.export_flows:
        object_type = ctx.spec.object_type(flow_set.cs_object_type)
        if object_type is None:
            continue
        for flow in flow_set.flows:
            target = object_type.attribute(flow.target)
            if flow.ordered and target is not None and not target.multi_valued:
                yield ctx.error(
                    "MF245",
                    f"'{flow.target}' is single-valued: `ordered` is for multi-valued properties, whose values otherwise compare as sets; remove it",
                    ctx.member(flow.loc, "ordered"),
                )


@rule("MF243", "direct flows connect attributes of the same data type")
def value_types(ctx: RuleContext) -> Iterator[Diagnostic]:
    for source, target, loc in _direct_pairs(ctx):
        if source.type is not target.type:
            # MIM's flow dialog offers direct mappings between attributes of one type; whether
            # the engine refuses other pairs in an imported file is unverified, so this warns.
            yield ctx.warning(
                "MF243",
                f"'{source.name}' ({source.type.value}) flows directly into '{target.name}' ({target.type.value}): "
                "MIM maps directly only between attributes of the same type; convert with an expression",
                loc,
            )


@rule("MF244", "ranks of flows into one metaverse attribute are distinct")
def distinct_ranks(ctx: RuleContext) -> Iterator[Diagnostic]:
    seen: dict[tuple[str, str, int], str] = {}
    contributions = [(s.mv_object_type, f, f"object type '{s.cs_object_type}'") for s in ctx.spec.import_flows for f in s.flows]
    contributions += [(s.mv_object_type, f, f"source '{s.name}'") for s in ctx.spec.sources for f in s.flows]
    for mv_type, flow, owner in contributions:
        if flow.rank is None:
            continue
        key = (mv_type, flow.target, flow.rank)
        if key in seen:
            yield ctx.warning(
                "MF244",
                f"{owner} and {seen[key]} both flow into '{flow.target}' with rank {flow.rank}: give them different ranks "
                "so the precedence is explicit",
                flow.loc,
            )
        else:
            seen[key] = owner


# --------------------------------------------------------------------------- sources


def _csv_header(ctx: RuleContext, source: Source) -> tuple[list[str] | None, list[Diagnostic]]:
    if source.path is None:
        return None, []
    try:
        with open(source.path, encoding=source.encoding, newline="") as handle:
            first = handle.readline(MAX_HEADER_LINE)
    except FileNotFoundError:
        return None, [
            ctx.warning(
                "MF260",
                f"source '{source.name}': file '{source.written_path}' does not exist yet (paths are relative to the spec's folder)",
                ctx.member(source.loc, "path"),
            )
        ]
    except (OSError, UnicodeDecodeError, LookupError) as error:
        return None, [ctx.error("MF260", f"source '{source.name}': cannot read '{source.written_path}': {error}", source.loc)]
    if source.type is not SourceType.CSV:
        return None, []
    row = next(csv.reader(io.StringIO(first), delimiter=source.delimiter), [])
    header = [name.strip().lstrip("\ufeff") for name in row]
    if not header or not any(header):
        return None, [ctx.error("MF260", f"source '{source.name}': '{source.written_path}' has no header row", source.loc)]
    return header, []


@rule("MF260", "sources feed metaverse attributes that exist, from fields they have")
def sources(ctx: RuleContext) -> Iterator[Diagnostic]:
    names = _Names(ctx)
    for source in ctx.spec.sources:
        mv_type, problems = names.mv_type(source.mv_object_type, ctx.member(source.loc, "mvObjectType"))
        yield from problems
        header, problems = _csv_header(ctx, source) if source.type.is_file else (None, [])
        yield from problems
        fields = header if header is not None else (list(source.fields) if source.fields is not None else None)
        if header is not None:
            where = f"is not a column of '{source.written_path}' (source '{source.name}')"
        else:
            where = f"is not among the declared fields of source '{source.name}'"

        def check_field(name: str, loc: Loc, what: str) -> Iterator[Diagnostic]:
            if fields is not None and name not in fields:
                yield ctx.error("MF261", f"{what} reads '{name}', which {where}{did_you_mean(name, fields)}", loc)

        yield from check_field(source.key, ctx.member(source.loc, "key"), "the key")
        for flow in source.flows:
            for name, loc in _mapping_sources(ctx, flow.mapping):
                yield from check_field(name, loc, f"flow into '{flow.target}'")
            if mv_type is not None and mv_type.attribute(flow.target) is None:
                choices = [a.name for a in mv_type.attributes]
                yield ctx.error(
                    "MF213",
                    f"source '{source.name}' flows into '{flow.target}', which is not an attribute of metaverse type '{mv_type.name}'"
                    f"{did_you_mean(flow.target, choices)}",
                    flow.loc,
                )
        for join in source.join:
            for criterion in join.criteria:
                for name, loc in _mapping_sources(ctx, criterion.mapping):
                    yield from check_field(name, loc, "join rule")
                if mv_type is not None and mv_type.attribute(criterion.mv_attribute) is None:
                    choices = [a.name for a in mv_type.attributes]
                    yield ctx.error(
                        "MF213",
                        f"join rule of source '{source.name}' searches '{criterion.mv_attribute}', which is not an attribute of "
                        f"metaverse type '{mv_type.name}'{did_you_mean(criterion.mv_attribute, choices)}",
                        criterion.loc,
                    )
        if source.type is SourceType.GRAPH_USERS and ctx.spec.sharepoint is None:
            yield ctx.error(
                "MF260",
                f"source '{source.name}' reads Microsoft Graph, which needs a tenant and sign-in: add a 'sharepoint' section "
                "(only type spo-user-profiles has one)",
                ctx.member(source.loc, "type"),
            )
        if not source.join and not source.project:
            yield ctx.error("MF262", f"source '{source.name}' neither joins nor projects: its rows can never reach the metaverse", source.loc)


@rule("MF263", "every metaverse attribute an export flow reads is fed by something")
def fed_attributes(ctx: RuleContext) -> Iterator[Diagnostic]:
    spec = ctx.spec
    if not spec.sources:
        return  # in MIM other MAs feed the metaverse; maforge cannot see them
    fed: set[tuple[str, str]] = set()
    for source in spec.sources:
        fed |= {(source.mv_object_type, f.target) for f in source.flows}
    for flow_set in spec.import_flows:
        fed |= {(flow_set.mv_object_type, f.target) for f in flow_set.flows}
    for flow_set in spec.export_flows:
        mv_type = spec.mv_object_type(flow_set.mv_object_type)
        if mv_type is None:
            continue
        for flow in flow_set.flows:
            for name, loc in _mapping_sources(ctx, flow.mapping):
                if mv_type.attribute(name) is not None and (mv_type.name, name) not in fed:
                    yield ctx.warning(
                        "MF263",
                        f"export flow into '{flow.target}' reads '{name}', which no source or import flow feeds: "
                        "maforge plan will always see it empty",
                        loc,
                    )


# --------------------------------------------------------------------------- SharePoint


@rule("MF270", "SharePoint properties are written only where SharePoint allows")
def sharepoint_properties(ctx: RuleContext) -> Iterator[Diagnostic]:
    spec = ctx.spec
    if spec.type is not ConnectorType.SPO_USER_PROFILES:
        return
    for object_type in spec.object_types:
        for attribute in object_type.attributes:
            known = catalogue.lookup(attribute.name)
            if known is None:
                near = catalogue.case_match(attribute.name)
                if near is not None:
                    yield ctx.warning(
                        "MF270",
                        f"SharePoint spells this property '{near.name}', not '{attribute.name}': use SharePoint's spelling "
                        "(whether SharePoint matches property names regardless of case is not documented)",
                        attribute.loc,
                    )
                    continue
                close = difflib.get_close_matches(attribute.name, list(catalogue.properties()), n=1, cutoff=0.85)
                if close:
                    yield ctx.warning(
                        "MF270",
                        f"'{attribute.name}' is not a default SharePoint property (did you mean '{close[0]}'?); "
                        "a custom property of this name must exist in the tenant",
                        attribute.loc,
                    )
                continue  # a custom property of the tenant
            if known.multi_valued is not None and known.multi_valued != attribute.multi_valued:
                shape = "multi-valued" if known.multi_valued else "single-valued"
                yield ctx.warning("MF270", f"SharePoint's '{known.name}' is {shape}; set multiValued: {str(known.multi_valued).lower()}", attribute.loc)
    for flow_set in spec.export_flows:
        for flow in flow_set.flows:
            known = catalogue.lookup(flow.target)
            if known is not None and known.read_only_system:
                yield ctx.error(
                    "MF270",
                    f"'{flow.target}' is maintained by SharePoint itself and cannot be written: remove this export flow "
                    "(declare the attribute ImportOnly if you only read it)",
                    flow.loc,
                )


@rule("MF271", "the sign-in method has what it needs")
def sign_in(ctx: RuleContext) -> Iterator[Diagnostic]:
    sharepoint = ctx.spec.sharepoint
    if sharepoint is None or sharepoint.auth is None:
        return
    auth = sharepoint.auth
    at = ctx.member(auth.loc, "method")
    method = auth.method.value
    if method in ("certificate", "device-code", "federated") and not auth.client_id:
        yield ctx.error("MF271", f"sign-in method '{method}' needs sharepoint.auth.clientId (the app registration's client id)", at)
    if method == "certificate":
        if not auth.certificate_thumbprint:
            yield ctx.warning(
                "MF271",
                "sign-in method 'certificate' without certificateThumbprint: the MIM connector's scripts cannot find the "
                "certificate in the LocalMachine\\My store",
                at,
            )
        if not auth.certificate_path:
            yield ctx.warning(
                "MF271", "sign-in method 'certificate' without certificatePath: maforge plan and apply cannot sign in", at
            )
    if method in ("device-code", "managed-identity", "federated"):
        yield ctx.warning(
            "MF271",
            f"sign-in method '{method}' serves maforge plan and apply only: the MIM connector's scripts sign in with a "
            "certificate (AuthMode=Certificate is written); use an environment overlay to give MIM and CI different methods",
            at,
        )
    if method == "password" and not (ctx.spec.connectivity.user and ctx.spec.connectivity.password):
        yield ctx.error("MF271", "sign-in method 'password' needs connectivity.user and connectivity.password", at)


def run_rules(spec: ConnectorSpec, doc: Document) -> list[Diagnostic]:
    """Every semantic finding for ``spec``, each rule run once."""
    ctx = RuleContext(spec, doc)
    found: list[Diagnostic] = []
    for item in RULES:
        found.extend(item.check(ctx))
    return found


__all__ = ["RULES", "Rule", "RuleContext", "run_rules"]
