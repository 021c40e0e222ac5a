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
Before the last run the tenant is left to finish what the killed runs sent, and those calls
to leave the budget's window, so that run is judged by its own writes; between killed runs it
is not (a re-run may overlap them). The seeds of a trial run SEEDS_AT_ONCE at a time.

All of them run under the realistic profile (reliability/faults.py `realistic()`: the
emulator's own limits 100 times faster, with a budget of about half a whole run's calls, so
every run, killed or not, meets 429s), and `maforge apply` gets `--state`, so the budget it
learns is remembered between runs (not by a killed run: it never closes its session).

A fourth trial stops the apply without a kill: `maforge apply --max-wait` under the realistic
profile, throttled past the cap (its first 429 asking for more than a short cap; in the full
run also a storm: another client spending the tenant's budget from a random point of the
apply on), must exit 1 with the reason and the next step on stderr, report what it did not
send as "not attempted" (and not write it), journal only real writes; the same command run
again once the throttled calls have left the window finishes the plan with no per-user write
made twice. Its text lists the budget each stopped run left in the state folder and how long
each re-run took: the pacer learns a ceiling at each silent 429 from its own calls accepted in
the window, so a storm of another client's calls (or a killed run's calls, still counted by
SharePoint) can leave it a small fraction of the real budget, which it then keeps to (and
remembers for the next run), growing it by 5 % every three windows.
"""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from maforge.connectors.emulator.certs import ensure_certificates
from maforge.connectors.emulator.server import Emulator, EmulatorConfig
from maforge.connectors.sync.applier import ApplyResult
from maforge.connectors.sync.plan import save_plan

from . import Trial
from .faults import BULK_ELIGIBLE, FIRST_SYNTHETIC, TIME_SCALE, JobLog, Tally, expected_values, judge_counts, judge_final, judge_journal, judge_run, limits_text, make_plan, merge_counts, read_results, realistic

CATEGORY = "kills"
SEEDS_AT_ONCE = 2  # each against its own tenant; a run spends much of its time waiting on the budget
SUMMARY = re.compile(r"Apply: (\d+) applied, (\d+) already applied, (\d+) stale, (\d+) failed, (\d+) on missing profiles(?:, (\d+) not attempted)?")
RUN_TIMEOUT = 300.0


@dataclass(frozen=True, slots=True)
class Mode:
    name: str
    bulk: str  # --bulk
    check_prior: str  # --check-prior
    profiles: int
    latency_ms: float
    budget: int  # the realistic profile's PeopleManager budget: about half of one whole run's calls


PER_USER = Mode("per-user writes (prior values read)", "never", "auto", 400, 15.0, 600)
TRUSTED = Mode("per-user writes, priors trusted (--check-prior never)", "never", "never", 400, 15.0, 450)
BULK = Mode("bulk import and per-user writes", "always", "auto", 150, 5.0, 150)


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
    typical: float = 1.5  # how long a whole run takes (at least what the budget allows, or the longest final run so far): kill delays fall within it


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


def _started_emulator(workdir: Path, mode: Mode) -> Emulator:
    """A tenant under the realistic limits, large enough for the mode's plan, started."""
    emu = Emulator(EmulatorConfig(profiles=FIRST_SYNTHETIC + 3 * mode.profiles, latency_ms=mode.latency_ms, bulk_job_seconds=0.2, **realistic(mode.budget)), workdir)
    emu.state.jobs = JobLog()
    emu.start()
    return emu


def _saved_plan(emu: Emulator, rng: random.Random, mode: Mode, folder: Path, tag: str):
    """A random plan for the mode, saved with a connection file beside it: (plan, the values
    it should leave, its path, the connection file)."""
    plan = make_plan(emu, rng, mode.profiles, tag, bulk_share=0.6 if mode.bulk != "never" else 0.3)
    path = folder / "plan.json"
    save_plan(plan, path)
    connection = folder / "connection.json"
    connection.write_text(json.dumps(emu.connection()), encoding="utf-8")
    return plan, expected_values(plan), path, connection


def _count_throttling(emu: Emulator, tally: Tally) -> int:
    """Add the emulator's 429s to the tally; how many there were."""
    stats = emu.throttle.stats()
    tally.throttled += int(stats["throttled"])
    tally.throttled_by.update({k: n for k, n in dict(stats["throttled_by"]).items() if n})
    return int(stats["throttled"])


