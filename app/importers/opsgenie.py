"""Opsgenie: users, teams, rotations, escalations, integrations with their team's routing,
heartbeats and maintenance. Read with httpx (offset pagination, 429 / Retry-After honoured);
mapped by pure functions. docs/moving-in.md has the tables.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.importers.http import JsonApi
from app.importers.people import Contact, People, Rule
from app.importers.plan import Import, seconds_text, unique_name
from app.importers.rotations import local_text, parse_instant
from app.importers.services import ServiceBuilder
from app.importers.teams import Teams
from app.policyfiles.model_services import KEPT_KEY_PATTERN

OVERRIDE_DAYS = 365
PAGE_SIZE = 100
_ROLES = {"owner": "admin", "admin": "admin", "user": "responder", "observer": "observer"}
_ROLES["stakeholder"] = "observer"
_CONTACTS = {"email": "email", "sms": "sms", "voice": "voice"}
_UNITS = {"hourly": 3600, "daily": 86_400, "weekly": 604_800}
_TIME_UNITS = {"minutes": 60, "hours": 3600, "days": 86_400}
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Opsgenie's team roles: admins manage the team; custom roles respond (approximated).
_TEAM_ROLES = {"admin": "manager", "user": "responder"}
_TEAM_TARGET = (
    "pages the Stairway team: its on-call schedule, or its managers (Opsgenie routes to the "
    "team's escalation); set the team's on-call schedule after apply"
)


@dataclass
class Export:
    """What the importer reads from Opsgenie's REST API."""

    users: list[dict[str, Any]] = field(default_factory=list)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    escalations: list[dict[str, Any]] = field(default_factory=list)
    integrations: list[dict[str, Any]] = field(default_factory=list)
    routing_rules: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    maintenance: list[dict[str, Any]] = field(default_factory=list)
    teams: list[dict[str, Any]] = field(default_factory=list)


def _all(api: JsonApi, path: str, params: dict[str, Any] | None = None) -> list[Any]:
    """Every item of a list endpoint, following `paging.next`."""
    body = api.get(path, {**(params or {}), "limit": PAGE_SIZE, "offset": 0})
    items = list(body.get("data") or [])
    while (body.get("paging") or {}).get("next") and body.get("data"):
        body = api.get(body["paging"]["next"])
        items.extend(body.get("data") or [])
    return items


def fetch(api: JsonApi) -> Export:
    """Everything the mapping needs."""
    export = Export()
    for user in _all(api, "v2/users"):
        uid = user["id"]
        user["contacts"] = api.get(f"v2/users/{uid}/contacts").get("data") or []
        steps = []
        for rule in api.get(f"v2/users/{uid}/notification-rules").get("data") or []:
            if rule.get("actionType") == "create-alert" and rule.get("enabled", True):
                found = api.get(f"v2/users/{uid}/notification-rules/{rule['id']}/steps")
                steps += [s for s in found.get("data") or [] if s.get("enabled", True)]
        user["steps"] = steps
        export.users.append(user)
    for schedule in _all(api, "v2/schedules", {"expand": "rotation"}):
        overrides = api.get(f"v2/schedules/{schedule['id']}/overrides").get("data") or []
        export.schedules.append({**schedule, "overrides": overrides})
    export.escalations = _all(api, "v2/escalations")
    for listed in _all(api, "v2/integrations"):
        export.integrations.append(api.get(f"v2/integrations/{listed['id']}").get("data") or {})
    for listed in _all(api, "v2/teams"):
        # The list has no members: each team is read for them.
        export.teams.append({**listed, **(api.get(f"v2/teams/{listed['id']}").get("data") or {})})
    for team in export.teams:
        found = api.get(f"v2/teams/{team['id']}/routing-rules").get("data") or []
        export.routing_rules[team["id"]] = found
    export.heartbeats = (api.get("v2/heartbeats").get("data") or {}).get("heartbeats") or []
    export.maintenance = api.get("v1/maintenance", {"type": "non-expired"}).get("data") or []
    return export


# --- users ----------------------------------------------------------------------------------


def _address(method: str, to: str) -> str:
    if method in ("sms", "voice"):
        return "+" + "".join(ch for ch in to if ch.isdigit())
    return to.strip()


