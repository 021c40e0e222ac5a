"""`maforge report`: one connector at a glance, as a single self-contained HTML page.

Two stages. :func:`collect` turns a model (:class:`ConnectorSpec`) into a view-model of
plain data (no HTML): identity, capabilities, schema, parameters with every secret masked,
rules, flows per metaverse attribute, run profiles, scripts, what the spec carries verbatim
and, given a saved plan, its summary. :func:`render_html` turns that into the page with
``templates/report/report.html.j2`` and Pygments.

The model comes from the same places the other commands get it: a spec through
:func:`validate.load_spec` (the path `maforge build` takes, `--env` overlays included); an
MA export through :func:`importma.import_ma` (decompile, prove the round trip, carry what
the spec cannot model in `mim.preserve`) into a scratch folder, then `load_spec`. The
numbers on the Capabilities page come from :mod:`capabilities`, identity from
:mod:`identity`, scripts from :mod:`scriptset`, and the MA's stored identity from the
`<export-ma>` tree :mod:`maexport` emits: nothing is computed a second time here.

Secrets: a value is shown only when it is a reference (``${env:NAME}``, ``${file:PATH}``),
never resolved; anything encrypted, or that looks like a password, shows as
``•••• (set in MIM)``. Carried XML is masked the same way before it is shown.
"""

from __future__ import annotations

import base64
import hashlib
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from maforge import __version__

from . import psconnector, psma
from .mim import psmapages
from .mim.capabilities import EXPORT_TYPES, capability_numbers
from .diagnostics import Diagnostic
from .identity import ma_id
from .model import (
    Access,
    ConnectorSpec,
    ConnectorTarget,
    ConnectorType,
    MappingKind,
    StepType,
    ValueMapping,
)
from .rules import SECRET_LOOKING_NAME, SECRET_REFERENCE
from .powershell.scriptset import ScriptError, script_set
from .powershell.sposcripts import PSMA_TEMPLATES

SECRET_MASK = "•••• (set in MIM)"
PLAN_CHANGES_SHOWN = 100  # the first N changes of a plan are listed one by one
MAX_CARRIED_CHARS = 60_000  # per carried element; the rest is in the MA export itself
MAX_VALUE_CHARS = 4_000  # per parameter value (long ones are XML or scripts)
TEMPLATE = "report/report.html.j2"

_INLINE_SECRET = re.compile(r"(?i)\b(password|pwd|passwd|secret|client_secret|apikey|api_key|token)(\s*=\s*)(?!\{)([^;\"'<>\s][^;\"'<>]*)")

# Elements that hold a secret by their name alone (`<password>` in an AD MA's configuration).
_SECRET_ELEMENT = re.compile(r"(?i)^(password|passwd|pwd|secret|client[-_]?secret|token|api[-_]?key|private[-_]?key)$")

ACCESS_LABELS = {
    Access.IMPORT_ONLY: "import only",
    Access.EXPORT_ONLY: "export only",
    Access.IMPORT_EXPORT: "import and export",
}
STEP_LABELS = {
    StepType.FULL_IMPORT: "Full Import (Stage Only)",
    StepType.DELTA_IMPORT: "Delta Import (Stage Only)",
    StepType.FULL_IMPORT_DELTA_SYNC: "Full Import and Delta Synchronization",
    StepType.FULL_IMPORT_FULL_SYNC: "Full Import and Full Synchronization",
    StepType.DELTA_IMPORT_DELTA_SYNC: "Delta Import and Delta Synchronization",
    StepType.FULL_SYNC: "Full Synchronization",
    StepType.DELTA_SYNC: "Delta Synchronization",
    StepType.EXPORT: "Export",
}
KIND_LABELS = {
    MappingKind.DIRECT: "direct",
    MappingKind.CONSTANT: "constant",
    MappingKind.EXPRESSION: "expression",
    MappingKind.DN_PART: "DN part",
    MappingKind.SCRIPT: "rules extension",
}
TYPE_LABELS = {
    ConnectorType.SPO_USER_PROFILES: "SharePoint Online user profiles (PowerShell connector, scripts written by maforge)",
    ConnectorType.POWERSHELL: "PowerShell (Microsoft) connector, own scripts",
    ConnectorType.OTHER: "another connector (its configuration is carried verbatim)",
}
PSMA_TYPE_LABELS = {
    ConnectorType.SPO_USER_PROFILES: "SharePoint Online user profiles (Granfeldt's PSMA, scripts written by maforge)",
    ConnectorType.POWERSHELL: "Granfeldt's PowerShell Management Agent (PSMA), own scripts",
}


class ReportError(Exception):
    """The input cannot be reported on; the message says what and what to do."""


# --------------------------------------------------------------------------- the view-model


@dataclass(frozen=True, slots=True)
class Fact:
    label: str
    value: str
    kind: str = "text"  # text | code | secret | reference | muted


@dataclass(frozen=True, slots=True)
class Capability:
    label: str  # as the Capabilities page words it
    field: str  # the spec's field name
    value: str | bool


