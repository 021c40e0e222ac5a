"""Throttling as SharePoint does it (docs/emulator.md, "Throttling") and maforge keeping to it.

The emulator's side: a silent PeopleManager budget with long drawn Retry-After values, the
app's resource units announced by RateLimit headers from 80 % (app-only only), the user's
requests, `$batch` parts counted one by one, throttled calls counted too, the time scale.
maforge's side (connectors/spo/pacing.py, session.py): a stated budget kept exactly, a budget
learnt from the first 429 and remembered per tenant, the resource units paced from the
headers, waits with no cap unless --max-wait, and a clean stop past it.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from maforge.connectors.emulator.throttle import Throttle
from maforge.connectors.spo.pacing import BudgetMemory, BudgetStore, Pacer, ThrottleWaitLimit, budget_for_app_limit
from maforge.connectors.spo.people import PeopleClient
from maforge.connectors.spo.session import RetryPolicy, SpoSession, ThrottledTooLong

ADELE = "adele.vance@contoso.onmicrosoft.com"
APP = {"appid": "app-1", "roles": ["User.ReadWrite.All"]}
USER = {"upn": "admin@contoso.onmicrosoft.com", "scp": "AllSites.Manage"}


class FakeClock:
    """Monotonic and wall-clock time that only move when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def throttle_of(emulator_factory, **options) -> Throttle:
    return emulator_factory(**options).throttle


def session_of(emulator, tmp_path, **options) -> SpoSession:
    path = tmp_path / "connection.json"
    path.write_text(json.dumps(emulator.connection()), encoding="utf-8")
    from maforge.connectors.spo.connection import Connection

    return SpoSession(Connection.from_file(path), **options)


# --------------------------------------------------------------------------- the emulator


def test_the_budget_is_silent_and_its_retry_after_is_drawn_from_the_reported_range(emulator_factory):
    throttle = throttle_of(emulator_factory, budget=10, retry_after=(70.0, 250.0), app_ru_per_minute=0, time_scale=1)
    assert all(throttle.admit(APP, True, now=1.0) is None for _ in range(10))
    waits = []
    for _ in range(40):
        verdict = throttle.admit(APP, True, now=2.0)
        assert verdict is not None and verdict.limit == "budget"
        waits.append(verdict.retry_after)
    assert min(waits) >= 70 and max(waits) <= 250 and len(set(waits)) > 5  # drawn, not the time to free
    assert throttle.stats()["throttled_by"]["budget"] == 40
    # throttled calls count too: 300 s after the first ten, the refused ones still fill the window
    assert throttle.admit(APP, True, now=301.5) is not None
    assert throttle.admit(APP, True, now=2.0 + 300.1 + 300.0) is None


def test_budget_429s_carry_no_ratelimit_headers(emulator_factory, tmp_path):
    emulator = emulator_factory(budget=3, app_ru_per_minute=0, time_scale=300)
    with session_of(emulator, tmp_path, sleep=lambda s: None) as session:
        for _ in range(3):
            answer = session.request("GET", PeopleClient(session).properties_url(ADELE))
            assert answer.status == 200 and "RateLimit-Limit" not in answer.headers
        raw = session.http.get(PeopleClient(session).properties_url(ADELE), headers=session._headers(emulator.admin_url, None))
    assert raw.status_code == 429
    assert "Retry-After" in raw.headers and not any(name.lower().startswith("ratelimit") for name in raw.headers)
    assert raw.json()["odata.error"]["code"].endswith("SPQueryThrottledException")


def test_app_resource_units_are_announced_from_80_percent_and_only_to_app_only_callers(emulator_factory):
    throttle = throttle_of(emulator_factory, budget=0, app_ru_per_minute=100, user_requests_per_5_minutes=0, time_scale=1)
    from maforge.connectors.emulator.server import Response

    shown = []
    for number in range(1, 51):  # 2 RU each: 80 RU at the 40th request
        assert throttle.admit(APP, False, now=10.0) is None
        response = Response(200)
        throttle.decorate(response, APP, now=10.0)
        shown.append((number, dict(response.headers)))
    assert all(not headers for number, headers in shown if number < 40)
    assert shown[39][1] == {"RateLimit-Limit": "100", "RateLimit-Remaining": "20", "RateLimit-Reset": "60"}
    refused = throttle.admit(APP, False, now=30.0)
    assert refused is not None and refused.limit == "app" and refused.retry_after == 40  # Retry-After = the reset
    for number in range(200):  # a delegated caller: no resource units, no headers
        response = Response(200)
        throttle.decorate(response, USER, now=10.0)
        assert not response.headers
    assert throttle.admit(APP, False, now=70.5) is None  # a new minute