def one_seed(workdir: Path, seed: int, mode: Mode, tally: Tally, kills: KillTally) -> None:
    rng = random.Random(seed)
    emu = _started_emulator(workdir, mode)
    folder = Path(tempfile.mkdtemp(prefix=f"seed-{seed}-", dir=workdir))
    try:
        plan, expected, path, connection = _saved_plan(emu, rng, mode, folder, f"k{seed}")
        command = _command(path, connection, mode, folder / "state")
        tally.applies += 1
        tally.planned += plan.change_count
        # a whole run sends about this many budgeted calls (the writes, and the reads unless
        # the priors are trusted) and the budget lets that many through per window
        calls = plan.change_count + (len(plan.profiles) if mode.check_prior != "never" else 0)
        kills.typical = max(kills.typical, calls / mode.budget * 300 / emu.config.time_scale)
        start = len(emu.state.writes)
        for _kill in range(1 + (rng.random() < 0.5) + (rng.random() < 0.25)):
            _killed_run(command, folder, emu, rng, plan.change_count, start, kills)
            tally.runs += 1
        for attempt in range(1, 4):
            _quiet(emu)  # what the killed runs sent has landed: this run is judged by its own writes
            if attempt == 1:
                # ... and has left the budget's window: SharePoint still counts a killed run's
                # calls, and a run that starts into them learns a fraction of the budget from its
                # first 429 and crawls (61-89 s instead of 4 s here; see the module docstring)
                time.sleep(300 / emu.config.time_scale)
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
                result = ApplyResult(*(int(n or 0) for n in found.groups()))
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
        _count_throttling(emu, tally)
        emu.stop()


def _trial(workdir: Path, mode: Mode, seeds: range) -> Trial:
    """``one_seed`` for each seed, SEEDS_AT_ONCE at a time (each against its own tenant)."""
    tally, kills = Tally(), KillTally()
    started = time.monotonic()
    ensure_certificates(workdir / "certs")  # once, before tenants start at once

    def one(seed: int) -> tuple[Tally, KillTally]:
        mine, my_kills = Tally(), KillTally()
        try:
            one_seed(workdir, seed, mode, mine, my_kills)
        except Exception as error:  # a traceback here is a failed trial, with its reason
            mine.mismatches.append(f"seed {seed}: {type(error).__name__}: {error}")
        return mine, my_kills

    with ThreadPoolExecutor(max_workers=SEEDS_AT_ONCE) as pool:
        for mine, my_kills in pool.map(one, seeds):
            tally.merge(mine)
            typical = max(kills.typical, my_kills.typical)
            merge_counts(kills, my_kills)
            kills.typical = typical
    kills.seconds = tally.seconds = time.monotonic() - started
    held = tally.held and kills.tracebacks == 0 and kills.kills > 0
    by = ", ".join(f"{n:,} {k}" for k, n in sorted(tally.throttled_by.items(), key=lambda kv: -kv[1]))
    result = (
        f"Under the realistic profile ({limits_text(realistic(mode.budget))}): "
        f"{kills.kills} SIGKILLs over {tally.applies} applies ({kills.before_first_write} before the first write, {kills.mid_apply} mid-apply; "
        f"{kills.finished_first} runs finished before their kill moment), {tally.planned:,} writes planned: "
        f"the kills left {kills.unjournalled:,} writes done but not journalled (in {kills.seeds_unjournalled} of the applies); "
        f"final state = plan in {tally.equal_to_plan}/{tally.applies} after a run that exited 0, {tally.lost} lost, {tally.wrong} wrong, "
        f"{tally.repeats} repeats of an idempotent set" + (f" ({tally.repeats_bulk} of bulk rows queued again after a kill)" if tally.repeats_bulk else "")
        + (f", {tally.requeued} bulk queue calls repeated, {kills.files_left} bulk data files left behind by killed runs" if mode.bulk != "never" else "")
        + f"; the last run's report agrees with the write log and the journal names only real writes: {'yes' if not tally.mismatches else f'no ({len(tally.mismatches)} mismatches)'}"
        + (f"; {kills.final_not_zero} final runs exited 1 and were run again" if kills.final_not_zero else "")
        + f"; {tally.throttled:,} answers 429 met (batch parts included{': ' + by if by else ''})"
        + f"; {kills.runs} runs of `maforge apply`, {kills.seconds:.0f} s"
    )
    details = {**tally.details(), "kills": kills.kills, "kills_before_first_write": kills.before_first_write, "kills_mid_apply": kills.mid_apply, "runs_finished_before_kill": kills.finished_first, "tracebacks": kills.tracebacks, "writes_not_journalled_at_kill": kills.unjournalled, "applies_with_unjournalled_writes": kills.seeds_unjournalled, "bulk_files_left": kills.files_left}
    return Trial(CATEGORY, f"SIGKILL during apply, then apply again: {mode.name}", kills.kills, held, result, details)


