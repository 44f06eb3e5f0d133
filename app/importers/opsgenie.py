"""Opsgenie: users, teams, rotations, escalations, integrations with their team's routing,
heartbeats and maintenance. Read with httpx (offset pagination, 429 / Retry-After honoured);
mapped by pure functions (schedules and escalations in `opsgenie_oncall.py`). docs/moving-in.md
has the tables.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.importers.http import JsonApi
from app.importers.opsgenie_oncall import TIME_UNITS, map_escalations, map_schedules
from app.importers.people import Contact, People, Rule
from app.importers.plan import Import, unique_name
from app.importers.services import ServiceBuilder
from app.importers.teams import Teams
from app.policyfiles.model_services import KEPT_KEY_PATTERN

PAGE_SIZE = 100
_ROLES = {"owner": "admin", "admin": "admin", "user": "responder", "observer": "observer"}
_ROLES["stakeholder"] = "observer"
_CONTACTS = {"email": "email", "sms": "sms", "voice": "voice"}
# Opsgenie's team roles: admins manage the team; custom roles respond (approximated).
_TEAM_ROLES = {"admin": "manager", "user": "responder"}


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
            unit = TIME_UNITS.get(str(after.get("timeUnit") or "minutes"), 60)
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


# --- services ---------------------------------------------------------------------------------


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
        interval = int(beat.get("interval") or 10) * TIME_UNITS.get(
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
    tracks = map_schedules(result, export.schedules, people, now)
    policies = map_escalations(result, export.escalations, people, tracks, teams)
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
