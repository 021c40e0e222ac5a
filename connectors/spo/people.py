"""PeopleManager, the SharePoint REST service that reads and writes user profiles.

Reads may go to any site; writes to other users' profiles only work on the tenant admin
site (spo-profiles-api.md §2.5), so this client uses the admin site for both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .batch import BatchPart, BatchResult
from .session import SpoError, SpoSession

CLAIMS_PREFIX = "i:0#.f|membership|"
SERVICE = "_api/SP.UserProfiles.PeopleManager"
MultiValue = list[str]
Value = str | MultiValue


def claims(upn_or_account: str) -> str:
    """The claims login SharePoint knows a user by (`i:0#.f|membership|<upn>`)."""
    return upn_or_account if upn_or_account.startswith("i:0") else CLAIMS_PREFIX + upn_or_account


def odata_literal(value: str) -> str:
    """An OData string literal for a URL: quotes doubled, then percent-encoded (`#` must not
    start a fragment)."""
    return quote("'" + value.replace("'", "''") + "'", safe="'@:")


@dataclass(frozen=True, slots=True)
class Write:
    account: str
    property: str
    value: Value  # a list for multi-valued properties ([] clears)


class PeopleClient:
    def __init__(self, session: SpoSession, multi_valued: Iterable[str] = (), separator: str = "|"):
        self.session = session
        self.site = session.connection.admin_url
        self.multi_valued = {name.lower() for name in multi_valued}
        self.separator = separator

    # ------------------------------------------------------------------ URLs and bodies

    def properties_url(self, account: str) -> str:
        return f"{self.site}/{SERVICE}/GetPropertiesFor(accountName=@v)?@v={odata_literal(claims(account))}"

    def write_part(self, write: Write) -> BatchPart:
        account = claims(write.account)
        if isinstance(write.value, list):
            body = {"accountName": account, "propertyName": write.property, "propertyValues": list(write.value)}
            return BatchPart("POST", f"{self.site}/{SERVICE}/SetMultiValuedProfileProperty", body)
        body = {"accountName": account, "propertyName": write.property, "propertyValue": write.value}
        return BatchPart("POST", f"{self.site}/{SERVICE}/SetSingleValueProfileProperty", body)

    # ------------------------------------------------------------------ reading

    def parse_properties(self, payload: Any) -> dict[str, Value] | None:
        """`UserProfileProperties` of a GetPropertiesFor answer; None when the account has no
        profile (SharePoint answers a null entity rather than an error; unverified, so an
        empty entity or an odata.null marker are read the same way)."""
        if not isinstance(payload, dict) or payload.get("odata.null") or not payload.get("AccountName") and not payload.get("UserProfileProperties"):
            return None
        entries = payload.get("UserProfileProperties") or []
        if isinstance(entries, dict):
            entries = entries.get("results", [])
        result: dict[str, Value] = {}
        for entry in entries:
            key, value = entry.get("Key"), entry.get("Value")
            if key is None:
                continue
            text = "" if value is None else str(value)
            if key.lower() in self.multi_valued:
                result[key] = [v for v in text.split(self.separator) if v] if text else []
            else:
                result[key] = text
        return result

    def get_properties(self, account: str) -> dict[str, Value] | None:
        return self.parse_properties(self.session.call("GET", self.properties_url(account)))

    def get_many(self, accounts: Sequence[str]) -> list[dict[str, Value] | None]:
        """Profiles of ``accounts`` in `$batch` requests (each read counts as one call)."""
        parts = [BatchPart("GET", self.properties_url(a)) for a in accounts]
        return [self.read_result(a, r) for a, r in zip(accounts, self.session.batch(self.site, parts))]

    def read_result(self, account: str, result: BatchResult) -> dict[str, Value] | None:
        """The profile in one `$batch` part's answer to a GetPropertiesFor (None: no profile)."""
        if result.status == 404:
            return None
        if not 200 <= result.status < 300:
            raise SpoError(f"reading {account} answered {result.status}: {result.body[:200]!r}", result.status)
        return self.parse_properties(result.json())

    # ------------------------------------------------------------------ writing

    def set(self, write: Write) -> None:
        part = self.write_part(write)
        self.session.call(part.method, part.url, json_body=part.body)

    def set_many(self, writes: Sequence[Write]) -> list[BatchResult]:
        """Apply ``writes`` in `$batch` requests; one result per write, in order (failures
        are returned, not raised, so callers can report them per profile)."""
        return self.session.batch(self.site, [self.write_part(w) for w in writes])