# --------------------------------------------------------------------------- --max-wait


class Neighbour(threading.Thread):
    """Another client of the tenant spending its PeopleManager budget (tenant-wide) at the
    budget's own rate, so that alone it keeps the window full: while it runs, every call of
    the apply is refused with the realistic profile's Retry-After. The storm."""

    def __init__(self, emu: Emulator):
        super().__init__(daemon=True)
        self.emu = emu
        self.calls = 0
        self.refused = 0  # its own 429s (the emulator counts them with the apply's)
        self.done = threading.Event()

    def run(self) -> None:
        limits = self.emu.throttle.limits
        step = 0.05
        owed = 0.0
        while not self.done.wait(step):
            owed += limits.budget * step / limits.budget_window
            while owed >= 1:
                owed -= 1
                self.calls += 1
                self.refused += self.emu.throttle.admit(None, True) is not None

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=5)


@dataclass(slots=True)
class StopTally:
    stops: int = 0  # runs that stopped on --max-wait: exit 1, the reason on stderr, the rest not attempted
    finished_first: int = 0  # runs that ended before the storm began
    not_attempted: int = 0  # changes the stopped runs reported not attempted
    met_429: int = 0  # 429s the applies met (a neighbour's own left out)
    neighbour_calls: int = 0
    tracebacks: int = 0
    rerun_seconds: list[float] = field(default_factory=list)  # each run after the stop
    ceilings: list[int] = field(default_factory=list)  # the budget the stopped runs left in the state folder (0: none learnt)
    seconds: float = 0.0


