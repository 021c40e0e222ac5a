"""What Søren Granfeldt's PowerShell Management Agent (PSMA) itself declares: its type
identity, its parameters page by page (labels and dividers included, in its order), the
capabilities its DLL fixes, and where the scripts it runs live.

It is the PSMA counterpart of :mod:`psconnector` (the "PowerShell (Microsoft)" connector):
the MA export writer, the script generator, the validator and `import-ma` read this one
table. Sources: the parameter definitions of the real PSMA exports in the reference folder
([PSMA14] = PSMA 5.5 on FIM 2010 R2, [PSMA25] = PSMA 6.0 with the PowerShell 7 choice) and
PSMA's own source (sorengranfeldt/psma, ``Granfeldt.PowerShell.ManagementAgent``).

Unlike the Microsoft connector, PSMA reads its scripts from files on the sync server (the
parameters hold their paths, not their text), has no per-run-step or partition parameters,
and passes extra settings to every script as the lines of one text box, "Configuration
parameters" (``Name=value``), which reach the scripts as the hashtable
``$ConfigurationParameter``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .psconnector import ParameterDefinition, checkbox, divider, dropdown, label, secret, string, text

CATEGORY = "Extensible2"
SUBTYPE = "PowerShell"
LIST_NAME = "PowerShell"
COMPANY = "Soren Granfeldt"
ASSEMBLY = "Granfeldt.PowerShell.ManagementAgent.dll"

# The help text PSMA writes into ui-data; the 6.x exports carry the old spelling and the new.
# The 6.x parameter pages below are [PSMA25]'s, an interim 6.0.10xx build: its two labels on
# PowerShell 7 impersonation are gone from 6.0.1050 (research notes, bb7c1d6). Labels only
# describe the page; MIM re-reads the definitions from the installed DLL on refresh.
HELP_TEXTS: Mapping[str, tuple[str, ...]] = {
    "5": ("With this management agent, you can run Powershell scripts for import, export and password management.",),
    "6": (
        "With this management agent, you can run Powershell scripts for import, export and password management.",
        "With this management agent, you can run PowerShell scripts for import, export and password management.",
    ),
}

# extension-config values PSMA's DLL reports ([PSMA14], [PSMA25]).
IMPORT_DEFAULT_PAGE_SIZE = 100
IMPORT_MAX_PAGE_SIZE = 10000
EXPORT_DEFAULT_PAGE_SIZE = 100
EXPORT_MAX_PAGE_SIZE: Mapping[str, int] = {"5": 500, "6": 9999}

# The capabilities PSMA's code declares (its IMAExtensible2GetCapabilities), as the spec
# names them. They are not a page of the MA: a spec for PSMA cannot change them, and the
# build writes these whatever the spec's `capabilities` say (validation warns where they
# differ). Read back from the capability bits of [PSMA25] (0x82079830) and [PSMA14].
CAPABILITIES: Mapping[str, object] = {
    "distinguishedNameStyle": "Generic",
    "exportType": "ObjectReplace",
    "dataNormalization": "None",
    "objectConfirmation": "Normal",
    "dnAsAnchor": False,
    "concurrentOperations": True,
    "partitions": True,
    "hierarchy": True,
    "import": True,
    "deltaImport": True,
    "export": True,
    "fullExport": True,
    "noReferenceValuesInFirstExportPass": False,
    "objectRename": False,
    "deleteAddAsReplace": True,
    "passwordOperations": True,
    "exportPasswordInFirstPass": False,
}
# mim/capabilities.py turns these into 0x82079830, the bits of [PSMA25]. [PSMA14] (FIM 2010
# R2) lacks the engine's 0x80000000 and has 0x2000, whose meaning is not documented; an
# imported MA of that kind carries its numbers in mim.preserve.


SCHEMA_LABEL = (
    "The Schema script is called to retrieve the object and attribute definitions. This script should be "
    "accessible to the FIM Synchronization Service service account during configuration and refreshes of the schema."
)
AUTH_LABEL = "Authentication (optional): These credentials are passed as parameters to all scripts."
SCRIPTS_LABEL = (
    "These are the PowerShell scripts that are run on the different operations. You should specify the full "
    "path of the scripts. Path cannot include spaces or similar whitespaces."
)
PASSWORD_LABEL = "If you enable Password Management, this script is called for both password change and set (requires PCNS)."
SIMPLE_LABEL = (
    "The objects piped to the export script will normally be of type PSCustomObject. If you uncheck this, you "
    "will get objects of more complex type CSEntryChange instead (legacy behaviour). For more information on the "
    "CSEntryChange object type, please see MSDN Library."
)
CONFIGURATION_LABEL = (
    "Specify any additional configuration parameters to be passed to the Powershell scripts. Each value should "
    "be on a seperate line and key and value seperated by a comma or equal sign (i.e. Environment=PROD)"
)
POWERSHELL_VERSIONS = ("Windows PowerShell 5.1", "PowerShell 7")

# Parameter names, spelled as PSMA spells them (note the two blanks in the last password).
SCHEMA_SCRIPT = "Schema Script"
USERNAME = "Username"
PASSWORD = "Password"
AUX_USERNAME = "Username (auxiliary)"
AUX_PASSWORD = "Password (auxiliary)"
IMPERSONATE_DOMAIN = "Domain (impersonate)"
IMPERSONATE_USERNAME = "Username (impersonate)"
IMPERSONATE_PASSWORD = "Password  (impersonate)"
POWERSHELL_VERSION = "PowerShell Version"
PWSH_PATH = "PowerShell 7 Executable Path"
CONFIGURATION = "Configuration parameters"
IMPORT_SCRIPT = "Import Script"
EXPORT_SCRIPT = "Export Script"
PAGED_IMPORT = "Use paged import"
PASSWORD_SCRIPT = "Password Management Script"
EXPORT_SIMPLE = "Export simple objects"

_V5 = (
    label("connectivity", SCHEMA_LABEL),
    string("connectivity", SCHEMA_SCRIPT, "c:\\temp\\schema.ps1"),
    divider("connectivity"),
    label("connectivity", AUTH_LABEL),
    string("connectivity", USERNAME),
    secret("connectivity", PASSWORD),
    divider("connectivity"),
    label(
        "connectivity",
        "Impersonation (optional): If username and password below are specified (domain optional), the specified "
        "user is used to run all scripts. If not specified,  the scripts are run in the security context of the FIM "
        "Synchronization Service service account.",
    ),
    string("connectivity", IMPERSONATE_DOMAIN),
    string("connectivity", IMPERSONATE_USERNAME),
    secret("connectivity", IMPERSONATE_PASSWORD),
    label("global", "Scripts"),
    label("global", SCRIPTS_LABEL),
    string("global", IMPORT_SCRIPT, "c:\\temp\\import.ps1"),
    string("global", EXPORT_SCRIPT, "c:\\temp\\export.ps1"),
    checkbox("global", PAGED_IMPORT, "0"),
    divider("global"),
    label("global", PASSWORD_LABEL),
    string("global", PASSWORD_SCRIPT, "c:\\temp\\password.ps1"),
    divider("global"),
    label("global", SIMPLE_LABEL),
    checkbox("global", EXPORT_SIMPLE, "1"),
)

_V6 = (
    label("connectivity", SCHEMA_LABEL),
    string("connectivity", SCHEMA_SCRIPT),
    divider("connectivity"),
    label("connectivity", AUTH_LABEL),
    string("connectivity", USERNAME),
    secret("connectivity", PASSWORD),
    string("connectivity", AUX_USERNAME),
    secret("connectivity", AUX_PASSWORD),
    divider("connectivity"),
    label(
        "connectivity",
        "Impersonation (optional): If username and password below are specified (domain optional), the specified "
        "user is used to run all scripts. If not specified, the scripts are run in the security context of the FIM "
        "Synchronization Service service account.",
    ),
    label(
        "connectivity",
        "NOTE: Impersonation with PowerShell 7 is not implemented. If impersonation credentials are provided and "
        "PowerShell 7 is selected, the system will automatically fall back to Windows PowerShell 5.1 for impersonated "
        "operations. WARNING: Scripts with PowerShell 7-specific syntax will fail in Windows PowerShell 5.1.",
    ),
    string("connectivity", IMPERSONATE_DOMAIN),
    string("connectivity", IMPERSONATE_USERNAME),
    secret("connectivity", IMPERSONATE_PASSWORD),
    divider("connectivity"),
    label("connectivity", "PowerShell Engine Configuration: Select which PowerShell engine to use for script execution."),
    label(
        "connectivity",
        "PowerShell 7 provides better performance and modern features but impersonation is not implemented. When "
        "impersonation is required, the system automatically uses Windows PowerShell 5.1. Ensure scripts are "
        "compatible with both versions.",
    ),
    dropdown("connectivity", POWERSHELL_VERSION, ",".join(POWERSHELL_VERSIONS), POWERSHELL_VERSIONS[0]),
    string("connectivity", PWSH_PATH),
    divider("connectivity"),
    label("connectivity", CONFIGURATION_LABEL),
    text("connectivity", CONFIGURATION),
    label("global", "Scripts"),
    label("global", SCRIPTS_LABEL),
    string("global", IMPORT_SCRIPT),
    string("global", EXPORT_SCRIPT),
    checkbox("global", PAGED_IMPORT, "0"),
    divider("global"),
    label("global", PASSWORD_LABEL),
    string("global", PASSWORD_SCRIPT),
    divider("global"),
    label("global", SIMPLE_LABEL),
    checkbox("global", EXPORT_SIMPLE, "1"),
)

_DEFINITIONS: Mapping[str, tuple[ParameterDefinition, ...]] = {"5": _V5, "6": _V6}


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


def major(version: str) -> str:
    """The catalogue a version uses: "5" up to 5.5 ([PSMA14]: no auxiliary credentials, no
    Configuration parameters), "6" from 5.6 on ([PSMA25]). PSMA 5.6 added the auxiliary
    credentials and the Configuration parameters box (its history.txt); no real 5.6 export
    was available, so its pages are taken to be 6.x's less the PowerShell 7 choice, which
    MF280 warns about."""
    return "5" if version_tuple(version) < (5, 6) else "6"


def modelled(version: str) -> bool:
    """Whether the catalogue has this version's own pages: 5.5 and earlier, and 6.x."""
    return version_tuple(version) < (5, 6) or version_tuple(version) >= (6,)


