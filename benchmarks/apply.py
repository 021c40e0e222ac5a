"""Apply N single-property changes against the emulator's "bench" tenant (50 ms per request,
200 PeopleManager calls per second, inner `$batch` requests counted one by one, RateLimit
headers on), side by side with the naive way people write today (office365-rest-python-client,
one SetSingleValueProfileProperty per request, sleeping on 429) and with the floors the
budget allows (the calls made ÷ the budget).

maforge runs twice: with `--check-prior never` (the plan's prior values trusted: N calls, the
writes) and with `--check-prior always` (each profile read first so a value changed since the
plan is left alone: 2N calls). The check costs one budgeted call per profile, so its floor is
twice the other's; each run is held to 1.15× its own floor."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import requests

from maforge.connectors.sync.plan import Plan, ProfileChange, PropertyChange, save_plan

BUDGET_PER_SECOND = 200  # the emulator's "bench" profile
LATENCY_MS = 50
FIRST_SYNTHETIC = 26  # users after the sample's 25 named ones have an empty AboutMe


def emulator_stats(connection: dict) -> dict:
    """The emulator's own counts (`GET /_emulator/stats`), read from outside its process."""
    session = requests.Session()
    session.trust_env = False
    base = connection["spo_url"].split("/spo/")[0]
    return session.get(f"{base}/_emulator/stats", verify=connection["ca_bundle"], timeout=30).json()


def start_emulator(folder: Path, profiles: int, extra: Sequence[str] = (), throttle: str = "bench", latency_ms: float = LATENCY_MS) -> tuple[subprocess.Popen, dict]:
    """`maforge emulator` in its own process, by default with the bench profile (budget and
    latency); its connection is also saved as ``folder``/connection.json."""
    process = subprocess.Popen(
        [sys.executable, "-m", "maforge", "emulator", "--profiles", str(profiles), "--throttle", throttle, "--latency-ms", str(latency_ms), "--state-dir", str(folder), *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        connection = json.loads(process.stdout.readline())
    except ValueError:
        process.kill()
        raise RuntimeError("the emulator did not start") from None
    (folder / "connection.json").write_text(json.dumps(connection), encoding="utf-8")
    return process, connection


def _naive(connection_file: Path, accounts: list[str]) -> float:
    """What people write: one request per property, sequential, sleep on 429 and try again."""
    script = """
import json, sys, time
from office365.runtime.client_request_exception import ClientRequestException
from office365.sharepoint.client_context import ClientContext
from maforge.connectors.spo.auth import credential_for
from maforge.connectors.spo.connection import Connection
connection = Connection.from_file(__import__("pathlib").Path(sys.argv[1]))
credential = credential_for(connection)
def token():
    return {"access_token": credential.token(connection.sharepoint_scope), "token_type": "Bearer", "expires_in": 3599}
ctx = ClientContext(connection.admin_url).with_access_token(token).with_transport(verify=connection.ca_bundle)
started = time.perf_counter()
for number, account in enumerate(json.loads(sys.stdin.read())):
    while True:
        try:
            ctx.people_manager.set_single_value_profile_property(account, "AboutMe", f"Bench {number}").execute_query()
            break
        except ClientRequestException as error:
            if getattr(error.response, "status_code", None) != 429:
                raise
            time.sleep(float(error.response.headers.get("Retry-After", "1")))
print(time.perf_counter() - started)
"""
    done = subprocess.run([sys.executable, "-c", script, str(connection_file)], input=json.dumps(accounts), capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def _maforge_apply(folder: Path, connection: dict, name: str, accounts: list[str], check_prior: str) -> dict:
    """One `maforge apply` of AboutMe sets on ``accounts``, in its own process: wall time and
    the emulator's counts for it."""
    plan = Plan("bench", connection["tenant"], "", "", "2026-01-01T00:00:00Z", True, [
        ProfileChange(account, "bench", (PropertyChange("AboutMe", "set", "", f"Bench {n}"),)) for n, account in enumerate(accounts)
    ])
    save_plan(plan, folder / f"{name}.json")
    time.sleep(1.1)  # an empty budget window for each contender
    seconds, before, after = timed_apply(folder, connection, folder / f"{name}.json", "--bulk", "never", "--check-prior", check_prior)
    return {"seconds": seconds, "calls": after["calls"] - before["calls"], "throttled": after["throttled"] - before["throttled"]}


def timed_apply(folder: Path, connection: dict, plan_file: Path, *options: str) -> tuple[float, dict, dict]:
    """`maforge apply PLAN` in its own process: wall time, and the emulator's counts before and after."""
    before = emulator_stats(connection)
    started = time.perf_counter()
    applied = subprocess.run(
        [sys.executable, "-m", "maforge", "apply", str(plan_file), "--connection", str(folder / "connection.json"), "--state", str(folder / "state"), *options],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if applied.returncode != 0:
        raise RuntimeError(f"maforge apply failed: {applied.stdout[-500:]} {applied.stderr[-1500:]}")
    return seconds, before, emulator_stats(connection)


def run(quick: bool) -> list[dict[str, object]]:
    changes = 200 if quick else 3000
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        emulator, connection = start_emulator(folder, FIRST_SYNTHETIC + 4 * changes)
        try:
            from maforge.connectors.emulator.seed import seed_user

            users = [seed_user(connection["tenant"], i) for i in range(FIRST_SYNTHETIC, FIRST_SYNTHETIC + 4 * changes)]
            accounts = ["i:0#.f|membership|" + u.upn for u in users if u.enabled]  # disabled users have no profile
            if len(accounts) < 3 * changes:
                raise RuntimeError(f"the emulator has only {len(accounts)} enabled users, {3 * changes} needed")
            trusted = _maforge_apply(folder, connection, "trusted", accounts[:changes], "never")
            checked = _maforge_apply(folder, connection, "checked", accounts[changes : 2 * changes], "always")
            time.sleep(1.1)
            before_naive = emulator_stats(connection)
            naive_s = _naive(folder / "connection.json", accounts[2 * changes : 3 * changes])
            naive_calls = emulator_stats(connection)["calls"] - before_naive["calls"]
        finally:
            emulator.terminate()
            emulator.wait(timeout=30)
    rows = []
    for label, measured, note in (
        ("--check-prior never (writes only)", trusted, "the plan's priors trusted"),
        ("--check-prior always (read, then write)", checked, "each profile read first"),
    ):
        floor = measured["calls"] / BUDGET_PER_SECOND  # every call maforge made, at the budget's pace
        rows.append(
            {
                "benchmark": f"apply {label}: {changes:,} changes",
                "median_s": round(measured["seconds"], 2),
                "target_s": round(1.15 * floor, 2),
                "ratio_to_target": round(measured["seconds"] / (1.15 * floor), 2),
                "vs_floor": round(measured["seconds"] / floor, 2),
                "calls": measured["calls"],
                "share_429": f"{100 * measured['throttled'] / max(measured['calls'], 1):.1f} %",
                "floor_s": round(floor, 2),
                "naive_s": round(naive_s, 2),
                "naive_calls": naive_calls,
                "speedup_vs_naive": round(naive_s / measured["seconds"], 1),
                "prior_values": note,
            }
        )
    return rows
