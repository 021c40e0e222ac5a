"""Emitter: the model → the `<export-ma>` tree that Synchronization Service Manager imports.

Builds an lxml tree in MIM's element order (ma-export-format.md §3, §21.1); serialising it in
MIM's own layout is :mod:`maforge.compiler.mim.mimxml`'s job. Everything here is derived from the
model, the connector's parameter catalogue (:mod:`psconnector`), the derived identities
(:mod:`identity`) and the capability numbers (:mod:`capabilities`); no other emitter is touched.

Facts the reference marks as unverified are noted where the code depends on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lxml import etree

from .. import psconnector, psma
from . import psmapages
from .capabilities import capability_numbers
from .. import identity
from ..identity import build_timestamp, element_id, ma_id
from .mimxml import strip_layout_whitespace, sub
from ..model import (
    Access,
    AttributeType,
    ConnectorSpec,
    ConnectorTarget,
    CsAttribute,
    CsObjectType,
    DeprovisioningAction,
    MappingKind,
    ImportFlow,
    Precedence,
    PreservedXml,
    RunStep,
    StepType,
    ValueMapping,
    WhenNull,
    export_rule_name,
    import_rule_name,
    join_rule_name,
)

DSML_NS = "http://www.dsml.org/DSML"
MS_DSML_NS = "http://www.microsoft.com/MMS/DSML"
NSMAP = {"ms-dsml": MS_DSML_NS, "dsml": DSML_NS}  # MIM writes ms-dsml first for ECMA2

EXPORT_PASSWORD = "export_password"
HELP_TEXT = "Using this Connector you can synchronize with PowerShell Connector compliant data sources"
# The connector's own page-size limits (extension-config), as the installed DLL reports them.
DEFAULT_PAGE_SIZE = 9999
MAX_PAGE_SIZE = 2147483647
# Engine-maintained value of a freshly created ECMA2 partition; not derived from the spec.
NEW_PARTITION_ALLOWED_OPERATIONS = "1073741854"

SYNTAX_OID = {
    AttributeType.STRING: "1.3.6.1.4.1.1466.115.121.1.15",
    AttributeType.INTEGER: "1.3.6.1.4.1.1466.115.121.1.27",
    AttributeType.BOOLEAN: "1.3.6.1.4.1.1466.115.121.1.7",
    AttributeType.BINARY: "1.3.6.1.4.1.1466.115.121.1.5",
    AttributeType.REFERENCE: "1.3.6.1.4.1.1466.115.121.1.12",
}
WIZARD_TYPE = {
    AttributeType.STRING: "String",
    AttributeType.INTEGER: "Number",
    AttributeType.BOOLEAN: "Bool",
    AttributeType.BINARY: "Binary",
    AttributeType.REFERENCE: "DN",
}
STEP_TYPES: dict[StepType, tuple[str, str | None, str | None]] = {
    # step → (step-type/@type, subtype element, subtype text)
    StepType.FULL_IMPORT: ("full-import", "import-subtype", "to-cs"),
    StepType.DELTA_IMPORT: ("delta-import", "import-subtype", "to-cs"),
    StepType.FULL_IMPORT_DELTA_SYNC: ("full-import", None, None),
    StepType.DELTA_IMPORT_DELTA_SYNC: ("delta-import", None, None),
    StepType.FULL_IMPORT_FULL_SYNC: ("full-import-reevaluate-rules", None, None),
    StepType.FULL_SYNC: ("apply-rules", "apply-rules-subtype", "reevaluate-flow-connectors"),
    StepType.DELTA_SYNC: ("apply-rules", "apply-rules-subtype", "apply-pending"),
    StepType.EXPORT: ("export", None, None),
}


def _dsml(local: str) -> str:
    return f"{{{DSML_NS}}}{local}"


def _ms(local: str) -> str:
    return f"{{{MS_DSML_NS}}}{local}"


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _ui_flag(value: bool) -> str:
    """The xmlwizard's VB-style booleans."""
    return "-1" if value else "0"


def _ordinal_ignore_case(name: str) -> str:
    return name.upper()


@dataclass(frozen=True, slots=True)
class ScriptedRule:
    """An expression (or rules-extension) mapping that becomes a scripted mapping in MIM."""

    context: str
    where: str
    expression: str | None
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ParameterValue:
    name: str
    type: str
    use: str
    value: str
    encrypted: bool = False