@dataclass(frozen=True, slots=True)
class CapabilityView:
    items: tuple[Capability, ...]
    mask: str  # capabilities-mask, hex, as capabilities.py computes it
    bits: str  # capability-bits, decimal
    export_type: int
    export_type_name: str
    stored_mask: str | None  # the mask in the MA export when it is not the computed one (carried)
    no_stored_mask: bool = False  # the MA export holds no capabilities-mask (a built-in MA type)


@dataclass(frozen=True, slots=True)
class AttributeView:
    name: str
    type: str
    multi_valued: bool
    access: str  # ImportOnly | ExportOnly | ImportExport
    access_label: str
    anchor: bool
    immutable: bool
    selected: bool
    description: str


@dataclass(frozen=True, slots=True)
class ObjectTypeView:
    name: str
    anchor: tuple[str, ...]
    attributes: tuple[AttributeView, ...]


@dataclass(frozen=True, slots=True)
class ParameterView:
    name: str
    value: str
    kind: str  # text | secret | reference | empty
    note: str = ""


@dataclass(frozen=True, slots=True)
class ParameterPage:
    title: str
    parameters: tuple[ParameterView, ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class FlowView:
    direction: str  # import | export
    mv_object_type: str
    mv_attribute: str
    cs_object_type: str  # or "source <name>" for maforge's runtime sources
    cs_attribute: str
    kind: str
    mapping: str  # what the value is made of: attribute, expression, constant...
    options: str  # rank, whenNull
    origin: str  # "MA" or "source <name>"


@dataclass(frozen=True, slots=True)
class FlowGroup:
    key: str  # person.firstName
    mv_object_type: str
    mv_attribute: str
    flows: tuple[FlowView, ...]


@dataclass(frozen=True, slots=True)
class JoinRuleView:
    order: int
    cs_object_type: str
    mv_object_type: str
    criteria: tuple[tuple[str, str, str], ...]  # (mv attribute, kind, mapping)
    resolution_script: str


@dataclass(frozen=True, slots=True)
class RuleLine:
    """A rule shown as one line: projection, filter alternative, deprovisioning."""

    subject: str
    detail: str


@dataclass(frozen=True, slots=True)
class StepView:
    number: int
    type: str
    label: str
    partition: str
    page_size: str
    timeout: str
    thresholds: str
    parameters: tuple[ParameterView, ...]


@dataclass(frozen=True, slots=True)
class RunProfileView:
    name: str
    steps: tuple[StepView, ...]


@dataclass(frozen=True, slots=True)
class PartitionView:
    key: str
    name: str
    dn: str
    selected: bool
    object_types: tuple[str, ...]
    include: tuple[str, ...]
    exclude: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScriptView:
    slot: str
    title: str  # the parameter that holds it in MIM
    file_name: str
    text: str
    lines: int


@dataclass(frozen=True, slots=True)
class CarriedView:
    anchor: str  # the element id on the page
    path: str
    label: str  # what it is, in words (a run profile's name, say)
    reason: str
    xml: str  # masked, perhaps cut short
    size: int  # characters of the whole element
    truncated: bool


@dataclass(frozen=True, slots=True)
class PlanChangeView:
    account: str
    property: str
    action: str
    symbol: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class PlanView:
    file: str
    connector: str
    tenant: str
    created_at: str
    refreshed: bool
    maforge: str
    counts: dict[str, int]  # set / change / clear
    unchanged: int
    profiles: int
    total_changes: int
    per_property: tuple[tuple[str, int, int, int], ...]  # property, set, change, clear
    changes: tuple[PlanChangeView, ...]  # the first PLAN_CHANGES_SHOWN
    problems: tuple[dict[str, str], ...]
    warnings: tuple[dict[str, str], ...]
    protected: tuple[str, ...]
    other_connector: bool  # made for a connector of another name


@dataclass(slots=True)
class Report:
    """Everything the page shows, as plain data."""

    title: str
    source: str
    source_kind: str  # spec | export
    maforge: str
    identity: list[Fact] = field(default_factory=list)
    description: str = ""
    sharepoint: list[Fact] = field(default_factory=list)
    capabilities: CapabilityView | None = None
    object_types: list[ObjectTypeView] = field(default_factory=list)
    metaverse: list[ObjectTypeView] = field(default_factory=list)
    parameter_pages: list[ParameterPage] = field(default_factory=list)
    partitions: list[PartitionView] = field(default_factory=list)
    connector_filter: list[RuleLine] = field(default_factory=list)
    join_rules: list[JoinRuleView] = field(default_factory=list)
    projection: list[RuleLine] = field(default_factory=list)
    deprovisioning: list[RuleLine] = field(default_factory=list)
    flow_groups: list[FlowGroup] = field(default_factory=list)
    flow_count: int = 0
    run_profiles: list[RunProfileView] = field(default_factory=list)
    scripts: list[ScriptView] = field(default_factory=list)
    scripts_note: str = ""
    sources: list[RuleLine] = field(default_factory=list)
    carried: list[CarriedView] = field(default_factory=list)
    carried_in: dict[str, list[CarriedView]] = field(default_factory=dict)  # page section → what of it is carried
    notes: list[str] = field(default_factory=list)  # from import-ma and validation warnings
    plan: PlanView | None = None

    def counts(self) -> list[tuple[str, int, str]]:
        """The at-a-glance numbers: (label, count, section anchor)."""
        return [
            ("object types", len(self.object_types), "schema"),
            ("attributes", sum(len(t.attributes) for t in self.object_types), "schema"),
            ("flows", self.flow_count, "flows"),
            ("join rules", len(self.join_rules), "rules"),
            ("run profiles", len(self.run_profiles), "run-profiles"),
            ("scripts", len(self.scripts), "scripts"),
            ("carried verbatim", len(self.carried), "carried"),
        ]


# --------------------------------------------------------------------------- secrets


def mask_inline_secrets(text: str) -> str:
    """``password=…`` inside a value (a connection string, say) → ``password=••••``;
    placeholders such as ``password={password}`` stay."""
    return _INLINE_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}••••", text)


