"""Apply N single-property changes against the emulator's "bench" tenant (50 ms per request,
200 PeopleManager calls per second, inner `$batch` requests counted one by one, RateLimit
headers on), side by side with the naive way people write today (office365-rest-python-client,
one SetSingleValueProfileProperty per request, sleeping on 429) and with the floors the
budget allows.

Two floors are reported: the writes alone (N calls), and every call maforge makes, since apply
reads each profile first to check the plan's prior value (N more calls): that check is what
makes a saved plan safe to apply, and it costs one budgeted call per profile."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from maforge.connectors.sync.plan import Plan, ProfileChange, PropertyChange, save_plan

BUDGET_PER_SECOND = 200  # the emulator's "bench" profile
LATENCY_MS = 50
FIRST_SYNTHETIC = 26  # users after the sample's 25 named ones have an empty AboutMe


def _stats(connection: dict) -> dict:
    session = requests.Session()
    session.trust_env = False
    base = connection["spo_url"].split("/spo/")[0]
    return session.get(f"{base}/_emulator/stats", verify=connection["ca_bundle"], timeout=30).json()


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


def run(quick: bool) -> list[dict[str, object]]:
    changes = 200 if quick else 3000
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        emulator = subprocess.Popen(
            [sys.executable, "-m", "maforge", "emulator", "--profiles", str(FIRST_SYNTHETIC + 3 * changes), "--throttle", "bench", "--latency-ms", str(LATENCY_MS), "--state-dir", scratch],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            connection = json.loads(emulator.stdout.readline())
            connection_file = folder / "connection.json"
            connection_file.write_text(json.dumps(connection), encoding="utf-8")
            domain = connection["username"].split("@", 1)[1]
            # Synthetic users are user<index>@domain in the emulator's seed.
            from maforge.connectors.emulator.seed import seed_user

            users = [seed_user(connection["tenant"], i) for i in range(FIRST_SYNTHETIC, FIRST_SYNTHETIC + 3 * changes)]
            upns = [u.upn for u in users if u.enabled][: 2 * changes]  # disabled users have no profile
            assert all(u.endswith("@" + domain) for u in upns)
            ours, theirs = upns[:changes], upns[changes:]
            plan = Plan("bench", connection["tenant"], "", "", "2026-01-01T00:00:00Z", True, [
                ProfileChange("i:0#.f|membership|" + upn, "bench", (PropertyChange("AboutMe", "set", "", f"Bench {n}"),)) for n, upn in enumerate(ours)
            ])
            save_plan(plan, folder / "plan.json")
            time.sleep(1.1)  # an empty budget window for each contender
            before = _stats(connection)
            started = time.perf_counter()
            applied = subprocess.run([sys.executable, "-m", "maforge", "apply", str(folder / "plan.json"), "--connection", str(connection_file), "--bulk", "never", "--state", str(folder / "state")], capture_output=True, text=True)
            if applied.returncode != 0:
                raise RuntimeError(f"maforge apply failed: {applied.stdout[-500:]} {applied.stderr[-1500:]}")
            maforge_s = time.perf_counter() - started
            after = _stats(connection)
            time.sleep(1.1)
            naive_s = _naive(connection_file, ["i:0#.f|membership|" + upn for upn in theirs])
            final = _stats(connection)
        finally:
            emulator.terminate()
            emulator.wait(timeout=30)
    calls = after["calls"] - before["calls"]
    throttled = after["throttled"] - before["throttled"]
    writes_floor = changes / BUDGET_PER_SECOND
    calls_floor = calls / BUDGET_PER_SECOND
    rows.append(
        {
            "benchmark": f"apply: {changes:,} single-property changes (bench tenant)",
            "median_s": round(maforge_s, 2),
            "target_s": round(1.15 * calls_floor, 2),
            "ratio_to_target": round(maforge_s / (1.15 * calls_floor), 2),
            "calls": calls,
            "share_429": f"{100 * throttled / max(calls, 1):.1f} %",
            "floor_all_calls_s": round(calls_floor, 2),
            "floor_writes_only_s": round(writes_floor, 2),
            "naive_s": round(naive_s, 2),
            "speedup_vs_naive": round(naive_s / maforge_s, 1),
            "naive_calls": final["calls"] - after["calls"],
        }
    )
    return rows
