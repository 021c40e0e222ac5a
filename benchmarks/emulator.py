"""How many requests per second the emulator serves here, so we know it is not what the
other benchmarks measure."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import requests

from maforge.connectors.spo.auth import credential_for
from maforge.connectors.spo.connection import Connection


def _session(ca: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = ca
    return session


def run(quick: bool) -> list[dict[str, object]]:
    """The emulator runs in its own process (as `maforge emulator`), the load from this one."""
    seconds = 3.0 if quick else 10.0
    threads = 8
    with tempfile.TemporaryDirectory() as scratch:
        process = subprocess.Popen(
            [sys.executable, "-m", "maforge", "emulator", "--profiles", "1000", "--throttle", "none", "--state-dir", scratch],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            line = json.loads(process.stdout.readline())
            connection_file = Path(scratch) / "connection.json"
            connection_file.write_text(json.dumps(line), encoding="utf-8")
            connection = Connection.from_file(connection_file)
            token = credential_for(connection).token(connection.sharepoint_scope)
            account = quote("'i:0#.f|membership|adele.vance@contoso.onmicrosoft.com'", safe="'@")
            url = f"{connection.admin_url}/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName=@v)?@v={account}"
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json;odata=nometadata"}
            counts = [0] * threads
            errors = [0] * threads
            deadline = time.perf_counter() + seconds

            def worker(slot: int) -> None:
                session = _session(line["ca_bundle"])
                while time.perf_counter() < deadline:
                    if session.get(url, headers=headers, timeout=30).status_code == 200:
                        counts[slot] += 1
                    else:
                        errors[slot] += 1

            started = time.perf_counter()
            workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
            for thread in workers:
                thread.start()
            for thread in workers:
                thread.join()
            elapsed = time.perf_counter() - started
        finally:
            process.terminate()
            process.wait(timeout=30)
    rate = sum(counts) / elapsed
    return [
        {
            "benchmark": f"emulator: GetPropertiesFor, {threads} keep-alive clients in another process",
            "median_s": round(1 / rate, 5) if rate else float("inf"),
            "target_s": round(1 / 400, 5),
            "ratio_to_target": round(400 / rate, 2) if rate else float("inf"),
            "requests_per_second": round(rate, 1),
            "errors": sum(errors),
        }
    ]
