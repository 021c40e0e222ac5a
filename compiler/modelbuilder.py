"""Stage 3: a schema-valid document → the typed :class:`ConnectorSpec`.

The builder applies defaults (read from the JSON Schema), resolves paths against the
spec's folder and parses flow expressions once. It reports what it alone can see
(expression syntax, a run step with no partition to run against) as diagnostics; the
cross-reference rules live in :mod:`maforge.compiler.rules`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .diagnostics import Diagnostic, Severity
from .expressions import ExpressionSyntaxError, parse_expression
from .loader import Document, pointer_join
from .model import (
    Access,
    AttributeType,
    AuthMethod,
    Capabilities,
    CAPABILITY_FIELDS,
    Connectivity,
    ConnectorSpec,
    ConnectorTarget,
    ConnectorType,
    CsAttribute,
    CsObjectType,
    Deprovisioning,
    DeprovisioningAction,
    ExportFlow,
    ExportFlowSet,
    FilterAlternative,
    FilterCondition,
    ImportFlow,
    ImportFlowSet,
    JoinCriterion,
    JoinRule,
    Loc,
    MappingKind,
    MimSettings,
    MvAttribute,
    MvObjectType,
    Parameter,
    Partition,
    Precedence,
    PreservedXml,
    PsmaImpersonation,
    PsmaSettings,
    ProjectionRule,
    RulesExtension,
    RunProfile,
    RunStep,
    ScriptRef,
    SharePoint,
    SharePointAuth,
    Source,
    SourceJoinRule,
    SourceType,
    StepType,
    Thresholds,
    ValueMapping,
    WhenNull,
    frozen,
)
from maforge import __version__

from . import psconnector, psma
from .schema_check import schema_default

DEFAULT_PARTITION = "default"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "connector"


def _integer(value: Any) -> Any:
    """JSON Schema 2020-12 accepts 5.0 as an integer; the model holds 5."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(_integer(value))


