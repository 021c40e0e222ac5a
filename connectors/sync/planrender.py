"""Showing a plan to a person: per profile and property, `+` set, `~` change, `-` clear with
before → after, the problems that keep things out of it, and the one-line summary."""

from __future__ import annotations

import json
from typing import Any

from .plan import SYMBOLS, Plan
from .planner import Preview

MAX_TEXT = 80
_encode_text = json.encoder.encode_basestring  # what json.dumps(text, ensure_ascii=False) returns


def _json(value: Any) -> str:
    """json.dumps(value, ensure_ascii=False); for text, json's C quoting alone, without the
    encoder json.dumps sets up per call: 0.11 µs instead of 1.97 µs (timeit), for each of the
    850,000 values a 100,000-row plan shows."""
    return _encode_text(value) if type(value) is str else json.dumps(value, ensure_ascii=False)


def _show(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "(empty)"
    if isinstance(value, list):
        return "[" + ", ".join([_json(v) for v in value]) + "]"
    shown = _json(value)
    return shown if len(shown) <= MAX_TEXT else shown[: MAX_TEXT - 2] + '…"'


def summary_line(plan: Plan) -> str:
    counts = plan.counts()
    return f"Plan: {counts['set']} to set, {counts['change']} to change, {counts['clear']} to clear; {plan.unchanged} profiles unchanged"


def render_text(plan: Plan, *, color: bool = False) -> str:
    paint = {"+": "\x1b[32m", "~": "\x1b[33m", "-": "\x1b[31m"} if color else {}
    reset = "\x1b[0m" if color else ""
    lines = [
        f"maforge plan for {plan.connector} on tenant {plan.tenant}"
        + (" (current values read from SharePoint)" if plan.refreshed else " (current values from the last import snapshot)"),
        "",
    ]
    for profile in plan.profiles:
        lines.append(f"  {profile.account}  ({profile.origin})")
        width = max(len(c.property) for c in profile.changes)
        for change in profile.changes:
            symbol = SYMBOLS[change.action]
            if change.action == "set":
                detail = _show(change.after)
            elif change.action == "clear":
                detail = f"{_show(change.before)} → (cleared)"
            else:
                detail = f"{_show(change.before)} → {_show(change.after)}"
            lines.append(f"    {paint.get(symbol, '')}{symbol} {change.property.ljust(width)}{reset}  {detail}")
        lines.append("")
    lines += _join_lines(plan)
    if plan.problems:
        lines.append(f"Not in this plan ({len(plan.problems)}):")
        for problem in plan.problems:
            lines.append(f"  ! {problem['kind']}: {problem['subject']}: {problem['detail']}")
        lines.append("")
    if plan.warnings:
        lines += _warning_lines(plan)
        lines.append("")
    if not plan.profiles:
        lines.append("No changes: SharePoint matches the sources.")
    lines.append(summary_line(plan))
    return "\n".join(lines) + "\n"


def _warning_lines(plan: Plan) -> list[str]:
    """Warnings, each kind once. The same property warnings came back on every plan, changes or
    none (14 lines for the sample), and hid the one that matters: a kind with several
    subjects is one line naming them, and a warning is in full only where this plan changes
    its property. `--format json` always has every warning in full."""
    changed = {change.property.casefold() for profile in plan.profiles for change in profile.changes}
    kinds: dict[str, list[dict[str, str]]] = {}
    for warning in plan.warnings:
        kinds.setdefault(warning["kind"], []).append(warning)
    lines = [f"Warnings ({len(plan.warnings)}; in full with --format json):"]
    for kind, warnings in kinds.items():
        if len(warnings) == 1:
            [warning] = warnings
            lines.append(f"  * {kind}: {warning['subject']}: {warning['detail']}")
            continue
        lines.append(f"  * {kind}: {', '.join(w['subject'] for w in warnings)}")
        lines += [f"      {w['subject']} (changed by this plan): {w['detail']}" for w in warnings if w["subject"].casefold() in changed]
    return lines


SHOWN_JOINS = 20  # new joins listed one by one; the plan's JSON lists them all


def _join_lines(plan: Plan) -> list[str]:
    """The join state's changes (links.py): leavers, disconnections, new joins."""
    lines: list[str] = []
    if plan.leavers:
        lines.append(f"Leavers ({len(plan.leavers)}): their values are recalled; flows with whenNull: clear clear them")
        for leaver in plan.leavers:
            rows = ", ".join(leaver["rows"])
            if leaver["deleted"]:
                lines.append(f"  < {leaver['person']}: {rows} left; the profile {leaver['account']} stays joined (MIM deletes the person with its last connector)")
            else:
                lines.append(f"  < {leaver['person']}: {rows} left; joined to {leaver['account']}")
        lines.append("")
    disconnected = [j for j in plan.joins if j["action"] == "disconnect"]
    if disconnected:
        lines.append(f"Disconnections ({len(disconnected)}): nothing is written to these profiles")
        for change in disconnected:
            lines.append(f"  x {change['person']} from {change['account']}: {change['reason']}")
        lines.append("")
    joined = [j for j in plan.joins if j["action"] == "join"]
    if joined:
        lines.append(f"Joins ({len(joined)}), kept in the join state when this plan is applied:")
        for change in joined[:SHOWN_JOINS]:
            lines.append(f"  = {change['person']} → {change['account']} ({change['reason']})")
        if len(joined) > SHOWN_JOINS:
            lines.append(f"  … and {len(joined) - SHOWN_JOINS:,} more (the plan's JSON lists them all)")
        lines.append("")
    return lines


def _marker(value: Any) -> str:
    from .values import CLEAR, IGNORE

    if value is CLEAR:
        return "AuthoritativeNull()"
    if value is IGNORE:
        return "IgnoreThisFlow()"
    return _show(value)


def render_preview(preview: Preview) -> str:
    """`maforge preview`: where the user's values come from and what each flow makes of them."""
    lines = [f"maforge preview for {preview.user}" + (f" ({preview.account})" if preview.account else "")]
    if preview.origins:
        lines.append(f"  from: {'; '.join(preview.origins)}")
    if preview.note:
        lines.append(f"  note: {preview.note}")
    if preview.metaverse:
        lines.append("")
        lines.append("  metaverse values:")
        width = max(len(k) for k in preview.metaverse)
        for name in sorted(preview.metaverse):
            lines.append(f"    {name.ljust(width)}  {_marker(preview.metaverse[name])}")
    if preview.flows:
        lines.append("")
        lines.append("  export flows:")
        width = max(len(f.property) for f in preview.flows)
        for flow in preview.flows:
            symbol = SYMBOLS.get(flow.outcome, " ")
            if flow.outcome in ("set", "change"):
                result = f"{_show(flow.current)} → {_show(flow.after)}"
            elif flow.outcome == "clear":
                result = f"{_show(flow.current)} → (cleared)"
            elif flow.outcome == "unchanged":
                result = "SharePoint holds the same"
            else:
                result = f"{flow.outcome}; SharePoint holds {_show(flow.current)}"
            lines.append(f"    {symbol} {flow.property.ljust(width)}  {flow.flow}  [whenNull: {flow.when_null}]")
            lines.append(f"      {''.ljust(width)}  gives {_marker(flow.computed)}; {result}")
    return "\n".join(lines) + "\n"
