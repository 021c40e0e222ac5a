"""`maforge build`: a spec → the files an admin imports and reviews.

One call renders everything in memory (scripts, MA export, admin notes), checks that the
XML reads back, and only then replaces the output folder in one step. Adding an output (the
native Python runtime, later) means adding an entry to :func:`render_outputs`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from maforge import __version__
from maforge.atomic import replace_directory
from maforge.templates import environment

from .csharp.extension import FOLDER as EXTENSION_FOLDER
from .csharp.extension import extension_files, written_by_hand
from .mim.capabilities import capability_numbers
from .identity import ma_id
from .mim.maexport import ScriptedRule, emit_ma_export
from .mim.mimxml import write_export_ma
from . import psma
from .mim import psmapages
from .model import AuthMethod, ConnectorSpec, ConnectorTarget, ConnectorType
from .python.emit import package_files
from .powershell.scriptset import script_set


@dataclass(frozen=True, slots=True)
class SecretToSet:
    name: str
    page: str
    reference: str | None
    # None: the MA uses the value on every run, so it must be typed in. Otherwise the
    # condition under which it is used; until then it may stay empty.
    only_if: str | None = None


@dataclass(frozen=True, slots=True)
class ExtensionWritten:
    """The rules extension a build wrote (csharp/extension.py)."""

    dll: str
    folder: str
    by_hand: int  # members the admin writes in another file of the class


@dataclass(frozen=True, slots=True)
class BuildResult:
    files: dict[str, str]  # relative path → text
    xml_name: str
    scripted_rules: tuple[ScriptedRule, ...]
    extension: ExtensionWritten | None = None


def export_file_name(spec: ConnectorSpec) -> str:
    """`<ma-name>.xml`, with characters Windows refuses in file names replaced."""
    safe = re.sub(r'[<>:"/\\|?*\x00-\x1f]', "_", spec.name).strip(" .") or "management-agent"
    return f"{safe}.xml"


def password_only_if(spec: ConnectorSpec) -> str | None:
    """When the Connectivity page's Password is used, or None when it always is.

    The PowerShell connector hands User and Password to the scripts and, with Impersonate
    Connector Account, runs them as that account. maforge's SharePoint scripts read the
    password only in `AuthMode` Password (common.psm1); a user's own scripts may read it on
    every run. The README states this once, so its steps cannot disagree about it."""
    psma_target = spec.connector is ConnectorTarget.PSMA
    if spec.type is not ConnectorType.SPO_USER_PROFILES or (spec.connectivity.impersonate and not psma_target):
        return None
    auth = spec.sharepoint.auth if spec.sharepoint else None
    if auth is not None and auth.method is AuthMethod.PASSWORD:
        return None
    if psma_target:  # PSMA impersonates with its own account (psma.impersonate)
        return "`AuthMode` is switched to `Password`"
    return "`AuthMode` is switched to `Password` or Impersonate Connector Account is turned on"


@dataclass(frozen=True, slots=True)
class PsmaScript:
    """A script file PSMA runs: where the build wrote it and which MA parameter points at it."""

    parameter: str
    file: str | None  # under scripts/; None when the spec names only its server path
    server_path: str


def psma_scripts(spec: ConnectorSpec, written: dict[str, str]) -> list[PsmaScript]:
    """Each PSMA script parameter with the file the admin copies (slot → file name in ``written``)."""
    paths = psmapages.script_paths(spec, frozenset(written))
    return [PsmaScript(psma.SCRIPT_PARAMETERS[slot], written.get(slot), path) for slot, path in paths.items()]


def secrets_to_set(spec: ConnectorSpec) -> list[SecretToSet]:
    """Values the export leaves empty that the admin must set after importing it."""
    if spec.connector is ConnectorTarget.PSMA:
        return [SecretToSet(name, "Connectivity", reference, password_only_if(spec) if name == psma.PASSWORD else None) for name, reference in psmapages.secrets_to_type(spec)]
    secrets = []
    if spec.connectivity.password is not None or spec.connectivity.user:
        secrets.append(SecretToSet("Password", "Connectivity", spec.connectivity.password, password_only_if(spec)))
    for parameter in spec.parameters:
        if parameter.encrypted:
            secrets.append(SecretToSet(f"{parameter.name}_Global", "Global Parameters", parameter.value))
    return secrets


def render_outputs(spec: ConnectorSpec, source: str) -> BuildResult:
    """Every file of the build, in memory."""
    scripts = script_set(spec)
    script_files = scripts.files()
    written = {slot: scripts.file_name(slot) for slot in scripts.texts if slot in psma.SCRIPT_PARAMETERS}
    if spec.connector is ConnectorTarget.PSMA and psmapages.needs_password_placeholder(spec, frozenset(scripts.texts)):
        written["password"] = psma.SCRIPT_FILES["password"]
        script_files[written["password"]] = environment().get_template("build/psma-password.ps1.j2").render(spec=spec, version=__version__)
    export = emit_ma_export(spec, scripts.texts)
    xml_text = write_export_ma(export.tree)
    # Read it back the way MIM will: a serialisation bug must fail the build, not the import.
    etree.fromstring(xml_text.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True))
    xml_name = export_file_name(spec)
    files = {xml_name: xml_text}
    for name, text in script_files.items():
        files[f"scripts/{name}"] = text
    extension = extension_files(spec, source)
    by_hand = written_by_hand(spec) if extension else []
    notes = environment().get_template("build/README.md.j2").render(
        spec=spec,
        version=__version__,
        source=Path(source).name,
        xml_name=xml_name,
        ma_id=ma_id(spec),
        numbers=capability_numbers(spec.capabilities),
        secrets=secrets_to_set(spec),
        scripted=export.scripted_rules,
        extra_notes=_connector_notes(spec, secrets_to_set(spec)),
        extension_folder=EXTENSION_FOLDER if extension else None,
        extension_by_hand=by_hand,
        psma_scripts=psma_scripts(spec, written) if spec.connector is ConnectorTarget.PSMA else [],
        module_file=scripts.common_module if "commonModule" in scripts.texts else None,
    )
    files["README.md"] = notes
    files.update(extension)
    files.update(package_files(spec))
    written = ExtensionWritten(spec.mim.rules_extension.assembly, EXTENSION_FOLDER, len(by_hand)) if extension and spec.mim.rules_extension else None
    return BuildResult(files, xml_name, export.scripted_rules, written)


def _connector_notes(spec: ConnectorSpec, secrets: list[SecretToSet]) -> str:
    """Set-up notes particular to the connector type (the SPO scripts add theirs)."""
    from .model import ConnectorType

    if spec.type is ConnectorType.SPO_USER_PROFILES:
        from .powershell.sposcripts import admin_notes

        return admin_notes(spec, has_secrets=bool(secrets))
    return ""


def write_build(result: BuildResult, out: Path) -> None:
    """Replace ``out`` with the build's files in one step."""
    marker = json.dumps({"tool": "maforge", "version": __version__, "files": sorted(result.files)}, indent=2) + "\n"
    replace_directory(out, result.files, marker)