def secret_value(value: str | None) -> ParameterView:
    """How a secret is shown: its reference, or the mask. Never the value."""
    if value and SECRET_REFERENCE.match(value):
        return ParameterView("", value, "reference", "a reference: MIM stores the secret encrypted and never exports it")
    return ParameterView("", SECRET_MASK, "secret")


def _parameter(name: str, value: str | None, *, secret: bool = False, note: str = "") -> ParameterView:
    if secret or (SECRET_LOOKING_NAME.search(name) and value and not SECRET_REFERENCE.match(value)):
        shown = secret_value(value)
        return ParameterView(name, shown.value, shown.kind, note or shown.note)
    if value is None or value == "":
        return ParameterView(name, "(empty)", "empty", note)
    if SECRET_REFERENCE.match(value):
        return ParameterView(name, value, "reference", note)
    text = mask_inline_secrets(value)
    if len(text) > MAX_VALUE_CHARS:
        text = text[:MAX_VALUE_CHARS] + f"\n… ({len(value) - MAX_VALUE_CHARS} more characters)"
    return ParameterView(name, text, "text", note)


def _flag(value: bool) -> str:
    return "yes" if value else "no"


# --------------------------------------------------------------------------- collecting


def _mapping_text(mapping: ValueMapping) -> str:
    if mapping.kind is MappingKind.DIRECT:
        return mapping.source or ""
    if mapping.kind is MappingKind.CONSTANT:
        value = mapping.constant
        return ("true" if value else "false") if isinstance(value, bool) else f'"{value}"' if isinstance(value, str) else str(value)
    if mapping.kind is MappingKind.EXPRESSION:
        return mapping.expression.text if mapping.expression is not None else ""
    if mapping.kind is MappingKind.DN_PART:
        return f"component {mapping.dn_part} of the DN"
    sources = ", ".join(mapping.script_sources)
    return f"{mapping.script_context or 'rules extension'}({sources})"


def _connector_name(subtype: str, company: str, category: str) -> str:
    if not subtype:
        return f"a built-in management agent ({category})"
    return subtype if not company or company.lower() in subtype.lower() else f"{subtype}, by {company}"


def _identity(spec: ConnectorSpec, report: Report, tree: etree._Element | None) -> None:
    ma = tree.find("ma-data") if tree is not None else None

    def stored(tag: str, default: str) -> str:
        found = ma.findtext(tag) if ma is not None else None
        return found if found is not None else default

    target = psma if spec.connector is ConnectorTarget.PSMA else psconnector
    labels = PSMA_TYPE_LABELS if spec.connector is ConnectorTarget.PSMA else TYPE_LABELS
    facts = [
        Fact("Name", spec.name),
        Fact("Type", f"{spec.type.value}: {labels[spec.type]}"),
        Fact("Target connector", f"{spec.connector.value}: {target.SUBTYPE}, by {target.COMPANY} ({target.ASSEMBLY})" if spec.type is not ConnectorType.OTHER else "another connector"),
        Fact("MA GUID", stored("id", ma_id(spec)), "code"),
        Fact("Category", stored("category", target.CATEGORY), "code"),
        Fact("Connector", _connector_name(stored("subtype", target.SUBTYPE), stored("ma-companyname", target.COMPANY), stored("category", target.CATEGORY))),
    ]
    if spec.type is not ConnectorType.OTHER:
        facts.append(Fact("Connector build", spec.mim.connector_version, "code"))
    facts.append(Fact("Sync server", spec.mim.server or "(any)"))
    if spec.mim.rules_extension is not None:
        facts.append(Fact("Rules extension", spec.mim.rules_extension.assembly, "code"))
    if spec.mim.timestamp:
        facts.append(Fact("Timestamp", spec.mim.timestamp, "code"))
    if spec.environment:
        facts.append(Fact("Environment", spec.environment))
    elif spec.environments:
        facts.append(Fact("Environments", ", ".join(spec.environments) + " (this page shows the base spec; --env NAME shows one)", "muted"))
    report.identity = facts
    report.description = spec.description or ""
    if spec.sharepoint is not None:
        sp = spec.sharepoint
        shown = [
            Fact("Tenant", sp.tenant),
            Fact("Tenant id", sp.tenant_id, "code"),
            Fact("Site", sp.root_url, "code"),
            Fact("Admin site", sp.admin_url, "code"),
        ]
        if sp.company:
            shown.append(Fact("Company", sp.company))
        if sp.auth is not None:
            shown.append(Fact("Sign-in", sp.auth.method.value))
            if sp.auth.client_id:
                shown.append(Fact("Client id", sp.auth.client_id, "code"))
            if sp.auth.certificate_thumbprint:
                shown.append(Fact("Certificate thumbprint", sp.auth.certificate_thumbprint, "code"))
            for label, value in (("Certificate (PEM)", sp.auth.certificate_path), ("Federated token file", sp.auth.federated_token_file)):
                if value:
                    masked = _parameter(label, value)
                    shown.append(Fact(label, masked.value, "reference" if masked.kind == "reference" else "code"))
        if sp.protect:
            shown.append(Fact("Protected properties", ", ".join(sp.protect)))
        report.sharepoint = shown


