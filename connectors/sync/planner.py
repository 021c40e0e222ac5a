"""Compute a plan: the metaverse from the sources, the SharePoint profiles (from a refresh or
the import snapshot) joined to it by the connector's join rules, each managed property
computed by the export flows and compared with what SharePoint holds."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from maforge import __version__
from maforge.connectors.spo import catalogue

from .functions import text
from maforge.connectors.spo.people import claims

from .metaverse import UNRANKED, Metaverse, MvObject, Problem, build_metaverse, flowing_values, join_key
from .plan import Plan, ProfileChange, PropertyChange, property_change
from .links import LinkState, links_digest
from .rulebook import ConnectorRules, RuleBook
from .values import CLEAR, IGNORE, is_empty

Profiles = Mapping[str, dict[str, Any]]  # claims login (any case) → property values


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def normalise(value: Any, multi_valued: bool) -> Any:
    """A value as SharePoint stores it: text, or a list of distinct non-empty texts in order
    (SharePoint keeps a multi-valued property as a set of terms in entry order; whether it
    drops a repeated value or refuses it is unverified, so the plan never sends one)."""
    if not multi_valued:
        return value if type(value) is str else text(value) or ""
    items = value if isinstance(value, list) else ([] if is_empty(value) else [value])
    seen: set[str] = set()
    result = []
    for item in items:
        t = text(item)
        if t and t.casefold() not in seen:
            seen.add(t.casefold())
            result.append(t)
    return result


def same_values(have: Any, want: Any, multi_valued: bool, ordered: bool = False) -> bool:
    """Whether SharePoint's value ``have`` already is ``want``. A multi-valued property is a set
    of values, as MIM's engine sees it ("value adds and deletes"): values that only changed
    order are the same, unless the flow says the order matters (`ordered: true`)."""
    have, want = normalise(have, multi_valued), normalise(want, multi_valued)
    return have == want or (multi_valued and not ordered and len(have) == len(want) and set(have) == set(want))


def desired_value(connector: ConnectorRules, prop: str, value: Any) -> Any:
    """What one export flow's result asks of SharePoint: a value, CLEAR, or IGNORE (leave the
    property as it is: IgnoreThisFlow(), or an empty result under `whenNull: skip`)."""
    if value is IGNORE:
        return IGNORE
    shaped = None if value is CLEAR else normalise(value, prop in connector.multi_valued)
    if value is CLEAR or is_empty(shaped):  # a list of empty texts is as empty as None
        return CLEAR if value is CLEAR or connector.when_null.get(prop) == "clear" else IGNORE
    return shaped


def desired_values(connector: ConnectorRules, mv: MvObject, now: dt.datetime) -> dict[str, Any]:
    """Managed property → desired value, or CLEAR; properties the flows leave alone are absent."""
    computed = connector.export(flowing_values(mv), now)
    result: dict[str, Any] = {}
    multi_valued, when_null = connector.multi_valued, connector.when_null
    for prop in connector.managed:
        if prop not in computed:
            continue  # a flow the runtime cannot evaluate (reported in the manifest)
        value = computed[prop]
        # desired_value inlined for its two common cases, a single text and no value: it runs
        # once per profile and property (timeit, 16 properties: 11.8 → 7.4 µs a profile).
        if value is None or (type(value) is str and prop not in multi_valued):
            if value:
                result[prop] = value
            elif when_null.get(prop) == "clear":
                result[prop] = CLEAR
            continue
        want = desired_value(connector, prop, value)
        if want is not IGNORE:
            result[prop] = want
    return result


def compare(connector: ConnectorRules, current: dict[str, Any], desired: dict[str, Any]) -> list[PropertyChange]:
    """The changes that make ``current`` hold ``desired``. Multi-valued properties compare as
    sets unless their flow is `ordered` (same_values says why); the list written is the
    source's, in the source's order."""
    changes = []
    multi_valued, ordered = connector.multi_valued, connector.ordered
    for prop, want in desired.items():
        have = current.get(prop)
        if type(have) is not str or prop in multi_valued:  # a single text is already as SharePoint stores it
            have = normalise(have, prop in multi_valued)
        # `have` is a text or a list now, so empty is falsy (is_empty's meaning, one call less
        # per profile and property; with property_change, timeit: 9.6 → 5.9 µs a profile)
        if want is CLEAR:
            if have:
                changes.append(property_change(prop, "clear", have, None))
        elif not have:
            changes.append(property_change(prop, "set", have, want))
        elif have != want and (prop not in multi_valued or prop in ordered or len(have) != len(want) or set(have) != set(want)):
            changes.append(property_change(prop, "change", have, want))
    return changes


def property_problems(connector: ConnectorRules) -> tuple[set[str], list[Problem], list[Problem]]:
    """Managed properties SharePoint will not take (by the property catalogue), the problems
    saying so, and warnings about properties it takes but may later overwrite."""
    blocked: set[str] = set()
    problems = []
    warnings = []
    for prop in connector.managed:
        info = catalogue.lookup(prop)
        if info is None:
            continue
        if info.read_only_system or info.writable_via_people_manager == "no":
            blocked.add(prop)
            problems.append(Problem("not-editable", prop, "SharePoint does not let PeopleManager write this property; remove its export flow"))
            continue
        if info.synced_from_entra:
            warnings.append(Problem("overwritten-by-entra-sync", prop, f"SharePoint's own sync from Entra ID ({info.synced_from_entra}) may overwrite this value"))
        if info.taxonomy:
            warnings.append(Problem("taxonomy-bound", prop, "values become terms of a term set: a value that is not yet a term needs the app to hold TermStore.ReadWrite.All, else SharePoint refuses it"))
    return blocked, problems, warnings


@dataclass(slots=True)
class Joins:
    """What joining found: MV object number → joined profile account, the objects whose
    profile the connector filter keeps out, problems, and the changes to the join state."""

    joined: dict[int, str]
    kept_out: set[int]
    problems: list[Problem]
    changes: list[dict[str, Any]]  # plan.joins: join | disconnect, per person
    leavers: list[dict[str, Any]]  # plan.leavers: source rows that left a joined person


def join_profiles(connector: ConnectorRules, metaverse: Metaverse, profiles: Profiles, now: dt.datetime, links: LinkState | None = None) -> Joins:
    """Join profiles to metaverse objects as MIM does.

    Joins are sticky: "join and projection rules apply only to disconnectors" (connector
    state, ms694717). A person linked to a profile in the join state (links.py) stays joined
    to it, whatever the join rules would say now, until the profile is deleted or meets the
    connector filter (a disconnection). Only the profiles and persons left over are joined by
    the join rules, and each such join is a new link.

    A profile that meets the connector filter is a filtered disconnector: MIM neither joins
    nor projects it ("If the object meets connector filter rules criteria, the object will
    then become a filtered disconnector", jj590228), and a joined one is disconnected
    (`connector-filtered-leave-mv`, ms696531).

    A person whose projecting source row has gone stays in the metaverse while its profile is
    joined (MIM's default object deletion rule deletes it with its last connector) with the
    leaving rows' values recalled: a leaver. Flows with `whenNull: clear` then clear."""
    joins = Joins({}, set(), [], [], [])
    anchor = connector.anchor[0] if connector.anchor else "AccountName"
    filtered = connector.filtered

    def row_of(account: str) -> dict[str, Any]:
        row = dict(profiles[account])
        row.setdefault(anchor, account)
        return row

    taken: set[str] = set()
    if links is not None and links.links:
        spelt = {account.casefold(): account for account in profiles}
        persons = {mv.person: mv for mv in metaverse.objects if mv.person is not None}
        by_row: dict[str, MvObject] = {}  # a person also answers to every row that made it
        for mv in metaverse.objects:
            for row_id in mv.rows:
                by_row.setdefault(row_id, mv)
        for person, link in links.links.items():
            account = spelt.get(link.account.casefold())
            if account is None:
                joins.changes.append({"action": "disconnect", "person": person, "account": link.account, "reason": "the profile no longer exists"})
                continue
            reason = filtered(row_of(account)) if filtered is not None else None
            if reason is not None:
                joins.changes.append({"action": "disconnect", "person": person, "account": account, "reason": f"the profile now meets the connector filter ({reason})"})
                taken.add(account.casefold())
                if person in persons:
                    joins.kept_out.add(persons[person].number)
                continue
            mv = persons.get(person)
            if mv is None:
                # Projected by another row now (a contractor hired into HR, sources
                # reordered): the same person while one of its rows made it at the last apply.
                mv = next((by_row[row] for row in link.rows if row in by_row and by_row[row].number not in joins.joined), None)
                if mv is not None and mv.person is not None and mv.person != person:
                    joins.changes.append({"action": "disconnect", "person": person, "account": account, "reason": f"the same person is now named {mv.person}"})
                    joins.changes.append({"action": "join", "person": mv.person, "account": account, "rows": list(mv.rows), "reason": f"formerly {person}"})
            if mv is None:  # every row that made the person has left: recalled, still joined
                mv = MvObject(len(metaverse.objects), origins=[f"{person} (no longer in the sources)"], person=person)
                metaverse.objects.append(mv)
            if mv.number in joins.joined:
                continue  # two links to one person (a hand-edited state): the first one holds
            left = [row for row in link.rows if row not in mv.rows]
            if left:
                joins.leavers.append({"person": person, "account": account, "rows": left, "deleted": not mv.rows})
            if tuple(mv.rows) != link.rows and (mv.person == person or mv.person is None):
                # recorded, so a leaver is reported once: rows [] when every row has left
                joins.changes.append({"action": "join", "person": person, "account": account, "rows": list(mv.rows), "reason": "its source rows changed" if mv.rows else "every source row has left"})
            joins.joined[mv.number] = account
            taken.add(account.casefold())
    for account in profiles:
        if account.casefold() in taken:
            continue
        row = row_of(account)
        found, rule = metaverse.find(connector.join(row, now))
        reason = filtered(row) if filtered is not None else None
        if reason is not None:
            for mv in found:
                if mv.number in joins.joined:
                    continue  # joined to another profile: the filter keeps nothing of it out
                joins.kept_out.add(mv.number)
                joins.problems.append(
                    Problem(
                        "connector-filtered",
                        mv.origins[0] if mv.origins else account,
                        f"would join {account}, which the connector filter keeps out ({reason}): MIM keeps it a filtered disconnector, so nothing is planned for it",
                    )
                )
            continue
        if len(found) > 1:
            joins.problems.append(Problem("ambiguous-join", account, f"the profile matches {len(found)} source objects: {', '.join(o.origins[0] for o in found[:3])}"))
            continue
        if not found:
            continue  # a profile the sources do not speak for: left alone
        mv = found[0]
        if mv.number in joins.joined:
            held = joins.joined[mv.number]
            if links is not None and mv.person is not None and mv.person in links.links:
                joins.problems.append(Problem("already-joined", account, f"the join rule finds {mv.origins[0]}, which stays joined to {held} (joins are sticky; `maforge state rm {mv.person}` joins it again by the rules)"))
            else:
                joins.problems.append(Problem("ambiguous-profile", mv.origins[0], f"joins two profiles: {held} and {account}"))
            continue
        joins.joined[mv.number] = account
        if mv.person is not None and links is not None:
            joins.changes.append({"action": "join", "person": mv.person, "account": account, "rows": list(mv.rows), "reason": f"join rule {rule}"})
    return joins


def own_import(connector: ConnectorRules, metaverse: Metaverse, mv: MvObject, profile: dict[str, Any], account: str, now: dt.datetime, fallback_rank: int) -> list[str]:
    """Run this MA's own import flows for a joined profile (its `importFlows`), and return the
    export flows MIM would not run because of them.

    MIM (MapAttributesForExport, remarks, ms696513): an export flow runs only if it does not
    overlap an import flow of the same MA for the same metaverse attribute, or if the value
    being exported comes from a source with precedence at least equal to that import flow.
    So an export flow is declined when a metaverse attribute it reads is one this MA imports
    and its value is this MA's own, or comes from a source of lower precedence than this MA's
    import flow. For a flow reading several attributes, one such attribute declines it
    (unverified: the documentation speaks of one source attribute)."""
    assert connector.import_flows is not None
    row = dict(profile)
    row.setdefault(connector.anchor[0] if connector.anchor else "AccountName", account)
    values = connector.import_flows(row, now)
    ranks = connector.import_ranks or {}
    metaverse.contribute(mv, values, ranks, fallback_rank)
    held = mv.ranks
    lower_or_own = {name for name in values if name in held and held[name] >= ranks.get(name, fallback_rank)}
    readers = connector.readers or {}
    return [target for name in lower_or_own for target in readers.get(name, ())]


def accounts_to_read(connector: ConnectorRules, metaverse: Metaverse, links: LinkState | None = None) -> list[str]:
    """For a refresh: the accounts the metaverse objects name through the anchor join, and
    the profiles the join state links (a joined profile stays joined when its name changes)."""
    if connector.anchor_join is None:
        return []
    named = [str(o.values[connector.anchor_join]) for o in metaverse.objects if isinstance(o.values.get(connector.anchor_join), str) and o.values[connector.anchor_join]]
    if links is not None and links.links:
        seen = {account.casefold() for account in named}
        named += [link.account for link in links.links.values() if link.account.casefold() not in seen]
    return named


def make_plan(
    book: RuleBook,
    metaverse: Metaverse,
    profiles: Profiles,
    *,
    tenant: str,
    refreshed: bool,
    now: dt.datetime,
    links: LinkState | None = None,
) -> Plan:
    """The plan for ``profiles``; with ``links`` (the join state), joins are sticky and the
    plan carries the join changes and leavers an apply records."""
    connector = book.connector()
    plan = Plan(book.name, tenant, book.spec_hash, __version__, now.isoformat().replace("+00:00", "Z"), refreshed, multi_valued=sorted(connector.multi_valued), protected=sorted(book.protect), ordered=sorted(connector.ordered))
    blocked, problems, warnings = property_problems(connector)
    if connector.filter_scripted:
        warnings.append(Problem("connector-filter-scripted", connector.cs_object_type, "the connector filter is in the rules extension, which the plan cannot run: profiles it would keep out are planned as if joined"))
    for prop in book.protect:
        if prop in connector.managed:
            blocked.add(prop)
            problems.append(Problem("protected", prop, "the spec protects this property (sharepoint.protect); its flow is not applied"))
    joins = join_profiles(connector, metaverse, profiles, now, links)
    joined, kept_out = joins.joined, joins.kept_out
    if links is not None:
        plan.state_serial = links.serial
        for change in joins.changes:  # what apply checks the state against
            held = links.links.get(change["person"])
            change["was"] = held.account if held is not None else None
        plan.state_digest = links_digest(links, {change["person"] for change in joins.changes})
        plan.joins = joins.changes
        plan.leavers = joins.leavers
    ma_rank = UNRANKED + len(book.sources)  # this MA's unranked import flows come after every source
    problems = list(metaverse.problems) + joins.problems + problems
    for mv in metaverse.objects:
        account = joined.get(mv.number)
        if account is None and mv.number in kept_out:
            continue  # its profile is a filtered disconnector (reported by join_profiles)
        if account is None:
            named = mv.values.get(connector.anchor_join) if connector.anchor_join else None
            problems.append(Problem("profile-missing", mv.origins[0] if mv.origins else f"object {mv.number}", f"no SharePoint profile{' for ' + str(named) if named else ''}; SharePoint creates profiles itself, maforge only updates them"))
            continue
        try:
            declined = own_import(connector, metaverse, mv, profiles[account], account, now, ma_rank) if connector.import_flows is not None else ()
            desired = desired_values(connector, mv, now)
        except (ValueError, TypeError) as error:
            problems.append(Problem("row-error", mv.origins[0], str(error)))
            continue
        for prop in blocked:
            desired.pop(prop, None)
        for prop in declined:
            desired.pop(prop, None)
        changes = compare(connector, profiles[account], desired)  # account is a key of profiles, as spelt there
        if changes:
            plan.profiles.append(ProfileChange(account, "; ".join(mv.origins), tuple(changes)))
        else:
            plan.unchanged += 1
    plan.problems = [p.to_json() for p in problems]
    plan.warnings = [w.to_json() for w in warnings]
    plan.profiles.sort(key=lambda p: p.account.lower())
    return plan


def plan_clock(plan: Plan) -> dt.datetime:
    """The moment a plan was made (its created_at): the clock Now() read then, so flows
    computed again for it give what they gave (the current time when the plan has none)."""
    try:
        return dt.datetime.fromisoformat(plan.created_at.replace("Z", "+00:00"))
    except ValueError:
        return now_utc()


def plan_disagreements(book: RuleBook, metaverse: Metaverse, plan: Plan, links: LinkState | None, limit: int = 20) -> list[str]:
    """Where a saved plan says something the spec and its sources do not give: each profile
    and property whose planned value is not what the flows compute now, at most ``limit``.

    `apply PLAN --spec SPEC` calls this, so a plan edited by hand, or made from other
    sources, is refused even when its digest was made to match. The desired values are
    computed as make_plan computes them, at the plan's own clock (Now() gives what it gave
    then), with joins from the same join state and the profile's prior values from the plan
    (the only profile values a plan holds)."""
    connector = book.connector()
    now = plan_clock(plan)
    anchor = connector.anchor[0] if connector.anchor else "AccountName"
    profiles: dict[str, dict[str, Any]] = {}
    for profile in plan.profiles:
        values = {change.property: change.before for change in profile.changes}
        values.setdefault(anchor, profile.account)
        profiles[profile.account] = values
    joins = join_profiles(connector, metaverse, profiles, now, links)
    by_account = {account.casefold(): number for number, account in joins.joined.items()}
    objects = {mv.number: mv for mv in metaverse.objects}
    multi, ordered = set(plan.multi_valued), set(plan.ordered)
    found: list[str] = []
    for profile in plan.profiles:
        number = by_account.get(profile.account.casefold())
        if number is None:
            found.append(f"{profile.account}: the spec and its sources give no person joined to this profile")
            continue
        mv = objects[number]
        declined = set(own_import(connector, metaverse, mv, profiles[profile.account], profile.account, now, UNRANKED + len(book.sources))) if connector.import_flows is not None else set()
        desired = desired_values(connector, mv, now)
        for change in profile.changes:
            want = None if change.property in declined else desired.get(change.property)
            if change.action == "clear":
                agrees = want is CLEAR
            else:
                agrees = want is not None and want is not CLEAR and same_values(change.after, want, change.property in multi, change.property in ordered)
            if not agrees:
                given = "no change" if want is None else "a clear" if want is CLEAR else json.dumps(want, ensure_ascii=False)
                planned = "a clear" if change.action == "clear" else json.dumps(change.after, ensure_ascii=False)
                found.append(f"{profile.account}, {change.property}: the plan writes {planned}, the spec and its sources give {given}")
            if len(found) >= limit:
                return found
    return found


@dataclass(frozen=True, slots=True)
class FlowPreview:
    property: str
    flow: str  # how the flow reads
    when_null: str
    computed: Any  # the flow's raw result (CLEAR / IGNORE markers shown by name)
    current: Any
    outcome: str  # set | change | clear | unchanged | left alone | not evaluated | not editable
    after: Any


@dataclass(frozen=True, slots=True)
class Preview:
    user: str
    account: str | None
    origins: tuple[str, ...]
    metaverse: dict[str, Any]
    flows: tuple[FlowPreview, ...]
    note: str | None  # why there is nothing to show, or what is missing


def find_object(connector: ConnectorRules, metaverse: Metaverse, user: str) -> MvObject | None:
    """The metaverse object of ``user`` (a UPN or a claims login): by the attribute profiles
    join on, else any attribute holding the UPN or the login."""
    wanted = {join_key(user), join_key(claims(user))}
    if connector.anchor_join and connector.anchor_join in metaverse.index:
        for key in wanted:
            found = metaverse.index[connector.anchor_join].get(key)
            if found:
                return found[0]
    for mv in metaverse.objects:
        if any(isinstance(v, str) and join_key(v) in wanted for v in mv.values.values()):
            return mv
    return None


def preview_join(connector: ConnectorRules, metaverse: Metaverse, profiles: Profiles, links: LinkState | None, user: str, now: dt.datetime) -> tuple[MvObject | None, str | None, str | None]:
    """Which metaverse object and which profile `maforge preview USER` shows, joined as
    `maforge plan` joins them (join_profiles: sticky links first, the connector filter, then
    the join rules): (object, profile account, a note when they are not joined).

    USER may name the profile (its login) or the person (a value of the sources, such as a
    new UPN HR already holds while the profile still has the old one)."""
    joins = join_profiles(connector, metaverse, profiles, now, links)
    by_number = {mv.number: mv for mv in metaverse.objects}
    wanted = {join_key(user), join_key(claims(user))}
    for number, account in joins.joined.items():
        if join_key(account) in wanted:
            return by_number[number], account, None
    mv = find_object(connector, metaverse, user)
    if mv is None:
        return None, None, None
    if mv.number in joins.joined:
        return mv, joins.joined[mv.number], None
    if mv.number in joins.kept_out:
        why = next((p.detail for p in joins.problems if p.kind == "connector-filtered" and p.subject in mv.origins), "its profile meets the connector filter")
        return mv, None, f"nothing is planned for this user: {why}"
    return mv, None, next((f"{p.kind}: {p.detail}" for p in joins.problems if p.subject in mv.origins), None)


def preview_user(book: RuleBook, mv: MvObject | None, current: dict[str, Any] | None, account: str | None, user: str, now: dt.datetime, *, declined: Iterable[str] = (), note: str | None = None) -> Preview:
    """What one user would get, flow by flow, against ``current`` (their profile's values).
    ``declined``: the export flows this MA's own import flows keep from running (own_import)."""
    connector = book.connector()
    if mv is None:
        return Preview(user, None, (), {}, (), "no source row gives this user; check the sources and their join rules")
    blocked, _problems, _warnings = property_problems(connector)
    computed = connector.export(flowing_values(mv), now)
    declined = set(declined)
    flows = []
    for prop in connector.managed:
        have = normalise((current or {}).get(prop), prop in connector.multi_valued)
        if prop not in computed:
            flows.append(FlowPreview(prop, connector.described.get(prop, ""), connector.when_null.get(prop, "skip"), None, have, "not evaluated", None))
            continue
        want = desired_value(connector, prop, computed[prop])
        if prop in blocked:
            outcome, after = "not editable", None
        elif prop in declined:
            outcome, after = "declined: this MA imports the value with equal or higher precedence", None
        elif want is IGNORE:
            outcome, after = "left alone", None
        else:
            change = compare(connector, current or {}, {prop: want})
            outcome, after = (change[0].action, change[0].after) if change else ("unchanged", None)
        flows.append(FlowPreview(prop, connector.described.get(prop, ""), connector.when_null.get(prop, "skip"), computed[prop], have, outcome, after))
    if note is None and current is None:
        note = "no SharePoint profile for this user: every value shown would be refused"
    return Preview(user, account, tuple(mv.origins), dict(mv.values), tuple(flows), note)


__all__ = ["Preview", "build_metaverse", "plan_disagreements", "preview_join", "preview_user", "compare", "desired_values", "make_plan", "normalise", "now_utc", "same_values"]
