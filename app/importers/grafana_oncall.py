"""Grafana OnCall: users and their rules, teams, web schedules (rolling-users shifts, overrides),
escalation chains and integrations. Read with httpx (`next` pagination, 429 / Retry-After);
mapped by pure functions. docs/moving-in.md has the tables.
"""

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.importers.http import JsonApi
from app.importers.people import Contact, People, Rule
from app.importers.plan import Import, unique_name
from app.importers.rotations import anchor_layer, local_text
from app.importers.services import ServiceBuilder
from app.importers.teams import Teams
from app.policyfiles.model_services import KEPT_KEY_PATTERN

_ROLES = {"admin": "admin", "editor": "responder", "viewer": "observer"}
# OnCall teams have no member roles: a member's OnCall role stands for one.
_TEAM_ROLES = {"admin": "manager", "editor": "responder", "viewer": "observer"}
_NO_TEAM_ROLES = (
    "members from the users' teams; OnCall has no team roles: admins are managers, "
    "editors responders, viewers observers"
)
_UNITS = {"hourly": 3600, "daily": 86_400, "weekly": 604_800}
_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_TARGETS = ("notify_persons", "notify_person_next_each_time", "notify_on_call_from_schedule")
# OnCall's "repeat escalation" step starts the chain over at most this many times.
ONCALL_REPEATS = 5
LAST_LEVEL_SECONDS = 300


@dataclass
class Export:
    """What the importer reads from Grafana OnCall's public API."""

    users: list[dict[str, Any]] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    shifts: list[dict[str, Any]] = field(default_factory=list)
    chains: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    integrations: list[dict[str, Any]] = field(default_factory=list)
    routes: list[dict[str, Any]] = field(default_factory=list)
    teams: list[dict[str, Any]] = field(default_factory=list)


def _all(api: JsonApi, path: str) -> list[Any]:
    body = api.get(path)
    items = list(body.get("results") or [])
    while body.get("next"):
        body = api.get(body["next"])
        items.extend(body.get("results") or [])
    return items


def fetch(api: JsonApi) -> Export:
    """Everything the mapping needs, following `next` links."""
    return Export(
        users=_all(api, "users/"),
        rules=_all(api, "personal_notification_rules/"),
        schedules=_all(api, "schedules/"),
        shifts=_all(api, "on_call_shifts/"),
        chains=_all(api, "escalation_chains/"),
        steps=_all(api, "escalation_policies/"),
        integrations=_all(api, "integrations/"),
        routes=_all(api, "routes/"),
        teams=_all(api, "teams/"),
    )


def _users(result: Import, export: Export) -> People:
    rules: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rule in export.rules:
        rules[str(rule.get("user_id"))].append(rule)
    people = People(result)
    for user in export.users:
        uid, email = str(user["id"]), str(user.get("email") or "").strip()
        contacts = {"email": Contact("email", email)}
        chain, delay = [], 0
        for rule in sorted(rules[uid], key=lambda r: r.get("position", 0)):
            where = f"{email.lower()} {rule.get('type')}"
            if rule.get("important"):
                why = "important rules are not imported: Stairway's rules follow incident urgency"
                result.skipped("notification rule", where, why)
            elif rule.get("type") == "wait":
                delay += int(rule.get("duration") or 0)
            elif rule.get("type") == "notify_by_email":
                chain.append(Rule("email", delay))
            else:
                why = "its channel's address is not in OnCall's API: add the method by hand"
                result.skipped("notification rule", where, why)
        people.add(
            source_id=uid,
            name=str(user.get("name") or user.get("username") or email),
            email=email,
            role=_ROLES.get(str(user.get("role")), "responder"),
            time_zone=user.get("timezone"),
            contacts=contacts if chain else {},
            rules=chain,
        )
    return people


def _restrictions(shift: dict[str, Any], start: datetime, turn: int) -> list[dict[str, Any]]:
    duration = int(shift.get("duration") or turn)
    days = [d for d in shift.get("by_day") or [] if d in _DAYS]
    clock = start.strftime("%H:%M:%S")
    if days and turn >= 86_400:
        return [
            {
                "kind": "weekly",
                "start_weekday": _DAYS.index(d),
                "start": clock,
                "duration_seconds": min(duration, 7 * 86_400),
            }
            for d in days
        ]
    if duration >= turn:
        return []
    kind = "weekly" if turn == 604_800 else "daily"
    doc: dict[str, Any] = {"kind": kind, "start": clock, "duration_seconds": duration}
    if kind == "weekly":
        doc["start_weekday"] = start.weekday()
    return [doc]