def parameter_definitions(version: str) -> tuple[ParameterDefinition, ...]:
    """PSMA's parameter pages, in its order, for this assembly version."""
    return _DEFINITIONS[major(version)]


def defined_names(version: str) -> frozenset[str]:
    return frozenset(d.name for d in parameter_definitions(version) if d.name)


# Script slot → the PSMA parameter that holds its path, and the file name the build writes
# it under in DIR/scripts/ (the admin copies them to the server folder `psma.scriptFolder`).
SCRIPT_PARAMETERS: Mapping[str, str] = {
    "schema": SCHEMA_SCRIPT,
    "import": IMPORT_SCRIPT,
    "export": EXPORT_SCRIPT,
    "password": PASSWORD_SCRIPT,
}
SCRIPT_FILES: Mapping[str, str] = {
    "schema": "Schema.ps1",
    "import": "Import.ps1",
    "export": "Export.ps1",
    "password": "Password.ps1",
}
# Script slots of the Microsoft connector that PSMA has no place for.
SLOTS = frozenset(SCRIPT_PARAMETERS) | {"commonModule"}

# MIM's Extensions folder on a default install: PSMA's own samples keep each MA's scripts
# in a folder of their own there ([PSMA25] uses Extensions\PSMA7\). The MA name is appended.
DEFAULT_FOLDER_ROOT = "C:\\Program Files\\Microsoft Forefront Identity Manager\\2010\\Synchronization Service\\Extensions"
# Where MIM keeps each MA's files on a default install (MaData\<MA name>), writable by the
# Synchronization Service account. The SPO scripts keep their log and import snapshots there
# (the DataFolder parameter): PSMA 6.0.1050 runs scripts in a process of their own, where
# MAUtils.MAFolder is not available (research notes on PSEngine.cs at 2e5a276).
DEFAULT_DATA_ROOT = "C:\\Program Files\\Microsoft Forefront Identity Manager\\2010\\Synchronization Service\\MaData"


