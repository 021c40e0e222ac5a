"""The emulated tenant: users, profiles, the profile schema, files, bulk jobs, and the write
log that tests use as ground truth ("nothing lost, nothing written twice")."""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from maforge.connectors.spo import catalogue

from .seed import CLAIMS_PREFIX, SeedUser, index_of, seed_user

_NAMESPACE = uuid.UUID("5f0c9a7e-2b4d-4c61-8e3a-9d1b7c6a5e42")

# The tenant's custom properties (created by an admin in the real service; there is no API).
CUSTOM_PROPERTIES = {
    "CostCenter": False,  # name → user-editable; all single-valued strings, bulk-import eligible
    "ProfileSource": False,
    "EmployeeId": False,
    "FavouriteColour": True,  # user-editable: the bulk import must refuse it
}


@dataclass(frozen=True, slots=True)
class PropertyDef:
    name: str
    multi_valued: bool
    user_editable: bool
    taxonomy: bool
    system: bool
    custom: bool

    @property
    def bulk_eligible(self) -> bool:
        """The bulk import's documented rule: custom, not user-editable, single-valued."""
        return self.custom and not self.user_editable and not self.multi_valued and not self.taxonomy


def _schema() -> dict[str, PropertyDef]:
    result = {}
    for name, prop in catalogue.properties().items():
        # Where the catalogue does not know (None), the emulator chooses: single-valued,
        # not user-editable, not taxonomy-backed, not system (documented in docs/emulator).
        result[name.lower()] = PropertyDef(
            name,
            bool(prop.multi_valued),
            bool(prop.user_editable_default),
            bool(prop.taxonomy),
            bool(prop.read_only_system),
            False,
        )
    for name, editable in CUSTOM_PROPERTIES.items():
        result[name.lower()] = PropertyDef(name, False, editable, False, False, True)
    return result


@dataclass(slots=True)
class WriteRecord:
    seq: int
    at: float
    account: str
    property: str
    value: str | list[str]
    via: str  # "rest", "batch", "soap", "bulk"
    request_id: str


@dataclass(slots=True)
class BulkJob:
    job_id: str
    source_uri: str
    id_type: int
    id_property: str
    property_map: dict[str, str]
    state: int = 1  # Submitted
    error: int = 0
    error_message: str = ""
    log_folder: str = ""
    ready_at: float = 0.0
    done: bool = False
    queued_at: float = 0.0  # wall-clock times, for /_emulator/stats: the job's own duration
    finished_at: float = 0.0


@dataclass
class TenantState:
    """Everything the emulator knows; guarded by one lock (requests run on threads)."""

    tenant: str
    profile_count: int
    state_dir: Path | None = None
    seed_rows: tuple[dict[str, str], ...] | None = None  # --seed FILE; default: the sample's HR users
    multi_value_separator: str = "|"
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.tenant_id = str(uuid.uuid5(_NAMESPACE, self.tenant))
        self.domain = f"{self.tenant}.onmicrosoft.com"
        self.schema = _schema()
        self.overrides: dict[int, dict[str, str | list[str]]] = {}
        self.writes: list[WriteRecord] = []
        self.files: dict[str, bytes] = {}
        self.jobs: dict[str, BulkJob] = {}
        self.client_id = str(uuid.uuid5(_NAMESPACE, f"app/{self.tenant}"))
        self.secret_client_id = str(uuid.uuid5(_NAMESPACE, f"secret-app/{self.tenant}"))
        self.client_secret = secrets.token_urlsafe(24)
        self.public_client_id = str(uuid.uuid5(_NAMESPACE, f"public-app/{self.tenant}"))
        self.username = f"admin@{self.domain}"
        self.password = secrets.token_urlsafe(18)
        self._load()

    # ------------------------------------------------------------------ persistence

    def _load(self) -> None:
        if self.state_dir is None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        saved = self.state_dir / "tenant.json"
        if saved.exists():
            data = json.loads(saved.read_text(encoding="utf-8"))
            if data.get("tenant") == self.tenant:
                self.overrides = {int(k): v for k, v in data.get("overrides", {}).items()}
                self.password = data.get("password", self.password)
                self.client_secret = data.get("client_secret", self.client_secret)
        log = self.state_dir / "writes.jsonl"
        if log.exists():
            for line in log.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    self.writes.append(WriteRecord(**json.loads(line)))

    def save(self) -> None:
        if self.state_dir is None:
            return
        with self.lock:
            data = {"tenant": self.tenant, "overrides": self.overrides, "password": self.password, "client_secret": self.client_secret}
            target = self.state_dir / "tenant.json"
            temp = target.with_suffix(".tmp")
            temp.write_text(json.dumps(data), encoding="utf-8")
            temp.chmod(0o600)
            temp.replace(target)

    # ------------------------------------------------------------------ users and profiles

    def user(self, index: int) -> SeedUser | None:
        if 1 <= index <= self.profile_count:
            return seed_user(self.tenant, index, self.seed_rows)
        return None

    def index_for_account(self, account: str) -> int | None:
        """The user behind a claims account name or a plain UPN (case-insensitive)."""
        text = account.strip()
        if text.lower().startswith(CLAIMS_PREFIX):
            text = text[len(CLAIMS_PREFIX) :]
        index = index_of(self.tenant, text, self.seed_rows)
        if index is None or index > self.profile_count:
            return None
        return index

    def has_profile(self, index: int) -> bool:
        user = self.user(index)
        return user is not None and user.enabled  # disabled users are not synced into the UPA

    def profile(self, index: int) -> dict[str, str | list[str]] | None:
        user = self.user(index)
        if user is None or not user.enabled:
            return None
        with self.lock:
            merged = dict(user.properties)
            merged.update(self.overrides.get(index, {}))
        return merged

    def property_def(self, name: str) -> PropertyDef | None:
        return self.schema.get(name.lower())

    def set_value(self, index: int, prop: PropertyDef, value: str | list[str], via: str, request_id: str) -> WriteRecord:
        return self.set_values([(index, prop, value)], via, request_id)[0]

    def set_values(self, items: list[tuple[int, PropertyDef, str | list[str]]], via: str, request_id: str) -> list[WriteRecord]:
        """Write many values under one lock and one append to the write log (a bulk job's rows)."""
        with self.lock:
            records = []
            for index, prop, value in items:
                self.overrides.setdefault(index, {})[prop.name] = value
                record = WriteRecord(len(self.writes) + 1, time.time(), CLAIMS_PREFIX + self.user(index).upn, prop.name, value, via, request_id)
                self.writes.append(record)
                records.append(record)
            if self.state_dir is not None and records:
                with open(self.state_dir / "writes.jsonl", "a", encoding="utf-8") as handle:
                    handle.write("".join(json.dumps(asdict(r)) + "\n" for r in records))
        return records