def _layer(
    result: Import, people: People, where: str, shift: dict[str, Any], zone: ZoneInfo
) -> dict[str, Any] | None:
    frequency = str(shift.get("frequency"))
    if frequency not in _UNITS:
        result.skipped("shift", where, f"a {frequency} rotation has no Stairway equivalent")
        return None
    turn = _UNITS[frequency] * max(1, int(shift.get("interval") or 1))
    groups = shift.get("rolling_users") or [[u] for u in shift.get("users") or []]
    notes = []
    if any(len(g) > 1 for g in groups):
        notes.append("groups on call together: only each group's first member is kept")
    emails, missing = people.emails([str(g[0]) for g in groups if g])
    if missing:
        notes.append(f"users not imported left out: {', '.join(missing)}")
    if not emails:
        result.skipped("shift", where, "none of its users was imported")
        return None
    first = int(shift.get("start_rotation_from_user_index") or 0) % len(emails)
    emails = emails[first:] + emails[:first]
    start = datetime.fromisoformat(str(shift["start"])).replace(tzinfo=zone)
    begins = shift.get("rotation_start")
    rotation_start = datetime.fromisoformat(str(begins)).replace(tzinfo=zone) if begins else start
    anchored = anchor_layer(
        emails,
        turn_seconds=turn,
        rotation_start=start,
        layer_start=max(start, rotation_start),
        zone=zone,
    )
    if shift.get("until"):
        notes.append(f"OnCall ends it at {shift['until']}; Stairway layers do not end")
    layer = {
        "participants": anchored.participants,
        "turn_seconds": turn,
        "start": local_text(anchored.start, zone),
        "restrictions": _restrictions(shift, start, turn),
    }
    result.came_across("shift", where, notes, f"level {shift.get('level') or 0}")
    return layer


def _schedules(result: Import, export: Export, people: People, now: datetime) -> dict[str, str]:
    shifts = {str(s["id"]): s for s in export.shifts}
    names: dict[str, str] = {}
    taken: set[str] = set()
    for raw in export.schedules:
        name = unique_name(taken, str(raw.get("name") or raw["id"]), str(raw["id"]))
        if raw.get("type") == "ical":
            why = "iCal schedules live in another calendar: import that one's source instead"
            result.skipped("schedule", name, why)
            continue
        zone_name = str(raw.get("time_zone") or "UTC")
        zone = ZoneInfo(zone_name)
        layers: list[tuple[int, dict[str, Any]]] = []
        overrides = []
        for shift_id in raw.get("shifts") or []:
            shift = shifts.get(str(shift_id))
            if shift is None:
                continue
            where = f"{name} / {shift.get('name') or shift_id}"
            if shift.get("type") in ("override", "single_event"):
                start = datetime.fromisoformat(str(shift["start"])).replace(tzinfo=zone)
                end = start + timedelta(seconds=int(shift.get("duration") or 0))
                email = people.email(str((shift.get("users") or [None])[0]))
                if end <= now:
                    continue
                if email is None:
                    result.skipped("override", where, "its user was not imported")
                    continue
                overrides.append(
                    {"user": email, "start": local_text(start, zone), "end": local_text(end, zone)}
                )
                if shift.get("type") == "single_event":
                    result.approximated("shift", where, "a one-off shift becomes an override")
                else:
                    result.mapped("override", where, email)
                continue
            layer = _layer(result, people, where, shift, zone)
            if layer is not None:
                layers.append((int(shift.get("level") or 0), layer))
        doc = {
            "name": name,
            "time_zone": zone_name,
            "description": "",
            # Higher levels win in OnCall, as later layers do in Stairway.
            "layers": [layer for _, layer in sorted(layers, key=lambda pair: pair[0])],
            "overrides": sorted(overrides, key=lambda o: (o["start"], o["user"])),
        }
        result.add("schedules", name, doc)
        result.mapped("schedule", name, f"{len(doc['layers'])} layer(s), time zone {zone_name}")
        names[str(raw["id"])] = name
    return names