def _capabilities(spec: ConnectorSpec, tree: etree._Element | None) -> CapabilityView:
    numbers = capability_numbers(spec.capabilities)
    items = tuple(Capability(label, name, spec.capabilities.spec_value(name)) for label, name in psconnector.CAPABILITY_PARAMETERS)
    stored = tree.findtext("ma-data/capabilities-mask") if tree is not None else None
    stored = stored.strip() if stored else None
    names = {number: name for name, number in EXPORT_TYPES.items()}
    return CapabilityView(
        items,
        numbers.mask_text,
        numbers.bits_text,
        numbers.export_type,
        names.get(numbers.export_type, str(numbers.export_type)),
        stored if stored and stored.lower() != numbers.mask_text else None,
        tree is not None and tree.find("ma-data/capabilities-mask") is None,
    )


def _schema(spec: ConnectorSpec) -> tuple[list[ObjectTypeView], list[ObjectTypeView]]:
    cs = []
    for object_type in spec.object_types:
        attributes = tuple(
            AttributeView(
                a.name,
                a.type.value,
                a.multi_valued,
                a.access.value,
                ACCESS_LABELS[a.access],
                a.name in object_type.anchor,
                a.immutable,
                a.selected,
                a.description or "",
            )
            for a in object_type.attributes
        )
        cs.append(ObjectTypeView(object_type.name, object_type.anchor, attributes))
    mv = []
    for object_type in spec.mv_object_types:
        attributes = tuple(
            AttributeView(
                a.name,
                a.type.value,
                a.multi_valued,
                "",
                a.precedence.value + (", indexed" if a.indexed else ""),
                False,
                False,
                True,
                a.description or "",
            )
            for a in object_type.attributes
        )
        mv.append(ObjectTypeView(object_type.name, (), attributes))
    return cs, mv


def _psma_parameters(spec: ConnectorSpec) -> list[ParameterPage]:
    """PSMA's own pages as the MA holds them: paths, credentials and configuration lines."""
    if spec.type is ConnectorType.SPO_USER_PROFILES:
        written = set(PSMA_TEMPLATES)
    else:
        written = {s.slot for s in spec.scripts}
    references = dict(psmapages.secrets_to_type(spec))
    pages = []
    for use, title in (("connectivity", "Connectivity (PSMA)"), ("global", "Global (PSMA)")):
        rows = []
        for value in psmapages.parameter_values(spec, frozenset(written)):
            if value.use != use or value.name == psma.CONFIGURATION:
                continue
            if value.encrypted:
                reference = references.get(value.name)
                rows.append(
                    _parameter(value.name, reference, secret=True)
                    if reference
                    else ParameterView(value.name, SECRET_MASK, "secret", f"typed into the {use} page after import")
                )
            else:
                rows.append(_parameter(value.name, value.value))
        pages.append(ParameterPage(title, tuple(rows)))
    if spec.parameters:
        rows = []
        for p in spec.parameters:
            note = "; ".join(n for n in (p.description or "", "declared by maforge for the scripts it writes" if p.generated else "") if n)
            shown = _parameter(p.name, p.value)
            rows.append(ParameterView(shown.name, shown.value, shown.kind, note))
        pages.append(ParameterPage("Configuration parameters", tuple(rows), "One Name=value line each; scripts read $ConfigurationParameter['<Name>']."))
    return pages


