"""`maforge apply` killed with SIGKILL at random moments, then run again until it exits 0.

Per seed: a fresh emulated tenant (in this process, so the kill leaves it running, as a real
tenant would be), a random plan over a few hundred profiles, and `python -m maforge apply
PLAN` in a subprocess killed one to three times (no clean-up, no flush: SIGKILL), each time at
a seeded moment: after a random delay (which may fall before the first request, during the
prior-value reads, between rounds or while a bulk job runs) or as soon as the tenant has
taken a random number of the plan's writes (mid-batch, as the emulator applies a `$batch`
part by part). Then the same command runs to the end. The emulator's write log decides, as in
reliability/faults.py: final state = plan, nothing lost, nothing wrong, no bulk job queued
twice for one file, the journal names only writes that happened, and the last run's report
(its summary line, PLAN.results.json) agrees with the writes it made. A property written twice
with the same value is counted as a repeat, not a failure.

Three trials, one per way of writing: per-user writes with the prior values read
(`--check-prior auto`: a write the killed run made but never journalled is found on the re-read,
so no repeats are expected), per-user writes with the priors trusted (`--check-prior never`:
such a write is made again), and the bulk import with per-user writes (`--bulk always`: rows of
profiles whose changes all go through the job are not read, so a job a kill interrupted is
queued again with a new data file, and the killed run's data file stays on the tenant).
Before the last run the tenant is left to finish what the killed runs sent, so that run is
judged by its own writes; between killed runs it is not (a re-run may overlap them).
"""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from maforge.connectors.emulator.server import Emulator, EmulatorConfig
from maforge.connectors.sync.applier import ApplyResult
from maforge.connectors.sync.plan import save_plan

from . import Trial
from .faults import FIRST_SYNTHETIC, JobLog, Tally, expected_values, judge_counts, judge_final, judge_journal, judge_run, make_plan, read_results

CATEGORY = "kills"
SUMMARY = re.compile(r"Apply: (\d+) applied, (\d+) already applied, (\d+) stale, (\d+) failed, (\d+) on missing profiles")
RUN_TIMEOUT = 300.0


@dataclass(frozen=True, slots=True)
class Mode:
    name: str
    bulk: str  # --bulk
    check_prior: str  # --check-prior
    profiles: int
    latency_ms: float


PER_USER = Mode("per-user writes (prior values read)", "never", "auto", 400, 15.0)
TRUSTED = Mode("per-user writes, priors trusted (--check-prior never)", "never", "never", 400, 15.0)
BULK = Mode("bulk import and per-user writes", "always", "auto", 150, 5.0)


@dataclass(slots=True)
class KillTally:
    kills: int = 0
    before_first_write: int = 0
    mid_apply: int = 0
    finished_first: int = 0  # the run ended before its kill moment came
    runs: int = 0
    final_not_zero: int = 0  # final runs that exited non-zero and were run again
    tracebacks: int = 0
    files_left: int = 0  # bulk data files a killed run left on the tenant (cleaned up by no one)
    seconds: float = 0.0
    unjournalled: int = 0  # writes the tenant took that the killed runs had not journalled
    seeds_unjournalled: int = 0  # seeds whose kills left such writes
    typical: float = 1.5  # how long a whole run takes (the longest final run so far): kill delays fall within it


def _command(plan: Path, connection: Path, mode: Mode, state: Path) -> list[str]:
    return [sys.executable, "-m", "maforge", "apply", str(plan), "--connection", str(connection), "--bulk", mode.bulk, "--check-prior", mode.check_prior, "--state", str(state)]


def _killed_run(command: list[str], cwd: Path, emu: Emulator, rng: random.Random, planned: int, start: int, kills: KillTally) -> None:
    """Start the apply and SIGKILL it at a seeded moment (unless it finishes first)."""
    by_writes = rng.random() < 0.5
    target = rng.randrange(1, max(planned, 2)) if by_writes else 0
    delay = 0.0 if by_writes else rng.uniform(0.0, kills.typical)
    run_start = len(emu.state.writes)
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kills.runs += 1
    started = time.monotonic()
    try:
        while process.poll() is None:
            now = time.monotonic()
            if now - started > RUN_TIMEOUT:
                break
            if (by_writes and len(emu.state.writes) - start >= target) or (not by_writes and now - started >= delay):
                break
            time.sleep(0.001)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            kills.kills += 1
            if len(emu.state.writes) == run_start:
                kills.before_first_write += 1
            else:
                kills.mid_apply += 1
        else:
            kills.finished_first += 1
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _journalled(journal: Path) -> set[tuple[str, str]]:
    keys = set()
    if journal.exists():
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            keys.add((entry["account"].lower(), entry["property"]))
    return keys


def _quiet(emu: Emulator, still: float = 0.5, limit: float = 30.0) -> None:
    """Wait until the tenant has taken no write for ``still`` seconds and no bulk job is
    pending: requests a killed run sent before it died are still being served (the tenant
    does not know the client is gone), and its queued jobs still run."""
    deadline = time.monotonic() + limit
    count, since = len(emu.state.writes), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        busy = not all(job.done for job in list(getattr(emu.state.jobs, "queued", [])))
        if len(emu.state.writes) != count or busy:
            count, since = len(emu.state.writes), time.monotonic()
        elif time.monotonic() - since >= still:
            return


