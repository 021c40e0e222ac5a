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


def _tag(diagnostic: Diagnostic, environment: str) -> Diagnostic:
    return Diagnostic(
        diagnostic.severity,
        diagnostic.code,
        f"in environment '{environment}': {diagnostic.message}",
        diagnostic.file,
        diagnostic.position,
        diagnostic.pointer,
    )


def check_file(path: Path, display: str | None = None, environments: Sequence[str] | None = None) -> FileReport:
    """Check one spec: the base, then each environment overlay (all of them unless
    ``environments`` names some). Problems an overlay shares with the base are reported once."""
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
    _, base_problems = _check_document(doc, None)
    report.diagnostics.extend(base_problems)
    if any(p.is_error for p in base_problems):
        return report
    known = available_environments(doc)
    wanted = list(known) if environments is None else list(environments)
    for name in wanted:
        if name not in known:
            raise UnknownEnvironment(f"{shown}: no environment '{name}' (defined: {', '.join(known) or 'none'})")
    seen = {(d.pointer, d.message, d.position) for d in base_problems}
    for name in wanted:
        _, problems = _check_document(apply_environment(doc, name), name)
        for problem in problems:
            if (problem.pointer, problem.message, problem.position) not in seen:
                seen.add((problem.pointer, problem.message, problem.position))
                report.diagnostics.append(_tag(problem, name))
    return report


def load_spec(path: Path, environment: str | None = None, display: str | None = None) -> tuple[ConnectorSpec, list[Diagnostic]]:
    """The model of a valid spec (with ``environment`` applied) and its warnings.

    Raises :class:`SpecError` with every error when the spec is invalid,
    :class:`UnreadableFile` when it cannot be read, :class:`UnknownEnvironment`."""
    shown = display or str(path)
    doc = load_document(path, shown)
    if environment is not None:
        if environment not in available_environments(doc):
            known = ", ".join(available_environments(doc)) or "none"
            raise UnknownEnvironment(f"{shown}: no environment '{environment}' (defined: {known})")
        problems = check_schema(doc)
        if any(p.is_error for p in problems):
            raise SpecError(problems)
        doc = apply_environment(doc, environment)
    spec, problems = _check_document(doc, environment)
    errors = [p for p in problems if p.is_error]
    if spec is None or errors:
        raise SpecError(sorted(errors, key=Diagnostic.sort_key))
    return spec, [p for p in problems if not p.is_error]
