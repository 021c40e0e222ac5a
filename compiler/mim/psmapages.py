"""The parts of an MA export that are PSMA's own (`connector: psma`): its parameter pages
and values, its extension and password configuration. Everything else of the MA (schema,
rules, partitions, run profiles, metaverse flows) is written by :mod:`maexport` the same way
for both connectors.

The facts come from :mod:`maforge.compiler.psma` (the catalogue); the layout from the real
PSMA exports ([PSMA14], [PSMA25]).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from .. import psma
from ..model import ConnectorSpec, ConnectorTarget, PsmaSettings
from ..psconnector import ParameterDefinition
from .capabilities import capability_numbers
from .mimxml import sub


@dataclass(frozen=True, slots=True)
class PsmaValue:
    name: str
    type: str
    use: str
    value: str
    encrypted: bool = False


def settings(spec: ConnectorSpec) -> PsmaSettings:
    if spec.connector is not ConnectorTarget.PSMA or spec.psma is None:
        raise ValueError("not a PSMA spec")
    return spec.psma


def targets_psma(ma: etree._Element) -> bool:
    """Whether an MA export's ``ma-data`` runs on PSMA: its DLL is named in extension-config
    (the subtype "PowerShell" alone is only the packaged template's list name)."""
    return (ma.findtext("category") or "").strip() == psma.CATEGORY and (
        ma.findtext("private-configuration/MAConfig/extension-config/filename") or ""
    ).strip() == psma.ASSEMBLY


def script_paths(spec: ConnectorSpec, slots: set[str] | frozenset[str]) -> dict[str, str]:
    """Script slot → the server path its PSMA parameter holds, for the slots the MA has.

    A slot has a path when the build writes its script (``slots``) or the spec names its
    server path in ``psma.paths`` (an imported MA whose scripts live only on the server).
    The Password Management Script always has one: PSMA refuses to save an MA whose script
    paths do not resolve (error 0x80230703, PSMA issue #11), so without a script of the
    spec's the build ships a placeholder there (needs_password_placeholder)."""
    config = settings(spec)
    result = {}
    for slot in psma.SCRIPT_PARAMETERS:
        if slot in slots or slot in config.paths or slot == "password":
            result[slot] = config.script_path(slot, psma.SCRIPT_FILES[slot])
    return result


def needs_password_placeholder(spec: ConnectorSpec, slots: set[str] | frozenset[str]) -> bool:
    """Whether the build writes the placeholder Password.ps1 (see script_paths): the script
    set has no password script and the spec names none on the server."""
    return "password" not in slots and "password" not in settings(spec).paths


def password_management(spec: ConnectorSpec) -> bool:
    """Whether the MA's password management is on (psma.passwordManagement). It is the
    admin's choice, independent of the script: [PSMA14] has it on, [PSMA25] names a
    password script with it off."""
    return settings(spec).password_management


def configuration_lines(spec: ConnectorSpec) -> tuple[psma.ConfigurationLine, ...]:
    """The "Configuration parameters" lines: every parameter the spec declares (the SPO
    scripts' own first), as ``Name=value``."""
    return tuple(psma.ConfigurationLine(p.name, p.value or "") for p in spec.parameters)


def parameter_definitions(spec: ConnectorSpec) -> tuple[ParameterDefinition, ...]:
    return psma.parameter_definitions(spec.mim.connector_version)


def parameter_values(spec: ConnectorSpec, slots: set[str] | frozenset[str]) -> list[PsmaValue]:
    """The values MIM stores, grouped as it writes them: the encrypted ones that were set
    (always empty in an export), then connectivity, then global, each in PSMA's order.

    PSMA writes an encrypted value only once it has been set ([PSMA25] has Password but not
    the auxiliary or impersonation password): maforge writes one wherever its user is named
    (or its secret reference given), and the build's README says to type it."""
    config = settings(spec)
    conn = spec.connectivity
    paths = script_paths(spec, slots)
    impersonation = config.impersonation
    values = {
        psma.SCHEMA_SCRIPT: paths.get("schema", ""),
        psma.USERNAME: conn.user or "",
        psma.AUX_USERNAME: config.auxiliary_user or "",
        psma.IMPERSONATE_DOMAIN: (impersonation.domain if impersonation else None) or "",
        psma.IMPERSONATE_USERNAME: (impersonation.user if impersonation else None) or "",
        psma.POWERSHELL_VERSION: psma.POWERSHELL_VERSIONS[1] if config.powershell == "7" else psma.POWERSHELL_VERSIONS[0],
        psma.PWSH_PATH: config.pwsh_path or "",
        psma.CONFIGURATION: psma.configuration_text(configuration_lines(spec)),
        psma.IMPORT_SCRIPT: paths.get("import", ""),
        psma.EXPORT_SCRIPT: paths.get("export", ""),
        psma.PAGED_IMPORT: "1" if config.paged_import else "0",
        psma.PASSWORD_SCRIPT: paths.get("password", ""),
        psma.EXPORT_SIMPLE: "1" if config.export_simple_objects else "0",
    }
    secrets_set = {name for name, _ in secrets_to_type(spec)}
    definitions = [d for d in parameter_definitions(spec) if d.name]
    encrypted = [PsmaValue(d.name, d.type, d.use, "", True) for d in definitions if d.type == "encrypted-string" and d.name in secrets_set]
    plain = [PsmaValue(d.name, d.type, d.use, values.get(d.name, "")) for d in definitions if d.type != "encrypted-string" and d.use == "connectivity"]
    plain += [PsmaValue(d.name, d.type, d.use, values.get(d.name, "")) for d in definitions if d.type != "encrypted-string" and d.use == "global"]
    return encrypted + plain


def secrets_to_type(spec: ConnectorSpec) -> list[tuple[str, str | None]]:
    """(parameter, secret reference) for every encrypted value the admin types after the import."""
    config = settings(spec)
    result = []
    if spec.connectivity.password is not None or spec.connectivity.user:
        result.append((psma.PASSWORD, spec.connectivity.password))
    if config.auxiliary_password is not None or config.auxiliary_user:
        result.append((psma.AUX_PASSWORD, config.auxiliary_password))
    if config.impersonation is not None:
        result.append((psma.IMPERSONATE_PASSWORD, config.impersonation.password))
    return result


def password_extension(node: etree._Element, spec: ConnectorSpec) -> None:
    """password-extension-config's children: PSMA's DLL is named whether or not management
    is on ([PSMA14], [PSMA25])."""
    sub(node, "password-extension-enabled", "1" if password_management(spec) else "0")
    sub(node, "dll", psma.ASSEMBLY, {"data-owner": "ISV"})
    sub(node, "password-set-enabled", "1")
    sub(node, "password-change-enabled", "1")
    info = sub(node, "connection-info")
    sub(info, "connect-to", "")
    sub(info, "user", "")
    sub(node, "timeout", "0")


def extension_config(node: etree._Element, spec: ConnectorSpec) -> None:
    """extension-config's children in the order and with the values PSMA's DLL reports."""
    major = psma.major(spec.mim.connector_version)
    numbers = capability_numbers(spec.capabilities)
    sub(node, "filename", psma.ASSEMBLY, {"data-owner": "ISV"})
    sub(node, "import-default-page-size", str(psma.IMPORT_DEFAULT_PAGE_SIZE))
    sub(node, "import-max-page-size", str(psma.IMPORT_MAX_PAGE_SIZE))
    sub(node, "export-default-page-size", str(psma.EXPORT_DEFAULT_PAGE_SIZE))
    sub(node, "export-max-page-size", str(psma.EXPORT_MAX_PAGE_SIZE[major]))
    sub(node, "export-mode", "call-based", {"data-owner": "ISV"})
    sub(node, "import-mode", "call-based")
    sub(node, "export-enabled", "1", {"data-owner": "ISV"})
    sub(node, "import-enabled", "1", {"data-owner": "ISV"})
    sub(node, "capability-bits", numbers.bits_text)
    sub(node, "export-type", str(numbers.export_type))
    # PSMA discovers the schema (its Schema script), not partitions or a hierarchy.
    sub(node, "discovery-partition", "")
    sub(node, "discovery-schema", "extensibility")
    sub(node, "discovery-hierarchy", "")
    sub(node, "password-management-enabled", "1")
    sub(node, "assembly-version", spec.mim.connector_version)
    if major != "5":  # FIM 2010 R2-era files lack it ([PSMA14])
        sub(node, "supports-parameters-ex", "0")
