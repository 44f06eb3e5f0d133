"""PagerDuty: users, teams, schedules, escalation policies, services (keys kept) and maintenance
windows.

Read with the official `pagerduty` package's RestApiV2Client (pagination, retries); mapped by pure
functions so the mapping is tested on recorded API shapes (docs/moving-in.md has the tables).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.importers.people import Contact, People, Rule
from app.importers.plan import Import, seconds_text, unique_name
from app.importers.rotations import anchor_layer, local_text, parse_instant
from app.importers.services import ServiceBuilder
from app.importers.teams import Teams
from app.policyfiles.model_services import KEPT_KEY_PATTERN
from app.schedules import calculator

OVERRIDE_DAYS = 365
DEFAULT_BASE_URL = "https://api.pagerduty.com"
_ROLES = {
    "owner": "admin",
    "admin": "admin",
    "user": "responder",
    "limited_user": "responder",
    "observer": "observer",
    "restricted_access": "observer",
    "read_only_user": "observer",
    "read_only_limited_user": "observer",
}
# PagerDuty's team roles are Stairway's (a team's members are read with their role).
_TEAM_ROLES = {"manager": "manager", "responder": "responder", "observer": "observer"}
_CONTACT_TYPES = {"email_contact_method": "email", "phone_contact_method": "voice"}
_CONTACT_TYPES["sms_contact_method"] = "sms"
# Integrations whose key works on /v2/enqueue (or, for v1, a key to keep while senders move).
_KEYED = ("events_api_v2_inbound_integration", "generic_events_api_inbound_integration")


@dataclass
class Export:
    """What the importer reads from PagerDuty's REST API."""

    users: list[dict[str, Any]] = field(default_factory=list)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    escalation_policies: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    maintenance_windows: list[dict[str, Any]] = field(default_factory=list)
    teams: list[dict[str, Any]] = field(default_factory=list)


def fetch(client: Any, *, now: datetime) -> Export:
    """Everything the mapping needs, following pagination (the client's iter_all)."""
    since, until = now.isoformat(), (now + timedelta(days=OVERRIDE_DAYS)).isoformat()
    export = Export()
    export.users = list(
        client.iter_all("users", params={"include[]": ["contact_methods", "notification_rules"]})
    )
    for listed in client.iter_all("schedules"):
        schedule = client.rget(f"schedules/{listed['id']}")
        overrides = client.rget(
            f"schedules/{listed['id']}/overrides", params={"since": since, "until": until}
        )
        export.schedules.append({**schedule, "overrides": overrides})
    export.escalation_policies = list(client.iter_all("escalation_policies"))
    for service in client.iter_all("services", params={"include[]": ["integrations"]}):
        integrations = []
        for integration in service.get("integrations") or []:
            if str(integration.get("type", "_reference")).endswith("_reference"):
                # A bare reference: read the integration itself for its type and key.
                integration = client.rget(
                    f"services/{service['id']}/integrations/{integration['id']}"
                )
            integrations.append(integration)
        export.services.append({**service, "integrations": integrations})
    export.maintenance_windows = list(
        client.iter_all("maintenance_windows", params={"filter": "open"})
    )
    for team in client.iter_all("teams"):
        members = list(client.iter_all(f"teams/{team['id']}/members"))
        export.teams.append({**team, "members": members})
    return export


# --- users ----------------------------------------------------------------------------------


def _address(method: dict[str, Any]) -> str:
    address = str(method.get("address") or "").strip()
    if method.get("type") in ("phone_contact_method", "sms_contact_method"):
        return f"+{method.get('country_code', '')}{address.lstrip('+')}"
    return address


