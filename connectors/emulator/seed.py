"""Deterministic tenant content: the same users and profile values for a given size, every time.

The first users are the people of the SPO sample's HR file (`seed_users.csv`, a copy of
samples/hr.csv), as SharePoint would hold them after Entra ID sync and some months of drift:
some departments and titles are out of date, some cost centres and mobile numbers are missing,
so planning the sample against a fresh emulator shows real changes. Users beyond those are
synthetic (`user000026@…`), generated from their index alone, so a tenant of 100,000 profiles
costs nothing until a profile is read or written.
"""

from __future__ import annotations

import csv
import random
import uuid
from dataclasses import dataclass
from functools import cache
from importlib import resources

CLAIMS_PREFIX = "i:0#.f|membership|"
_NAMESPACE = uuid.UUID("0b8c7f5e-6d1a-4e2b-9c3d-5a7e1f2b4c6d")
_FIRST = ["Alex", "Sam", "Kim", "Robin", "Noor", "Mika", "Ola", "Eli", "Jo", "Ari", "Lee", "Sasha", "Toni", "Kai", "Ren", "Dana"]
_LAST = ["Berg", "Haugen", "Silva", "Okafor", "Novak", "Larsen", "Moreau", "Tanaka", "Kowalski", "Nilsen", "Costa", "Singh"]
_DEPARTMENTS = ["Sales", "Finance", "Engineering", "Marketing", "Operations", "Legal", "Support", "Research"]
_TITLES = ["Analyst", "Engineer", "Manager", "Specialist", "Consultant", "Coordinator", "Director", "Advisor"]
_OFFICES = ["Oslo", "Bergen", "Redmond, Building 92", "London", "Dublin", "Bellevue, City Center"]
_SKILLS = ["SharePoint", "PowerShell", "Python", "Negotiation", "Budgeting", "SQL", "Identity", "Writing", "Azure"]


@dataclass(frozen=True, slots=True)
class SeedUser:
    index: int  # 1-based
    upn: str
    object_id: str
    profile_guid: str
    display_name: str
    given_name: str
    surname: str
    mail: str
    enabled: bool
    properties: dict[str, str | list[str]]

    @property
    def account_name(self) -> str:
        return CLAIMS_PREFIX + self.upn


Rows = tuple[dict[str, str], ...]
SEED_COLUMNS = ("UPN", "FirstName", "LastName", "Mail", "Department", "JobTitle", "Office", "WorkPhone", "MobilePhone", "ManagerUPN", "CostCenter", "Skills", "PastProjects", "AskMeAbout", "AboutMe")


@cache
def _hr_rows() -> Rows:
    text = resources.files(__package__).joinpath("seed_users.csv").read_text(encoding="utf-8")
    return tuple(csv.DictReader(text.splitlines()))