def _parameters(spec: ConnectorSpec) -> list[ParameterPage]:
    if spec.connector is ConnectorTarget.PSMA:
        return _psma_parameters(spec)
    pages = []
    if spec.type is not ConnectorType.OTHER:
        conn = spec.connectivity
        if conn.password is not None:
            password = _parameter("Password", conn.password, secret=True)
        elif conn.user:
            password = ParameterView("Password", SECRET_MASK, "secret", "typed into the Connectivity page after import")
        else:
            password = ParameterView("Password", "(empty)", "empty")
        pages.append(
            ParameterPage(
                "Connectivity",
                (
                    _parameter("Server", conn.server),
                    _parameter("Domain", conn.domain),
                    _parameter("User", conn.user),
                    password,
                    _parameter("Impersonate Connector Account", _flag(conn.impersonate)),
                    _parameter("Load User Profile When Impersonating", _flag(conn.load_user_profile)),
                    _parameter("Logon Type When Impersonating", conn.logon_type),
                    _parameter("Signed Scripts Only", _flag(conn.signed_scripts_only)),
                    _parameter("Common Module Script Name (with extension)", conn.common_module),
                ),
            )
        )
    encrypted = {p.name for p in spec.parameters if p.encrypted}
    if spec.parameters:
        rows = []
        for p in spec.parameters:
            notes = [p.description or ""]
            if p.generated:
                notes.append("declared by maforge for the scripts it writes")
            if p.encrypted:
                notes.append("encrypted")
            shown = _parameter(f"{p.name}_Global", p.value, secret=p.encrypted)
            note = "; ".join(n for n in notes if n)
            rows.append(ParameterView(shown.name, shown.value, shown.kind, note))
        pages.append(ParameterPage("Global (additional parameters)", tuple(rows), "Scripts read each as $ConfigParameters[\"<Name>_Global\"].Value."))
    for partition in spec.partitions:
        if partition.parameters:
            rows = tuple(_parameter(f"{n}_Partition", v, secret=n in encrypted) for n, v in partition.parameters.items())
            pages.append(ParameterPage(f"Partition {partition.name}", rows))
    rows = []
    for profile in spec.run_profiles:
        for number, step in enumerate(profile.steps, 1):
            for name, value in step.parameters.items():
                shown = _parameter(f"{name}_RunStep", value, secret=name in encrypted)
                rows.append(ParameterView(shown.name, shown.value, shown.kind, f"run profile '{profile.name}', step {number}"))
    if rows:
        pages.append(ParameterPage("Run step", tuple(rows)))
    return pages


def _carried_parameters(spec: ConnectorSpec) -> ParameterPage | None:
    """Parameter values inside carried XML (another connector's configuration pages)."""
    rows = []
    seen = set()
    for item in spec.mim.preserve:
        if not (item.path in (".", "private-configuration") or item.path.startswith("private-configuration/MAConfig")):
            continue
        element = _parse(item.xml)
        if element is None:
            continue
        for parameter in element.iter("parameter"):
            name = parameter.get("name")
            if name is None or parameter.getparent() is None or parameter.getparent().tag != "parameter-values":
                continue
            if any(a.tag in ("ma-run-data", "ma-partition-data") for a in parameter.iterancestors()):
                continue
            use = parameter.get("use") or "connector"
            if (use, name) in seen:
                continue
            seen.add((use, name))
            secret = parameter.get("encrypted") == "1" or (parameter.get("type") or "").startswith("encrypted")
            shown = _parameter(name, parameter.text or "", secret=secret)
            rows.append(ParameterView(shown.name, shown.value, shown.kind, use))
    if not rows:
        return None
    return ParameterPage("Connector configuration (carried verbatim)", tuple(rows), "As the MA export holds them; the page they belong to is in the last column.")


def _rules(spec: ConnectorSpec, report: Report) -> None:
    for alternative in spec.connector_filter:
        if alternative.scripted:
            detail = "scripted (rules extension)"
        else:
            detail = " and ".join(f"{c.attribute} {c.operator}" + (f" {mask_inline_secrets(c.value)!r}" if c.value is not None else "") for c in alternative.conditions)
        if alternative.import_filter:
            detail += " (also filters on import)"
        report.connector_filter.append(RuleLine(alternative.cs_object_type, f"disconnector when {detail}"))
    for order, rule in enumerate(spec.join, 1):
        criteria = tuple((c.mv_attribute, KIND_LABELS[c.mapping.kind], _mapping_text(c.mapping)) for c in rule.criteria)
        report.join_rules.append(JoinRuleView(order, rule.cs_object_type, rule.mv_object_type or "(any)", criteria, rule.resolution_script or ""))
    for projection in spec.projection:
        report.projection.append(
            RuleLine(projection.cs_object_type, "scripted (rules extension)" if projection.scripted else f"projects into {projection.mv_object_type}")
        )
    deprovisioning = spec.deprovisioning
    report.deprovisioning.append(RuleLine("action", deprovisioning.action.value))
    report.deprovisioning.append(RuleLine("recall attributes", _flag(deprovisioning.recall_attributes)))
    for mv_type, cs_type in spec.provisioning_hierarchy.items():
        report.deprovisioning.append(RuleLine("provisioning hierarchy", f"{mv_type} → {cs_type}"))