def one_seed(workdir: Path, seed: int, mode: Mode, tally: Tally, kills: KillTally) -> None:
    rng = random.Random(seed)
    emu = Emulator(EmulatorConfig(profiles=FIRST_SYNTHETIC + 3 * mode.profiles, latency_ms=mode.latency_ms, bulk_job_seconds=0.2), workdir)
    emu.state.jobs = JobLog()
    emu.start()
    folder = Path(tempfile.mkdtemp(prefix=f"seed-{seed}-", dir=workdir))
    try:
        plan = make_plan(emu, rng, mode.profiles, f"k{seed}", bulk_share=0.6 if mode.bulk != "never" else 0.3)
        expected = expected_values(plan)
        path = folder / "plan.json"
        save_plan(plan, path)
        connection = folder / "connection.json"
        connection.write_text(json.dumps(emu.connection()), encoding="utf-8")
        command = _command(path, connection, mode, folder / "state")
        tally.applies += 1
        tally.planned += plan.change_count
        start = len(emu.state.writes)
        for _kill in range(1 + (rng.random() < 0.5) + (rng.random() < 0.25)):
            _killed_run(command, folder, emu, rng, plan.change_count, start, kills)
            tally.runs += 1
        for attempt in range(1, 4):
            _quiet(emu)  # what the killed runs sent has landed: this run is judged by its own writes
            run_start = len(emu.state.writes)
            written_before = {(w.account.lower(), w.property) for w in emu.state.writes[start:run_start]}
            if attempt == 1:
                unjournalled = len(written_before - _journalled(path.with_name("plan.json.journal")))
                kills.unjournalled += unjournalled
                kills.seeds_unjournalled += unjournalled > 0
            began = time.monotonic()
            done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=RUN_TIMEOUT)
            kills.typical = max(kills.typical, time.monotonic() - began)
            kills.runs += 1
            tally.runs += 1
            label = f"seed {seed} final run {attempt}"
            if "Traceback" in done.stderr:
                kills.tracebacks += 1
                tally.mismatches.append(f"{label}: traceback: {done.stderr.strip().splitlines()[-1][:200]}")
            time.sleep(0.05)
            window = emu.state.writes[run_start:]
            ever = {(w.account.lower(), w.property) for w in emu.state.writes[start:]}
            judge_journal(label, path.with_name("plan.json.journal"), plan, ever, tally)
            found = SUMMARY.search(done.stdout)
            if found is None:
                tally.errors.append(f"{label}: exit {done.returncode}: {(done.stderr or done.stdout).strip()[-200:]}")
            else:
                result = ApplyResult(*(int(n) for n in found.groups()))
                summary, outcomes = read_results(path.with_name("plan.json.results.json"))
                judge_counts(label, result, summary, outcomes, plan.change_count, tally)
                judge_run(label, expected, outcomes, window, written_before, tally)
            if done.returncode == 0:
                break
            kills.final_not_zero += 1
        else:
            tally.mismatches.append(f"seed {seed}: apply did not exit 0 in 3 runs after the kills")
        if attempt > 1:
            tally.reruns += 1
        judge_final(emu, expected, emu.state.writes[start:], tally)
        kills.files_left += sum(1 for name in emu.state.files if "maforge-imports/maforge-" in name)
    finally:
        emu.stop()


def _trial(workdir: Path, mode: Mode, seeds: range) -> Trial:
    tally, kills = Tally(), KillTally()
    started = time.monotonic()
    for seed in seeds:
        try:
            one_seed(workdir, seed, mode, tally, kills)
        except Exception as error:  # a traceback here is a failed trial, with its reason
            tally.mismatches.append(f"seed {seed}: {type(error).__name__}: {error}")
    kills.seconds = tally.seconds = time.monotonic() - started
    held = tally.held and kills.tracebacks == 0 and kills.kills > 0
    result = (
        f"{kills.kills} SIGKILLs over {tally.applies} applies ({kills.before_first_write} before the first write, {kills.mid_apply} mid-apply; "
        f"{kills.finished_first} runs finished before their kill moment), {tally.planned:,} writes planned: "
        f"the kills left {kills.unjournalled:,} writes done but not journalled (in {kills.seeds_unjournalled} of the applies); "
        f"final state = plan in {tally.equal_to_plan}/{tally.applies} after a run that exited 0, {tally.lost} lost, {tally.wrong} wrong, "
        f"{tally.repeats} repeats of an idempotent set" + (f" ({tally.repeats_bulk} of bulk rows queued again after a kill)" if tally.repeats_bulk else "")
        + (f", {tally.requeued} bulk queue calls repeated, {kills.files_left} bulk data files left behind by killed runs" if mode.bulk != "never" else "")
        + f"; the last run's report agrees with the write log and the journal names only real writes: {'yes' if not tally.mismatches else f'no ({len(tally.mismatches)} mismatches)'}"
        + (f"; {kills.final_not_zero} final runs exited 1 and were run again" if kills.final_not_zero else "")
        + f"; {kills.runs} runs of `maforge apply`, {kills.seconds:.0f} s"
    )
    details = {**tally.details(), "kills": kills.kills, "kills_before_first_write": kills.before_first_write, "kills_mid_apply": kills.mid_apply, "runs_finished_before_kill": kills.finished_first, "tracebacks": kills.tracebacks, "writes_not_journalled_at_kill": kills.unjournalled, "applies_with_unjournalled_writes": kills.seeds_unjournalled, "bulk_files_left": kills.files_left}
    return Trial(CATEGORY, f"SIGKILL during apply, then apply again: {mode.name}", kills.kills, held, result, details)


def run(quick: bool) -> list[Trial]:
    with tempfile.TemporaryDirectory(prefix="maforge-kills-") as scratch:
        workdir = Path(scratch)
        if quick:
            return [_trial(workdir, PER_USER, range(1, 4)), _trial(workdir, TRUSTED, range(101, 103)), _trial(workdir, BULK, range(201, 203))]
        return [_trial(workdir, PER_USER, range(1, 33)), _trial(workdir, TRUSTED, range(101, 113)), _trial(workdir, BULK, range(201, 213))]


__all__ = ["run"]