def read_seed_file(path: str) -> Rows:
    """Users for `--seed FILE`: a CSV with the columns of the SPO sample's HR file."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = tuple(csv.DictReader(handle))
    missing = [c for c in SEED_COLUMNS if rows and c not in rows[0]]
    if not rows or missing:
        raise ValueError(f"{path}: a seed file is a CSV with a header and the columns {', '.join(SEED_COLUMNS)} (missing: {', '.join(missing) or 'rows'})")
    return rows


def hr_user_count(rows: Rows | None = None) -> int:
    return len(rows if rows is not None else _hr_rows())


def _ids(tenant: str, upn: str) -> tuple[str, str]:
    return str(uuid.uuid5(_NAMESPACE, f"object/{tenant}/{upn}")), str(uuid.uuid5(_NAMESPACE, f"profile/{tenant}/{upn}"))


def _split(cell: str) -> list[str]:
    return [v.strip() for v in cell.split(";") if v.strip()]


def _hr_upn(tenant: str, row: dict[str, str]) -> str:
    return row["UPN"].strip().replace("@contoso.onmicrosoft.com", f"@{tenant}.onmicrosoft.com")


def _hr_user(tenant: str, index: int, row: dict[str, str]) -> SeedUser:
    upn = _hr_upn(tenant, row)
    object_id, profile_guid = _ids(tenant, upn)
    manager = row["ManagerUPN"].replace("@contoso.onmicrosoft.com", f"@{tenant}.onmicrosoft.com")
    display = f"{row['FirstName']} {row['LastName']}"
    properties: dict[str, str | list[str]] = {
        "UserProfile_GUID": profile_guid,
        "AccountName": CLAIMS_PREFIX + upn,
        "msOnline-ObjectId": object_id,
        "FirstName": row["FirstName"],
        "LastName": row["LastName"],
        "PreferredName": display,
        "WorkEmail": (row["Mail"] or upn).lower(),
        "Department": row["Department"],
        "SPS-JobTitle": row["JobTitle"],
        "Office": row["Office"],
        "WorkPhone": row["WorkPhone"],
        "CellPhone": row["MobilePhone"],
        "Manager": CLAIMS_PREFIX + manager if manager else "",
        "AboutMe": row["AboutMe"],
        "SPS-Skills": _split(row["Skills"]),
        "SPS-PastProjects": _split(row["PastProjects"]),
        "SPS-Responsibility": _split(row["AskMeAbout"]),
        "CostCenter": row["CostCenter"],
        "ProfileSource": "Contoso HR",
        "SPS-Birthday": "",
    }
    # Drift since HR last wrote the profiles (deterministic by position).
    if index % 4 == 1:
        properties["Department"] = "Unassigned"
    if index % 5 == 2:
        properties["SPS-JobTitle"] = f"Former {row['JobTitle']}"
    if index % 3 == 0:
        properties["CostCenter"] = ""
    if index % 6 == 4:
        properties["CellPhone"] = "+1 425 555 0199"
    if index % 7 == 5:
        properties["SPS-Skills"] = list(reversed(_split(row["Skills"])))[:1]
    if index % 8 == 3:
        properties["ProfileSource"] = ""
    return SeedUser(index, upn, object_id, profile_guid, display, row["FirstName"], row["LastName"], (row["Mail"] or "").lower(), True, properties)


def _synthetic_user(tenant: str, index: int, named: int) -> SeedUser:
    rng = random.Random(index * 7919)
    given, surname = rng.choice(_FIRST), rng.choice(_LAST)
    upn = f"user{index:06d}@{tenant}.onmicrosoft.com"
    object_id, profile_guid = _ids(tenant, upn)
    display = f"{given} {surname}"
    manager_index = max(1, index // 10)
    manager = f"{CLAIMS_PREFIX}user{manager_index:06d}@{tenant}.onmicrosoft.com" if manager_index != index and manager_index > named else ""
    properties: dict[str, str | list[str]] = {
        "UserProfile_GUID": profile_guid,
        "AccountName": CLAIMS_PREFIX + upn,
        "msOnline-ObjectId": object_id,
        "FirstName": given,
        "LastName": surname,
        "PreferredName": display,
        "WorkEmail": upn,
        "Department": rng.choice(_DEPARTMENTS),
        "SPS-JobTitle": rng.choice(_TITLES),
        "Office": rng.choice(_OFFICES),
        "WorkPhone": f"+47 2{index % 10} {index % 100:02d} {index % 97:02d} {index % 89:02d}",
        "CellPhone": "" if index % 5 == 0 else f"+47 9{index % 10} {index % 100:02d} {index % 83:02d} {index % 71:02d}",
        "Manager": manager,
        "AboutMe": "",
        "SPS-Skills": sorted(rng.sample(_SKILLS, 2)),
        "SPS-PastProjects": [],
        "SPS-Responsibility": [],
        "CostCenter": f"CC-{1000 + index % 900}",
        "ProfileSource": "",
        "SPS-Birthday": "",
    }
    return SeedUser(index, upn, object_id, profile_guid, display, given, surname, upn, index % 50 != 0, properties)


def seed_user(tenant: str, index: int, rows: Rows | None = None) -> SeedUser:
    """User number ``index`` (1-based) of a tenant; the first ones come from ``rows``
    (default: the SPO sample's HR users)."""
    named = rows if rows is not None else _hr_rows()
    if index <= len(named):
        return _hr_user(tenant, index, named[index - 1])
    return _synthetic_user(tenant, index, len(named))


_NAMED_INDEX: dict[tuple[str, int], tuple[Rows, dict[str, int]]] = {}


def index_of(tenant: str, upn: str, rows: Rows | None = None) -> int | None:
    """The index of a seeded user by UPN (case-insensitive), or None. Every SharePoint call
    resolves a user, so the named users' UPNs are indexed once per tenant and seed."""
    lowered = upn.lower()
    named = rows if rows is not None else _hr_rows()
    cached = _NAMED_INDEX.get((tenant, id(named)))
    if cached is None or cached[0] is not named:
        table: dict[str, int] = {}
        for i, row in enumerate(named, 1):
            table.setdefault(_hr_upn(tenant, row).lower(), i)  # the first of a repeated UPN wins
        cached = (named, table)
        _NAMED_INDEX[(tenant, id(named))] = cached
    found = cached[1].get(lowered)
    if found is not None:
        return found
    suffix = f"@{tenant}.onmicrosoft.com"
    if lowered.startswith("user") and lowered.endswith(suffix):
        number = lowered[4 : -len(suffix)]
        if number.isdigit() and len(number) == 6:
            return int(number)
    return None