def test_batch_parts_count_one_by_one(emulator_factory, tmp_path):
    emulator = emulator_factory(budget=5, app_ru_per_minute=0, time_scale=600)
    with session_of(emulator, tmp_path, sleep=lambda s: None) as session:
        from maforge.connectors.spo.batch import BatchPart

        people = PeopleClient(session)
        answer = session.request("POST", f"{emulator.admin_url}/_api/$batch", data=_batch_body(emulator, people, 8), headers={"Content-Type": "multipart/mixed; boundary=b1"}, calls=8)
    from maforge.connectors.spo.batch import parse_batch

    statuses = [part.status for part in parse_batch(answer.body, answer.headers["Content-Type"])]
    assert statuses == [200] * 5 + [429] * 3
    assert emulator.throttle.stats()["calls"] == 8


def _batch_body(emulator, people, parts: int) -> bytes:
    from maforge.connectors.spo.batch import BatchPart, build_batch

    return build_batch("b1", emulator.admin_url, [BatchPart("GET", people.properties_url(ADELE)) for _ in range(parts)])


def test_the_time_scale_shrinks_windows_and_retry_after(emulator_factory):
    throttle = throttle_of(emulator_factory, budget=1, time_scale=60, retry_after=(120.0, 120.0))
    assert throttle.limits.budget_window == pytest.approx(5.0)
    assert throttle.limits.app_window == pytest.approx(1.0)
    throttle.admit(APP, True, now=0.0)
    assert throttle.admit(APP, True, now=0.1).retry_after == 2  # 120 s / 60, whole seconds


def test_throttle_none_switches_every_limit_off(emulator_factory):
    throttle = throttle_of(emulator_factory, throttle="none", budget=1, app_ru_per_minute=1, user_requests_per_5_minutes=1)
    assert all(throttle.admit(APP, True, now=1.0) is None and throttle.admit(USER, True, now=1.0) is None for _ in range(100))


def test_the_user_limit_counts_delegated_requests(emulator_factory):
    throttle = throttle_of(emulator_factory, budget=0, user_requests_per_5_minutes=3, time_scale=1)
    assert [throttle.admit(USER, False, now=5.0) is None for _ in range(4)] == [True, True, True, False]
    assert throttle.admit(APP, False, now=5.0) is None  # an app is not a user


# --------------------------------------------------------------------------- the pacer


def pacer_of(clock: FakeClock, **options) -> Pacer:
    options.setdefault("app_only", False)
    return Pacer(sleep=clock.sleep, clock=clock, wall=clock.wall, **options)


def send(pacer: Pacer, calls: int, status: int = 200, headers=None, retry_after=None, budgeted: bool = True):
    ticket = pacer.acquire(calls, budgeted)
    pacer.answered(ticket, status, headers or {}, retry_after)
    return ticket


def test_a_stated_budget_is_kept_exactly():
    clock = FakeClock()
    pacer = pacer_of(clock, stated=300)
    for _ in range(3):
        send(pacer, 100)
    assert clock.slept == []
    send(pacer, 100)  # the 301st call waits for the first hundred to leave the 5-minute window
    assert sum(clock.slept) == pytest.approx(300, abs=0.1)


def test_a_silent_429_teaches_the_ceiling_and_holds_every_thread_for_retry_after():
    clock = FakeClock()
    reports: list[str] = []
    pacer = pacer_of(clock, report=reports.append)
    for _ in range(30):
        send(pacer, 100)
    assert pacer.limit is None and pacer.safe == 3000
    send(pacer, 10, status=429, retry_after=118)
    assert pacer.ceiling == 3000 and pacer.limit == 3000
    assert reports and reports[-1].startswith("SharePoint asked us to wait 1 min 58 s; resuming at ")
    started = clock.now
    send(pacer, 10)
    assert clock.now - started >= 118  # the hold, then the window: the budget is spent
    assert pacer.throttle_waited == pytest.approx(118)


