"""What `import`, `plan` and `apply` do, once, for both front ends: `maforge import|plan|apply
SPEC` and a built connector's `python -m <package> import|plan|apply`. The front ends only
parse options and print."""

from __future__ import annotations

from pathlib import Path

from maforge.connectors.spo.connection import Connection
from maforge.connectors.spo.people import PeopleClient, claims
from maforge.connectors.spo.session import RetryPolicy, SpoSession

from .applier import ApplyRefused, ApplyResult, apply_plan
from .delta import full_import_reason, tracked_properties
from .gcpause import collector_paused
from .links import LinkState, links_digest, read_links, write_links
from .metaverse import build_metaverse
from .plan import Plan, PlanError, load_plan
from .planner import Preview, accounts_to_read, find_object, make_plan, now_utc, preview_user
from .progress import Progress, notify
from .rulebook import RuleBook
from .signin import delegated_write_warning
from .snapshot import Snapshot, import_profiles, read_snapshot, record_applied

SNAPSHOT_FILE = "snapshot.jsonl"
DEFAULT_STATE_DIR = Path(".maforge")
READ_CHUNK = 100


def open_session(
    book: RuleBook | None,
    connection_file: Path,
    concurrency: int = 8,
    *,
    state_dir: Path | None = None,
    max_wait: float | None = None,
) -> SpoSession:
    """A session to the tenant the connection file names, signed in as it says. The spec's
    company (when there is a spec) goes into the User-Agent and its budget to the pacer; the
    budget learnt for the tenant is kept in ``state_dir``; throttling waits show on the
    progress line and stop the run past ``max_wait`` seconds in total (None: no cap)."""
    connection = Connection.from_file(connection_file).with_environment()
    return SpoSession(
        connection,
        company=book.manifest.get("company") if book else None,
        concurrency=concurrency,
        budget=book.budget_per_5_minutes if book else None,
        state_dir=state_dir,
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
) -> ApplyResult:
    """Apply the plan saved at ``plan_path``: its journal and results sit beside it by default;
    an import snapshot in ``state_dir`` is updated with what was written."""
    plan = load_plan(plan_path)
    links = _links_for(plan, plan_path, state_dir)
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
    """The join state to apply a plan's joins to, or ApplyRefused when the joins the plan was
    computed for no longer hold. A state at the plan's serial, or the one a run of this very
    plan wrote (a re-run after a kill), is the plan's own. A later state is taken only when
    every link the plan relies on without changing it is as it was (the plan's digest) and
    every person the plan joins or disconnects is as the plan found it or as the plan leaves
    it (another plan made the same joins). An older state (restored from a backup, another
    --state folder) is refused: applying would drop every link it lacks."""
    if plan.state_serial is None or state_dir is None:
        return None
    links = read_links(state_dir, plan.connector, plan.tenant)
    if links.serial == plan.state_serial or (links.plan == plan.plan_id and links.serial == plan.state_serial + 1):
        return links

    def refuse(why: str) -> ApplyRefused:
        return ApplyRefused(
            f"{plan_path}: the join state in {state_dir} is at serial {links.serial}, this plan was made at serial {plan.state_serial}, and {why}: "
            "nothing was written; make a new plan with `maforge plan --out`"
        )

    if links.serial < plan.state_serial:
        raise refuse("it is older than the plan (restored from a backup, or another --state folder)")
    touched = [str(change["person"]) for change in plan.joins]
    if plan.state_digest is not None and links_digest(links, touched) != plan.state_digest:
        raise refuse("a join the plan relies on has changed since (another plan applied, or `maforge state rm`)")
    was: dict[str, str | None] = {}
    final: dict[str, str | None] = {}
    for change in plan.joins:
        person = str(change["person"])
        was.setdefault(person, change.get("was"))
        final[person] = str(change["account"]) if change["action"] == "join" else None
    held_by = links.by_account()
    for person in was:
        link = links.links.get(person)
        now = link.account.casefold() if link is not None else None
        allowed = {None if v is None else v.casefold() for v in (was[person], final[person])}
        if now not in allowed:
            raise refuse(f"it now joins {person} to {link.account if link else 'nothing'}, which the plan did not expect")
        target = final[person]
        if target is not None and held_by.get(target.casefold()) not in (None, person):
            raise refuse(f"it now joins {target} to {held_by[target.casefold()]}, not {person}")
    return links


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
    """One user, flow by flow, against their profile now (or in the snapshot); writes nothing."""
    now = now_utc()
    connector = book.connector()
    metaverse = build_metaverse(book, sources_dir, now, session)
    found = find_object(connector, metaverse, user)
    account = str(found.values.get(connector.anchor_join)) if found is not None and connector.anchor_join and found.values.get(connector.anchor_join) else claims(user)
    if refresh:
        if session is None:
            raise PlanError("a preview with a refresh reads SharePoint: give --connection, or use --refresh=false after an import")
        current = PeopleClient(session, connector.multi_valued).get_properties(account)
    else:
        current = read_snapshot(state_dir / SNAPSHOT_FILE, tenant).values(account)
    return preview_user(book, metaverse, current, account, user, now)
