"""Apply N single-property changes under the emulator's realistic throttling (docs/emulator.md,
"Throttling"): the tenant's PeopleManager budget is silent (no RateLimit header tells how much
is left) and its 429s ask for 70 to 250 s, time-scaled. The budget is 2,400 calls per 5 minutes
(the smallest tenant's 3,000, of which another tool uses 600) and the app's resource-unit limit
a large tenant's 6,000 per minute, so the silent budget is what binds.

Each contender runs against its own fresh emulator, side by side in one run, against the
budget floor (benchmarks/floors.py: the least time the limits allow for the calls it needs):
- maforge with the budget unknown to it: it learns the budget from the first 429, probing
  with few calls in flight; at most 1.25x the floor and at most 1 % of calls answered 429;
- maforge with the budget given (the connection file's `calls_per_5_minutes`): at most 1.1x
  the floor and no 429;
each with `--check-prior never` (one call per change, the writes) and with the default
`--check-prior auto` (each profile read first: two calls per change);
- the naive way people write today (office365-rest-python-client, one
  SetSingleValueProfileProperty per request, sleeping Retry-After on a 429), for comparison;
- and maforge (budget unknown, `--check-prior auto`) under the emulator's defaults, where the
  app's 1,200 resource units per minute (announced by RateLimit headers from 80 %) bind as much
  as the 3,000-call budget."""

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

from .floors import budget_floor, floor_row, share_429

LATENCY_MS = 50
FIRST_SYNTHETIC = 26  # users after the sample's 25 named ones have an empty AboutMe
BUDGET_BOUND = {"budget": 2400, "app_ru_per_minute": 6000}
DEFAULTS = {"budget": 3000, "app_ru_per_minute": 1200}
UNKNOWN_TARGET, GIVEN_TARGET, SHARE_429_TARGET = 1.25, 1.1, 0.01


def emulator_stats(connection: dict) -> dict:
    """The emulator's own counts (`GET /_emulator/stats`), read from outside its process."""
    session = requests.Session()
    session.trust_env = False
    base = connection["spo_url"].split("/spo/")[0]
    return session.get(f"{base}/_emulator/stats", verify=connection["ca_bundle"], timeout=30).json()