def _users(result: Import, export: Export) -> People:
    people = People(result)
    for user in export.users:
        contacts: dict[str, Contact] = {}
        for c in user.get("contacts") or []:
            method, to = str(c.get("method")), str(c.get("to") or "")
            key = f"{method}:{to}"
            kind = _CONTACTS.get(method)
            if kind is None:
                why = "no such channel in Stairway (the Opsgenie mobile app)"
                contacts[key] = Contact(None, f"{method} {to}".strip(), "", why)
            else:
                contacts[key] = Contact(kind, _address(method, to))
        rules = []
        for step in user.get("steps") or []:
            contact = step.get("contact") or {}
            key = f"{contact.get('method')}:{contact.get('to') or ''}"
            if key not in contacts:
                method, to = str(contact.get("method")), str(contact.get("to") or "")
                kind = _CONTACTS.get(method)
                why = "no such channel in Stairway (the Opsgenie mobile app)"
                contacts[key] = (
                    Contact(kind, _address(method, to))
                    if kind
                    else Contact(None, f"{method} {to}".strip(), "", why)
                )
            after = step.get("sendAfter") or {}
            unit = _TIME_UNITS.get(str(after.get("timeUnit") or "minutes"), 60)
            rules.append(Rule(key, int(after.get("timeAmount") or 0) * unit))
        role = str((user.get("role") or {}).get("name") or "user").lower()
        people.add(
            source_id=str(user["id"]),
            name=str(user.get("fullName") or user.get("username") or user["id"]),
            email=user.get("username"),
            role=_ROLES.get(role, "responder"),
            time_zone=user.get("timeZone"),
            contacts=contacts,
            rules=rules,
        )
    return people


# --- schedules --------------------------------------------------------------------------------


def _minutes(hour: Any, minute: Any) -> int:
    return int(hour or 0) * 60 + int(minute or 0)


