"""The PowerShell scripts of a connector, slot by slot: read from the user's files for
`type: powershell`, generated from templates for `type: spo-user-profiles`.

Text is returned with LF line breaks: an XML reader turns CRLF into LF anyway, so this is
the text MIM will hold, and builds stay byte-identical whichever way a file was checked out.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import psma
from ..model import ConnectorSpec, ConnectorTarget, ConnectorType

# Where each slot's text is written beside the MA export, for review and diff (the
# "PowerShell (Microsoft)" connector; Granfeldt's PSMA runs its scripts from files named as
# psma.SCRIPT_FILES says).
SCRIPT_FILES = {
    "validation": "validation.ps1",
    "schema": "schema.ps1",
    "partition": "partition.ps1",
    "hierarchy": "hierarchy.ps1",
    "partitionValidation": "partition-validation.ps1",
    "beginImport": "begin-import.ps1",
    "import": "import.ps1",
    "endImport": "end-import.ps1",
    "beginExport": "begin-export.ps1",
    "export": "export.ps1",
    "endExport": "end-export.ps1",
    "beginPassword": "begin-password.ps1",
    "password": "password.ps1",
    "endPassword": "end-password.ps1",
}


class ScriptError(Exception):
    """A script file that cannot be read, or a generated script that cannot be rendered."""


@dataclass(frozen=True, slots=True)
class ScriptSet:
    texts: dict[str, str]  # slot → text (LF line breaks)
    common_module: str  # the module's file name
    connector: ConnectorTarget = ConnectorTarget.MICROSOFT  # which connector runs them

    def file_name(self, slot: str) -> str:
        """The file a slot's text is written to: the module under its own name; for PSMA the
        names its script parameters point at (psma.SCRIPT_FILES), which the PSMA scripts also
        use to find the module beside them."""
        if slot == "commonModule":
            return self.common_module
        if self.connector is ConnectorTarget.PSMA and slot in psma.SCRIPT_FILES:
            return psma.SCRIPT_FILES[slot]
        return SCRIPT_FILES[slot]

    def files(self) -> dict[str, str]:
        """File name → text, as written to the build's scripts/ folder."""
        return {self.file_name(slot): text for slot, text in self.texts.items()}


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff")


def module_file_name(spec: ConnectorSpec) -> str:
    """The common module's file name (the PSMA scripts load it by this name from their folder)."""
    return spec.connectivity.common_module or "common.psm1"


def script_set(spec: ConnectorSpec) -> ScriptSet:
    """Every non-empty script slot of ``spec``."""
    module = module_file_name(spec)
    if spec.type is ConnectorType.OTHER:
        return ScriptSet({}, module, spec.connector)  # another connector's configuration is carried as it is
    if spec.type is ConnectorType.POWERSHELL:
        texts = {}
        for script in spec.scripts:
            try:
                texts[script.slot] = _normalise(script.path.read_bytes().decode("utf-8"))
            except (OSError, UnicodeDecodeError) as error:
                raise ScriptError(f"{script.loc}: cannot read script file '{script.written}': {error}") from None
        return ScriptSet(texts, module, spec.connector)
    from .sposcripts import render_spo_scripts

    return ScriptSet({slot: _normalise(text) for slot, text in render_spo_scripts(spec).items()}, module, spec.connector)