def _users(result: Import, export: Export) -> People:
    people = People(result)
    for user in export.users:
        methods: dict[str, Contact] = {}
        for method in user.get("contact_methods") or []:
            kind = _CONTACT_TYPES.get(str(method.get("type")))
            label = str(method.get("label") or "")
            if kind is None:
                why = "no such channel in Stairway (push notifications need the PagerDuty app)"
                source_kind = str(method.get("type")).removesuffix("_contact_method")
                methods[str(method.get("id"))] = Contact(None, f"{source_kind} {label}", label, why)
                continue
            methods[str(method.get("id"))] = Contact(kind, _address(method), label)
        rules = [
            Rule(
                contact_id=str((rule.get("contact_method") or {}).get("id")),
                delay_seconds=int(rule.get("start_delay_in_minutes") or 0) * 60,
                urgency=rule.get("urgency") if rule.get("urgency") in ("high", "low") else None,
            )
            for rule in user.get("notification_rules") or []
        ]
        people.add(
            source_id=str(user["id"]),
            name=str(user.get("name") or user.get("email") or user["id"]),
            email=user.get("email"),
            role=_ROLES.get(str(user.get("role")), "responder"),
            time_zone=user.get("time_zone"),
            contacts=methods,
            rules=rules,
        )
    return people


# --- schedules ------------------------------------------------------------------------------


def _restriction(raw: dict[str, Any]) -> dict[str, Any]:
    start = str(raw.get("start_time_of_day") or "00:00:00").removesuffix("Z")
    doc: dict[str, Any] = {
        "kind": "weekly" if raw.get("type") == "weekly_restriction" else "daily",
        "start": start,
        "duration_seconds": int(raw.get("duration_seconds") or 0),
    }
    if doc["kind"] == "weekly":
        doc["start_weekday"] = (int(raw.get("start_day_of_week") or 1) - 1) % 7
    return doc


def _layer(
    result: Import, people: People, where: str, raw: dict[str, Any], zone: ZoneInfo, now: datetime
) -> dict[str, Any] | None:
    end = raw.get("end")
    if end and parse_instant(end) <= now:
        result.skipped("schedule layer", where, f"ended {end}")
        return None
    emails, missing = people.emails([str((u.get("user") or u).get("id")) for u in raw["users"]])
    if not emails:
        result.skipped("schedule layer", where, "none of its users was imported")
        return None
    turn = int(raw["rotation_turn_length_seconds"])
    start = parse_instant(raw["start"])
    anchored = anchor_layer(
        emails,
        turn_seconds=turn,
        rotation_start=parse_instant(raw["rotation_virtual_start"]),
        layer_start=start,
        zone=zone,
    )
    notes = []
    if missing:
        notes.append(f"users not imported left out of the rotation: {', '.join(missing)}")
    if anchored.early_by and start > now:
        notes.append(f"on call from {local_text(anchored.start, zone)} rather than {raw['start']}")
    if end:
        notes.append(f"PagerDuty ends this layer at {end}; Stairway layers do not end, edit then")
    doc = {
        "participants": anchored.participants,
        "turn_seconds": turn,
        "start": local_text(anchored.start, zone),
        "restrictions": [_restriction(r) for r in raw.get("restrictions") or []],
    }
    result.came_across("schedule layer", where, notes, f"turns of {seconds_text(turn)}")
    return doc


def _schedules(result: Import, export: Export, people: People, now: datetime) -> dict[str, str]:
    names: dict[str, str] = {}
    taken: set[str] = set()
    for raw in export.schedules:
        name = unique_name(taken, str(raw.get("name") or raw["id"]), str(raw["id"]))
        zone_name = str(raw.get("time_zone") or "UTC")
        try:
            zone = ZoneInfo(zone_name)
        except (ValueError, OSError):
            result.skipped("schedule", name, f"unknown time zone {zone_name!r}")
            continue
        # PagerDuty lists layers newest (highest) first; Stairway's files list the lowest first.
        layers = [
            _layer(result, people, f"{name} / {layer.get('name') or i + 1}", layer, zone, now)
            for i, layer in reversed(list(enumerate(raw.get("schedule_layers") or [])))
        ]
        overrides = []
        for o in raw.get("overrides") or []:
            what = f"{name} {o.get('start')} to {o.get('end')}"
            email = people.email(str((o.get("user") or {}).get("id")))
            if email is None:
                result.skipped("override", what, "its user was not imported")
                continue
            if parse_instant(o["end"]) <= now:
                continue  # over: history, as Stairway's own exports leave it out
            overrides.append({"user": email, "start": o["start"], "end": o["end"]})
            result.mapped("override", what, email)
        doc = {
            "name": name,
            "time_zone": zone_name,
            "description": str(raw.get("description") or ""),
            "layers": [layer for layer in layers if layer is not None],
            "overrides": sorted(overrides, key=lambda o: (o["start"], o["user"])),
        }
        if not _valid_calendar(doc):
            result.skipped("schedule", name, "its layers do not form a valid Stairway schedule")
            continue
        result.add("schedules", name, doc)
        result.mapped("schedule", name, f"{len(doc['layers'])} layer(s), time zone {zone_name}")
        names[str(raw["id"])] = name
    return names