def test_probing_limits_calls_in_flight_above_the_known_safe_count():
    clock = FakeClock()
    pacer = pacer_of(clock, concurrency=8)
    assert pacer.batch_size() == 100  # a small run goes at full speed
    for _ in range(4):
        send(pacer, 100)
    assert pacer.batch_size() == 24  # 24 calls in flight at most: a 429 refuses few
    send(pacer, 1, status=429, retry_after=1)
    assert pacer.ceiling == 400
    clock.sleep(301)
    assert pacer.batch_size() == 100  # below the ceiling SharePoint confirmed: full speed again


def test_resource_units_are_paced_from_the_ratelimit_headers():
    clock = FakeClock()
    pacer = pacer_of(clock, app_only=True, concurrency=8, stated=15000)
    send(pacer, 100)
    send(pacer, 100)
    send(pacer, 100)
    assert pacer.batch_size() == 100
    send(pacer, 100)
    assert pacer.batch_size() == 100  # near 80 % of the smallest limit: 120 calls in flight at most
    send(pacer, 80, headers={"RateLimit-Limit": "1200", "RateLimit-Remaining": "240", "RateLimit-Reset": "20"})
    assert pacer.ru_limit == 1200 and pacer.tier_budget == 3000 and pacer.limit == 15000  # the stated budget wins
    send(pacer, 100)  # 120 calls were left: 100 fit
    assert clock.slept == []
    send(pacer, 100)  # the next hundred wait for the reset
    assert sum(clock.slept) == pytest.approx(20, abs=0.1)


def test_an_announced_429_waits_for_the_reset_and_teaches_no_ceiling():
    clock = FakeClock()
    pacer = pacer_of(clock, app_only=True)
    send(pacer, 50, status=429, retry_after=31, headers={"RateLimit-Limit": "1200", "RateLimit-Remaining": "0", "RateLimit-Reset": "31"})
    assert pacer.ceiling is None and pacer.limit == 3000
    send(pacer, 1)
    assert clock.now - 1000.0 >= 31


def test_a_learnt_ceiling_grows_after_clean_windows_at_the_limit_and_backs_off_when_it_meets_a_429():
    """A probe up that meets a 429 costs a Retry-After hold, about half a window: a ceiling
    learnt at this client's own full use is probed after three clean windows, then twice as
    rarely after each failed probe."""
    clock = FakeClock()
    pacer = pacer_of(clock, memory=BudgetMemory(ceiling=200, safe=200))
    for _ in range(20):
        send(pacer, 100)  # at the limit, no 429
        if pacer.ceiling != 200:
            break
    assert pacer.ceiling == 251  # a quarter more, the band above 200 probed
    assert clock.now - 1000.0 >= 3 * 300  # after three whole windows at the limit, not before
    send(pacer, 50)  # 150 accepted in this window
    send(pacer, 1, status=429, retry_after=1)  # the budget is spent after all (someone else's use grew)
    assert pacer.ceiling == 150 and pacer._grow_after == 6  # the next probe up waits twice as long


def test_a_ceiling_halved_by_another_clients_burst_is_probed_again_after_one_window():
    clock = FakeClock()
    pacer = pacer_of(clock, memory=BudgetMemory(ceiling=2400, safe=2400))
    send(pacer, 1, status=429, retry_after=10)  # we had spent nothing: someone else's burst
    assert pacer.ceiling == 1200
    for _ in range(40):
        send(pacer, 100)
        if pacer.ceiling != 1200:
            break
    assert pacer.ceiling == 1501 and clock.now - 1000.0 < 2 * 300 + 20


def test_a_429_when_this_client_spent_little_halves_the_ceiling_at_most():
    """Another client's burst (or a killed run of ours still in the window) makes SharePoint
    refuse this client's first calls: that is no reason to crawl at a handful of calls."""
    clock = FakeClock()
    pacer = pacer_of(clock, memory=BudgetMemory(ceiling=2400, safe=2400))
    send(pacer, 1, status=429, retry_after=10)
    assert pacer.ceiling == 1200
    fresh = pacer_of(FakeClock())
    send(fresh, 20)
    send(fresh, 5, status=429, retry_after=10)
    assert fresh.ceiling == 20  # a first 429 with nothing known: what SharePoint accepted


def test_max_wait_stops_every_thread_with_a_clear_message():
    clock = FakeClock()
    pacer = pacer_of(clock, max_wait=60)
    with pytest.raises(ThrottleWaitLimit, match=r"--max-wait 1 min"):
        send(pacer, 10, status=429, retry_after=118)
    with pytest.raises(ThrottleWaitLimit):
        pacer.acquire(1, True)  # stopped for everyone


