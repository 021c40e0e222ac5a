"""The emulator started inside `maforge import|plan|apply --emulator`: no second terminal and
no connection file, so the first command a newcomer runs can plan and apply.

Each command is its own process, yet plan, apply and a second plan must see one tenant. So
the tenant lives in the command's state folder (`.maforge/` by default), in
``emulator/<tenant>/``: the profile values written so far (`tenant.json`, saved when the
command's emulator stops), the write log, the certificates (a new CA per run would make
nothing but noise), and `seed.csv`, the people the tenant was first seeded with. Seeding is
fixed at the first start on purpose: the spec's HR file is the desired state, and editing it
must show up as changes in the next plan, not silently move the tenant along with it.

The emulator's test password and client secret are in `tenant.json` (owner-only, as the
emulator's `--state-dir` keeps them); the commands sign in with the certificate and never
see, print or write them.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from maforge.connectors.spo.connection import Connection, ConnectionError_

from .seed import SEED_COLUMNS, hr_user_count, read_seed_file
from .server import Emulator, EmulatorConfig

FOLDER = "emulator"
SEED_FILE = "seed.csv"


def tenant_folder(state_dir: Path, tenant: str) -> Path:
    """Where the embedded tenant ``tenant`` is kept: one folder per tenant, so a state folder
    shared by a dev and a prod overlay never mixes their profiles."""
    return state_dir / FOLDER / tenant


def spec_seed(sources: Sequence[Mapping[str, Any]], spec_dir: Path) -> Path | None:
    """The spec's first CSV source that has the columns the emulator seeds from (those of
    samples/hr.csv), so the embedded tenant holds the spec's own people; None when there is
    none (the tenant then holds the sample's people, as `maforge emulator` does)."""
    for source in sources:
        if source.get("type") != "csv" or not source.get("path"):
            continue
        path = spec_dir / str(source["path"])
        if _has_seed_columns(path, str(source.get("encoding") or "utf-8"), str(source.get("delimiter") or ",")):
            return path
    return None


def _has_seed_columns(path: Path, encoding: str, delimiter: str) -> bool:
    """Whether a CSV file's header names every seed column (an unreadable file: no)."""
    try:
        with open(path, encoding="utf-8-sig" if encoding.lower() in ("utf-8", "utf8") else encoding, newline="") as handle:
            header = next(csv.reader(handle, delimiter=delimiter), [])
    except (OSError, UnicodeDecodeError, LookupError, csv.Error):
        return False
    return set(SEED_COLUMNS) <= {name.strip() for name in header}


def _fix_seed(folder: Path, seed: Path | None) -> Path | None:
    """The tenant's seed file: copied from ``seed`` at the tenant's first start, and from then
    on the copy, whatever the spec's HR file says now (see the module docstring)."""
    kept = folder / SEED_FILE
    if not kept.exists() and seed is not None and not (folder / "tenant.json").exists():
        shutil.copyfile(seed, kept)
    return kept if kept.exists() else None


def embedded_config(state_dir: Path, tenant: str, seed: Path | None) -> EmulatorConfig:
    """The embedded tenant's configuration: `maforge emulator`'s defaults (as strict as
    SharePoint, throttling included), its state in the state folder."""
    folder = tenant_folder(state_dir, tenant)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)  # owner-only: tenant.json and certs/ hold the test secrets
    except OSError as error:
        raise ConnectionError_(f"cannot keep the embedded emulator's tenant in {folder}: {error.strerror or error}") from None
    try:
        kept = _fix_seed(folder, seed)
        rows = read_seed_file(str(kept)) if kept is not None else None
    except (OSError, ValueError) as error:
        raise ConnectionError_(f"the embedded emulator's seed ({seed} kept as {folder / SEED_FILE}): {error}; delete {folder} to start the tenant afresh") from None
    profiles = max(EmulatorConfig().profiles, hr_user_count(rows))  # `maforge emulator`'s 25, or every seeded person
    return EmulatorConfig(tenant=tenant, profiles=profiles, state_dir=folder, seed_file=kept)


def app_only_connection(emulator: Emulator) -> Connection:
    """The running emulator as a Connection that signs in app-only with its certificate,
    the way a real tenant is written to: no username, no password in memory or on screen."""
    line = emulator.connection()
    return Connection(
        tenant=line["tenant"],
        spo_url=line["spo_url"],
        admin_url=line["admin_url"],
        graph_url=line["graph_url"],
        authority=line["authority"],
        tenant_id=line["tenant_id"],
        ca_bundle=line["ca_bundle"],
        client_id=line["client_id"],
        certificate=line["certificate"],
        auth_method="certificate",
        time_scale=emulator.config.time_scale,
    )


@contextmanager
def embedded_tenant(state_dir: Path, tenant: str, seed: Path | None = None) -> Iterator[Connection]:
    """Run the emulator on 127.0.0.1 (HTTPS, a free port) for the length of one command, its
    tenant loaded from and saved back to the state folder, and yield how to reach it."""
    config = embedded_config(state_dir, tenant, seed)
    try:
        running = Emulator(config, config.state_dir).start()  # type: ignore[arg-type]
    except (OSError, ValueError) as error:  # an unwritable folder, a damaged tenant.json
        raise ConnectionError_(f"cannot start the embedded emulator in {config.state_dir}: {error}; delete that folder to start the tenant afresh") from None
    try:
        yield app_only_connection(running)
    finally:
        running.stop()  # saves the tenant's profile values for the next command