class _Emitter:
    def __init__(self, spec: ConnectorSpec, scripts: Mapping[str, str], server: str):
        self.spec = spec
        self.scripts = scripts
        self.server = server
        self.ma_id = ma_id(spec)
        self.timestamp = build_timestamp(spec)
        self.scripted_rules: list[ScriptedRule] = []
        # Granfeldt's PSMA: its own pages (psmapages.py); everything else is shared.
        self.psma = spec.connector is ConnectorTarget.PSMA
        self.psma_major = psma.major(spec.mim.connector_version) if self.psma else ""

    # ------------------------------------------------------------------ helpers

    def attribute_order(self, object_type: CsObjectType) -> list[CsAttribute]:
        """Class attribute order MIM uses: non-anchor attributes, then the anchor(s)."""
        anchors = [object_type.attribute(a) for a in object_type.anchor]
        rest = [a for a in object_type.attributes if a.name not in object_type.anchor]
        return rest + [a for a in anchors if a is not None]

    def all_attributes(self) -> list[CsAttribute]:
        """Each attribute once, in order of first appearance walking the classes."""
        seen: dict[str, CsAttribute] = {}
        for object_type in self.spec.object_types:
            for attribute in self.attribute_order(object_type):
                seen.setdefault(attribute.name, attribute)
        return list(seen.values())

    def mapping(self, parent: etree._Element, mapping: ValueMapping, context: str, where: str, *, join: bool = False) -> None:
        if mapping.kind is MappingKind.DIRECT:
            direct = sub(parent, "direct-mapping")
            sub(direct, "src-attribute", mapping.source)
        elif mapping.kind is MappingKind.CONSTANT:
            constant = sub(parent, "constant-mapping")
            value = mapping.constant
            sub(constant, "constant-value", ("true" if value else "false") if isinstance(value, bool) else str(value))
        elif mapping.kind is MappingKind.DN_PART:
            part = sub(parent, "dn-part-mapping")
            sub(part, "dn-part", str(mapping.dn_part))
        else:
            if mapping.kind is MappingKind.SCRIPT:
                context = mapping.script_context or context
                expression = None
            else:
                expression = mapping.expression.text if mapping.expression else None
            sources = mapping.source_attributes()
            self.scripted_rules.append(ScriptedRule(context, where, expression, sources))
            scripted = sub(parent, "scripted-mapping")
            # Join rules write the context first, flows write it last (both seen in real exports).
            if join:
                sub(scripted, "script-context", context)
            for source in sources:
                sub(scripted, "src-attribute", source)
            if not join:
                sub(scripted, "script-context", context)

    # ------------------------------------------------------------------ sections

    def header(self, ma: etree._Element) -> None:
        sub(ma, "format-version", "1")
        sub(ma, "id", self.ma_id)
        sub(ma, "name", self.spec.name)
        catalogue = psma if self.psma else psconnector
        sub(ma, "category", catalogue.CATEGORY)
        sub(ma, "subtype", catalogue.SUBTYPE)
        sub(ma, "ma-listname", catalogue.LIST_NAME)
        sub(ma, "ma-companyname", catalogue.COMPANY)
        sub(ma, "creation-time", self.timestamp)
        sub(ma, "last-modification-time", self.timestamp)
        sub(ma, "version", "1")
        sub(ma, "internal-version", "1")
        sub(ma, "password-sync-allowed", _flag(self.password_management()))

    def schema(self, ma: etree._Element) -> None:
        holder = sub(ma, "schema")
        dsml = etree.SubElement(holder, _dsml("dsml"), nsmap=NSMAP)
        directory = etree.SubElement(dsml, _dsml("directory-schema"))
        directory.set(_ms("no-objectclass-validation"), "true")
        for object_type in self.spec.object_types:
            klass = etree.SubElement(directory, _dsml("class"))
            klass.set("id", object_type.name)
            klass.set("type", "structural")
            klass.set(_ms("locked"), "1")
            etree.SubElement(klass, _dsml("name")).text = object_type.name
            for attribute in self.attribute_order(object_type):
                anchor = attribute.name in object_type.anchor
                ref = etree.SubElement(klass, _dsml("attribute"))
                ref.set("ref", f"#{attribute.name}")
                ref.set("required", "true" if anchor else "false")
                ref.set(_ms("isAnchor"), "true" if anchor else "false")
                if attribute.access is not Access.IMPORT_EXPORT:
                    ref.set(_ms("allowedOperation"), attribute.access.value)
            last = etree.SubElement(klass, _dsml("attribute"))
            last.set("ref", f"#{EXPORT_PASSWORD}")
            last.set("required", "false")
        for attribute in self.all_attributes():
            definition = etree.SubElement(directory, _dsml("attribute-type"))
            definition.set("id", attribute.name)
            definition.set("single-value", "false" if attribute.multi_valued else "true")
            if attribute.immutable:
                definition.set(_ms("immutable"), "true")
            if attribute.access is Access.EXPORT_ONLY:
                definition.set(_ms("export-only"), "true")
            etree.SubElement(definition, _dsml("name")).text = attribute.name
            etree.SubElement(definition, _dsml("syntax")).text = SYNTAX_OID[attribute.type]
        password = etree.SubElement(directory, _dsml("attribute-type"))
        password.set("id", EXPORT_PASSWORD)
        password.set("single-value", "true")
        password.set(_ms("encrypted"), "true")
        password.set(_ms("export-only"), "true")
        etree.SubElement(password, _dsml("name")).text = EXPORT_PASSWORD
        etree.SubElement(password, _dsml("syntax")).text = SYNTAX_OID[AttributeType.STRING]

    def attribute_inclusion(self, ma: etree._Element) -> None:
        inclusion = sub(ma, "attribute-inclusion")
        # Case-insensitive order, export_password last; MIM's exact collation is unverified.
        for name in sorted((a.name for a in self.all_attributes() if a.selected), key=_ordinal_ignore_case):
            sub(inclusion, "attribute", name)
        sub(inclusion, "attribute", EXPORT_PASSWORD)

    def connector_filter(self, ma: etree._Element) -> None:
        alternatives = self.spec.connector_filter
        holder = sub(ma, "stay-disconnector")
        for type_name in dict.fromkeys(a.cs_object_type for a in alternatives):
            entries = [a for a in alternatives if a.cs_object_type == type_name]
            scripted = any(a.scripted for a in entries)
            filter_set = sub(
                holder,
                "filter-set",
                attrs={
                    "import-filter": _flag(any(a.import_filter for a in entries)),
                    "cd-object-type": type_name,
                    "type": "scripted" if scripted else "declared",
                },
            )
            if scripted:
                continue
            for index, entry in enumerate(entries):
                alternative = sub(filter_set, "filter-alternative", attrs={"id": element_id(self.spec, identity.filter_key(type_name, index))})
                for condition in entry.conditions:
                    node = sub(alternative, "condition", attrs={"cd-attribute": condition.attribute, "operator": condition.operator})
                    sub(node, "value", condition.value or "")

    def join(self, ma: etree._Element) -> None:
        holder = sub(ma, "join")
        rules = self.spec.join
        for type_name in dict.fromkeys(r.cs_object_type for r in rules):
            profile = sub(holder, "join-profile", attrs={"cd-object-type": type_name})
            for index, rule in enumerate(r for r in rules if r.cs_object_type == type_name):
                criterion = sub(profile, "join-criterion", attrs={"id": element_id(self.spec, identity.join_key(type_name, index))})
                search = sub(criterion, "search", attrs={"mv-object-type": rule.mv_object_type} if rule.mv_object_type else None)
                for c_index, item in enumerate(rule.criteria):
                    mapping = sub(search, "attribute-mapping", attrs={"mv-attribute": item.mv_attribute})
                    context = join_rule_name(type_name, index + 1, item.mv_attribute)
                    self.mapping(mapping, item.mapping, context, f"join rule {index + 1} of {type_name}, criterion {c_index + 1}", join=True)
                if rule.resolution_script:
                    resolution = sub(criterion, "resolution", attrs={"type": "scripted"})
                    sub(resolution, "script-context", rule.resolution_script)
                else:
                    resolution = sub(criterion, "resolution", attrs={"type": "none"})
                    sub(resolution, "script-context", "")

    def projection(self, ma: etree._Element) -> None:
        holder = sub(ma, "projection")
        for rule in self.spec.projection:
            attrs = {
                "type": "scripted" if rule.scripted else "declared",
                "id": element_id(self.spec, identity.projection_key(rule.cs_object_type)),
                "cd-object-type": rule.cs_object_type,
            }
            mapping = sub(holder, "class-mapping", attrs=attrs)
            if not rule.scripted:
                sub(mapping, "mv-object-type", rule.mv_object_type)

    def export_flows(self, ma: etree._Element) -> None:
        holder = sub(ma, "export-attribute-flow")
        for flow_set in self.spec.export_flows:
            node = sub(holder, "export-flow-set", attrs={"cd-object-type": flow_set.cs_object_type, "mv-object-type": flow_set.mv_object_type})
            for flow in flow_set.flows:
                flow_node = sub(
                    node,
                    "export-flow",
                    attrs={
                        "cd-attribute": flow.target,
                        "id": element_id(self.spec, identity.export_flow_key(flow_set.cs_object_type, flow_set.mv_object_type, flow.target)),
                        # "Allow nulls" ticked ⇔ suppress-deletions="false".
                        "suppress-deletions": "false" if flow.when_null is WhenNull.CLEAR else "true",
                    },
                )
                context = export_rule_name(flow_set.cs_object_type, flow.target)
                self.mapping(flow_node, flow.mapping, context, f"export flow {flow_set.cs_object_type}.{flow.target}")

    def deprovisioning(self, ma: etree._Element) -> None:
        action = self.spec.deprovisioning.action
        if action is DeprovisioningAction.SCRIPTED:
            # Whether MIM also writes an <action> for a scripted cleanup is unverified.
            sub(ma, "provisioning-cleanup", attrs={"type": "scripted"})
        else:
            cleanup = sub(ma, "provisioning-cleanup", attrs={"type": "declared"})
            sub(cleanup, "action", action.value)

    def extension(self, ma: etree._Element) -> None:
        extension = self.spec.mim.rules_extension
        holder = sub(ma, "extension")
        if extension is not None:
            sub(holder, "assembly-name", extension.assembly)
            sub(holder, "application-protection", extension.application_protection)

    def controller(self, ma: etree._Element) -> None:
        controller = sub(ma, "controller-configuration")
        sub(controller, "application-protection", self.spec.mim.application_protection)
        sub(controller, "application-architecture", "process")

    def ui_settings(self, ma: etree._Element) -> None:
        settings = sub(ma, "ma-ui-settings")
        queries = sub(settings, "account-joiner-queries")
        sub(queries, "attributes", "")
        sub(queries, "filters", "", {"max_mv_search_results": ""})

    # ------------------------------------------------------------------ MAConfig

    def wizard(self, ui_data: etree._Element) -> None:
        wizard = sub(ui_data, "xmlwizard")
        properties = sub(wizard, "properties")
        sub(properties, "sample_file", "")
        sub(properties, "code_page_description", "")
        sub(wizard, "partitions", "")
        mappings = sub(wizard, "primary_class_mappings")
        for object_type in self.spec.object_types:
            mapping = sub(mappings, "mapping", attrs={"object_class": object_type.name, "primary_class": object_type.name, "user_define": "0"})
            for attribute in self.attribute_order(object_type):
                sub(mapping, "attribute", attribute.name)
            sub(mapping, "attribute", EXPORT_PASSWORD)
        classes = sub(wizard, "object_classes")
        for object_type in self.spec.object_types:
            node = sub(
                classes,
                "object_class",
                attrs={"cd_name": object_type.name, "selected": "-1", "user_define": "0", "configured": "-1", "anchor": "", "dn_as_anchor": _flag(self.spec.capabilities.dn_as_anchor)},
            )
            for attribute in self.attribute_order(object_type):
                sub(node, "attribute", attribute.name, {"mandatory": _ui_flag(attribute.name in object_type.anchor)})
            if self.psma:  # PSMA's wizard lists the password attribute here too ([PSMA14], [PSMA25])
                sub(node, "attribute", EXPORT_PASSWORD, {"mandatory": "0"})
        attributes = sub(wizard, "attributes")
        ordered = sorted(self.all_attributes(), key=lambda a: _ordinal_ignore_case(a.name))
        for attribute in ordered:
            sub(attributes, "attribute", attrs=self._wizard_attribute(attribute.name, attribute.multi_valued, WIZARD_TYPE[attribute.type]))
        sub(attributes, "attribute", attrs=self._wizard_attribute(EXPORT_PASSWORD, False, "String"))
        self.anchors(wizard)
        for text in psma.HELP_TEXTS[self.psma_major] if self.psma else (HELP_TEXT,):
            sub(ui_data, "ma-help-text", text)

    @staticmethod
    def _wizard_attribute(name: str, multi_valued: bool, kind: str) -> dict[str, str]:
        return {
            "cd_name": name,
            "sample_data": "",
            "binary": "0",
            "multi_valued": _ui_flag(multi_valued),
            "file_reference": "0",
            "selected": "-1",
            "lower_bound": "",
            "upper_bound": "",
            "type": kind,
            "user_define": "0",
        }

    def anchors(self, parent: etree._Element) -> None:
        anchor = sub(parent, "anchor")
        for object_type in self.spec.object_types:
            for name in object_type.anchor:
                sub(anchor, "attribute", name, {"object_class": object_type.name})

    def password_management(self) -> bool:
        if self.psma:
            return psmapages.password_management(self.spec)
        return self.spec.capabilities.password_operations

    def password_extension(self, config: etree._Element) -> None:
        enabled = self.password_management()
        node = sub(config, "password-extension-config")
        if self.psma:
            psmapages.password_extension(node, self.spec)
            return
        sub(node, "password-extension-enabled", _flag(enabled))
        # With password operations on, the connector DLL itself implements the password
        # interface; the values MIM writes then are unverified (no sample has them on).
        sub(node, "dll", psconnector.ASSEMBLY if enabled else "", {"data-owner": "ISV"})
        sub(node, "password-set-enabled", "1" if enabled else "")
        sub(node, "password-change-enabled", "1" if enabled else "")
        info = sub(node, "connection-info")
        sub(info, "connect-to", "")
        sub(info, "user", "")
        sub(node, "timeout", "")

    def extension_config(self, config: etree._Element) -> None:
        caps = self.spec.capabilities
        numbers = capability_numbers(caps)
        node = sub(config, "extension-config")
        if self.psma:
            psmapages.extension_config(node, self.spec)
            return
        sub(node, "filename", psconnector.ASSEMBLY, {"data-owner": "ISV"})
        sub(node, "import-default-page-size", str(DEFAULT_PAGE_SIZE))
        sub(node, "import-max-page-size", str(MAX_PAGE_SIZE))
        sub(node, "export-default-page-size", str(DEFAULT_PAGE_SIZE))
        sub(node, "export-max-page-size", str(MAX_PAGE_SIZE))
        sub(node, "export-mode", "call-based" if caps.export else "", {"data-owner": "ISV"})
        sub(node, "import-mode", "call-based")
        sub(node, "export-enabled", _flag(caps.export), {"data-owner": "ISV"})
        sub(node, "import-enabled", _flag(caps.import_), {"data-owner": "ISV"})
        # The PowerShell connector's DLL implements partition, schema and hierarchy discovery
        # whatever the capabilities say, so these describe the DLL, not the MA.
        for kind in ("partition", "schema", "hierarchy"):
            sub(node, f"discovery-{kind}", "extensibility")
        sub(node, "password-management-enabled", "1")
        sub(node, "assembly-version", self.spec.mim.connector_version)
        sub(node, "export-type", str(numbers.export_type))
        sub(node, "capability-bits", numbers.bits_text)
        sub(node, "supports-parameters-ex", "0")

    def parameter_definitions(self) -> list[psconnector.ParameterDefinition]:
        """The connector's whole parameter list, extended by the spec's own names (PSMA's
        list is fixed: the spec's parameters are lines of its "Configuration parameters")."""
        if self.psma:
            return list(psmapages.parameter_definitions(self.spec))
        definitions: list[psconnector.ParameterDefinition] = list(psconnector.CONNECTIVITY)
        definitions += psconnector.GLOBAL
        definitions += self._additional("global")
        definitions += psconnector.CAPABILITIES
        # [LYNC] (Partitions on) has the partition page; the ECMA2Host config (Partitions off)
        # has none. Whether the page exists regardless is unverified: follow both samples.
        if self.spec.capabilities.partitions:
            definitions += psconnector.PARTITION
            definitions += self._additional("partition")
        definitions += psconnector.RUN_STEP
        definitions += self._additional("run-step")
        return definitions

    def _additional(self, page: str) -> list[psconnector.ParameterDefinition]:
        # Encrypted additional names presumably get encrypted-string definitions (unverified).
        return [
            psconnector.ParameterDefinition(page, "encrypted-string" if p.encrypted else "string", psconnector.scoped_name(p.name, page))
            for p in self.spec.parameters
        ]

    def parameter_values(self) -> list[ParameterValue]:
        """Values of the connectivity, capabilities and global pages, grouped as MIM
        writes them: encrypted values first (always empty), then connectivity,
        capabilities and global, each in definition order."""
        if self.psma:
            return [ParameterValue(v.name, v.type, v.use, v.value, v.encrypted) for v in psmapages.parameter_values(self.spec, frozenset(self.scripts))]
        spec = self.spec
        conn = spec.connectivity
        plain = [p.name for p in spec.parameters if not p.encrypted]
        secret = [p.name for p in spec.parameters if p.encrypted]
        connectivity = {
            "Server": conn.server or "",
            "Domain": conn.domain or "",
            "User": conn.user or "",
            "Password": "",
            "Impersonate Connector Account": _flag(conn.impersonate),
            "Load User Profile When Impersonating": _flag(conn.load_user_profile),
            "Logon Type When Impersonating": conn.logon_type,
            "Signed Scripts Only": _flag(conn.signed_scripts_only),
            "Common Module Script Name (with extension)": conn.common_module or "",
            "Common Module Script": self.scripts.get("commonModule", ""),
            "Validation Script": self.scripts.get("validation", ""),
            "Schema Script": self.scripts.get("schema", ""),
            "Additional Config Parameter Names": ",".join(plain),
            "Additional Encrypted Config Parameter Names": ",".join(secret),
        }
        capabilities = {}
        for name, field in psconnector.CAPABILITY_PARAMETERS:
            value = spec.capabilities.spec_value(field)
            capabilities[name] = _flag(value) if isinstance(value, bool) else str(value)
        by_parameter = {v: k for k, v in psconnector.SCRIPT_PARAMETERS.items()}
        global_values = {d.name: self.scripts.get(by_parameter[d.name], "") for d in psconnector.GLOBAL if d.name}
        for parameter in spec.parameters:
            global_values[psconnector.scoped_name(parameter.name, "global")] = "" if parameter.encrypted else (parameter.value or "")
        pages = {"connectivity": connectivity, "capabilities": capabilities, "global": global_values}
        definitions = [d for d in self.parameter_definitions() if d.name and d.use in pages]
        values = [
            ParameterValue(d.name, d.type, d.use, pages[d.use][d.name], encrypted=d.type.startswith("encrypted"))
            for d in definitions
        ]
        order = {"connectivity": 1, "capabilities": 2, "global": 3}
        return sorted(values, key=lambda v: (0 if v.encrypted else order[v.use]))

    def ma_config(self, ma: etree._Element) -> None:
        private = sub(ma, "private-configuration")
        config = sub(private, "MAConfig")
        self.wizard(sub(config, "ui-data"))
        importing = sub(config, "importing")
        self.anchors(importing)
        per_class = sub(importing, "per-class-settings")
        for object_type in self.spec.object_types:
            klass = sub(per_class, "class")
            sub(klass, "name", object_type.name)
            anchor = sub(klass, "anchor")
            for name in object_type.anchor:
                sub(anchor, "attribute", name)
        sub(config, "exporting", "")
        sub(config, "ldap-dn", "0")
        sub(config, "change_type_attribute", "")
        sub(config, "add_change_type_value", "Add")
        sub(config, "modify_change_type_value", "Modify")
        sub(config, "delete_change_type_value", "Delete")
        mappings = sub(config, "primary_class_mappings")
        for object_type in self.spec.object_types:
            mapping = sub(mappings, "mapping")
            sub(mapping, "primary_class", object_type.name)
            sub(mapping, "oc-value", object_type.name)
        sub(config, "enable-unapplied-merge", "0")
        self.password_extension(config)
        sub(config, "file-type", psconnector.CATEGORY)
        self.extension_config(config)
        refresh = ["Schema", "Partition", "ConnectivityParameters", "CapabilitiesParameters", "GlobalParameters", "OtherParameters", "SchemaParameters"]
        if self.psma:
            # PSMA's own order; 5.x (FIM 2010 R2) files have the first five only.
            refresh = ["Schema", "Partition", "ConnectivityParameters", "GlobalParameters", "OtherParameters"]
            if self.psma_major != "5":
                refresh += ["SchemaParameters", "CapabilitiesParameters"]
        definitions = sub(config, "parameter-definitions", attrs={f"refresh{name}": "0" for name in refresh})
        for definition in self.parameter_definitions():
            node = sub(definitions, "parameter")
            sub(node, "name", definition.name)
            sub(node, "use", definition.use)
            sub(node, "type", definition.type)
            sub(node, "validation", definition.validation)
            sub(node, "text", definition.text)
            sub(node, "default-value", definition.default)
            if definition.type == "drop-down":
                sub(node, "dropdown-extensible", "0")
        values = sub(config, "parameter-values")
        for value in self.parameter_values():
            attrs = {"name": value.name, "type": value.type, "use": value.use}
            if value.encrypted:
                attrs["encrypted"] = "1"
            sub(values, "parameter", value.value, attrs)
        if self.spec.provisioning_hierarchy:
            self.component_mappings(config, "possible_component_mappings")
        if self.psma and self.psma_major == "5":
            sub(config, "case_normalize_dn_for_anchor", "1")  # before the list in [PSMA14]
        visible = sub(config, "default_visible_attributes")
        anchors = [name for t in self.spec.object_types for name in t.anchor]
        for name in dict.fromkeys([*anchors, *(a.name for t in self.spec.object_types for a in t.attributes)]):
            sub(visible, "attribute", name)
        if not (self.psma and self.psma_major == "5"):
            sub(config, "case_normalize_dn_for_anchor", "1")

    def component_mappings(self, parent: etree._Element, tag: str) -> None:
        holder = sub(parent, tag)
        for component, object_class in self.spec.provisioning_hierarchy.items():
            mapping = sub(holder, "mapping")
            sub(mapping, "dn_component", component)
            sub(mapping, "object_class", object_class)

    # ------------------------------------------------------------------ operations

    def partitions(self, ma: etree._Element) -> dict[str, str]:
        holder = sub(ma, "ma-partition-data")
        ids: dict[str, str] = {}
        for partition in self.spec.partitions:
            pid = element_id(self.spec, identity.partition_key(partition))
            ids[partition.key] = pid
            node = sub(holder, "partition")
            sub(node, "id", pid)
            sub(node, "name", partition.name)
            sub(node, "creation-time", self.timestamp)
            sub(node, "last-modification-time", self.timestamp)
            sub(node, "version", "1")
            sub(node, "selected", _flag(partition.selected))
            selection = sub(node, "filter")
            classes = sub(selection, "object-classes")
            for type_name in partition.object_types:
                sub(classes, "object-class", type_name)
            containers = sub(selection, "containers")
            exclusions = sub(containers, "exclusions")
            for dn in partition.exclude:
                sub(exclusions, "exclusion", dn)
            inclusions = sub(containers, "inclusions")
            for dn in partition.include or ("",):
                sub(inclusions, "inclusion", dn)
            custom = sub(node, "custom-data")
            ecma = sub(custom, "ecma-partition-data")
            sub(ecma, "dn", partition.dn)
            sub(ecma, "name", partition.name)
            sub(ecma, "is-domain", "1")
            sub(node, "allowed-operations", NEW_PARTITION_ALLOWED_OPERATIONS)
            current = sub(node, "current")
            sub(current, "batch-number", "1")
            sub(current, "sequence-number", "0")
            sub(node, "last-successful-batch", "0")
            hints = sub(sub(node, "filter-hints"), "object-classes")
            for object_type in self.spec.object_types:
                hint = sub(hints, "object-class")
                sub(hint, "name", object_type.name)
                sub(sub(hint, "hierarchy"), "object-class", object_type.name)
                sub(hint, "included", _flag(object_type.name in partition.object_types))
        return ids

    def run_profiles(self, ma: etree._Element, partition_ids: Mapping[str, str]) -> None:
        holder = sub(ma, "ma-run-data")
        for profile in self.spec.run_profiles:
            node = sub(holder, "run-configuration")
            sub(node, "id", element_id(self.spec, identity.run_profile_key(profile)))
            sub(node, "name", profile.name)
            sub(node, "creation-time", self.timestamp)
            sub(node, "version", "1")
            sub(node, "last-modification-time", self.timestamp)
            configuration = sub(node, "configuration")
            for step in profile.steps:
                self.step(configuration, step, partition_ids)

    def step(self, configuration: etree._Element, step: RunStep, partition_ids: Mapping[str, str]) -> None:
        node = sub(configuration, "step")
        kind, subtype, subtext = STEP_TYPES[step.type]
        step_type = sub(node, "step-type", attrs={"type": kind})
        if subtype:
            sub(step_type, subtype, subtext)
        else:
            step_type.text = ""
        moves_data = not step.type.syncs_only
        default_page = psma.IMPORT_DEFAULT_PAGE_SIZE if self.psma else DEFAULT_PAGE_SIZE
        page_size = step.page_size or default_page
        threshold = sub(node, "threshold", "")
        if step.thresholds.objects is not None:
            sub(threshold, "object", str(step.thresholds.objects))
        batch = step.thresholds.batch_size if step.thresholds.batch_size is not None else (page_size if moves_data else 1)
        sub(threshold, "batch-size", str(batch))
        if step.thresholds.deletions is not None:
            sub(threshold, "delete", str(step.thresholds.deletions))
        sub(node, "partition", partition_ids.get(step.partition, ""))
        custom = sub(node, "custom-data")
        data = sub(custom, "extensible2-step-data")
        if moves_data:
            sub(data, "timeout", str(step.timeout))
            sub(data, "batch-size", str(page_size))
        else:
            sub(data, "batch-size", "0")
        values = sub(custom, "parameter-values")
        # PSMA has no run-step parameters (MF280 refuses run-step values for it).
        for parameter in () if self.psma else self.spec.parameters:
            attrs = {"name": psconnector.scoped_name(parameter.name, "run-step"), "type": "encrypted-string" if parameter.encrypted else "string", "use": "run-step"}
            if parameter.encrypted:
                attrs["encrypted"] = "1"
            value = "" if parameter.encrypted else step.parameters.get(parameter.name, "")
            sub(values, "parameter", value, attrs)

    def trailer(self, ma: etree._Element) -> None:
        numbers = capability_numbers(self.spec.capabilities)
        sub(ma, "capabilities-mask", numbers.mask_text)
        sub(ma, "export-type", str(numbers.export_type))
        sub(ma, "dn-construction")
        password = sub(ma, "password-sync")
        sub(password, "maximum-retry-count", "10")
        sub(password, "retry-interval", "60")
        sub(password, "allow-low-security", "0")
        if self.psma:
            # Written by MAs whose connector implements password management (PSMA, AD, AAD).
            sub(password, "unlock-account", "0")
        if self.spec.provisioning_hierarchy:
            self.component_mappings(ma, "component_mappings")
        else:
            sub(ma, "component_mappings")

    def mv_data(self, root: etree._Element) -> None:
        mv = sub(root, "mv-data")
        flows = sub(mv, "import-attribute-flow")
        by_mv_type: dict[str, dict[str, list[tuple[int, int, str, ImportFlow]]]] = {}
        order = 0
        for flow_set in self.spec.import_flows:
            for flow in flow_set.flows:
                order += 1
                targets = by_mv_type.setdefault(flow_set.mv_object_type, {})
                targets.setdefault(flow.target, []).append((flow.rank or 10**6, order, flow_set.cs_object_type, flow))
        for mv_type, targets in by_mv_type.items():
            flow_set_node = sub(flows, "import-flow-set", attrs={"mv-object-type": mv_type})
            mv_definition = self.spec.mv_object_type(mv_type)
            for target, entries in targets.items():
                attribute = mv_definition.attribute(target) if mv_definition else None
                precedence = attribute.precedence if attribute else Precedence.RANKED
                node = sub(flow_set_node, "import-flows", attrs={"mv-attribute": target, "type": precedence.value})
                for _, _, cs_type, flow in sorted(entries, key=lambda e: (e[0], e[1])):
                    flow_node = sub(
                        node,
                        "import-flow",
                        attrs={"src-ma": self.ma_id, "cd-object-type": cs_type, "id": element_id(self.spec, identity.import_flow_key(cs_type, mv_type, target))},
                    )
                    self.mapping(flow_node, flow.mapping, import_rule_name(cs_type, target), f"import flow {cs_type} → {mv_type}.{target}")
        options = sub(flows, "per-ma-options")
        ma_options = sub(options, "ma-options", attrs={"ma-id": self.ma_id})
        sub(ma_options, "enable-recall", "true" if self.spec.deprovisioning.recall_attributes else "false")

    def build(self) -> etree._Element:
        root = etree.Element("export-ma")
        root.set("server", self.server)
        root.set("export-date", self.timestamp)
        ma = sub(root, "ma-data")
        self.header(ma)
        self.schema(ma)
        self.attribute_inclusion(ma)
        self.connector_filter(ma)
        self.join(ma)
        self.projection(ma)
        self.export_flows(ma)
        self.deprovisioning(ma)
        self.extension(ma)
        self.controller(ma)
        sub(ma, "description", self.spec.description or "")
        self.ui_settings(ma)
        self.ma_config(ma)
        sub(ma, "SyncConfig-refresh-schema", "0")
        partition_ids = self.partitions(ma)
        self.run_profiles(ma, partition_ids)
        self.trailer(ma)
        self.mv_data(root)
        return root


