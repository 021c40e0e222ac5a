"""Where an MA tree comes from for commands that accept either kind of input: an MA file
(read safely) or a spec (validated and built in memory)."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from ..build import render_outputs
from .decompile import ImportError_, read_ma_file
from ..diagnostics import SpecError
from ..loader import UnreadableFile, read_bytes
from .mimxml import MAX_MA_FILE_BYTES
from ..powershell.scriptset import ScriptError
from ..validate import UnknownEnvironment, load_spec


class SourceError(Exception):
    """The input is neither a readable MA file nor a valid spec."""


def is_ma_file(path: Path) -> bool:
    return path.suffix.lower() == ".xml"


def load_ma_tree(path: Path, environment: str | None = None) -> etree._Element:
    """The `<export-ma>` tree of an MA file or of a spec."""
    if is_ma_file(path):
        try:
            root, _ = read_ma_file(read_bytes(path, limit=MAX_MA_FILE_BYTES, what="an MA file"), str(path))
        except (UnreadableFile, ImportError_) as error:
            raise SourceError(str(error)) from None
        return root
    try:
        spec, _ = load_spec(path, environment, str(path))
        result = render_outputs(spec, path.name)
    except (UnreadableFile, UnknownEnvironment, ScriptError) as error:
        raise SourceError(str(error)) from None
    except SpecError as error:
        raise SourceError(f"{path} is not a valid spec:\n" + "\n".join(d.format() for d in error.diagnostics)) from None
    return etree.fromstring(result.files[result.xml_name].encode("utf-8"))