def _valid_calendar(doc: dict[str, Any]) -> bool:
    layers = tuple(
        calculator.Layer(
            tuple(layer["participants"]),
            layer["turn_seconds"],
            parse_instant(layer["start"]),
            tuple(
                calculator.Restriction(
                    r["kind"],
                    datetime.strptime(r["start"], "%H:%M:%S").time(),
                    r["duration_seconds"],
                    r.get("start_weekday"),
                )
                for r in layer["restrictions"]
            ),
        )
        for layer in doc["layers"]
    )
    return not calculator.validate_schedule(calculator.Schedule(doc["time_zone"], layers))


# --- escalation policies and services ---------------------------------------------------------


def _policies(
    result: Import, export: Export, people: People, schedules: dict[str, str]
) -> dict[str, str]:
    names: dict[str, str] = {}
    taken: set[str] = set()
    for raw in export.escalation_policies:
        name = unique_name(taken, str(raw.get("name") or raw["id"]), str(raw["id"]))
        levels = []
        for i, rule in enumerate(raw.get("escalation_rules") or []):
            where = f"{name} level {i + 1}"
            targets = []
            for target in rule.get("targets") or []:
                kind, target_id = str(target.get("type")), str(target.get("id"))
                if kind.startswith("user") and people.email(target_id):
                    targets.append({"user": people.email(target_id)})
                elif kind.startswith("schedule") and target_id in schedules:
                    targets.append({"schedule": schedules[target_id]})
                else:
                    label = target.get("summary") or target_id
                    result.skipped("escalation target", f"{where}: {label}", "not imported")
            if not targets:
                result.skipped("escalation level", where, "none of its targets was imported")
                continue
            delay = max(60, int(rule.get("escalation_delay_in_minutes") or 1) * 60)
            levels.append({"escalate_after_seconds": min(delay, 7 * 86400), "targets": targets})
            result.mapped("escalation level", where, f"escalates after {seconds_text(delay)}")
        if not levels:
            result.skipped("escalation policy", name, "no level could be imported")
            continue
        loops = int(raw.get("num_loops") or 0)
        doc = {
            "name": name,
            "description": str(raw.get("description") or ""),
            "repeat": min(loops, 20),
            "levels": levels,
        }
        result.add("escalation_policies", name, doc)
        strategy = (raw.get("escalation_rule_assignment_strategy") or {}).get("type")
        if strategy == "round_robin":
            how = "round robin assignment is not supported: every target of a level is paged"
            result.approximated("escalation policy", name, how)
        else:
            result.mapped("escalation policy", name, f"repeat {loops}")
        names[str(raw["id"])] = name
    return names


def _urgency_rules(service: ServiceBuilder, rule: dict[str, Any] | None) -> None:
    if not rule:
        return
    if rule.get("type") == "use_support_hours":
        during = (rule.get("during_support_hours") or {}).get("urgency")
        outside = (rule.get("outside_support_hours") or {}).get("urgency")
        high = "high" in (during, outside) or "severity_based" in (during, outside)
        how = f"support hours are not supported: always {'high' if high else 'low'} urgency"
        service.approximate_urgency(how)
        if not high:
            service.rule(name="low urgency (from PagerDuty)", urgency="low")
        return
    urgency = rule.get("urgency")
    if urgency == "low":
        service.rule(name="low urgency (from PagerDuty)", urgency="low")
        service.map_urgency("constant low urgency")
    elif urgency == "severity_based":
        service.rule(
            name="warning and info are low urgency (from PagerDuty)",
            conditions=[{"field": "severity", "value": ["warning", "info"]}],
            urgency="low",
        )
        service.map_urgency("severity based: warning and info low")