def _chains(
    result: Import, export: Export, people: People, schedules: dict[str, str]
) -> dict[str, str]:
    steps: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for step in export.steps:
        steps[str(step.get("escalation_chain_id"))].append(step)
    names: dict[str, str] = {}
    taken: set[str] = set()
    for chain in export.chains:
        name = unique_name(taken, str(chain.get("name") or chain["id"]), str(chain["id"]))
        levels: list[dict[str, Any]] = []
        targets: list[dict[str, Any]] = []
        notes, repeat = [], 0
        for step in sorted(steps[str(chain["id"])], key=lambda s: s.get("position", 0)):
            kind = str(step.get("type"))
            where = f"{name} step {step.get('position')}: {kind}"
            if kind == "wait" and targets:
                wait = max(60, int(step.get("duration") or 60))
                levels.append({"escalate_after_seconds": wait, "targets": targets})
                targets = []
            elif kind == "repeat_escalation":
                repeat = ONCALL_REPEATS
            elif kind in _TARGETS:
                found = [
                    {"user": people.email(str(u))}
                    for u in step.get("persons_to_notify") or []
                    if people.email(str(u))
                ]
                schedule = schedules.get(str(step.get("notify_on_call_from_schedule")))
                found += [{"schedule": schedule}] if schedule else []
                if not found:
                    result.skipped("escalation step", where, "none of its targets was imported")
                    continue
                if kind == "notify_person_next_each_time":
                    notes.append("'notify next person each time' pages all of them")
                targets += [t for t in found if t not in targets]
            elif kind != "wait":
                result.skipped("escalation step", where, "no Stairway equivalent")
        if targets:
            levels.append({"escalate_after_seconds": LAST_LEVEL_SECONDS, "targets": targets})
        if not levels:
            result.skipped("escalation chain", name, "no step could be imported")
            continue
        if repeat:
            notes.append(f"'repeat escalation' repeats {ONCALL_REPEATS} times, as OnCall does")
        doc = {"name": name, "description": "", "repeat": repeat, "levels": levels}
        result.add("escalation_policies", name, doc)
        result.came_across("escalation chain", name, notes, f"{len(levels)} level(s)")
        names[str(chain["id"])] = name
    return names


def _integrations(result: Import, export: Export, chains: dict[str, str]) -> dict[str, str]:
    for route in export.routes:
        if not route.get("is_the_last_route"):
            what = f"{route.get('integration_id')} route {route.get('position')}"
            result.skipped("route", what, "routing templates are not converted: add rules by hand")
    taken: set[str] = set()
    names: dict[str, str] = {}
    for raw in export.integrations:
        name = unique_name(taken, str(raw.get("name") or raw["id"]), str(raw["id"]))
        chain = chains.get(str((raw.get("default_route") or {}).get("escalation_chain_id")))
        if chain is None:
            result.skipped("integration", name, "its default route escalates by no imported chain")
            continue
        service = ServiceBuilder(result, name, chain, f"Grafana OnCall {raw.get('type')}")
        token = re.search(r"/integrations/v1/[^/]+/([^/]+)/?$", str(raw.get("link") or ""))
        kind = str(raw.get("type"))
        path = "grafana" if kind.startswith("grafana") else kind
        note = f"senders post to /integrations/{path}/<the same token>"
        service.key(kind, token[1] if token else None, pattern=KEPT_KEY_PATTERN, note=note)
        service.done()
        names[str(raw["id"])] = name
    return names


def _teams(result: Import, export: Export, people: People) -> Teams:
    """OnCall has no team roles and lists no members: a user's `teams` say where they belong,
    and the user's OnCall role stands for a team role (approximated)."""
    members: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for user in export.users:
        role = _TEAM_ROLES.get(str(user.get("role")), "responder")
        for team_id in user.get("teams") or []:
            members[str(team_id)].append((str(user["id"]), role))
    teams = Teams(result, people)
    for raw in export.teams:
        team_id = str(raw["id"])
        teams.add(
            source_id=team_id,
            name=str(raw.get("name") or team_id),
            description="",
            members=members[team_id],
            how=_NO_TEAM_ROLES,
        )
    return teams


def _team_of(raw: dict[str, Any]) -> list[Any]:
    return [raw.get("team_id")]


def map_export(export: Export, *, now: datetime) -> Import:
    """The policy documents and the report for a Grafana OnCall export."""
    result = Import("Grafana OnCall", "grafana-oncall")
    people = _users(result, export)
    schedules = _schedules(result, export, people, now)
    chains = _chains(result, export, people, schedules)
    services = _integrations(result, export, chains)
    teams = _teams(result, export, people)
    teams.own("schedules", "schedule", export.schedules, schedules, _team_of)
    teams.own("escalation_policies", "escalation chain", export.chains, chains, _team_of)
    teams.own("services", "integration", export.integrations, services, _team_of)
    return result


def read(token: str, *, base_url: str, now: datetime, verify: Any = True) -> Import:
    """Read a Grafana OnCall instance through its public API and map it."""
    root = base_url.rstrip("/") + "/api/v1/"
    api = JsonApi(root, {"Authorization": token}, verify=verify, what="Grafana OnCall")
    try:
        return map_export(fetch(api), now=now)
    finally:
        api.close()