def _restrictions(raw: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Opsgenie time restrictions as Stairway daily or weekly restrictions (local times)."""
    if not raw:
        return []
    if raw.get("type") == "time-of-day":
        r = raw.get("restriction") or {}
        start = _minutes(r.get("startHour"), r.get("startMin"))
        length = (_minutes(r.get("endHour"), r.get("endMin")) - start) % 1440 or 1440
        return [{"kind": "daily", "start": _clock(start), "duration_seconds": length * 60}]
    found = []
    for r in raw.get("restrictions") or []:
        day = _DAYS.index(str(r.get("startDay")).lower())
        start = day * 1440 + _minutes(r.get("startHour"), r.get("startMin"))
        end = _DAYS.index(str(r.get("endDay")).lower()) * 1440
        end += _minutes(r.get("endHour"), r.get("endMin"))
        length = (end - start) % (7 * 1440) or 7 * 1440
        found.append(
            {
                "kind": "weekly",
                "start_weekday": day,
                "start": _clock(start % 1440),
                "duration_seconds": length * 60,
            }
        )
    return found


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def _rotation(
    result: Import, people: People, where: str, raw: dict[str, Any], zone: ZoneInfo
) -> dict[str, Any] | None:
    ids, notes = [], []
    for p in raw.get("participants") or []:
        if p.get("type") == "user":
            ids.append(str(p.get("id")))
        else:
            notes.append(f"a {p.get('type')} participant was left out (only users rotate)")
    emails, missing = people.emails(ids)
    if missing:
        notes.append(f"users not imported left out: {', '.join(missing)}")
    if not emails:
        result.skipped("rotation", where, "none of its participants was imported")
        return None
    if raw.get("endDate"):
        notes.append(f"Opsgenie ends it at {raw['endDate']}; Stairway layers do not end")
    turn = _UNITS.get(str(raw.get("type")), 86_400) * max(1, int(raw.get("length") or 1))
    layer = {
        "participants": emails,
        "turn_seconds": turn,
        "start": local_text(parse_instant(raw["startDate"]), zone),
        "restrictions": _restrictions(raw.get("timeRestriction")),
    }
    if notes:
        result.approximated("rotation", where, "; ".join(notes))
    else:
        result.mapped("rotation", where, f"turns of {seconds_text(turn)}")
    return layer


def _schedules(
    result: Import, export: Export, people: People, now: datetime
) -> dict[str, list[str]]:
    """Each rotation becomes a schedule of its own (Opsgenie's rotations are all on call at once);
    returns the Stairway schedules standing for each Opsgenie schedule id."""
    tracks: dict[str, list[str]] = {}
    taken: set[str] = set()
    for raw in export.schedules:
        name = str(raw.get("name") or raw["id"])
        if not raw.get("enabled", True):
            result.skipped("schedule", name, "disabled in Opsgenie")
            continue
        zone_name = str(raw.get("timezone") or "UTC")
        zone = ZoneInfo(zone_name)
        rotations = [r for r in raw.get("rotations") or [] if r.get("enabled", True)]
        split = len(rotations) > 1
        made: list[str] = []
        for rotation in rotations:
            label = f"{name} / {rotation.get('name') or rotation['id']}" if split else name
            layer = _rotation(result, people, label, rotation, zone)
            if layer is None:
                continue
            title = unique_name(taken, label, str(rotation["id"]))
            overrides = _overrides(result, people, raw, rotation, title, now)
            doc = {
                "name": title,
                "time_zone": zone_name,
                "description": str(raw.get("description") or ""),
                "layers": [layer],
                "overrides": overrides,
            }
            result.add("schedules", title, doc)
            made.append(title)
        if split:
            how = f"its {len(made)} rotations are on call at once: one schedule each, all paged"
            result.approximated("schedule", name, how)
        elif made:
            result.mapped("schedule", name, f"time zone {zone_name}")
        tracks[str(raw["id"])] = made
    return tracks


def _overrides(
    result: Import,
    people: People,
    schedule: dict[str, Any],
    rotation: dict[str, Any],
    title: str,
    now: datetime,
) -> list[dict[str, Any]]:
    found = []
    for o in schedule.get("overrides") or []:
        applies = [r.get("id") for r in o.get("rotations") or []]
        if applies and rotation["id"] not in applies:
            continue
        what = f"{title} {o.get('startDate')} to {o.get('endDate')}"
        email = people.email(str((o.get("user") or {}).get("id")))
        end = parse_instant(o["endDate"])
        if end <= now or parse_instant(o["startDate"]) > now + timedelta(days=OVERRIDE_DAYS):
            continue
        if email is None:
            result.skipped("override", what, "its user was not imported")
            continue
        found.append({"user": email, "start": o["startDate"], "end": o["endDate"]})
        result.mapped("override", what, email)
    return sorted(found, key=lambda o: (o["start"], o["user"]))


# --- escalations and services -----------------------------------------------------------------


def _delay_seconds(delay: dict[str, Any] | None) -> int:
    delay = delay or {}
    return int(delay.get("timeAmount") or 0) * _TIME_UNITS.get(str(delay.get("timeUnit")), 60)


def _policies(
    result: Import, export: Export, people: People, tracks: dict[str, list[str]], teams: Teams
) -> dict[str, str]:
    names: dict[str, str] = {}
    taken: set[str] = set()
    for raw in export.escalations:
        name = unique_name(taken, str(raw.get("name") or raw["id"]), str(raw["id"]))
        by_delay: dict[int, list[dict[str, Any]]] = defaultdict(list)
        conditions: dict[int, set[str]] = defaultdict(set)
        for rule in raw.get("rules") or []:
            at = _delay_seconds(rule.get("delay"))
            recipient = rule.get("recipient") or {}
            kind, rid = str(recipient.get("type")), str(recipient.get("id"))
            label = recipient.get("username") or recipient.get("name") or rid
            where = f"{name} after {seconds_text(at)}: {label}"
            if rule.get("notifyType", "default") != "default":
                how = f"notifyType {rule['notifyType']} is not supported: pages who is on call"
                result.approximated("escalation rule", where, how)
            if kind == "user" and people.email(rid):
                by_delay[at].append({"user": people.email(rid)})
            elif kind == "schedule" and tracks.get(rid):
                by_delay[at] += [{"schedule": t} for t in tracks[rid]]
            elif kind == "team" and teams.name(rid):
                by_delay[at].append({"team": teams.name(rid)})
            else:
                result.skipped("escalation rule", where, "not imported")
                continue
            closed = rule.get("condition") == "if-not-closed"
            conditions[at].add("unresolved" if closed else "unacknowledged")
            if kind == "team":
                result.approximated("escalation rule", where, _TEAM_TARGET)
            else:
                result.mapped("escalation rule", where)
        if not by_delay:
            result.skipped("escalation", name, "no rule could be imported")
            continue
        delays = sorted(by_delay)
        repeat = raw.get("repeat") or {}
        last_wait = max(60, int(repeat.get("waitInterval") or 1) * 60)
        notes = []
        if delays[0]:
            notes.append(f"the first rules' delay of {seconds_text(delays[0])} is dropped")
        levels = []
        for i, at in enumerate(delays):
            after = delays[i + 1] - at if i + 1 < len(delays) else last_wait
            # A level climbs while the next rules' condition holds (Opsgenie checks each rule).
            wanted = conditions[delays[i + 1]] if i + 1 < len(delays) else conditions[at]
            if len(wanted) > 1:
                notes.append(f"mixed conditions at {seconds_text(at)}: unacknowledged used")
            condition = "unresolved" if wanted == {"unresolved"} else "unacknowledged"
            levels.append(
                {"escalate_after_seconds": after, "condition": condition, "targets": by_delay[at]}
            )
        count = int(repeat.get("count") or 0) if repeat.get("waitInterval") else 0
        doc = {
            "name": name,
            "description": str(raw.get("description") or ""),
            "repeat": min(count, 20),
            "levels": levels,
        }
        result.add("escalation_policies", name, doc)
        if notes:
            result.approximated("escalation", name, "; ".join(notes))
        else:
            result.mapped("escalation", name, f"{len(levels)} level(s), repeat {doc['repeat']}")
        names[str(raw["id"])] = name
    return names


def _team_policy(
    result: Import, export: Export, team_id: str, policies: dict[str, str], where: str
) -> str | None:
    """The escalation a team's default routing rule notifies; other rules are reported."""
    chosen = None
    for rule in sorted(export.routing_rules.get(team_id, []), key=lambda r: r.get("order", 0)):
        notify = rule.get("notify") or {}
        label = f"{where}: {rule.get('name') or rule.get('id')}"
        default = rule.get("isDefault") or (rule.get("criteria") or {}).get("type") == "match-all"
        if not default:
            result.skipped("routing rule", label, "criteria are not converted: add them by hand")
        elif notify.get("type") == "escalation" and str(notify.get("id")) in policies:
            chosen = chosen or policies[str(notify["id"])]
        else:
            result.skipped("routing rule", label, f"notifies {notify.get('type')}: not imported")
    return chosen


def _services(
    result: Import, export: Export, policies: dict[str, str], teams: Teams, now: datetime
) -> None:
    windows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for window in export.maintenance:
        for rule in window.get("rules") or []:
            entity = rule.get("entity") or {}
            if entity.get("type") == "integration":
                windows[str(entity.get("id"))].append(window)
            else:
                what = str(window.get("description") or window.get("id"))
                result.skipped("maintenance", what, f"applies to a {entity.get('type')}")
    by_team: dict[str, ServiceBuilder] = {}
    built: list[ServiceBuilder] = []
    taken: set[str] = set()
    for raw in export.integrations:
        name = unique_name(taken, str(raw.get("name") or raw["id"]), str(raw["id"]))
        team_id = str((raw.get("ownerTeam") or {}).get("id") or raw.get("teamId") or "")
        policy = _team_policy(result, export, team_id, policies, name)
        if policy is None:
            result.skipped("integration", name, "its team routes to no imported escalation")
            continue
        service = ServiceBuilder(result, name, policy, f"Opsgenie {raw.get('type')} integration")
        if not raw.get("enabled", True):
            service.disabled("disabled in Opsgenie")
        service.key(str(raw.get("type") or "api"), raw.get("apiKey"), pattern=KEPT_KEY_PATTERN)
        for window in windows.get(str(raw["id"]), []):
            time = window.get("time") or {}
            service.window(time.get("startDate"), time.get("endDate"), window, now)
        teams.owner(service.doc, [team_id], "service")
        by_team.setdefault(team_id, service)
        built.append(service)
    for beat in export.heartbeats:
        name = str(beat.get("name"))
        team_id = str((beat.get("ownerTeam") or {}).get("id") or "")
        if team_id not in by_team:
            result.skipped("heartbeat", name, "no imported service of its team to alert")
            continue
        interval = int(beat.get("interval") or 10) * _TIME_UNITS.get(
            str(beat.get("intervalUnit")), 60
        )
        by_team[team_id].heartbeat(name, interval)
    for service in built:
        service.done()


def map_export(export: Export, *, now: datetime) -> Import:
    """The policy documents and the report for an Opsgenie export."""
    result = Import("Opsgenie", "opsgenie")
    people = _users(result, export)
    teams = _teams(result, export, people)
    tracks = _schedules(result, export, people, now)
    policies = _policies(result, export, people, tracks, teams)
    _services(result, export, policies, teams, now)
    for raw in export.schedules:
        for title in tracks.get(str(raw["id"]), []):
            teams.owner(result.docs["schedules"][title], [_owner(raw)], "schedule")
    teams.own("escalation_policies", "escalation", export.escalations, policies, _owners)
    return result


def _owner(raw: dict[str, Any]) -> str | None:
    owner = (raw.get("ownerTeam") or {}).get("id")
    return str(owner) if owner else None


def _owners(raw: dict[str, Any]) -> list[Any]:
    return [_owner(raw)]


def _teams(result: Import, export: Export, people: People) -> Teams:
    teams = Teams(result, people)
    for raw in export.teams:
        members, custom = [], set()
        for m in raw.get("members") or []:
            role = str(m.get("role") or "user").lower()
            if role not in _TEAM_ROLES:
                custom.add(role)
            members.append(
                (str((m.get("user") or {}).get("id")), _TEAM_ROLES.get(role, "responder"))
            )
        how = f"custom team role(s) {', '.join(sorted(custom))}: responder" if custom else ""
        teams.add(
            source_id=str(raw["id"]),
            name=str(raw.get("name") or raw["id"]),
            description=raw.get("description"),
            members=members,
            how=how,
        )
    return teams


def read(api_key: str, *, base_url: str, now: datetime, verify: Any = True) -> Import:
    """Read an Opsgenie account through its REST API and map it."""
    api = JsonApi(
        base_url, {"Authorization": f"GenieKey {api_key}"}, verify=verify, what="Opsgenie"
    )
    try:
        return map_export(fetch(api), now=now)
    finally:
        api.close()