@dataclass(frozen=True, slots=True)
class MaExport:
    """The emitted tree and what the build reports beside it."""

    tree: etree._Element
    scripted_rules: tuple[ScriptedRule, ...]


DEFAULT_SERVER = "MAFORGE"


class PreserveError(Exception):
    """A `mim.preserve` entry that cannot be applied."""


def apply_preserved(root: etree._Element, preserved: tuple[PreservedXml, ...]) -> None:
    """Put each carried element back where it stood, replacing what the model produced."""
    ma_data = root.find("ma-data")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=False)
    for item in preserved:
        try:
            replacement = etree.fromstring(item.xml.encode("utf-8"), parser)
        except etree.XMLSyntaxError as error:
            raise PreserveError(f"{item.loc}: mim.preserve '{item.path}' is not well-formed XML: {error.msg}") from None
        strip_layout_whitespace(replacement)
        if item.path == ".":
            matches = [ma_data]
        elif item.path.startswith("/"):
            matches = root.xpath(item.path.lstrip("/"))
        else:
            matches = ma_data.xpath(item.path)
        if len(matches) != 1 or not isinstance(matches[0], etree._Element):
            raise PreserveError(f"{item.loc}: mim.preserve path '{item.path}' matches {len(matches)} elements of the built export, not one")
        target = matches[0]
        replacement.tail = target.tail
        target.getparent().replace(target, replacement)
        if target is ma_data:
            ma_data = replacement


def emit_ma_export(spec: ConnectorSpec, scripts: Mapping[str, str]) -> MaExport:
    """The `<export-ma>` tree of ``spec``, with ``scripts`` (slot → text) embedded and the
    elements the spec carries verbatim put back."""
    emitter = _Emitter(spec, scripts, spec.mim.server or DEFAULT_SERVER)
    tree = emitter.build()
    apply_preserved(tree, spec.mim.preserve)
    return MaExport(tree, tuple(emitter.scripted_rules))

