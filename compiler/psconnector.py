"""What the "PowerShell (Microsoft)" connector itself declares: its type identity, its
built-in parameters page by page (labels and dividers included, in the connector's order),
how spec fields map onto them, and the names scripts may read.

The MA export writer, the script generator and the validator all read this one table, so a
parameter name exists in exactly one place. Source: the connector's parameter definitions
as they appear in a real export (Lync/Skype template, connector build 1.0.419.911).
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORY = "Extensible2"
SUBTYPE = "PowerShell (Microsoft)"
LIST_NAME = "PowerShell (Microsoft)"
COMPANY = "Microsoft"
ASSEMBLY = "Microsoft.IAM.Connector.PowerShell.dll"

SUFFIX = {"global": "_Global", "partition": "_Partition", "run-step": "_RunStep"}

LOGON_TYPES = "None,LogOnInteractive,LogOnNetwork,LogOnBatch,LogOnService,LogOnNetworkClearText"


@dataclass(frozen=True, slots=True)
class ParameterDefinition:
    """One entry of ``parameter-definitions``. Labels and dividers have no name."""

    use: str
    type: str  # string, encrypted-string, text, checkbox, drop-down, label, divider
    name: str = ""
    text: str = ""
    validation: str = ""
    default: str = ""


def label(use: str, text: str) -> ParameterDefinition:
    return ParameterDefinition(use, "label", text=text)


def divider(use: str) -> ParameterDefinition:
    return ParameterDefinition(use, "divider")


def string(use: str, name: str, default: str = "") -> ParameterDefinition:
    return ParameterDefinition(use, "string", name, default=default)


def secret(use: str, name: str) -> ParameterDefinition:
    return ParameterDefinition(use, "encrypted-string", name)


def text(use: str, name: str) -> ParameterDefinition:
    return ParameterDefinition(use, "text", name)


def checkbox(use: str, name: str, default: str = "") -> ParameterDefinition:
    return ParameterDefinition(use, "checkbox", name, default=default)


def dropdown(use: str, name: str, values: str, default: str) -> ParameterDefinition:
    return ParameterDefinition(use, "drop-down", name, validation=values, default=default)


CONNECTIVITY = (
    label("connectivity", "To create a connector, specify parameters as appropriate to your target system"),
    divider("connectivity"),
    string("connectivity", "Server"),
    divider("connectivity"),
    string("connectivity", "Domain"),
    string("connectivity", "User"),
    secret("connectivity", "Password"),
    divider("connectivity"),
    label(
        "connectivity",
        "With Impersonate Connector Account, each PowerShell script will execute in its own runspace with the credentials provided above",
    ),
    checkbox("connectivity", "Impersonate Connector Account"),
    checkbox("connectivity", "Load User Profile When Impersonating"),
    dropdown("connectivity", "Logon Type When Impersonating", LOGON_TYPES, "None"),
    divider("connectivity"),
    checkbox("connectivity", "Signed Scripts Only"),
    divider("connectivity"),
    string("connectivity", "Common Module Script Name (with extension)"),
    text("connectivity", "Common Module Script"),
    divider("connectivity"),
    text("connectivity", "Validation Script"),
    text("connectivity", "Schema Script"),
    divider("connectivity"),
    label("connectivity", "Provide additional parameter names in the below fields (Multiple names must be separated by comma)"),
    string("connectivity", "Additional Config Parameter Names"),
    string("connectivity", "Additional Encrypted Config Parameter Names"),
)

GLOBAL = (
    text("global", "Partition Script"),
    text("global", "Hierarchy Script"),
    text("global", "Begin Import Script"),
    text("global", "Import Script"),
    text("global", "End Import Script"),
    text("global", "Begin Export Script"),
    text("global", "Export Script"),
    text("global", "End Export Script"),
    divider("global"),
    text("global", "Begin Password Script"),
    text("global", "Password Extension Script"),
    text("global", "End Password Script"),
    divider("global"),
    label("global", "Additional Configuration Parameters"),
)

# (capability parameter name, spec field under `capabilities`), in the connector's order.
CAPABILITY_PARAMETERS: tuple[tuple[str, str], ...] = (
    ("Distinguished Name Style", "distinguishedNameStyle"),
    ("Export Type", "exportType"),
    ("Data Normalization", "dataNormalization"),
    ("Object Confirmation", "objectConfirmation"),
    ("Use DN As Anchor (Only LDAP style DN)", "dnAsAnchor"),
    ("Concurrent Operations Of Several Connectors", "concurrentOperations"),
    ("Partitions (Only LDAP style DN)", "partitions"),
    ("Hierarchy (Only LDAP style DN)", "hierarchy"),
    ("Enable Import", "import"),
    ("Enable Delta Import", "deltaImport"),
    ("Enable Export", "export"),
    ("Enable Full Export", "fullExport"),
    ("No Reference Values In First Export Pass", "noReferenceValuesInFirstExportPass"),
    ("Enable Object Rename", "objectRename"),
    ("Delete-Add As Replace", "deleteAddAsReplace"),
    ("Enable Password operations", "passwordOperations"),
    ("Enable Export Password In First Pass", "exportPasswordInFirstPass"),
)

CAPABILITIES = (
    label("capabilities", "Please define the capabilities of the Connector and the Connected System"),
    divider("capabilities"),
    dropdown("capabilities", "Distinguished Name Style", "None,Generic,Ldap", "Ldap"),
    dropdown(
        "capabilities", "Export Type", "AttributeUpdate,AttributeReplace,ObjectReplace,MultivaluedReferenceAttributeUpdate", "AttributeUpdate"
    ),
    dropdown("capabilities", "Data Normalization", "None,Uppercase,RemoveAccents,Both", "None"),
    dropdown("capabilities", "Object Confirmation", "Normal,NoDeleteConfirmation,NoAddAndDeleteConfirmation", "Normal"),
    divider("capabilities"),
    checkbox("capabilities", "Use DN As Anchor (Only LDAP style DN)", "0"),
    checkbox("capabilities", "Concurrent Operations Of Several Connectors", "1"),
    divider("capabilities"),
    checkbox("capabilities", "Partitions (Only LDAP style DN)", "0"),
    checkbox("capabilities", "Hierarchy (Only LDAP style DN)", "0"),
    divider("capabilities"),
    checkbox("capabilities", "Enable Import", "1"),
    checkbox("capabilities", "Enable Delta Import", "0"),
    divider("capabilities"),
    checkbox("capabilities", "Enable Export", "0"),
    checkbox("capabilities", "Enable Full Export", "0"),
    checkbox("capabilities", "No Reference Values In First Export Pass", "0"),
    checkbox("capabilities", "Enable Object Rename", "0"),
    checkbox("capabilities", "Delete-Add As Replace", "0"),
    divider("capabilities"),
    checkbox("capabilities", "Enable Password operations", "0"),
    checkbox("capabilities", "Enable Export Password In First Pass", "0"),
)

PARTITION = (
    divider("partition"),
    string("partition", "Partition Server"),
    divider("partition"),
    string("partition", "Partition Domain"),
    string("partition", "Partition User"),
    secret("partition", "Partition Password"),
    divider("partition"),
    label(
        "partition",
        "With Partition Impersonate Connector Account, each PowerShell script will execute in its own runspace with the credentials provided above",
    ),
    checkbox("partition", "Partition Impersonate Connector Account"),
    checkbox("partition", "Partition Load User Profile When Impersonating"),
    dropdown("partition", "Partition Logon Type When Impersonating", LOGON_TYPES, "None"),
    divider("partition"),
    text("partition", "Partition Validation Script"),
    divider("partition"),
    label("partition", "Additional Configuration Parameters"),
)

RUN_STEP = (
    label("run-step", "RunStep Specific Configuration"),
    divider("run-step"),
    label("run-step", "Additional Configuration Parameters"),
)

# Script slot in the spec's `scripts:` → the connector parameter that holds its text.
SCRIPT_PARAMETERS: dict[str, str] = {
    "commonModule": "Common Module Script",
    "validation": "Validation Script",
    "schema": "Schema Script",
    "partition": "Partition Script",
    "hierarchy": "Hierarchy Script",
    "partitionValidation": "Partition Validation Script",
    "beginImport": "Begin Import Script",
    "import": "Import Script",
    "endImport": "End Import Script",
    "beginExport": "Begin Export Script",
    "export": "Export Script",
    "endExport": "End Export Script",
    "beginPassword": "Begin Password Script",
    "password": "Password Extension Script",
    "endPassword": "End Password Script",
}

BUILTIN_PARAMETER_NAMES: frozenset[str] = frozenset(
    d.name for d in CONNECTIVITY + GLOBAL + CAPABILITIES + PARTITION + RUN_STEP if d.name
)

# Parameters the scripts maforge generates for `spo-user-profiles` read. maforge declares
# them itself (so a script never reads a name the MA does not declare), filling the values
# from the spec's `sharepoint` section. A spec parameter of one of these names would shadow
# them and is refused.
SPO_GENERATED_PARAMETERS: tuple[str, ...] = (
    "TenantName",
    "TenantId",
    "ClientId",
    "CertificateThumbprint",
    "AuthMode",
    "UserAgent",
    "DeltaStrategy",
    "LogLevel",
)
SPO_RESERVED_PARAMETER_NAMES: frozenset[str] = frozenset(SPO_GENERATED_PARAMETERS)

# Tuning parameters the generated SPO scripts also read: a spec may declare them to set its
# own value (for example `MaxRetryWaitSeconds` per run step); otherwise maforge declares them
# with these defaults.
SPO_TUNABLE_PARAMETERS: dict[str, tuple[str, str]] = {
    # "" = derived from the spec: https://<tenant>-admin.sharepoint.com.
    "AdminUrl": ("", "Tenant admin site the scripts read and write profiles on (PeopleManager writes to other users' profiles only work there)."),
    "ImportPageSize": ("100", "Profiles fetched per upstream page while importing (not MIM's page size)."),
    "MaxRetries": ("8", "Retries of one request after a 5xx answer or time-out that carries no Retry-After (a 429 or 503 with Retry-After is waited out however often it comes)."),
    "MaxRetryWaitSeconds": ("0", "Cap on the seconds one run step may wait on throttling (Retry-After and back-off); 0 = no cap. Past the cap the import stops and the remaining export entries fail with spo-throttled."),
    # Default: the spec's sharepoint.budget.callsPer5Minutes, else 0.
    "CallsPer5Minutes": ("0", "PeopleManager calls (reads and writes) the scripts may make in any 5 minutes; 0 = no pacing. The tenant-wide limit is 3,000 to 15,000 and shared with every other client."),
}

# The whole-number tunables: the range the scripts accept (validation refuses a value
# outside it; at run time a value outside it is clamped into it).
SPO_NUMBER_RANGES: dict[str, tuple[int, int]] = {
    "ImportPageSize": (1, 999),
    "MaxRetries": (0, 50),
    "MaxRetryWaitSeconds": (0, 86400),
    "CallsPer5Minutes": (0, 1000000),
}


def scoped_name(name: str, page: str) -> str:
    """The name a script reads: ``AdminUrl`` on the global page is ``AdminUrl_Global``."""
    return f"{name}{SUFFIX[page]}"


def reserved_names(connector_type: str) -> frozenset[str]:
    """Every parameter name a spec may not declare for this connector type.

    Compare without regard to case: whether the connector's ``$ConfigParameters``
    collection is case-sensitive is not documented (unverified), so a name that differs
    from a reserved one only in case is refused under either behaviour."""
    names = set(BUILTIN_PARAMETER_NAMES)
    if connector_type == "spo-user-profiles":
        names |= SPO_RESERVED_PARAMETER_NAMES
    return frozenset(names)
