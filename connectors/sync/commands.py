"""What `import`, `plan` and `apply` do, once, for both front ends: `maforge import|plan|apply
SPEC` and a built connector's `python -m <package> import|plan|apply`. The front ends only
parse options and print."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from maforge.connectors.spo.connection import Connection, layered
from maforge.connectors.spo.people import PeopleClient, claims
from maforge.connectors.spo.session import RetryPolicy, SpoSession

from .applier import ApplyRefused, ApplyResult, apply_plan
from .delta import full_import_reason, tracked_properties
from .gcpause import collector_paused
from .links import LinkState, links_digest, read_links, write_links
from .metaverse import UNRANKED, Metaverse, build_metaverse
from .plan import Plan, PlanError, load_plan, select_targets
from .planner import Preview, accounts_to_read, find_object, make_plan, now_utc, own_import, plan_clock, plan_disagreements, preview_join, preview_user
from .progress import Progress, notify
from .rulebook import ConnectorRules, RuleBook
from .signin import delegated_write_warning
from .snapshot import Snapshot, import_profiles, read_snapshot, record_applied

SNAPSHOT_FILE = "snapshot.jsonl"
DEFAULT_STATE_DIR = Path(".maforge")
READ_CHUNK = 100


def open_session(
    book: RuleBook | None,
    connection_file: Path | Connection,
    concurrency: int = 8,
    *,
    state_dir: Path | None = None,
    max_wait: float | None = None,
) -> SpoSession:
    """A session to the tenant the connection file names, signed in as it says. The spec's
    company (when there is a spec) goes into the User-Agent and its budget to the pacer; the
    budget learnt for the tenant is kept in ``state_dir``; throttling waits show on the
    progress line and stop the run past ``max_wait`` seconds in total (None: no cap).

    A Connection given as such is the emulator `--emulator` starts inside the command
    (emulator/embedded.py). It is complete: the AZURE_* variables, meant for a real tenant,
    are not mixed into it. And no budget is learnt for it: its throttling windows start
    afresh with every command, on another port each time, so what one run learnt would
    not hold for the next and would only leave a file behind per run."""
    embedded = isinstance(connection_file, Connection)
    # A file: the spec's sign-in settings, overridden by the file, then by AZURE_* (connection.py).
    connection = connection_file if embedded else layered(connection_file, book.sign_in_defaults if book else None)
    return SpoSession(
        connection,
        company=book.manifest.get("company") if book else None,
        concurrency=concurrency,
        budget=book.budget_per_5_minutes if book else None,
        state_dir=None if embedded else state_dir,
        retry=RetryPolicy(max_wait=max_wait),
        report=notify,
    )


def run_import(book: RuleBook, session: SpoSession, state_dir: Path, *, delta: bool = False, full_after: float | None = None, progress: Progress | None = None) -> Snapshot:
    """A full import, or with ``delta`` the users Graph reports changed since the last one; a
    delta becomes a full import (said on stderr) when the watermark cannot serve the spec or
    the last full import is older than ``full_after`` seconds (delta.py)."""
    connector = book.connector()
    select = tracked_properties(book)
    if delta:
        reason = full_import_reason(state_dir / SNAPSHOT_FILE, session.connection.tenant, select, full_after)
        if reason:
            notify(f"running a full import instead of --delta: {reason}")
            delta = False
    return import_profiles(session, connector.profile_properties, connector.multi_valued, state_dir / SNAPSHOT_FILE, delta=delta, progress=progress, select=select)


def run_plan(
    book: RuleBook,
    sources_dir: Path,
    session: SpoSession | None,
    *,
    refresh: bool = True,
    state_dir: Path = DEFAULT_STATE_DIR,
    tenant: str | None = None,
) -> Plan:
    """Plan against SharePoint's current values (refresh) or the last import snapshot; with a
    session, a plan that a delegated sign-in could not apply says so (signin.py)."""
    # One pause of the cyclic collector for the whole plan (gcpause.py says why): pausing each
    # stage alone would let a collection walk the metaverse between stages. The metaverse and
    # the snapshot are freed by reference counting when _plan returns, inside the pause, so
    # the first collection after it walks only the plan.
    with collector_paused():
        plan = _plan(book, sources_dir, session, refresh=refresh, state_dir=state_dir, tenant=tenant)
    if session is not None:
        warning = delegated_write_warning(session.credential.method, session.connection.username, [p.account for p in plan.profiles])
        if warning is not None:
            plan.warnings.append(warning)
    return plan


def _plan(book: RuleBook, sources_dir: Path, session: SpoSession | None, *, refresh: bool, state_dir: Path, tenant: str | None) -> Plan:
    now = now_utc()
    connector = book.connector()
    metaverse = build_metaverse(book, sources_dir, now, session)
    if refresh:
        if session is None:
            raise PlanError("planning with a refresh reads SharePoint: give --connection, or plan with --refresh=false against an import")
        if connector.anchor_join is None:
            raise PlanError("the connector joins profiles on something other than their anchor, so a refresh cannot know which profiles to read; run `maforge import` and plan with --refresh=false")
        links = read_links(state_dir, book.name, session.connection.tenant)
        accounts = accounts_to_read(connector, metaverse, links)
        people = PeopleClient(session, connector.multi_valued)
        chunks = [accounts[i : i + READ_CHUNK] for i in range(0, len(accounts), READ_CHUNK)]
        profiles: dict[str, dict] = {}
        for chunk, found in zip(chunks, session.map(people.get_many, chunks)):
            for account, values in zip(chunk, found):
                if values is not None:
                    profiles[str(values.get("AccountName") or account)] = values
        return make_plan(book, metaverse, profiles, tenant=session.connection.tenant, refreshed=True, now=now, links=links)
    snapshot = read_snapshot(state_dir / SNAPSHOT_FILE, tenant)
    missing = sorted(set(connector.profile_properties) - set(snapshot.properties))
    if missing:
        raise PlanError(f"the snapshot in {state_dir} lacks {', '.join(missing)}: the spec reads more of each profile than was imported; run `maforge import` again")
    profiles = {entry["account"]: entry["values"] for entry in snapshot.profiles.values()}
    links = read_links(state_dir, book.name, snapshot.tenant)
    return make_plan(book, metaverse, profiles, tenant=snapshot.tenant, refreshed=False, now=now, links=links)


def plan_exit_code(plan: Plan, detailed: bool, expect_no_changes: bool) -> int:
    """0 no changes; 2 changes with --detailed-exitcode; 1 changes with --expect-no-changes."""
    if not plan.profiles:
        return 0
    if expect_no_changes:
        return 1
    return 2 if detailed else 0


def run_apply(
    plan_path: Path,
    session: SpoSession,
    *,
    max_changes: int | None = None,
    journal: Path | None = None,
    results: Path | None = None,
    protected: tuple[str, ...] = (),
    replan_stale: bool = False,
    bulk: str = "auto",
    check_prior: str = "auto",
    state_dir: Path | None = DEFAULT_STATE_DIR,
    spec_hash: str | None = None,
    derive: tuple[RuleBook, Path] | None = None,
    targets: list[str] | None = None,
    loaded: Plan | None = None,
) -> ApplyResult:
    """Apply the plan saved at ``plan_path``: its journal and results sit beside it by default;
    an import snapshot in ``state_dir`` is updated with what was written. ``derive`` (the
    spec's rule book and its sources folder, from `--spec`): refuse the plan when a value it
    writes is not what the spec and its sources give (planner.plan_disagreements). ``targets``
    (`--target`): apply only those users' (and properties') changes of the plan. ``loaded``:
    the plan, when the caller read it already (to refuse a damaged one before signing in)."""
    plan = loaded if loaded is not None else load_plan(plan_path)
    links = _links_for(plan, plan_path, state_dir)
    plan = select_targets(plan, targets or [])  # after the stale check, which weighs the whole plan
    if derive is not None and not (spec_hash and plan.spec_hash != spec_hash):  # another spec: apply_plan's guard says so
        book, sources_dir = derive
        metaverse = build_metaverse(book, sources_dir, plan_clock(plan), session)  # sources' Now() as the plan saw it
        wrong = plan_disagreements(book, metaverse, plan, links if links is not None else (read_links(state_dir, plan.connector, plan.tenant) if state_dir is not None else None))
        if wrong:
            listed = "\n  ".join(wrong)
            raise ApplyRefused(f"{plan_path}: the plan writes what the spec and its sources do not give; nothing was written; make a new plan with `maforge plan --out`:\n  {listed}")
    try:
        result = apply_plan(
            plan,
            session,
            journal_path=journal or plan_path.with_name(plan_path.name + ".journal"),
            results_path=results or plan_path.with_name(plan_path.name + ".results.json"),
            max_changes=max_changes,
            protected=protected,
            replan_stale=replan_stale,
            bulk=bulk,
            check_prior=check_prior,
            spec_hash=spec_hash,
        )
    except ApplyRefused as refused:  # name the plan a guard refused, as every plan error does
        raise ApplyRefused(f"{plan_path}: {refused}") from None
    if links is not None and plan.joins and links.plan != plan.plan_id:
        # the joins are MIM's sync, not the export: they hold whatever became of the writes
        write_links(state_dir, links.apply(plan.joins, plan.plan_id))  # type: ignore[arg-type]
    if state_dir is not None and (state_dir / SNAPSHOT_FILE).exists():
        record_applied(state_dir / SNAPSHOT_FILE, plan.tenant, applied_values(plan, result))
    return result


def _links_for(plan: Plan, plan_path: Path, state_dir: Path | None) -> LinkState | None:
    """The join state to apply a plan's joins to, or ApplyRefused when the plan is stale.

    As Terraform refuses a saved plan once the state has moved on, a plan applies only to
    the join state it was made against: the serial it records, with the links it relies on
    as they were (the digest guards a hand-edited file that kept its serial). The one other
    state taken is the one a run of this very plan wrote (a re-run after a kill). Any other
    state (another plan applied since, `maforge state rm`, a backup restored, another
    --state folder) refuses the plan before anything is written: the joins it was computed
    for may no longer hold."""
    if plan.state_serial is None or state_dir is None:
        return None
    links = read_links(state_dir, plan.connector, plan.tenant)
    if links.plan == plan.plan_id and links.serial == plan.state_serial + 1:
        return links  # this plan's own joins, written by an earlier run of it
    if links.serial != plan.state_serial:
        why = "is older than the plan (a backup restored, or another --state folder)" if links.serial < plan.state_serial else "has changed since (another plan applied, or `maforge state rm`)"
        raise _stale(plan, plan_path, state_dir, links, why)
    touched = [str(change["person"]) for change in plan.joins]
    if plan.state_digest is not None and links_digest(links, touched) != plan.state_digest:
        raise _stale(plan, plan_path, state_dir, links, "holds other links than the plan relies on (the file was edited)")
    return links


def _stale(plan: Plan, plan_path: Path, state_dir: Path, links: LinkState, why: str) -> ApplyRefused:
    return ApplyRefused(
        f"{plan_path}: the plan is stale: it was made against join state serial {plan.state_serial}, and the join state in {state_dir} "
        f"(serial {links.serial}) {why}; nothing was written; make a new plan with `maforge plan --out`"
    )


def applied_values(plan: Plan, result: ApplyResult) -> dict[tuple[str, str], object]:
    """(account, property) → the value SharePoint now holds, for every change done."""
    changes = {(p.account.lower(), c.property): c for p in plan.profiles for c in p.changes}
    multi = set(plan.multi_valued)
    done: dict[tuple[str, str], object] = {}
    for entry in result.profiles:
        for outcome in entry["properties"]:
            change = changes.get((entry["account"].lower(), outcome["property"]))
            if change is not None and outcome["status"] in ("applied", "already-applied"):
                done[(entry["account"].lower(), change.property)] = change.after if change.action != "clear" else ([] if change.property in multi else "")
    return done


def run_preview(
    book: RuleBook,
    sources_dir: Path,
    session: SpoSession | None,
    user: str,
    *,
    refresh: bool = True,
    state_dir: Path = DEFAULT_STATE_DIR,
    tenant: str | None = None,
) -> Preview:
    """One user, flow by flow, against their profile now (or in the snapshot); writes nothing.

    The user is joined as `maforge plan` joins (the join state's sticky links, the connector
    filter, the join rules) and this MA's own import flows decline what they decline, so the
    preview of a user is that user's part of the plan."""
    now = now_utc()
    connector = book.connector()
    metaverse = build_metaverse(book, sources_dir, now, session)
    if refresh:
        if session is None:
            raise PlanError("a preview with a refresh reads SharePoint: give --connection, or use --refresh=false after an import")
        links = read_links(state_dir, book.name, session.connection.tenant)
        profiles, links = _preview_profiles(connector, metaverse, links, user, now, PeopleClient(session, connector.multi_valued))
    else:
        snapshot = read_snapshot(state_dir / SNAPSHOT_FILE, tenant)
        links = read_links(state_dir, book.name, snapshot.tenant)
        profiles = {entry["account"]: entry["values"] for entry in snapshot.profiles.values()}
    mv, account, note = preview_join(connector, metaverse, profiles, links, user, now)
    current = profiles.get(account) if account is not None else None
    declined: list[str] = []
    if mv is not None and account is not None and connector.import_flows is not None:
        declined = own_import(connector, metaverse, mv, profiles[account], account, now, UNRANKED + len(book.sources))
    return preview_user(book, mv, current, account, user, now, declined=declined, note=note)