def _run_in_storm(command: list[str], cwd: Path, emu: Emulator, rng: random.Random, per_user: int, start: int, stops: StopTally) -> subprocess.CompletedProcess[str]:
    """Run the apply; once the tenant has taken a seeded share (20-60 %) of the plan's
    per-user writes, a neighbour's storm begins, and lasts until the run has exited."""
    target = rng.randrange(max(per_user // 5, 1), max(per_user * 3 // 5, 2))
    neighbour = Neighbour(emu)
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # the pipes are read at the end: a run writes a few lines, far below a pipe's buffer
        deadline = time.monotonic() + RUN_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            if neighbour.ident is None and len(emu.state.writes) - start >= target:
                neighbour.start()
            time.sleep(0.005)
        stdout, stderr = process.communicate(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        if neighbour.ident is not None:
            neighbour.stop()
        stops.neighbour_calls += neighbour.calls
        stops.met_429 -= neighbour.refused
    if neighbour.ident is None:
        stops.finished_first += 1
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def stop_seed(workdir: Path, seed: int, mode: Mode, max_wait: float, storm: bool, tally: Tally, stops: StopTally) -> None:
    """A plan applied with `--max-wait` under the realistic profile until a run exits 0. The
    first run meets throttling past the cap (``storm``: a neighbour spends the budget from a
    random point on; else its own first 429, whose Retry-After is longer than the cap) and
    must stop cleanly; the same command then runs again once the throttled calls have left
    the budget's window. Every run is judged by the write log, as the killed runs are."""
    rng = random.Random(seed)
    emu = _started_emulator(workdir, mode)
    folder = Path(tempfile.mkdtemp(prefix=f"stop-{seed}-", dir=workdir))
    try:
        plan, expected, path, connection = _saved_plan(emu, rng, mode, folder, f"w{seed}")
        command = [*_command(path, connection, mode, folder / "state"), "--max-wait", f"{max_wait:g}s"]
        journal, results = path.with_name("plan.json.journal"), path.with_name("plan.json.results.json")
        tally.applies += 1
        tally.planned += plan.change_count
        start = len(emu.state.writes)
        for attempt in range(1, 5):
            label = f"seed {seed} run {attempt}"
            run_start = len(emu.state.writes)
            written_before = {(w.account.lower(), w.property) for w in emu.state.writes[start:run_start]}
            began = time.monotonic()
            if attempt == 1 and storm:
                per_user = sum(1 for p in plan.profiles for c in p.changes if mode.bulk == "never" or c.property not in BULK_ELIGIBLE)
                done = _run_in_storm(command, folder, emu, rng, per_user, start, stops)
            else:
                done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=RUN_TIMEOUT)
            if attempt > 1:
                stops.rerun_seconds.append(round(time.monotonic() - began, 1))
            tally.runs += 1
            _quiet(emu)  # a bulk job the run queued has finished: its writes are this run's
            if "Traceback" in done.stderr:
                stops.tracebacks += 1
                tally.mismatches.append(f"{label}: traceback: {done.stderr.strip().splitlines()[-1][:200]}")
            window = emu.state.writes[run_start:]
            ever = {(w.account.lower(), w.property) for w in emu.state.writes[start:]}
            judge_journal(label, journal, plan, ever, tally)
            found = SUMMARY.search(done.stdout)
            stopped = "--max-wait" in done.stderr and "run the same apply again" in done.stderr
            if found is None:
                tally.errors.append(f"{label}: exit {done.returncode}: {(done.stderr or done.stdout).strip()[-200:]}")
            else:
                result = ApplyResult(*(int(n or 0) for n in found.groups()))
                summary, outcomes = read_results(results)
                judge_counts(label, result, summary, outcomes, plan.change_count, tally)
                judge_run(label, expected, outcomes, window, written_before, tally)
                if stopped:
                    stops.stops += 1
                    tally.stopped += 1
                    stops.not_attempted += result.not_attempted
                    if done.returncode != 1:
                        tally.mismatches.append(f"{label}: stopped on --max-wait but exited {done.returncode}")
                elif done.returncode != 0:
                    tally.errors.append(f"{label}: exit {done.returncode}: {done.stderr.strip()[-200:]}")
            if done.returncode == 0:
                break
            if attempt == 1:
                memory = next(iter((folder / "state" / "throttling").glob("*.json")), None)
                learnt = json.loads(memory.read_text(encoding="utf-8")).get("ceiling") if memory is not None else None
                stops.ceilings.append(learnt if isinstance(learnt, int) else 0)
            time.sleep(300 / emu.config.time_scale)  # after the storm: the throttled calls leave the window
        else:
            tally.mismatches.append(f"seed {seed}: apply did not exit 0 in 4 runs")
        if attempt > 1:
            tally.reruns += 1
        judge_final(emu, expected, emu.state.writes[start:], tally)
    finally:
        stops.met_429 += _count_throttling(emu, tally)
        emu.stop()


def _stop_trial(workdir: Path, modes: list[Mode], seeds: range, max_wait: float, storm: bool) -> Trial:
    """``stop_seed`` for each seed, all at once (each against its own tenant: most of their
    time is spent waiting on throttling), the modes taken in turn."""
    tally, stops = Tally(once_only=True, need_stop=True), StopTally()
    started = time.monotonic()
    ensure_certificates(workdir / "certs")  # once, before the tenants start at once

    def one(number: int, seed: int) -> tuple[Tally, StopTally]:
        mine, my_stops = Tally(), StopTally()
        try:
            stop_seed(workdir, seed, modes[number % len(modes)], max_wait, storm, mine, my_stops)
        except Exception as error:  # a traceback here is a failed trial, with its reason
            mine.mismatches.append(f"seed {seed}: {type(error).__name__}: {error}")
        return mine, my_stops

    with ThreadPoolExecutor(max_workers=len(seeds)) as pool:
        for mine, my_stops in pool.map(one, range(len(seeds)), seeds):
            tally.merge(mine)
            merge_counts(stops, my_stops)
    stops.seconds = tally.seconds = time.monotonic() - started
    held = tally.held and stops.tracebacks == 0
    budgets = " / ".join(f"{m.budget:,}" for m in modes)
    how = (
        f"another client spending the tenant's budget from a random point of the apply on (a storm; {stops.finished_first} runs ended before it began)"
        if storm
        else f"the first 429 asking for more than --max-wait ({max_wait:g} s here, {max_wait * TIME_SCALE:g} s of SharePoint's time)"
    )
    result = (
        f"Under the realistic profile ({limits_text(realistic(modes[0].budget))}; budgets {budgets} by mode), {how}, `maforge apply --max-wait {max_wait:g}s` "
        f"({', '.join(m.name for m in modes)}): {tally.applies} applies, {tally.planned:,} writes planned, {stops.met_429:,} answers 429 met; "
        f"{stops.stops} runs stopped cleanly past --max-wait (exit 1, the reason and the next step on stderr), reporting {stops.not_attempted:,} changes not attempted, none of them written; "
        f"the same command run again {'after the storm' if storm else 'once the refused calls had left the window'} finished every plan: final state = plan in {tally.equal_to_plan}/{tally.applies}, "
        f"{tally.lost} lost, {tally.wrong} wrong, {tally.repeats - tally.repeats_bulk} per-user writes made twice"
        + (f", {tally.repeats_bulk} bulk rows written again by a job queued again" if tally.repeats_bulk else "")
        + (f", {tally.requeued} bulk queue calls repeated" if any(m.bulk != "never" for m in modes) else "")
        + f"; every run's report agrees with the write log and the journal names only real writes: {'yes' if not tally.mismatches else f'no ({len(tally.mismatches)} mismatches)'}"
        + f"; the budgets the stopped runs left in the state folder: {', '.join(map(str, stops.ceilings)) or 'none'} calls per 5 minutes"
        + f"; {tally.runs} runs; the runs after the stop took {', '.join(f'{t:g}' for t in stops.rerun_seconds) or '-'} s"
    )
    details = {**tally.details(), **{k: getattr(stops, k) for k in StopTally.__slots__}, "max_wait": max_wait, "storm": storm}
    return Trial(CATEGORY, "throttling past --max-wait during apply (a clean stop), then apply again after the storm", tally.applies, held, result, details)


def _merged(first: Trial, second: Trial, joint: str) -> Trial:
    return Trial(first.category, first.name, first.tried + second.tried, first.held and second.held, first.result + joint + second.result, {**first.details, "storm_of_another_client": second.details})


STOP_PER_USER = Mode("per-user writes (prior values read)", "never", "auto", 80, 15.0, 100)
STOP_TRUSTED = Mode("per-user writes, priors trusted", "never", "never", 80, 15.0, 80)
STOP_BULK = Mode("bulk import and per-user writes", "always", "auto", 80, 5.0, 60)
# Shorter than every Retry-After but the shortest (1 s at time scale 100): the first 429 stops
# the run, unless all its parts asked for the shortest. As a user who would rather re-run
# later than wait 70-250 s would set it.
SHORT_WAIT = 1.0
# One long Retry-After is waited out, a second one is past the cap: a storm stops the run.
STORM_WAIT = 3.0


def run(quick: bool) -> list[Trial]:
    with tempfile.TemporaryDirectory(prefix="maforge-kills-") as scratch:
        workdir = Path(scratch)
        if quick:
            return [
                _trial(workdir, PER_USER, range(1, 4)),
                _trial(workdir, TRUSTED, range(101, 103)),
                _trial(workdir, BULK, range(201, 203)),
                _stop_trial(workdir, [STOP_PER_USER, STOP_BULK], range(301, 303), SHORT_WAIT, False),
            ]
        return [
            _trial(workdir, PER_USER, range(1, 33)),
            _trial(workdir, TRUSTED, range(101, 113)),
            _trial(workdir, BULK, range(201, 213)),
            _merged(
                _stop_trial(workdir, [STOP_PER_USER, STOP_BULK, STOP_TRUSTED], range(301, 307), SHORT_WAIT, False),
                _stop_trial(workdir, [STOP_PER_USER, STOP_BULK, STOP_TRUSTED], range(401, 407), STORM_WAIT, True),
                "; and in a storm: ",
            ),
        ]


__all__ = ["run"]