def test_the_learnt_budget_is_remembered_per_tenant(tmp_path):
    clock = FakeClock()
    pacer = pacer_of(clock)
    for _ in range(5):
        send(pacer, 100)
    send(pacer, 1, status=429, retry_after=1)
    store = BudgetStore(tmp_path, "contoso-1234")
    store.save(pacer.memory())
    assert (tmp_path / "throttling" / "contoso-1234.json").stat().st_mode & 0o077 == 0
    later = FakeClock()
    later.now = clock.now + 10  # ten seconds later: this run's calls still fill the window
    again = Pacer(memory=store.load(), app_only=False, sleep=later.sleep, clock=later, wall=lambda: clock.wall() + 10)
    assert again.ceiling == 500
    send(again, 100)
    assert sum(later.slept) > 280  # the window still holds the last run's 500 calls
    assert BudgetStore(tmp_path, "fabrikam").load() is None
    BudgetStore(tmp_path, "idle").save(Pacer(app_only=False).memory())  # nothing learnt, nothing spent
    assert not (tmp_path / "throttling" / "idle.json").exists()  # a refused run writes nothing


@pytest.mark.parametrize("ru,budget", [(1200, 3000), (1250, 3000), (2400, 6000), (3600, 9000), (4800, 12000), (6000, 15000)])
def test_the_budget_tier_follows_the_app_limit(ru, budget):
    assert budget_for_app_limit(ru) == budget


# --------------------------------------------------------------------------- sessions against the emulator


def test_a_429_is_waited_out_with_no_attempt_cap(emulator_factory, tmp_path):
    emulator = emulator_factory(budget=20, app_ru_per_minute=0, time_scale=300)  # a 1 s window, Retry-After 1 s
    with session_of(emulator, tmp_path) as session:
        people = PeopleClient(session)
        started = time.monotonic()
        for _ in range(45):
            assert people.get_properties(ADELE) is not None
    assert session.stats.throttled >= 1 and session.pacer.ceiling == 20
    assert emulator.throttle.stats()["throttled"] <= 2  # learnt at the first 429, then kept to
    assert time.monotonic() - started >= 2.0  # two windows' worth of waiting, not failures


def test_a_budget_learnt_from_one_emulator_does_not_slow_another(emulator_factory, tmp_path):
    """Every emulator has the same tenant id; what a 20-call one taught must stay with it
    (the docs' storm example runs before other commands against a default emulator)."""
    state = tmp_path / "state"
    storm = emulator_factory(budget=20, app_ru_per_minute=0, time_scale=300)
    with session_of(storm, tmp_path, state_dir=state) as session:
        people = PeopleClient(session)
        for _ in range(25):
            people.get_properties(ADELE)
        assert session.pacer.ceiling == 20
    calm = emulator_factory(app_ru_per_minute=0, time_scale=1)
    (tmp_path / "calm").mkdir()
    with session_of(calm, tmp_path / "calm", state_dir=state) as session:
        assert session.pacer.ceiling is None  # nothing learnt about this tenant yet
        people = PeopleClient(session)
        started = time.monotonic()
        for _ in range(30):
            people.get_properties(ADELE)
        assert time.monotonic() - started < 20 and session.stats.throttled == 0
    assert len(list((state / "throttling").glob("*.json"))) == 2  # one memory per emulator


def test_max_wait_stops_a_session_cleanly(emulator_factory, tmp_path):
    emulator = emulator_factory(budget=5, app_ru_per_minute=0, time_scale=10)  # Retry-After 7 to 25 s
    with session_of(emulator, tmp_path, retry=RetryPolicy(max_wait=3)) as session:
        people = PeopleClient(session)
        for _ in range(5):
            people.get_properties(ADELE)
        started = time.monotonic()
        with pytest.raises(ThrottledTooLong, match="--max-wait 3 s"):
            people.get_properties(ADELE)
        assert time.monotonic() - started < 2  # it did not wait first and give up after


# --------------------------------------------------------------------------- maforge's commands under throttling

SAMPLE = __import__("pathlib").Path(__file__).resolve().parents[1] / "samples" / "spo-user-profiles.yaml"