def _preview_profiles(connector: ConnectorRules, metaverse: Metaverse, links: LinkState, user: str, now: dt.datetime, people: PeopleClient) -> tuple[dict[str, dict], LinkState]:
    """The profiles a preview of ``user`` needs from SharePoint, and the links among them.

    Reading every profile for one user would cost a full import; the plan's joins for this
    user depend only on: the profile the user names, the profile the user's person is linked
    to, the profile its sources name, and the profiles linked to any person that profile's
    join rules find (a person joined elsewhere stays there). Links to profiles not read are
    left out, so they neither disconnect nor hold anything here."""
    wanted: dict[str, None] = {claims(user): None}
    mv = find_object(connector, metaverse, user)
    if mv is not None:
        if mv.person is not None and mv.person in links.links:
            wanted[links.links[mv.person].account] = None
        named = mv.values.get(connector.anchor_join) if connector.anchor_join else None
        if isinstance(named, str) and named:
            wanted[named] = None
    profiles: dict[str, dict] = {}

    asked: set[str] = set()

    def read(accounts: list[str]) -> None:
        for account in accounts:  # one to three profiles: plain reads, no $batch
            if account.casefold() not in asked:
                asked.add(account.casefold())
                values = people.get_properties(account)
                if values is not None:
                    profiles[str(values.get("AccountName") or account)] = values

    read(list(wanted))
    anchor = connector.anchor[0] if connector.anchor else "AccountName"
    more = []
    for account, values in list(profiles.items()):
        found, _rule = metaverse.find(connector.join({anchor: account, **values}, now))
        more += [links.links[o.person].account for o in found if o.person is not None and o.person in links.links]
    read(more)
    tried = {a.casefold() for a in [*wanted, *more]}
    kept = {person: link for person, link in links.links.items() if link.account.casefold() in tried}
    return profiles, dataclasses.replace(links, links=kept)


