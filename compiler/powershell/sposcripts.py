"""The PowerShell script set of a `spo-user-profiles` connector, rendered from templates/spo
and templates/psma.

One description of the SharePoint Online work (settings, HTTP, throttling and pacing,
tokens, profiles, the import enumeration with its paging, snapshot and watermark, and the
export mapping with its error rules) is the common module, templates/spo/common.psm1.j2. It
is connector-neutral: it renders byte-identically for the same spec whichever connector the
spec targets. Each target's entry scripts are thin adapters between their connector's
objects and the module's neutral functions:

- ``connector: microsoft``: the "PowerShell (Microsoft)" connector's validation, schema,
  begin/import/end import and begin/export/end export (partition, hierarchy and password
  stay empty: the capabilities switch them off), templates/spo/. The contract the scripts
  follow is psconnector-script-contract.md §1-§6.
- ``connector: psma``: Granfeldt's PSMA's Schema, Import and Export scripts, templates/psma/,
  which load the module from the file beside them.

One rule matters more than the others: a script never reads a config parameter the MA does
not declare. Templates read parameters only through the ``config()`` helper below, which
takes the names from the same model (``spec.parameters`` and the connector's built-ins) that
writes "Additional Config Parameter Names" (for PSMA: the lines of "Configuration
parameters"), and refuses any other name at render time.
"""

from __future__ import annotations

import re

import jinja2

from maforge import __version__
from maforge.templates import environment

from .. import psconnector
from ..model import SPO_CLOUDS, Access, AttributeType, ConnectorSpec, ConnectorTarget
from .scriptset import ScriptError, module_file_name

# Slot → template of the "PowerShell (Microsoft)" set.
TEMPLATES: dict[str, str] = {
    "commonModule": "spo/common.psm1.j2",
    "validation": "spo/validation.ps1.j2",
    "schema": "spo/schema.ps1.j2",
    "beginImport": "spo/begin-import.ps1.j2",
    "import": "spo/import.ps1.j2",
    "endImport": "spo/end-import.ps1.j2",
    "beginExport": "spo/begin-export.ps1.j2",
    "export": "spo/export.ps1.j2",
    "endExport": "spo/end-export.ps1.j2",
}

# Slot → template of Granfeldt's PSMA set (psma.SCRIPT_FILES names the files). The common
# module is the same template: it does not know which connector runs it.
PSMA_TEMPLATES: dict[str, str] = {
    "commonModule": "spo/common.psm1.j2",
    "schema": "psma/schema.ps1.j2",
    "import": "psma/import.ps1.j2",
    "export": "psma/export.ps1.j2",
}

# The settings every run-time entry script reads and hands to the module's Initialize-MfRun,
# by the names the MA declares (spec.parameters; Server is the Microsoft connector's
# connectivity page, which PSMA does not have).
SETTING_NAMES = psconnector.SPO_GENERATED_PARAMETERS + tuple(psconnector.SPO_TUNABLE_PARAMETERS)

# The name of the one PowerShell function that reads $ConfigParameters (in common.psm1 and,
# for the design-time scripts that run without the module, inlined from the same include).
SETTING_FUNCTION = "Get-MfSetting"

# Built-in connector parameters that exist on every MA of this connector (connectivity,
# global and capabilities pages). Partition-page names exist only with partitions on.
_ALWAYS_DEFINED = frozenset(d.name for d in psconnector.CONNECTIVITY + psconnector.GLOBAL + psconnector.CAPABILITIES if d.name)

_SCHEMA_TYPES = {
    AttributeType.STRING: "String",
    AttributeType.INTEGER: "Integer",
    AttributeType.BOOLEAN: "Boolean",
    AttributeType.BINARY: "Binary",
    AttributeType.REFERENCE: "Reference",
}


def ps_string(value: object) -> str:
    """A PowerShell single-quoted string literal (no expansion; a quote is doubled)."""
    return "'" + str(value).replace("'", "''").replace("\u2018", "\u2018\u2018").replace("\u2019", "\u2019\u2019") + "'"