def _flows(spec: ConnectorSpec) -> tuple[list[FlowGroup], int]:
    groups: dict[tuple[str, str], list[FlowView]] = {}
    count = 0

    def add(mv_type: str, mv_attribute: str, flow: FlowView) -> None:
        groups.setdefault((mv_type, mv_attribute), []).append(flow)

    for flow_set in spec.import_flows:
        for flow in flow_set.flows:
            count += 1
            options = f"rank {flow.rank}" if flow.rank is not None else ""
            sources = ", ".join(flow.mapping.source_attributes())
            add(flow_set.mv_object_type, flow.target, FlowView("import", flow_set.mv_object_type, flow.target, flow_set.cs_object_type, sources, KIND_LABELS[flow.mapping.kind], _mapping_text(flow.mapping), options, "MA"))
    for flow_set in spec.export_flows:
        for flow in flow_set.flows:
            count += 1
            reads = flow.mapping.source_attributes() or ("",)
            for mv_attribute in reads:
                add(
                    flow_set.mv_object_type,
                    mv_attribute,
                    FlowView("export", flow_set.mv_object_type, mv_attribute, flow_set.cs_object_type, flow.target, KIND_LABELS[flow.mapping.kind], _mapping_text(flow.mapping), f"when null: {flow.when_null.value}", "MA"),
                )
    for source in spec.sources:
        for flow in source.flows:
            count += 1
            options = f"rank {flow.rank}" if flow.rank is not None else ""
            sources = ", ".join(flow.mapping.source_attributes())
            add(source.mv_object_type, flow.target, FlowView("import", source.mv_object_type, flow.target, f"source {source.name}", sources, KIND_LABELS[flow.mapping.kind], _mapping_text(flow.mapping), options, f"source {source.name}"))

    order: dict[tuple[str, str], tuple[int, int]] = {}
    for i, object_type in enumerate(spec.mv_object_types):
        for j, attribute in enumerate(object_type.attributes):
            order[(object_type.name, attribute.name)] = (i, j)
    unknown = (len(spec.mv_object_types), 0)

    def key(item: tuple[str, str]) -> tuple[Any, ...]:
        mv_type, attribute = item
        return (attribute == "", order.get(item, unknown), mv_type, attribute.lower())

    result = []
    for mv_type, attribute in sorted(groups, key=key):
        flows = groups[(mv_type, attribute)]
        flows.sort(key=lambda f: (f.direction != "import", f.origin != "MA"))
        label = f"{mv_type}.{attribute}" if attribute else f"{mv_type}: no metaverse attribute (constants, DN parts)"
        result.append(FlowGroup(label, mv_type, attribute, tuple(flows)))
    return result, count


def _run_profiles(spec: ConnectorSpec) -> list[RunProfileView]:
    encrypted = {p.name for p in spec.parameters if p.encrypted}
    profiles = []
    for profile in spec.run_profiles:
        steps = []
        for number, step in enumerate(profile.steps, 1):
            partition = spec.partition(step.partition)
            thresholds = []
            if step.thresholds.objects is not None:
                thresholds.append(f"stop after {step.thresholds.objects} objects")
            if step.thresholds.deletions is not None:
                thresholds.append(f"stop after {step.thresholds.deletions} deletions")
            if step.thresholds.batch_size is not None:
                thresholds.append(f"batch size {step.thresholds.batch_size}")
            steps.append(
                StepView(
                    number,
                    step.type.value,
                    STEP_LABELS[step.type],
                    partition.name if partition is not None else step.partition,
                    str(step.page_size) if step.page_size is not None else "",
                    f"{step.timeout} s" if step.timeout else "none",
                    ", ".join(thresholds),
                    tuple(_parameter(name, value, secret=name in encrypted) for name, value in step.parameters.items()),
                )
            )
        profiles.append(RunProfileView(profile.name, tuple(steps)))
    return profiles


def _scripts(spec: ConnectorSpec, report: Report) -> None:
    if spec.type is ConnectorType.OTHER:
        report.scripts_note = "Another connector: it holds no PowerShell scripts the spec models (its configuration is carried verbatim below)."
        return
    try:
        scripts = script_set(spec)
    except ScriptError as error:
        raise ReportError(f"{error} — fix the script path in the spec, then run maforge report again") from None
    if spec.connector is ConnectorTarget.PSMA:
        titles = {"commonModule": "Common module (beside the scripts)", **psma.SCRIPT_PARAMETERS}
    else:
        titles = {"commonModule": "Common Module Script", **psconnector.SCRIPT_PARAMETERS}
    order = list(titles)
    files = scripts.files()
    names = {slot: scripts.file_name(slot) for slot in scripts.texts}
    for slot in sorted(scripts.texts, key=lambda s: order.index(s) if s in order else len(order)):
        text = files[names[slot]]
        report.scripts.append(ScriptView(slot, titles.get(slot, slot), names[slot], text, text.count("\n") + (0 if text.endswith("\n") or not text else 1)))
    if spec.type is ConnectorType.SPO_USER_PROFILES:
        report.scripts_note = "Written by maforge from the spec: the same text maforge build embeds in the MA export."