def _calm(emulator) -> None:
    """The storm is over: every limit off from now on."""
    import dataclasses

    emulator.throttle = Throttle(dataclasses.replace(emulator.config, throttle="none"))


def test_apply_past_max_wait_stops_cleanly_and_the_rerun_writes_each_property_once(cli, emulator_factory, tmp_path):
    from maforge.connectors.sync.plan import Plan, ProfileChange, PropertyChange, save_plan

    emulator = emulator_factory(profiles=120, budget=30, app_ru_per_minute=0, time_scale=60)  # Retry-After 2 to 5 s
    connection = tmp_path / "connection.json"
    connection.write_text(json.dumps(emulator.connection()), encoding="utf-8")
    accounts = ["i:0#.f|membership|" + emulator.state.user(i).upn for i in range(26, 121) if emulator.state.has_profile(i)][:60]
    plan = Plan("t", "contoso", "", "", "2026-01-01T00:00:00Z", True, [ProfileChange(a, "t", (PropertyChange("AboutMe", "set", "", f"n{n}"),)) for n, a in enumerate(accounts)])
    save_plan(plan, tmp_path / "plan.json")
    started = time.monotonic()
    first = cli("apply", str(tmp_path / "plan.json"), "--connection", str(connection), "--state", str(tmp_path / "state"), "--check-prior", "never", "--max-wait", "1s")
    assert first.exit_code == 1 and time.monotonic() - started < 10  # stopped, not waited out
    assert "--max-wait 1 s" in first.output and "run the same apply again" in first.output
    results = json.loads((tmp_path / "plan.json.results.json").read_text(encoding="utf-8"))
    statuses = [p["properties"][0]["status"] for p in results["profiles"]]
    assert statuses.count("applied") == 30 and statuses.count("not-attempted") == 30
    assert len((tmp_path / "plan.json.journal").read_text(encoding="utf-8").splitlines()) == 30
    _calm(emulator)
    second = cli("apply", str(tmp_path / "plan.json"), "--connection", str(connection), "--state", str(tmp_path / "state"), "--check-prior", "never")
    assert second.exit_code == 0, second.output
    written = [(w.account.lower(), w.property) for w in emulator.state.writes]
    assert len(written) == 60 and len(set(written)) == 60  # every property once, none twice


def test_a_full_import_stopped_by_max_wait_resumes_where_it_was(cli, emulator_factory, tmp_path):
    emulator = emulator_factory(profiles=400, budget=150, app_ru_per_minute=0, time_scale=60)  # Retry-After 2 to 5 s
    connection = tmp_path / "connection.json"
    connection.write_text(json.dumps(emulator.connection()), encoding="utf-8")
    state = tmp_path / "state"
    first = cli("import", str(SAMPLE), "--connection", str(connection), "--out", str(state), "--max-wait", "1s")
    assert first.exit_code == 1
    assert "import.partial.jsonl: run the same import again to resume" in first.output
    assert not (state / "snapshot.jsonl").exists()  # no snapshot, so no watermark, from a partial run
    kept = len((state / "import.partial.jsonl").read_text(encoding="utf-8").splitlines()) - 1
    assert 0 < kept <= 150
    _calm(emulator)
    calls_before = emulator.throttle.stats()["calls"]
    second = cli("import", str(SAMPLE), "--connection", str(connection), "--out", str(state))
    assert second.exit_code == 0, second.output
    assert f"{kept} profiles already read are kept" in second.output
    profiles = sum(1 for i in range(1, 401) if emulator.state.has_profile(i))
    assert f"imported {profiles} profiles" in second.output
    read_again = emulator.throttle.stats()["calls"] - calls_before
    assert read_again <= 400 - kept  # only what the first run had not read
    assert not (state / "import.partial.jsonl").exists()
    assert (state / "throttling").is_dir()  # the learnt budget, for the next run


def test_waits_show_on_the_progress_line(cli, emulator_factory, tmp_path):
    emulator = emulator_factory(profiles=60, budget=20, app_ru_per_minute=0, time_scale=300)
    connection = tmp_path / "connection.json"
    connection.write_text(json.dumps(emulator.connection()), encoding="utf-8")
    result = cli("import", str(SAMPLE), "--connection", str(connection), "--out", str(tmp_path / "state"))
    assert result.exit_code == 0, result.output
    assert re.search(r"importing profiles: SharePoint asked us to wait \d+ s; resuming at \d\d:\d\d:\d\d", result.output)