def scopes(spec: ConnectorSpec) -> tuple[str, ...]:
    """The pages a custom parameter is defined on for this MA, in lookup precedence:
    run step, then partition (only when the MA has the partition page), then global."""
    pages = ["run-step"]
    if spec.capabilities.partitions:
        pages.append("partition")
    pages.append("global")
    return tuple(pages)


def config_reader(spec: ConnectorSpec):
    """The ``config(name, raw=False)`` template helper for ``spec``.

    - A parameter of ``spec.parameters`` renders a call of ``Get-MfSetting`` with its scoped
      names in precedence order (``'MaxRetries_RunStep','MaxRetries_Global'``).
    - A built-in connector parameter renders a call with its plain name, or with ``raw=True``
      the bare ``$ConfigParameters['Name']`` element (used before the module is loaded).
    - Anything else is a template bug: rendering fails.
    """
    if spec.connector is ConnectorTarget.PSMA:
        return psma_config_reader(spec)
    declared = {p.name: p for p in spec.parameters}

    def config(name: str, raw: bool = False) -> str:
        if name in declared:
            if raw:
                raise ScriptError(f"template reads custom parameter '{name}' raw; use config('{name}')")
            names = ",".join(ps_string(psconnector.scoped_name(name, page)) for page in scopes(spec))
            secure = " -Secure" if declared[name].encrypted else ""
            return f"({SETTING_FUNCTION} $ConfigParameters {names}{secure})"
        if name in _ALWAYS_DEFINED:
            if raw:
                # Inline, for the prologue that runs before the module is loaded; a missing
                # name reads as '' (indexing it would throw KeyNotFoundException).
                quoted = ps_string(name)
                return (
                    f"$(if ($null -ne $ConfigParameters -and $ConfigParameters.Contains({quoted})) "
                    f"{{ [string]$ConfigParameters[{quoted}].Value }} else {{ '' }})"
                )
            return f"({SETTING_FUNCTION} $ConfigParameters {ps_string(name)})"
        raise ScriptError(
            f"a generated script reads config parameter '{name}', which this MA does not declare "
            f"(declared: {', '.join(sorted(declared))})"
        )

    return config


def psma_config_reader(spec: ConnectorSpec):
    """The ``config(name)`` template helper of the PSMA set: PSMA passes every script the
    lines of its "Configuration parameters" box as ``$ConfigurationParameter`` (a
    Dictionary[string,string], plain names, no scopes, nothing encrypted). Only the names of
    ``spec.parameters`` are lines of that box; anything else is a template bug."""
    declared = {p.name for p in spec.parameters}

    def config(name: str, raw: bool = False) -> str:
        if raw:
            raise ScriptError(f"the PSMA scripts have no raw read of '{name}'")
        if name not in declared:
            raise ScriptError(
                f"a generated script reads config parameter '{name}', which is no line of this MA's "
                f"\"Configuration parameters\" (declared: {', '.join(sorted(declared))})"
            )
        return f"({SETTING_FUNCTION} $ConfigurationParameter {ps_string(name)})"

    return config


def global_name_reader(spec: ConnectorSpec):
    """The ``global_name(name)`` template helper: the Global page name of a declared
    parameter, as a validation result names the offending field (not a read)."""
    declared = {p.name for p in spec.parameters}

    def global_name(name: str) -> str:
        if name not in declared:
            raise ScriptError(f"a generated script names config parameter '{name}', which this MA does not declare")
        return psconnector.scoped_name(name, "global")

    return global_name


def number_default(spec: ConnectorSpec, name: str) -> int:
    """The value the MA is built with for a whole-number tunable, clamped into its range: the
    common module's Initialize-MfRun falls back to it when the MA's value is blank or not a
    number, and holds the value to ``psconnector.SPO_NUMBER_RANGES`` (validation checks the
    same range)."""
    minimum, maximum = psconnector.SPO_NUMBER_RANGES[name]
    declared = spec.parameter(name)
    text = (declared.value if declared is not None else None) or psconnector.SPO_TUNABLE_PARAMETERS[name][0]
    try:
        value = int(str(text).strip())
    except ValueError:
        value = int(psconnector.SPO_TUNABLE_PARAMETERS[name][0])
    return min(max(value, minimum), maximum)


