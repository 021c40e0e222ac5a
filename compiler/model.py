"""The typed, immutable model of a connector spec: what every back-end consumes.

Built by :mod:`maforge.compiler.modelbuilder` from a schema-valid document. Defaults are
already applied (from the JSON Schema's ``default`` keywords), names are resolved, and
every element carries a :class:`Loc` so a back-end can still report ``file:line:col``.
Collections are tuples (or read-only mappings) in the spec's order: order is meaning for
join rules, precedence and the connector's schema.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from .diagnostics import Position
from .expressions import Expression


def frozen(mapping: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """A read-only copy of ``mapping`` (keeps order)."""
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class Loc:
    """Where an element was written: file, JSON pointer and line/column."""

    file: str
    pointer: str
    position: Position | None = None

    def __str__(self) -> str:
        if self.position is None:
            return self.file
        return f"{self.file}:{self.position.line}:{self.position.col}"


NOWHERE = Loc("<generated>", "")


class ConnectorType(str, enum.Enum):
    SPO_USER_PROFILES = "spo-user-profiles"
    POWERSHELL = "powershell"
    OTHER = "other"


class ConnectorTarget(str, enum.Enum):
    """Which PowerShell connector the MA is built for (the spec's `connector`)."""

    MICROSOFT = "microsoft"  # "PowerShell (Microsoft)", ECMA2 (psconnector.py)
    PSMA = "psma"  # Søren Granfeldt's PowerShell Management Agent (psma.py)


class AttributeType(str, enum.Enum):
    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    BINARY = "binary"
    REFERENCE = "reference"


class Access(str, enum.Enum):
    IMPORT_ONLY = "ImportOnly"
    EXPORT_ONLY = "ExportOnly"
    IMPORT_EXPORT = "ImportExport"

    @property
    def importable(self) -> bool:
        return self is not Access.EXPORT_ONLY

    @property
    def exportable(self) -> bool:
        return self is not Access.IMPORT_ONLY


class MappingKind(str, enum.Enum):
    DIRECT = "from"
    CONSTANT = "constant"
    EXPRESSION = "expression"
    DN_PART = "dnPart"
    SCRIPT = "script"


class WhenNull(str, enum.Enum):
    SKIP = "skip"
    CLEAR = "clear"


class Precedence(str, enum.Enum):
    RANKED = "ranked"
    EQUAL = "equal"
    MANUAL = "manual"


class StepType(str, enum.Enum):
    FULL_IMPORT = "full-import"
    DELTA_IMPORT = "delta-import"
    FULL_IMPORT_DELTA_SYNC = "full-import-delta-sync"
    FULL_IMPORT_FULL_SYNC = "full-import-full-sync"
    DELTA_IMPORT_DELTA_SYNC = "delta-import-delta-sync"
    FULL_SYNC = "full-sync"
    DELTA_SYNC = "delta-sync"
    EXPORT = "export"

    @property
    def imports(self) -> bool:
        return self in (
            StepType.FULL_IMPORT,
            StepType.DELTA_IMPORT,
            StepType.FULL_IMPORT_DELTA_SYNC,
            StepType.FULL_IMPORT_FULL_SYNC,
            StepType.DELTA_IMPORT_DELTA_SYNC,
        )

    @property
    def delta_import(self) -> bool:
        return self in (StepType.DELTA_IMPORT, StepType.DELTA_IMPORT_DELTA_SYNC)

    @property
    def exports(self) -> bool:
        return self is StepType.EXPORT

    @property
    def syncs_only(self) -> bool:
        return self in (StepType.FULL_SYNC, StepType.DELTA_SYNC)


class DeprovisioningAction(str, enum.Enum):
    MAKE_NORMAL_DISCONNECTOR = "make-normal-disconnector"
    MAKE_EXPLICIT_DISCONNECTOR = "make-explicit-disconnector"
    DELETE_OBJECT = "delete-object"
    SCRIPTED = "scripted"


class SourceType(str, enum.Enum):
    CSV = "csv"
    JSON = "json"
    JSONL = "jsonl"
    GRAPH_USERS = "graph-users"

    @property
    def is_file(self) -> bool:
        return self is not SourceType.GRAPH_USERS


class AuthMethod(str, enum.Enum):
    CERTIFICATE = "certificate"
    PASSWORD = "password"
    DEVICE_CODE = "device-code"
    MANAGED_IDENTITY = "managed-identity"
    FEDERATED = "federated"


# --------------------------------------------------------------------------- MA identity


@dataclass(frozen=True, slots=True)
class RulesExtension:
    assembly: str
    application_protection: str


@dataclass(frozen=True, slots=True)
class PreservedXml:
    """An element of the MA export carried verbatim (see `mim.preserve`)."""

    path: str
    xml: str
    reason: str | None
    loc: Loc


@dataclass(frozen=True, slots=True)
class MimSettings:
    """What differs between MIM servers, and the MA's identity on them."""

    id: str | None  # None: derived from the name by the build
    ids: Mapping[str, str]  # pinned GUIDs by element key (see identity.py)
    server: str | None
    connector_version: str
    application_protection: str
    rules_extension: RulesExtension | None
    timestamp: str | None
    preserve: tuple[PreservedXml, ...] = ()


@dataclass(frozen=True, slots=True)
class PsmaImpersonation:
    domain: str | None
    user: str | None
    password: str | None  # a secret reference, never the secret


@dataclass(frozen=True, slots=True)
class PsmaSettings:
    """What only Granfeldt's PSMA has (the spec's `psma`): where its script files live on the
    sync server and its own switches. Path and folder values are Windows paths on the server."""

    script_folder: str  # defaulted by the builder: psma.DEFAULT_FOLDER_ROOT\<slug of the name>
    paths: Mapping[str, str]  # slot → full server path, overriding script_folder\<file>
    powershell: str  # "5.1" or "7"
    pwsh_path: str | None
    paged_import: bool
    export_simple_objects: bool
    password_management: bool
    auxiliary_user: str | None
    auxiliary_password: str | None  # a secret reference
    impersonation: PsmaImpersonation | None
    loc: Loc

    def script_path(self, slot: str, file_name: str) -> str:
        """The server path PSMA's parameter for ``slot`` holds."""
        explicit = self.paths.get(slot)
        if explicit:
            return explicit
        return self.script_folder.rstrip("\\") + "\\" + file_name


@dataclass(frozen=True, slots=True)
class Connectivity:
    server: str | None
    domain: str | None
    user: str | None
    password: str | None  # a secret reference, never the secret
    impersonate: bool
    load_user_profile: bool
    logon_type: str
    signed_scripts_only: bool
    common_module: str | None
    loc: Loc


@dataclass(frozen=True, slots=True)
class Capabilities:
    distinguished_name_style: str
    export_type: str
    data_normalization: str
    object_confirmation: str
    dn_as_anchor: bool
    concurrent_operations: bool
    partitions: bool
    hierarchy: bool
    import_: bool
    delta_import: bool
    export: bool
    full_export: bool
    no_reference_values_in_first_export_pass: bool
    object_rename: bool
    delete_add_as_replace: bool
    password_operations: bool
    export_password_in_first_pass: bool
    loc: Loc

    def spec_value(self, field_name: str) -> str | bool:
        """The value of a capability by its spec field name (``deltaImport``)."""
        return getattr(self, _CAPABILITY_ATTRS[field_name])


_CAPABILITY_ATTRS = {
    "distinguishedNameStyle": "distinguished_name_style",
    "exportType": "export_type",
    "dataNormalization": "data_normalization",
    "objectConfirmation": "object_confirmation",
    "dnAsAnchor": "dn_as_anchor",
    "concurrentOperations": "concurrent_operations",
    "partitions": "partitions",
    "hierarchy": "hierarchy",
    "import": "import_",
    "deltaImport": "delta_import",
    "export": "export",
    "fullExport": "full_export",
    "noReferenceValuesInFirstExportPass": "no_reference_values_in_first_export_pass",
    "objectRename": "object_rename",
    "deleteAddAsReplace": "delete_add_as_replace",
    "passwordOperations": "password_operations",
    "exportPasswordInFirstPass": "export_password_in_first_pass",
}
CAPABILITY_FIELDS: tuple[str, ...] = tuple(_CAPABILITY_ATTRS)


@dataclass(frozen=True, slots=True)
class Parameter:
    """An additional config parameter; ``value`` is its Global page value. ``generated``
    marks the ones maforge declares itself for the scripts it writes."""

    name: str
    description: str | None
    encrypted: bool
    value: str | None
    loc: Loc
    generated: bool = False


@dataclass(frozen=True, slots=True)
class ScriptRef:
    """A user script file (type powershell), resolved against the spec's folder."""

    slot: str
    path: Path
    written: str  # as written in the spec
    loc: Loc


@dataclass(frozen=True, slots=True)
class SharePointAuth:
    method: AuthMethod
    client_id: str | None
    certificate_thumbprint: str | None
    certificate_path: str | None
    federated_token_file: str | None
    loc: Loc


@dataclass(frozen=True, slots=True)
class SpoCloud:
    """The hosts of one Microsoft 365 cloud: Entra ID sign-in, Microsoft Graph, and the
    domain under which a tenant's SharePoint hosts live (<tenant>.<domain>,
    <tenant>-admin.<domain>)."""

    login: str
    graph: str
    sharepoint: str


# sharepoint.cloud → hosts. Sources (checked 2026):
# - sign-in and Graph: Microsoft Graph national cloud deployments,
#   https://learn.microsoft.com/graph/deployments ("App registration and token service root
#   endpoints": login.microsoftonline.com / login.microsoftonline.us / login.chinacloudapi.cn;
#   "Microsoft Graph and Graph Explorer service root endpoints": graph.microsoft.com, US
#   Government L4 graph.microsoft.us, L5 (DOD) dod-graph.microsoft.us, 21Vianet
#   microsoftgraph.chinacloudapi.cn);
# - SharePoint and again sign-in/Graph per cloud: Microsoft 365 endpoint lists,
#   https://learn.microsoft.com/microsoft-365/enterprise/microsoft-365-u-s-government-gcc-high-endpoints
#   (*.sharepoint.us; graph.microsoft.us, login.microsoftonline.us),
#   .../microsoft-365-u-s-government-dod-endpoints (*.dps.mil, *.sharepoint-mil.us;
#   dod-graph.microsoft.us, login.microsoftonline.us) and
#   .../urls-and-ip-address-ranges-21vianet (*.sharepoint.cn) (MicrosoftDocs/microsoft-365-docs
#   includes office-365-u.s.-government-{gcc-high,dod}-endpoints.md,
#   office-365-operated-by-21vianet-endpoints.md).
# A DoD tenant may use *.dps.mil names too; its admin host is then given explicitly
# (connectivity.server or the AdminUrl parameter).
SPO_CLOUDS: dict[str, SpoCloud] = {
    "global": SpoCloud("login.microsoftonline.com", "graph.microsoft.com", "sharepoint.com"),
    "usgov-high": SpoCloud("login.microsoftonline.us", "graph.microsoft.us", "sharepoint.us"),
    "usgov-dod": SpoCloud("login.microsoftonline.us", "dod-graph.microsoft.us", "sharepoint-mil.us"),
    "china": SpoCloud("login.chinacloudapi.cn", "microsoftgraph.chinacloudapi.cn", "sharepoint.cn"),
}


@dataclass(frozen=True, slots=True)
class SharePoint:
    tenant: str
    tenant_id: str
    company: str | None
    auth: SharePointAuth | None
    loc: Loc
    protect: tuple[str, ...] = ()  # properties apply must never change
    budget_per_5_minutes: int | None = None  # PeopleManager calls this connector may spend (sharepoint.budget)
    cloud: str = "global"  # sharepoint.cloud: a key of SPO_CLOUDS

    @property
    def hosts(self) -> SpoCloud:
        return SPO_CLOUDS[self.cloud]

    @property
    def root_url(self) -> str:
        return f"https://{self.tenant}.{self.hosts.sharepoint}"

    @property
    def admin_url(self) -> str:
        return f"https://{self.tenant}-admin.{self.hosts.sharepoint}"


# --------------------------------------------------------------------------- schema


@dataclass(frozen=True, slots=True)
class CsAttribute:
    name: str
    type: AttributeType
    multi_valued: bool
    access: Access
    immutable: bool
    selected: bool
    description: str | None
    loc: Loc


@dataclass(frozen=True, slots=True)
class CsObjectType:
    name: str
    anchor: tuple[str, ...]
    attributes: tuple[CsAttribute, ...]
    loc: Loc
    anchor_loc: Loc

    def attribute(self, name: str) -> CsAttribute | None:
        for attribute in self.attributes:
            if attribute.name == name:
                return attribute
        return None


@dataclass(frozen=True, slots=True)
class MvAttribute:
    name: str
    type: AttributeType
    multi_valued: bool
    indexed: bool
    precedence: Precedence
    description: str | None
    loc: Loc


@dataclass(frozen=True, slots=True)
class MvObjectType:
    name: str
    attributes: tuple[MvAttribute, ...]
    loc: Loc

    def attribute(self, name: str) -> MvAttribute | None:
        for attribute in self.attributes:
            if attribute.name == name:
                return attribute
        return None


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class ValueMapping:
    """Where a value comes from. Exactly one of the kind-specific fields is set."""

    kind: MappingKind
    source: str | None = None  # DIRECT
    constant: str | int | bool | None = None  # CONSTANT
    expression: Expression | None = None  # EXPRESSION (parsed)
    dn_part: int | None = None  # DN_PART
    script_context: str | None = None  # SCRIPT
    script_sources: tuple[str, ...] = ()
    loc: Loc = NOWHERE

    def source_attributes(self) -> tuple[str, ...]:
        """The source-side attributes this mapping reads, in order, without repeats."""
        if self.kind is MappingKind.DIRECT and self.source:
            return (self.source,)
        if self.kind is MappingKind.SCRIPT:
            return self.script_sources
        if self.kind is MappingKind.EXPRESSION and self.expression is not None:
            return tuple(dict.fromkeys(ref.name for ref in self.expression.attributes()))
        return ()


def export_rule_name(cs_object_type: str, target: str) -> str:
    """The flow-rule name MIM passes to MapAttributesForExport for a scripted export flow.
    The MA export writes it and the rules extension switches on it: one name, both places."""
    return f"export:{cs_object_type}.{target}"


def import_rule_name(cs_object_type: str, target: str) -> str:
    """The flow-rule name of a scripted import flow (MapAttributesForImport)."""
    return f"import:{cs_object_type}.{target}"


def join_rule_name(cs_object_type: str, rule_number: int, mv_attribute: str) -> str:
    """The flow-rule name of a scripted join mapping (MapAttributesForJoin): rule_number counts
    the join rules of the object type from 1."""
    return f"join:{cs_object_type}.{rule_number}.{mv_attribute}"


@dataclass(frozen=True, slots=True)
class ImportFlow:
    target: str  # metaverse attribute
    mapping: ValueMapping
    rank: int | None
    loc: Loc


@dataclass(frozen=True, slots=True)
class ExportFlow:
    target: str  # connector-space attribute
    mapping: ValueMapping
    when_null: WhenNull
    loc: Loc
    ordered: bool = False  # a multi-valued target whose value order matters (maforge only; MIM sees sets)


@dataclass(frozen=True, slots=True)
class ImportFlowSet:
    cs_object_type: str
    mv_object_type: str
    flows: tuple[ImportFlow, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class ExportFlowSet:
    cs_object_type: str
    mv_object_type: str
    flows: tuple[ExportFlow, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class JoinCriterion:
    mv_attribute: str
    mapping: ValueMapping
    loc: Loc


@dataclass(frozen=True, slots=True)
class JoinRule:
    cs_object_type: str
    mv_object_type: str | None  # None: any metaverse object type
    criteria: tuple[JoinCriterion, ...]
    resolution_script: str | None
    loc: Loc


@dataclass(frozen=True, slots=True)
class ProjectionRule:
    cs_object_type: str
    mv_object_type: str | None
    scripted: bool
    loc: Loc


@dataclass(frozen=True, slots=True)
class FilterCondition:
    attribute: str
    operator: str
    value: str | None
    loc: Loc


@dataclass(frozen=True, slots=True)
class FilterAlternative:
    cs_object_type: str
    conditions: tuple[FilterCondition, ...]
    scripted: bool
    import_filter: bool
    loc: Loc


@dataclass(frozen=True, slots=True)
class Deprovisioning:
    action: DeprovisioningAction
    recall_attributes: bool


# --------------------------------------------------------------------------- operations


@dataclass(frozen=True, slots=True)
class Partition:
    key: str
    name: str
    dn: str
    selected: bool
    object_types: tuple[str, ...]
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    parameters: Mapping[str, str]
    loc: Loc


@dataclass(frozen=True, slots=True)
class Thresholds:
    objects: int | None
    deletions: int | None
    batch_size: int | None


@dataclass(frozen=True, slots=True)
class RunStep:
    type: StepType
    partition: str  # partition key
    page_size: int | None
    timeout: int
    thresholds: Thresholds
    parameters: Mapping[str, str]
    loc: Loc


@dataclass(frozen=True, slots=True)
class RunProfile:
    name: str
    steps: tuple[RunStep, ...]
    loc: Loc


# --------------------------------------------------------------------------- runtime sources


@dataclass(frozen=True, slots=True)
class SourceJoinRule:
    criteria: tuple[JoinCriterion, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    type: SourceType
    path: Path | None  # resolved against the spec's folder
    written_path: str | None
    encoding: str
    delimiter: str
    multi_value_separator: str
    filter: str | None
    fields: tuple[str, ...] | None
    mv_object_type: str
    key: str
    join: tuple[SourceJoinRule, ...]
    project: bool
    flows: tuple[ImportFlow, ...]
    loc: Loc


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    """One connector, ready for every back-end."""

    api_version: str
    name: str
    description: str | None
    type: ConnectorType
    mim: MimSettings
    connectivity: Connectivity
    capabilities: Capabilities
    parameters: tuple[Parameter, ...]
    scripts: tuple[ScriptRef, ...]
    sharepoint: SharePoint | None
    object_types: tuple[CsObjectType, ...]
    partitions: tuple[Partition, ...]
    run_profiles: tuple[RunProfile, ...]
    connector_filter: tuple[FilterAlternative, ...]
    join: tuple[JoinRule, ...]
    projection: tuple[ProjectionRule, ...]
    deprovisioning: Deprovisioning
    import_flows: tuple[ImportFlowSet, ...]
    export_flows: tuple[ExportFlowSet, ...]
    provisioning_hierarchy: Mapping[str, str]
    mv_object_types: tuple[MvObjectType, ...]
    sources: tuple[Source, ...]
    environment: str | None
    environments: tuple[str, ...]
    path: Path
    loc: Loc = field(default=NOWHERE)
    connector: ConnectorTarget = ConnectorTarget.MICROSOFT
    psma: PsmaSettings | None = None  # set exactly when connector is PSMA

    def object_type(self, name: str) -> CsObjectType | None:
        for object_type in self.object_types:
            if object_type.name == name:
                return object_type
        return None

    def mv_object_type(self, name: str) -> MvObjectType | None:
        for object_type in self.mv_object_types:
            if object_type.name == name:
                return object_type
        return None

    def partition(self, key: str) -> Partition | None:
        for partition in self.partitions:
            if partition.key == key:
                return partition
        return None

    def parameter(self, name: str) -> Parameter | None:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        return None
