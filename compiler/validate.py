"""The front of the pipeline in one call: load → (environment overlay) → JSON Schema →
model → semantic rules. ``maforge validate`` prints what :func:`check_file` finds; every
other command gets its model from :func:`load_spec`, which refuses an invalid spec with
the same diagnostics.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .diagnostics import Diagnostic, FileReport, SpecError
from .loader import Document, UnreadableFile, load_document
from .model import ConnectorSpec
from .modelbuilder import build_model
from .overlay import apply_environment, available_environments
from .rules import run_rules
from .schema_check import check_schema


class UnknownEnvironment(Exception):
    """``--env NAME`` names an environment the spec does not define."""


def _check_document(doc: Document, environment: str | None) -> tuple[ConnectorSpec | None, list[Diagnostic]]:
    problems = check_schema(doc)
    if any(p.is_error for p in problems):
        return None, problems
    spec, built = build_model(doc, environment)
    problems += built
    problems += run_rules(spec, doc)
    return spec, problems


def _in_environment(diagnostic: Diagnostic, doc: Document, environment: str) -> Diagnostic:
    """Name the environment, and point at where the value is written (the overlay's
    key for values the overlay supplied)."""
    pointer = doc.written_at(diagnostic.pointer) if diagnostic.pointer is not None else None
    return Diagnostic(
        diagnostic.severity,
        diagnostic.code,
        f"in environment '{environment}': {diagnostic.message}",
        diagnostic.file,
        diagnostic.position,
        pointer,
    )


def _check_environment(doc: Document, environment: str) -> tuple[ConnectorSpec | None, list[Diagnostic]]:
    """The merged spec of one environment: the base need not be complete on its own."""
    if environment not in available_environments(doc):
        known = ", ".join(available_environments(doc)) or "none"
        raise UnknownEnvironment(f"{doc.display}: no environment '{environment}' (defined: {known})")
    try:
        merged = apply_environment(doc, environment)
    except TypeError:
        return None, [p for p in check_schema(doc) if p.is_error]
    spec, problems = _check_document(merged, environment)
    return spec, [_in_environment(p, merged, environment) for p in problems]


def check_file(path: Path, display: str | None = None, environments: Sequence[str] | None = None) -> FileReport:
    """Check one spec. Without ``environments``: the base spec and every overlay (problems
    an overlay shares with the base are reported once). With them: only those merged
    specs, so a base that is complete only with an overlay is fine."""
    shown = display or str(path)
    report = FileReport(shown)
    try:
        doc = load_document(path, shown)
    except UnreadableFile as error:
        report.readable = False
        report.diagnostics.append(Diagnostic.unreadable(shown, str(error)))
        return report
    except SpecError as error:
        report.diagnostics.extend(error.diagnostics)
        return report
    seen: set[tuple[str | None, str, object]] = set()

    def add(problems: list[Diagnostic]) -> None:
        for problem in problems:
            marker = (problem.pointer, problem.message.split(": ", 1)[-1] if problem.message.startswith("in environment") else problem.message, problem.position)
            if marker not in seen:
                seen.add(marker)
                report.diagnostics.append(problem)

    if environments is None:
        _, base_problems = _check_document(doc, None)
        add(base_problems)
        broken = {p.pointer.split("/")[2] for p in base_problems if p.is_error and (p.pointer or "").startswith("/environments/")}
        wanted = [name for name in available_environments(doc) if name not in broken] if isinstance(doc.data, dict) else []
    else:
        wanted = list(environments)
    for name in wanted:
        try:
            _, problems = _check_environment(doc, name)
        except UnknownEnvironment as error:
            report.readable = False
            report.diagnostics.append(Diagnostic.unreadable(shown, str(error)))
            continue
        add(problems)
    return report


def load_spec(path: Path, environment: str | None = None, display: str | None = None) -> tuple[ConnectorSpec, list[Diagnostic]]:
    """The model of a valid spec (with ``environment`` merged in) and its warnings; the
    same checks `maforge validate --env` makes.

    Raises :class:`SpecError` with every error when the spec is invalid,
    :class:`UnreadableFile` when it cannot be read, :class:`UnknownEnvironment`."""
    shown = display or str(path)
    doc = load_document(path, shown)
    if environment is None:
        spec, problems = _check_document(doc, None)
    else:
        spec, problems = _check_environment(doc, environment)
    errors = [p for p in problems if p.is_error]
    if spec is None or errors:
        raise SpecError(sorted(errors, key=Diagnostic.sort_key))
    return spec, [p for p in problems if not p.is_error]