def _object_types(spec: ConnectorSpec) -> list[dict]:
    """What the templates need to know about each connector-space object type."""
    exported_by_type: dict[str, list[str]] = {}
    for flow_set in spec.export_flows:
        targets = exported_by_type.setdefault(flow_set.cs_object_type, [])
        targets.extend(f.target for f in flow_set.flows if f.target not in targets)
    result = []
    for object_type in spec.object_types:
        attributes = []
        for attribute in object_type.attributes:
            attributes.append(
                {
                    "name": attribute.name,
                    "type": _SCHEMA_TYPES[attribute.type],
                    "multi": attribute.multi_valued,
                    "operation": attribute.access.value,
                    "anchor": attribute.name in object_type.anchor,
                    "importable": attribute.access is not Access.EXPORT_ONLY,
                    "exportable": attribute.access is not Access.IMPORT_ONLY,
                }
            )
        exportable = [a["name"] for a in attributes if a["exportable"] and not a["anchor"]]
        # The attributes an object-level Replace manages (absent ones are cleared): those
        # the spec's export flows write; without export flows, every exportable attribute.
        managed = [n for n in exported_by_type.get(object_type.name, []) if n in exportable] or exportable
        result.append({"name": object_type.name, "anchor": list(object_type.anchor), "attributes": attributes, "managed": managed})
    return result


def _context(spec: ConnectorSpec) -> dict:
    object_types = _object_types(spec)
    config = config_reader(spec)
    psma_target = spec.connector is ConnectorTarget.PSMA
    return {
        "spec": spec,
        "version": __version__,
        "connector": spec.connector.value,
        "config": config,
        # Microsoft: the connectivity page's Server; PSMA: the data folder (psma.DEFAULT_DATA_ROOT).
        "setting_names": SETTING_NAMES + (("DataFolder",) if psma_target else ("Server",)),
        "number_default": lambda name: number_default(spec, name),
        "module_file": module_file_name(spec),
        "number_ranges": psconnector.SPO_NUMBER_RANGES,
        "global_name": global_name_reader(spec),
        "ps": ps_string,
        "object_types": object_types,
        # Profiles are users: import writes every profile as the first object type.
        "profile_type": object_types[0] if object_types else None,
        "dn_style": spec.capabilities.distinguished_name_style,
        "export_type": spec.capabilities.export_type,
        # sharepoint.cloud and its sign-in, Graph and SharePoint hosts (model.SPO_CLOUDS).
        "cloud_name": spec.sharepoint.cloud if spec.sharepoint else "global",
        "cloud": spec.sharepoint.hosts if spec.sharepoint else SPO_CLOUDS["global"],
        "tag": "maforge-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in spec.name).strip("-").lower(),
    }


def _tidy(text: str) -> str:
    """Template output without trailing blanks and runs of empty lines (the shared Jinja
    environment keeps block tags' line breaks; no script holds a here-string)."""
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).replace("(\n\n", "(\n").replace("\n\n)", "\n)")


def render_spo_scripts(spec: ConnectorSpec) -> dict[str, str]:
    """Slot → PowerShell text for every non-empty slot of a `spo-user-profiles` connector:
    the Microsoft connector's slots, or for ``connector: psma`` commonModule, schema, import
    and export (written as psma.SCRIPT_FILES).

    Script parameters carry no ``[Parameter()]`` attribute: one would make a script an
    advanced script, which refuses named arguments it does not declare."""
    env = environment()
    context = _context(spec)
    texts = {}
    templates = PSMA_TEMPLATES if spec.connector is ConnectorTarget.PSMA else TEMPLATES
    for slot, template in templates.items():
        try:
            texts[slot] = _tidy(env.get_template(template).render(**context))
        except jinja2.TemplateError as error:  # pragma: no cover - a template bug
            raise ScriptError(f"cannot render {template}: {error}") from error
    return texts


def admin_notes(spec: ConnectorSpec, *, has_secrets: bool = False) -> str:
    """Markdown set-up notes for the build's README.md (logging, certificate, permissions,
    importing the MA, delta strategy). Which secrets to type is said once, in the README's
    import steps; ``has_secrets`` only tells the notes whether to point there."""
    return environment().get_template("spo/admin-notes.md.j2").render(**_context(spec), has_secrets=has_secrets)