class _Builder:
    def __init__(self, doc: Document, environment: str | None):
        self.doc = doc
        self.environment = environment
        self.diagnostics: list[Diagnostic] = []

    def loc(self, pointer: str, *, key: bool = False) -> Loc:
        return Loc(self.doc.display, pointer, self.doc.position(pointer, key=key))

    def error(self, code: str, message: str, pointer: str, position: Any = None) -> None:
        self.diagnostics.append(
            Diagnostic(Severity.ERROR, code, message, self.doc.display, position or self.doc.position(pointer), pointer)
        )

    # ------------------------------------------------------------------ pieces

    def mapping(self, data: dict[str, Any], pointer: str) -> ValueMapping:
        loc = self.loc(pointer)
        if "from" in data:
            return ValueMapping(MappingKind.DIRECT, source=data["from"], loc=loc)
        if "constant" in data:
            return ValueMapping(MappingKind.CONSTANT, constant=data["constant"], loc=loc)
        if "dnPart" in data:
            return ValueMapping(MappingKind.DN_PART, dn_part=_integer(data["dnPart"]), loc=loc)
        if "script" in data:
            script = data["script"]
            return ValueMapping(
                MappingKind.SCRIPT, script_context=script["context"], script_sources=tuple(script["sources"]), loc=loc
            )
        text = data["expression"]
        expr_pointer = pointer_join(pointer, "expression")
        try:
            expression = parse_expression(text)
        except ExpressionSyntaxError as error:
            self.error("MF240", f"expression: {error.message}", expr_pointer, self.doc.string_position(expr_pointer, error.offset))
            expression = None
        return ValueMapping(MappingKind.EXPRESSION, expression=expression, loc=Loc(self.doc.display, expr_pointer, self.doc.position(expr_pointer)))

    def import_flows(self, data: dict[str, Any], pointer: str) -> tuple[ImportFlow, ...]:
        flows = []
        for target, spec in data.items():
            child = pointer_join(pointer, target)
            flows.append(ImportFlow(target, self.mapping(spec, child), _integer(spec.get("rank")), self.loc(child, key=True)))
        return tuple(flows)

    def criteria(self, items: list[dict[str, Any]], pointer: str) -> tuple[JoinCriterion, ...]:
        result = []
        for i, item in enumerate(items):
            child = pointer_join(pointer, i)
            result.append(JoinCriterion(item["mv"], self.mapping(item, child), self.loc(child)))
        return tuple(result)

    # ------------------------------------------------------------------ sections

    def mim(self, data: dict[str, Any], connector: ConnectorTarget, psma_data: dict[str, Any] | None) -> MimSettings:
        ext = data.get("rulesExtension")
        if connector is ConnectorTarget.PSMA:
            # The version written is the DLL's of the connector the MA runs on.
            version = (psma_data or {}).get("version", schema_default("psma", "version"))
        else:
            version = data.get("connectorVersion", schema_default("mim", "connectorVersion"))
        return MimSettings(
            id=data.get("id"),
            ids=frozen(data.get("ids", {})),
            server=data.get("server"),
            connector_version=version,
            application_protection=data.get("applicationProtection", schema_default("mim", "applicationProtection")),
            rules_extension=RulesExtension(ext["assembly"], ext.get("applicationProtection", "low")) if ext else None,  # schema default
            timestamp=data.get("timestamp"),
            preserve=tuple(
                PreservedXml(item["path"], item["xml"], item.get("reason"), self.loc(pointer_join("/mim/preserve", i)))
                for i, item in enumerate(data.get("preserve", []))
            ),
        )

    def sharepoint(self, data: dict[str, Any] | None) -> SharePoint | None:
        if data is None:
            return None
        auth = data.get("auth")
        return SharePoint(
            tenant=data["tenant"],
            tenant_id=data.get("tenantId") or f"{data['tenant']}.onmicrosoft.com",
            company=data.get("company"),
            auth=SharePointAuth(
                method=AuthMethod(auth["method"]),
                client_id=auth.get("clientId"),
                certificate_thumbprint=auth.get("certificateThumbprint"),
                certificate_path=auth.get("certificatePath"),
                federated_token_file=auth.get("federatedTokenFile"),
                loc=self.loc("/sharepoint/auth"),
            )
            if auth
            else None,
            loc=self.loc("/sharepoint"),
            protect=tuple(data.get("protect", ())),
            budget_per_5_minutes=(data.get("budget") or {}).get("callsPer5Minutes"),
            cloud=data.get("cloud") or schema_default("sharepoint", "cloud"),
        )

    def connectivity(self, data: dict[str, Any], sharepoint: SharePoint | None, scripts: tuple[ScriptRef, ...], name: str) -> Connectivity:
        def default(field: str) -> Any:
            return data.get(field, schema_default("connectivity", field))

        server = data.get("server")
        if server is None and sharepoint is not None:
            server = sharepoint.admin_url
        module = data.get("commonModule")
        if module is None:
            common = next((s for s in scripts if s.slot == "commonModule"), None)
            if common is not None:
                module = common.path.name
            elif sharepoint is not None:
                module = f"maforge-{_slug(name)}.psm1"
        return Connectivity(
            server=server,
            domain=data.get("domain"),
            user=data.get("user"),
            password=data.get("password"),
            impersonate=default("impersonate"),
            load_user_profile=default("loadUserProfile"),
            logon_type=default("logonType"),
            signed_scripts_only=default("signedScriptsOnly"),
            common_module=module,
            loc=self.loc("/connectivity"),
        )

    def capabilities(self, data: dict[str, Any], connector: ConnectorTarget) -> Capabilities:
        if connector is ConnectorTarget.PSMA:
            # PSMA's DLL declares its capabilities; the spec cannot change them (MF281 warns
            # where the spec's own differ).
            values = dict(psma.CAPABILITIES)
        else:
            values = {f: data.get(f, schema_default("capabilities", f)) for f in CAPABILITY_FIELDS}
        return Capabilities(
            distinguished_name_style=values["distinguishedNameStyle"],
            export_type=values["exportType"],
            data_normalization=values["dataNormalization"],
            object_confirmation=values["objectConfirmation"],
            dn_as_anchor=values["dnAsAnchor"],
            concurrent_operations=values["concurrentOperations"],
            partitions=values["partitions"],
            hierarchy=values["hierarchy"],
            import_=values["import"],
            delta_import=values["deltaImport"],
            export=values["export"],
            full_export=values["fullExport"],
            no_reference_values_in_first_export_pass=values["noReferenceValuesInFirstExportPass"],
            object_rename=values["objectRename"],
            delete_add_as_replace=values["deleteAddAsReplace"],
            password_operations=values["passwordOperations"],
            export_password_in_first_pass=values["exportPasswordInFirstPass"],
            loc=self.loc("/capabilities"),
        )

    def parameters(self, data: dict[str, Any]) -> tuple[Parameter, ...]:
        result = []
        for name, spec in data.items():
            spec = spec or {}
            pointer = pointer_join("/parameters", name)
            result.append(
                Parameter(
                    name,
                    spec.get("description"),
                    spec.get("encrypted", schema_default("parameter", "encrypted")),
                    _text(spec.get("value")),
                    self.loc(pointer, key=True),
                )
            )
        return tuple(result)

    def spo_parameters(self, declared: tuple[Parameter, ...], sharepoint: SharePoint, connector: ConnectorTarget, name: str) -> tuple[Parameter, ...]:
        """The parameters maforge's SPO scripts read, declared for them, then the spec's own."""
        auth = sharepoint.auth
        loc = self.loc("/sharepoint")
        values = {
            "TenantName": (sharepoint.tenant, "SharePoint Online tenant name."),
            "TenantId": (sharepoint.tenant_id, "Entra ID tenant the scripts sign in to."),
            "ClientId": ((auth.client_id if auth else None) or "", "Application (client) id of the app registration."),
            "CertificateThumbprint": (
                (auth.certificate_thumbprint if auth else None) or "",
                "Thumbprint of the app's certificate in LocalMachine\\My.",
            ),
            "AuthMode": ("Password" if auth and auth.method.value == "password" else "Certificate", "Certificate or Password."),
            "UserAgent": (f"NONISV|{sharepoint.company or 'maforge'}|maforge/{__version__}", "User-Agent sent to SharePoint."),
            "DeltaStrategy": ("Snapshot", "How delta import finds changes: Snapshot compares with the last import."),
            "LogLevel": ("Information", "Error, Warning, Information or Verbose."),
        }
        generated = [Parameter(name, text, False, value, loc, generated=True) for name, (value, text) in values.items()]
        own = {p.name for p in declared}
        derived = {
            "AdminUrl": sharepoint.admin_url,
            # The stated share of the tenant's PeopleManager budget; 0 = no pacing.
            "CallsPer5Minutes": str(sharepoint.budget_per_5_minutes or 0),
        }
        for tunable, (default, text) in psconnector.SPO_TUNABLE_PARAMETERS.items():
            if tunable not in own:
                generated.append(Parameter(tunable, text, False, derived.get(tunable, default), loc, generated=True))
        if connector is ConnectorTarget.PSMA and "DataFolder" not in own:
            generated.append(
                Parameter(
                    "DataFolder",
                    "Folder for the scripts' log and import snapshots (PSMA 6.0.1050 runs scripts outside the Synchronization Service, where the MA's own folder is not known).",
                    False,
                    f"{psma.DEFAULT_DATA_ROOT}\\{name}",
                    loc,
                    generated=True,
                )
            )
        return tuple(generated) + declared

    def psma(self, data: dict[str, Any] | None, connector: ConnectorTarget, name: str) -> PsmaSettings | None:
        if connector is not ConnectorTarget.PSMA:
            return None
        data = data or {}
        impersonate = data.get("impersonate")
        auxiliary = data.get("auxiliary") or {}
        return PsmaSettings(
            script_folder=data.get("scriptFolder") or f"{psma.DEFAULT_FOLDER_ROOT}\\{_slug(name).lower()}",
            paths=frozen(data.get("paths", {})),
            powershell=data.get("powershell", schema_default("psma", "powershell")),
            pwsh_path=data.get("pwshPath"),
            paged_import=data.get("pagedImport", schema_default("psma", "pagedImport")),
            export_simple_objects=data.get("exportSimpleObjects", schema_default("psma", "exportSimpleObjects")),
            password_management=data.get("passwordManagement", schema_default("psma", "passwordManagement")),
            auxiliary_user=auxiliary.get("user"),
            auxiliary_password=auxiliary.get("password"),
            impersonation=PsmaImpersonation(impersonate.get("domain"), impersonate["user"], impersonate.get("password")) if impersonate else None,
            loc=self.loc("/psma"),
        )

    def scripts(self, data: dict[str, Any] | None) -> tuple[ScriptRef, ...]:
        if not data:
            return ()
        return tuple(
            ScriptRef(slot, (self.doc.base_dir / written).resolve(), written, self.loc(pointer_join("/scripts", slot)))
            for slot, written in data.items()
        )

    def object_types(self, data: dict[str, Any]) -> tuple[CsObjectType, ...]:
        result = []
        for name, spec in data.get("objectTypes", {}).items():
            pointer = pointer_join("/schema/objectTypes", name)
            attributes = []
            for attr_name, attr in spec["attributes"].items():
                attr = attr or {}
                access = Access(attr.get("access", schema_default("csAttribute", "access")))
                attributes.append(
                    CsAttribute(
                        name=attr_name,
                        type=AttributeType(attr.get("type", schema_default("csAttribute", "type"))),
                        multi_valued=attr.get("multiValued", schema_default("csAttribute", "multiValued")),
                        access=access,
                        immutable=attr.get("immutable", access is Access.IMPORT_ONLY),
                        selected=attr.get("selected", schema_default("csAttribute", "selected")),
                        description=attr.get("description"),
                        loc=self.loc(pointer_join(pointer_join(pointer, "attributes"), attr_name), key=True),
                    )
                )
            anchor = spec["anchor"]
            result.append(
                CsObjectType(
                    name=name,
                    anchor=(anchor,) if isinstance(anchor, str) else tuple(anchor),
                    attributes=tuple(attributes),
                    loc=self.loc(pointer, key=True),
                    anchor_loc=self.loc(pointer_join(pointer, "anchor")),
                )
            )
        return tuple(result)

    def mv_object_types(self, data: dict[str, Any] | None) -> tuple[MvObjectType, ...]:
        if not data:
            return ()
        result = []
        for name, spec in data["objectTypes"].items():
            pointer = pointer_join("/metaverse/objectTypes", name)
            attributes = []
            for attr_name, attr in spec["attributes"].items():
                attr = attr or {}
                attributes.append(
                    MvAttribute(
                        name=attr_name,
                        type=AttributeType(attr.get("type", schema_default("mvAttribute", "type"))),
                        multi_valued=attr.get("multiValued", schema_default("mvAttribute", "multiValued")),
                        indexed=attr.get("indexed", schema_default("mvAttribute", "indexed")),
                        precedence=Precedence(attr.get("precedence", schema_default("mvAttribute", "precedence"))),
                        description=attr.get("description"),
                        loc=self.loc(pointer_join(pointer_join(pointer, "attributes"), attr_name), key=True),
                    )
                )
            result.append(MvObjectType(name, tuple(attributes), self.loc(pointer, key=True)))
        return tuple(result)

    def partitions(self, data: dict[str, Any] | None, object_types: tuple[CsObjectType, ...]) -> tuple[Partition, ...]:
        all_types = tuple(t.name for t in object_types)
        if not data:
            return (Partition(DEFAULT_PARTITION, DEFAULT_PARTITION, DEFAULT_PARTITION, True, all_types, (), (), frozen(), self.loc("")),)
        result = []
        for key, spec in data.items():
            spec = spec or {}
            pointer = pointer_join("/partitions", key)
            name = spec.get("name", key)
            containers = spec.get("containers", {})
            result.append(
                Partition(
                    key=key,
                    name=name,
                    dn=spec.get("dn", name),
                    selected=spec.get("selected", schema_default("partition", "selected")),
                    object_types=tuple(spec.get("objectTypes", all_types)),
                    include=tuple(containers.get("include", ())),
                    exclude=tuple(containers.get("exclude", ())),
                    parameters=frozen({k: _text(v) or "" for k, v in spec.get("parameters", {}).items()}),
                    loc=self.loc(pointer, key=True),
                )
            )
        return tuple(result)

    def run_profiles(self, data: dict[str, Any] | None, partitions: tuple[Partition, ...]) -> tuple[RunProfile, ...]:
        if not data:
            return ()
        result = []
        for name, steps in data.items():
            pointer = pointer_join("/runProfiles", name)
            built = []
            for i, step in enumerate(steps):
                step_pointer = pointer_join(pointer, i)
                partition = step.get("partition")
                if partition is None:
                    if len(partitions) == 1:
                        partition = partitions[0].key
                    else:
                        keys = ", ".join(p.key for p in partitions)
                        self.error(
                            "MF221",
                            f"run step of '{name}' names no partition and the MA has several ({keys}): add 'partition:'",
                            step_pointer,
                        )
                        partition = ""
                thresholds = step.get("thresholds", {})
                built.append(
                    RunStep(
                        type=StepType(step["type"]),
                        partition=partition,
                        page_size=_integer(step.get("pageSize")),
                        timeout=_integer(step.get("timeout", schema_default("runStep", "timeout"))),
                        thresholds=Thresholds(
                            _integer(thresholds.get("objects")), _integer(thresholds.get("deletions")), _integer(thresholds.get("batchSize"))
                        ),
                        parameters=frozen({k: _text(v) or "" for k, v in step.get("parameters", {}).items()}),
                        loc=self.loc(step_pointer),
                    )
                )
            result.append(RunProfile(name, tuple(built), self.loc(pointer, key=True)))
        return tuple(result)

    def connector_filter(self, items: list[dict[str, Any]]) -> tuple[FilterAlternative, ...]:
        result = []
        for i, item in enumerate(items):
            pointer = pointer_join("/connectorFilter", i)
            conditions = tuple(
                FilterCondition(c["attribute"], c["operator"], _text(c.get("value")), self.loc(pointer_join(pointer_join(pointer, "when"), j)))
                for j, c in enumerate(item.get("when", []))
            )
            result.append(
                FilterAlternative(
                    item["objectType"],
                    conditions,
                    item.get("scripted", False),
                    item.get("importFilter", schema_default("filterEntry", "importFilter")),
                    self.loc(pointer),
                )
            )
        return tuple(result)

    def join(self, items: list[dict[str, Any]]) -> tuple[JoinRule, ...]:
        result = []
        for i, item in enumerate(items):
            pointer = pointer_join("/join", i)
            resolution = item.get("resolution")
            result.append(
                JoinRule(
                    cs_object_type=item["objectType"],
                    mv_object_type=item.get("mvObjectType"),
                    criteria=self.criteria(item["criteria"], pointer_join(pointer, "criteria")),
                    resolution_script=resolution["script"] if resolution else None,
                    loc=self.loc(pointer),
                )
            )
        return tuple(result)

    def projection(self, items: list[dict[str, Any]]) -> tuple[ProjectionRule, ...]:
        return tuple(
            ProjectionRule(item["objectType"], item.get("mvObjectType"), item.get("scripted", False), self.loc(pointer_join("/projection", i)))
            for i, item in enumerate(items)
        )

    def flow_sets(self, items: list[dict[str, Any]], section: str, build: Callable[..., Any], set_type: type) -> tuple[Any, ...]:
        result = []
        for i, item in enumerate(items):
            pointer = pointer_join(f"/{section}", i)
            flows = build(item["attributes"], pointer_join(pointer, "attributes"))
            result.append(set_type(item["objectType"], item["mvObjectType"], flows, self.loc(pointer)))
        return tuple(result)

    def export_flows(self, data: dict[str, Any], pointer: str) -> tuple[ExportFlow, ...]:
        flows = []
        for target, spec in data.items():
            child = pointer_join(pointer, target)
            when_null = WhenNull(spec.get("whenNull", schema_default("exportFlow", "whenNull")))
            ordered = bool(spec.get("ordered", schema_default("exportFlow", "ordered")))
            flows.append(ExportFlow(target, self.mapping(spec, child), when_null, self.loc(child, key=True), ordered))
        return tuple(flows)

    def sources(self, data: dict[str, Any] | None) -> tuple[Source, ...]:
        if not data:
            return ()
        result = []
        for name, spec in data.items():
            pointer = pointer_join("/sources", name)
            written = spec.get("path")
            result.append(
                Source(
                    name=name,
                    type=SourceType(spec["type"]),
                    path=(self.doc.base_dir / written).resolve() if written else None,
                    written_path=written,
                    encoding=spec.get("encoding", schema_default("source", "encoding")),
                    delimiter=spec.get("delimiter", schema_default("source", "delimiter")),
                    multi_value_separator=spec.get("multiValueSeparator", schema_default("source", "multiValueSeparator")),
                    filter=spec.get("filter"),
                    fields=tuple(spec["fields"]) if "fields" in spec else None,
                    mv_object_type=spec["mvObjectType"],
                    key=spec["key"],
                    join=tuple(
                        SourceJoinRule(
                            self.criteria(rule["criteria"], pointer_join(pointer_join(pointer_join(pointer, "join"), i), "criteria")),
                            self.loc(pointer_join(pointer_join(pointer, "join"), i)),
                        )
                        for i, rule in enumerate(spec.get("join", []))
                    ),
                    project=spec.get("project", schema_default("source", "project")),
                    flows=self.import_flows(spec["attributes"], pointer_join(pointer, "attributes")),
                    loc=self.loc(pointer, key=True),
                )
            )
        return tuple(result)

    # ------------------------------------------------------------------ whole spec

    def build(self) -> ConnectorSpec:
        data = self.doc.data
        scripts = self.scripts(data.get("scripts"))
        sharepoint = self.sharepoint(data.get("sharepoint"))
        object_types = self.object_types(data.get("schema", {}))
        partitions = self.partitions(data.get("partitions"), object_types)
        deprovisioning = data.get("deprovisioning", {})
        parameters = self.parameters(data.get("parameters", {}))
        connector = ConnectorTarget(data.get("connector", schema_default(None, "connector")))
        return ConnectorSpec(
            api_version=data["apiVersion"],
            name=data["name"],
            description=data.get("description"),
            type=ConnectorType(data["type"]),
            mim=self.mim(data.get("mim", {}), connector, data.get("psma")),
            connectivity=self.connectivity(data.get("connectivity", {}), sharepoint, scripts, data["name"]),
            capabilities=self.capabilities(data.get("capabilities", {}), connector),
            parameters=self.spo_parameters(parameters, sharepoint, connector, data["name"]) if sharepoint is not None else parameters,
            scripts=scripts,
            sharepoint=sharepoint,
            object_types=object_types,
            partitions=partitions,
            run_profiles=self.run_profiles(data.get("runProfiles"), partitions),
            connector_filter=self.connector_filter(data.get("connectorFilter", [])),
            join=self.join(data.get("join", [])),
            projection=self.projection(data.get("projection", [])),
            deprovisioning=Deprovisioning(
                DeprovisioningAction(deprovisioning.get("action", schema_default("deprovisioning", "action"))),
                deprovisioning.get("recallAttributes", schema_default("deprovisioning", "recallAttributes")),
            ),
            import_flows=self.flow_sets(data.get("importFlows", []), "importFlows", self.import_flows, ImportFlowSet),
            export_flows=self.flow_sets(data.get("exportFlows", []), "exportFlows", self.export_flows, ExportFlowSet),
            provisioning_hierarchy=frozen(data.get("provisioningHierarchy", {})),
            mv_object_types=self.mv_object_types(data.get("metaverse")),
            sources=self.sources(data.get("sources")),
            environment=self.environment,
            environments=tuple(data.get("environments", {})),
            path=self.doc.path,
            loc=self.loc(""),
            connector=connector,
            psma=self.psma(data.get("psma"), connector, data["name"]),
        )


def build_model(doc: Document, environment: str | None = None) -> tuple[ConnectorSpec, list[Diagnostic]]:
    """Build the model of a schema-valid document; returns it with the builder's findings."""
    builder = _Builder(doc, environment)
    spec = builder.build()
    return spec, builder.diagnostics