def start_emulator(folder: Path, profiles: int, extra: Sequence[str] = (), latency_ms: float = LATENCY_MS) -> tuple[subprocess.Popen, dict]:
    """`maforge emulator` in its own process (its defaults are the realistic limits; ``extra``
    adds options); its connection is also saved as ``folder``/connection.json."""
    process = subprocess.Popen(
        [sys.executable, "-m", "maforge", "emulator", "--profiles", str(profiles), "--latency-ms", str(latency_ms), "--state-dir", str(folder), *extra],
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


def limit_options(limits: dict, time_scale: float) -> list[str]:
    return ["--time-scale", str(time_scale), "--budget", str(limits["budget"]), "--app-ru-per-minute", str(limits["app_ru_per_minute"])]


def give_budget(folder: Path, calls_per_5_minutes: int) -> None:
    """State the budget in the connection file, as a user who knows it would."""
    path = folder / "connection.json"
    line = json.loads(path.read_text(encoding="utf-8"))
    line["calls_per_5_minutes"] = calls_per_5_minutes
    path.write_text(json.dumps(line), encoding="utf-8")


def enabled_accounts(tenant: str, first: int, count: int) -> list[str]:
    from maforge.connectors.emulator.seed import seed_user

    users = (seed_user(tenant, i) for i in range(first, first + 2 * count + 100))
    accounts = ["i:0#.f|membership|" + u.upn for u in users if u.enabled][:count]  # disabled users have no profile
    if len(accounts) < count:
        raise RuntimeError(f"the emulator has only {len(accounts)} enabled users, {count} needed")
    return accounts


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


def _contender(name: str, changes: int, limits: dict, time_scale: float, *, given: bool = False, check_prior: str = "never", naive: bool = False) -> dict:
    """One contender against its own fresh emulator: seconds, calls counted, 429s."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        emulator, connection = start_emulator(folder, FIRST_SYNTHETIC + 3 * changes + 100, limit_options(limits, time_scale))
        try:
            accounts = enabled_accounts(connection["tenant"], FIRST_SYNTHETIC, changes)
            if given:
                give_budget(folder, limits["budget"])
            if naive:
                before = emulator_stats(connection)
                seconds = _naive(folder / "connection.json", accounts)
                after = emulator_stats(connection)
            else:
                plan = Plan("bench", connection["tenant"], "", "", "2026-01-01T00:00:00Z", True, [
                    ProfileChange(account, "bench", (PropertyChange("AboutMe", "set", "", f"Bench {n}"),)) for n, account in enumerate(accounts)
                ])
                save_plan(plan, folder / f"{name}.json")
                seconds, before, after = timed_apply(folder, connection, folder / f"{name}.json", "--bulk", "never", "--check-prior", check_prior)
        finally:
            emulator.terminate()
            emulator.wait(timeout=30)
    return {"seconds": seconds, "calls": after["calls"] - before["calls"], "throttled": after["throttled"] - before["throttled"]}


def run(quick: bool) -> list[dict[str, object]]:
    changes = 150 if quick else 3000
    # A 5-minute window of 1 s in the quick run (Retry-After 1 s), of 30 s in the full one.
    scale = 300.0 if quick else 10.0
    limits = {"budget": 120, "app_ru_per_minute": 6000} if quick else BUDGET_BOUND
    rows: list[dict[str, object]] = []
    naive = _contender("naive", changes, limits, scale, naive=True)
    for check_prior, per_change in (("never", 1), ("auto", 2)):
        calls_needed = per_change * changes
        floor = budget_floor(calls_needed, budget=limits["budget"], app_ru_per_minute=limits["app_ru_per_minute"], time_scale=scale)
        for given, target in ((False, UNKNOWN_TARGET), (True, GIVEN_TARGET)):
            measured = _contender(f"{check_prior}-{given}", changes, limits, scale, given=given, check_prior=check_prior)
            share = measured["throttled"] / max(measured["calls"], 1)
            row = floor_row(
                f"apply, budget {'given' if given else 'unknown'}, --check-prior {check_prior}: {changes:,} changes",
                measured["seconds"],
                floor,
                target,
                calls=measured["calls"],
                answered_429=measured["throttled"],
                share_429=share_429(measured["throttled"], measured["calls"]),
                share_429_target="0 %" if given else f"{100 * SHARE_429_TARGET:.0f} %",
                share_429_met=(measured["throttled"] == 0) if given else share <= SHARE_429_TARGET,
                limits=describe(limits, scale),
            )
            if check_prior == "never":
                row.update({"naive_s": round(naive["seconds"], 2), "naive_429": naive["throttled"], "speedup_vs_naive": round(naive["seconds"] / measured["seconds"], 1)})
            rows.append(row)
    # The emulator's own defaults: the app's resource units bind as much as the budget.
    defaults = {"budget": 120, "app_ru_per_minute": 120} if quick else DEFAULTS
    floor = budget_floor(2 * changes, budget=defaults["budget"], app_ru_per_minute=defaults["app_ru_per_minute"], time_scale=scale)
    measured = _contender("defaults", changes, defaults, scale, check_prior="auto")
    rows.append(
        floor_row(
            f"apply, emulator defaults (RU headers), --check-prior auto: {changes:,} changes",
            measured["seconds"],
            floor,
            UNKNOWN_TARGET,
            calls=measured["calls"],
            answered_429=measured["throttled"],
            share_429=share_429(measured["throttled"], measured["calls"]),
            limits=describe(defaults, scale),
        )
    )
    return rows


def describe(limits: dict, time_scale: float) -> str:
    return f"budget {limits['budget']} calls/5 min, {limits['app_ru_per_minute']} RU/min, time scale {time_scale:g}"