@dataclass(frozen=True, slots=True)
class ConfigurationLine:
    """One ``Name=value`` line of "Configuration parameters"."""

    name: str
    value: str


def configuration_text(lines: tuple[ConfigurationLine, ...]) -> str:
    """The text box's value: one ``Name=value`` per line, in the given order (validation
    keeps ``=``, ``,`` and line breaks out of names and line breaks out of values)."""
    return "\n".join(f"{line.name}={line.value}" for line in lines)


def parse_configuration(text: str) -> list[ConfigurationLine]:
    """The lines of a "Configuration parameters" value as PSMA reads them into
    ``$ConfigurationParameter`` (MA.Parameters.cs, getConfigurationParameter, at 2e5a276):
    split at CR and LF, blank lines skipped; each line cut at the first ``=`` or ``,``; the
    name trimmed, the value kept as written; a line without a separator (or starting with
    one) is a name with an empty value. A repeated name keeps its first value."""
    result: list[ConfigurationLine] = []
    seen: set[str] = set()
    for raw in text.replace("\r", "\n").split("\n"):
        if not raw.strip():
            continue
        cuts = [i for i in (raw.find("="), raw.find(",")) if i >= 0]
        cut = min(cuts) if cuts else -1
        if cut > 0 and raw[:cut].strip():
            line = ConfigurationLine(raw[:cut].strip(), raw[cut + 1 :])
        elif cut > 0:
            continue  # a blank name: PSMA drops the line
        else:
            line = ConfigurationLine(raw.strip(), "")
        if line.name not in seen:
            seen.add(line.name)
            result.append(line)
    return result
