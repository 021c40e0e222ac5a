"""What the sign-in method means for writing profiles, said once for plan and apply.

SharePoint Online is reported to refuse writes to other users' profiles made with an Entra ID
delegated token (password or device-code sign-in), even for Global and SharePoint
administrators (pnp/powershell #612, #1396, #2153, #5262: "This operation requires you to be
managing your own data or have administrator privileges." or "Access denied. ..."), and
Microsoft documents only app-only access with a certificate for it. So a plan that writes other
users' profiles over a delegated connection carries a warning, and an apply whose writes keep
being refused stops with the same advice instead of failing every profile.
"""

from __future__ import annotations

from typing import Any

from maforge.connectors.spo.auth import APP_ONLY_GUIDE
from maforge.connectors.spo.people import CLAIMS_PREFIX

DELEGATED_METHODS = frozenset({"password", "device-code"})
DELEGATED_KIND = "delegated-sign-in"  # the plan warning's kind


def is_delegated(method: str) -> bool:
    return method in DELEGATED_METHODS


def rights_hint(method: str) -> str:
    """The next step when SharePoint refuses writes for want of rights, by sign-in method."""
    if is_delegated(method):
        return (
            f"SharePoint refuses writes to other users' profiles made with a delegated ({method}) sign-in, even for admins; "
            f"sign in app-only with a certificate instead: an app registration with the SharePoint application permission "
            f"User.ReadWrite.All, see {APP_ONLY_GUIDE}"
        )
    return (
        "give the app registration the SharePoint application permission User.ReadWrite.All "
        f"(and TermStore.ReadWrite.All for taxonomy-bound properties) with admin consent, see {APP_ONLY_GUIDE}"
    )


def _upn(account: str) -> str:
    return account.removeprefix(CLAIMS_PREFIX).rsplit("|", 1)[-1].lower()


def delegated_write_warning(method: str, username: str | None, accounts: list[str]) -> dict[str, Any] | None:
    """The plan warning for a delegated sign-in that would write other users' profiles, or
    None (app-only sign-in, or the plan only edits the signed-in user's own profile). With
    device code the signed-in user is not known in advance: every profile counts as another's."""
    if not is_delegated(method):
        return None
    own = (username or "").lower()
    others = sum(1 for account in accounts if _upn(account) != own)
    if not others:
        return None
    return {
        "kind": DELEGATED_KIND,
        "subject": method,
        "detail": f"the plan writes {others} other users' profile{'s' if others != 1 else ''}; {rights_hint(method)}",
    }


def warning_lines(warnings: list[dict[str, Any]]) -> list[str]:
    """The sign-in warnings of a plan, as the front ends print them to stderr."""
    return [f"warning: {w['detail']}" for w in warnings if w.get("kind") == DELEGATED_KIND]