def _services(
    result: Import, export: Export, policies: dict[str, str], now: datetime
) -> dict[str, str]:
    windows: dict[str, list[dict[str, Any]]] = {}
    for window in export.maintenance_windows:
        for ref in window.get("services") or []:
            windows.setdefault(str(ref.get("id")), []).append(window)
    taken: set[str] = set()
    names: dict[str, str] = {}
    for raw in export.services:
        name = unique_name(taken, str(raw.get("name") or raw["id"]), str(raw["id"]))
        policy = policies.get(str((raw.get("escalation_policy") or {}).get("id")))
        if policy is None:
            result.skipped("service", name, "its escalation policy was not imported")
            continue
        service = ServiceBuilder(result, name, policy, str(raw.get("description") or ""))
        service.timers(raw.get("acknowledgement_timeout"), raw.get("auto_resolve_timeout"))
        if raw.get("status") == "disabled":
            service.disabled("disabled in PagerDuty")
        for integration in raw.get("integrations") or []:
            label = str(integration.get("name") or integration.get("summary") or "events")
            kind = str(integration.get("type") or "")
            key = integration.get("integration_key")
            if kind == "generic_email_inbound_integration" or not key:
                why = "email integrations have no Stairway equivalent; send through Events API v2"
                service.skip_key(label, why if "email" in kind else "it has no integration key")
                continue
            v1 = kind == "generic_events_api_inbound_integration"
            note = "Events API v1: senders move to /v2/enqueue" if v1 else ""
            service.key(label, key, pattern=KEPT_KEY_PATTERN, note=note)
        _urgency_rules(service, raw.get("incident_urgency_rule"))
        for window in windows.get(str(raw["id"]), []):
            service.window(window.get("start_time"), window.get("end_time"), window, now)
        service.done()
        names[str(raw["id"])] = name
    return names


def _teams(result: Import, export: Export, people: People) -> Teams:
    teams = Teams(result, people)
    for raw in export.teams:
        members = [
            (str((m.get("user") or {}).get("id")), _TEAM_ROLES.get(str(m.get("role")), "responder"))
            for m in raw.get("members") or []
        ]
        name = str(raw.get("name") or raw["id"])
        teams.add(
            source_id=str(raw["id"]), name=name, description=raw.get("description"), members=members
        )
    return teams


def _team_ids(raw: dict[str, Any]) -> list[Any]:
    return [t.get("id") for t in raw.get("teams") or [] if isinstance(t, dict)]


def map_export(export: Export, *, now: datetime) -> Import:
    """The policy documents and the report for a PagerDuty export."""
    result = Import("PagerDuty", "pagerduty")
    people = _users(result, export)
    schedules = _schedules(result, export, people, now)
    policies = _policies(result, export, people, schedules)
    services = _services(result, export, policies, now)
    teams = _teams(result, export, people)
    teams.own("schedules", "schedule", export.schedules, schedules, _team_ids)
    teams.own(
        "escalation_policies", "escalation policy", export.escalation_policies, policies, _team_ids
    )
    teams.own("services", "service", export.services, services, _team_ids)
    return result


def read(api_token: str, *, base_url: str | None, now: datetime, verify: Any = True) -> Import:
    """Read a PagerDuty account through its REST API and map it."""
    from pagerduty import RestApiV2Client

    from app.importers.http import RetryAfterTransport

    client = RestApiV2Client(
        api_token,
        base_url=base_url or DEFAULT_BASE_URL,
        transport=RetryAfterTransport(verify=verify),
    )
    try:
        return map_export(fetch(client, now=now), now=now)
    finally:
        client.close()