def _parse(xml: str) -> etree._Element | None:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        return etree.fromstring(xml.encode("utf-8"), parser)
    except etree.XMLSyntaxError:
        return None


def mask_xml(xml: str) -> str:
    """Carried XML with encrypted and password-like parameter values replaced by the mask."""
    element = _parse(xml)
    if element is None:
        return mask_inline_secrets(xml)
    changed = False
    for parameter in element.iter("parameter"):
        name = parameter.get("name") or ""
        secret = parameter.get("encrypted") == "1" or (parameter.get("type") or "").startswith("encrypted") or bool(SECRET_LOOKING_NAME.search(name))
        if secret and parameter.text and parameter.text.strip() and not SECRET_REFERENCE.match(parameter.text.strip()):
            parameter.text = SECRET_MASK
            changed = True
    for node in element.iter():
        if isinstance(node.tag, str) and _SECRET_ELEMENT.match(etree.QName(node).localname) and len(node) == 0:
            if node.text and node.text.strip() and not SECRET_REFERENCE.match(node.text.strip()):
                node.text = SECRET_MASK
                changed = True
    text = etree.tostring(element, encoding="unicode") if changed else xml
    return mask_inline_secrets(text)


# Which page section a carried element belongs to, by the first step of its path.
_CARRIED_SECTIONS = {
    ".": ("overview", "capabilities", "schema", "parameters", "partitions", "rules", "flows", "run-profiles"),
    "category": ("overview",),
    "subtype": ("overview",),
    "ma-listname": ("overview",),
    "ma-companyname": ("overview",),
    "internal-version": ("overview",),
    "capabilities-mask": ("capabilities",),
    "export-type": ("capabilities",),
    "password-sync-allowed": ("capabilities",),
    "schema": ("schema",),
    "attribute-inclusion": ("schema",),
    "private-configuration": ("parameters",),
    "controller-configuration": ("parameters",),
    "ma-partition-data": ("partitions",),
    "ma-run-data": ("run-profiles",),
    "join": ("rules",),
    "projection": ("rules",),
    "stay-disconnector": ("rules",),
    "provisioning-cleanup": ("rules",),
    "export-attribute-flow": ("flows",),
    "/mv-data": ("flows",),
}
_CARRIED_LABELS = {
    "ma-run-data/run-configuration": "run profile",
    "ma-partition-data/partition": "partition",
    "private-configuration/MAConfig/parameter-values/parameter": "parameter",
}


def _carried_label(path: str, element: etree._Element | None) -> str:
    kind = _CARRIED_LABELS.get(path.split("[", 1)[0])
    if kind is None:
        return "the whole MA" if path == "." else ""
    name = element.get("name") if element is not None else None
    if name is None and element is not None:
        name = element.findtext("name")
    return f"{kind} {name}" if name else kind


def _carried(spec: ConnectorSpec, report: Report) -> None:
    for number, item in enumerate(spec.mim.preserve, 1):
        masked = mask_xml(item.xml)
        truncated = len(masked) > MAX_CARRIED_CHARS
        shown = masked[:MAX_CARRIED_CHARS] if truncated else masked
        first = "/mv-data" if item.path.startswith("/mv-data") else item.path.split("/", 1)[0].split("[", 1)[0]
        view = CarriedView(f"carried-{number}", item.path, _carried_label(item.path, _parse(item.xml)), item.reason or "", shown, len(masked), truncated)
        report.carried.append(view)
        for section in _CARRIED_SECTIONS.get(first, ()):
            report.carried_in.setdefault(section, []).append(view)


def _sources(spec: ConnectorSpec) -> list[RuleLine]:
    lines = []
    for source in spec.sources:
        where = source.written_path or source.type.value
        detail = f"{source.type.value} {where}, key {source.key}, into {source.mv_object_type}; {len(source.join)} join rule(s), {'projects' if source.project else 'does not project'}, {len(source.flows)} flow(s)"
        lines.append(RuleLine(source.name, detail))
    return lines


def _built_tree(spec: ConnectorSpec, report: Report) -> etree._Element | None:
    """The `<export-ma>` tree the build would write: where the MA's stored identity and
    mask are read from (carried elements included)."""
    from .mim.maexport import PreserveError, emit_ma_export

    try:
        texts = script_set(spec).texts
    except ScriptError:
        texts = {}
    try:
        return emit_ma_export(spec, texts).tree
    except PreserveError as error:
        report.notes.append(str(error))
        return None


