"""Problems found in a spec, with the place they were found, and how they are printed.

Every stage (loader, schema check, semantic rules, expression parser) reports through
:class:`Diagnostic` so that one formatter prints them all the same way::

    samples/spo.yaml:12:7: error: unknown field 'anchr' (did you mean 'anchor'?) (at /schema/objectTypes/user)
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Position:
    """A 1-based line and column in a source file."""

    line: int
    col: int


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem. ``pointer`` is the RFC 6901 JSON pointer of the offending value
    (``None`` for problems that precede any structure, such as a YAML syntax error)."""

    severity: Severity
    code: str
    message: str
    file: str
    position: Position | None = None
    pointer: str | None = None

    @classmethod
    def unreadable(cls, file: str, message: str) -> "Diagnostic":
        """A file that could not be read at all (exit code 2, not 1)."""
        return cls(Severity.ERROR, "MF000", message.removeprefix(f"{file}: "), file)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str]:
        pos = self.position or Position(0, 0)
        return (self.file, pos.line, pos.col, self.message)

    def format(self) -> str:
        where = self.file
        if self.position is not None:
            where = f"{where}:{self.position.line}:{self.position.col}"
        text = f"{where}: {self.severity.value}: {self.message}"
        if self.pointer is not None:
            text += f" (at {self.pointer or '/'})"
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "file": self.file,
            "line": self.position.line if self.position else None,
            "column": self.position.col if self.position else None,
            "pointer": self.pointer,
        }


class SpecError(Exception):
    """Raised when a spec cannot be used; carries every diagnostic found."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n".join(d.format() for d in self.diagnostics))


@dataclass(slots=True)
class FileReport:
    """The outcome of checking one file."""

    file: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    readable: bool = True

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.is_error)

    @property
    def warnings(self) -> int:
        return sum(1 for d in self.diagnostics if not d.is_error)

    @property
    def valid(self) -> bool:
        return self.readable and self.errors == 0


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary_line(reports: Sequence[FileReport]) -> str:
    """The closing line of ``maforge validate``."""
    errors = sum(r.errors for r in reports)
    warnings = sum(r.warnings for r in reports)
    invalid = sum(1 for r in reports if not r.valid)
    counts = f"{plural(errors, 'error')}, {plural(warnings, 'warning')}"
    if len(reports) == 1:
        verdict = "valid" if reports[0].valid else "invalid"
        return f"{reports[0].file}: {verdict} ({counts})"
    return f"{plural(len(reports), 'file')} checked: {len(reports) - invalid} valid, {invalid} invalid ({counts})"


def reports_to_json(reports: Iterable[FileReport]) -> str:
    items = list(reports)
    return json.dumps(
        {
            "valid": all(r.valid for r in items),
            "files": [
                {
                    "file": r.file,
                    "valid": r.valid,
                    "errors": r.errors,
                    "warnings": r.warnings,
                    "diagnostics": [d.to_json() for d in sorted(r.diagnostics, key=Diagnostic.sort_key)],
                }
                for r in items
            ],
            "summary": {
                "files": len(items),
                "invalid": sum(1 for r in items if not r.valid),
                "errors": sum(r.errors for r in items),
                "warnings": sum(r.warnings for r in items),
            },
        },
        indent=2,
    )