def collect(spec: ConnectorSpec, source: str, source_kind: str, notes: Iterable[str] = (), warnings: Iterable[Diagnostic] = ()) -> Report:
    """The view-model of ``spec``: plain data, no HTML."""
    report = Report(title=spec.name, source=source, source_kind=source_kind, maforge=__version__)
    report.notes.extend(notes)
    report.notes.extend(w.message for w in warnings)
    tree = _built_tree(spec, report)
    _identity(spec, report, tree)
    report.capabilities = _capabilities(spec, tree)
    report.object_types, report.metaverse = _schema(spec)
    report.parameter_pages = _parameters(spec)
    carried_parameters = _carried_parameters(spec)
    if carried_parameters is not None:
        report.parameter_pages.append(carried_parameters)
    report.partitions = [PartitionView(p.key, p.name, p.dn, p.selected, p.object_types, p.include, p.exclude) for p in spec.partitions]
    _rules(spec, report)
    report.flow_groups, report.flow_count = _flows(spec)
    report.run_profiles = _run_profiles(spec)
    _scripts(spec, report)
    report.sources = _sources(spec)
    _carried(spec, report)
    return report


# --------------------------------------------------------------------------- plans


def _shown(value: Any, limit: int = 300) -> str:
    if value is None or value == "" or value == []:
        return "(empty)"
    if isinstance(value, list):
        text = "; ".join(str(v) for v in value)
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plan_view(path: Path, connector: str, shown_path: str | None = None) -> PlanView:
    """The summary of a plan saved by `maforge plan --out` (read by :func:`plan.load_plan`)."""
    from maforge.connectors.sync.plan import ACTIONS, SYMBOLS, load_plan

    plan = load_plan(path)
    per_property: dict[str, dict[str, int]] = {}
    changes = []
    for profile in plan.profiles:
        for change in profile.changes:
            per_property.setdefault(change.property, dict.fromkeys(ACTIONS, 0))[change.action] += 1
            if len(changes) < PLAN_CHANGES_SHOWN:
                after = "(cleared)" if change.action == "clear" else _shown(change.after)
                changes.append(PlanChangeView(profile.account, change.property, change.action, SYMBOLS[change.action], _shown(change.before), after))
    rows = tuple((name, c["set"], c["change"], c["clear"]) for name, c in sorted(per_property.items(), key=lambda kv: (-sum(kv[1].values()), kv[0].lower())))
    return PlanView(
        shown_path or str(path),
        plan.connector,
        plan.tenant,
        plan.created_at,
        plan.refreshed,
        plan.maforge,
        plan.counts(),
        plan.unchanged,
        len(plan.profiles),
        plan.change_count,
        rows,
        tuple(changes),
        tuple({k: str(v) for k, v in p.items()} for p in plan.problems),
        tuple({k: str(v) for k, v in w.items()} for w in plan.warnings),
        tuple(plan.protected),
        plan.connector != connector,
    )


# --------------------------------------------------------------------------- loading


def report_from_spec(path: Path, environment: str | None = None, display: str | None = None) -> Report:
    """Load and validate ``path`` the way `maforge build` does (raises what
    :func:`validate.load_spec` raises), then collect."""
    from .validate import load_spec

    shown = display or str(path)
    spec, warnings = load_spec(path, environment, shown)
    return collect(spec, shown, "spec", warnings=warnings)


def report_from_export(path: Path, mv: Path | None = None, display: str | None = None) -> Report:
    """Read an MA file the way `maforge import-ma` does, into a scratch folder, then collect.
    Raises :class:`ReportError` when it is not an MA file maforge can read."""
    from .mim.decompile import ImportError_
    from .diagnostics import SpecError
    from .mim.importma import import_ma
    from .validate import load_spec

    shown = display or str(path)
    with tempfile.TemporaryDirectory(prefix="maforge-report-") as scratch:
        try:
            result = import_ma(path, Path(scratch), mv, shown)
            spec, warnings = load_spec(result.spec_path, None, f"{shown} (as imported)")
        except ImportError_ as error:
            raise ReportError(f"{error} — give an MA export (Synchronization Service Manager → Export Management Agent) or a server configuration file") from None
        except SpecError as error:
            first = "; ".join(d.message for d in error.diagnostics[:3])
            raise ReportError(f"{shown}: the MA does not make a valid spec ({first}) — check the file; if MIM exported it as it is, please report it") from None
        return collect(spec, shown, "export", notes=result.notes, warnings=warnings)


# --------------------------------------------------------------------------- rendering


def _csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(str(text).encode("utf-8")).digest()).decode("ascii")


def _environment():  # -> jinja2.Environment
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("maforge.templates", ""),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["csp_hash"] = _csp_hash
    return env


def render_html(report: Report) -> str:
    """The page: one file, inline CSS and JS, nothing fetched from anywhere."""
    from markupsafe import Markup
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PowerShellLexer, XmlLexer

    formatter = HtmlFormatter(cssclass="hl", linenos="table", wrapcode=True)
    scripts = [(script, Markup(highlight(script.text, PowerShellLexer(), formatter))) for script in report.scripts]
    plain = HtmlFormatter(cssclass="hl", wrapcode=True)
    carried = [(item, Markup(highlight(item.xml, XmlLexer(), plain))) for item in report.carried]
    style = HtmlFormatter(cssclass="hl").get_style_defs(".hl")
    return _environment().get_template(TEMPLATE).render(report=report, scripts=scripts, carried=carried, pygments_css=Markup(style), mask=SECRET_MASK)
