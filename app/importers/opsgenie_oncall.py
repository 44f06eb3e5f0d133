"""Opsgenie's schedules and escalations as Stairway schedules and escalation policies: each
rotation a schedule of its own, with its restrictions and overrides; each escalation's rules
grouped by delay into levels. Pure functions over what `app.importers.opsgenie` read.
"""

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.importers.people import People
from app.importers.plan import Import, seconds_text, unique_name
from app.importers.rotations import local_text, parse_instant
from app.importers.teams import Teams

OVERRIDE_DAYS = 365
TIME_UNITS = {"minutes": 60, "hours": 3600, "days": 86_400}
_UNITS = {"hourly": 3600, "daily": 86_400, "weekly": 604_800}
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TEAM_TARGET = (
    "pages the Stairway team: its on-call schedule, or its managers (Opsgenie routes to the "
    "team's escalation); set the team's on-call schedule after apply"
)


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
    result.came_across("rotation", where, notes, f"turns of {seconds_text(turn)}")
    return layer


def map_schedules(
    result: Import, schedules: list[dict[str, Any]], people: People, now: datetime
) -> dict[str, list[str]]:
    """Each rotation becomes a schedule of its own (Opsgenie's rotations are all on call at once);
    returns the Stairway schedules standing for each Opsgenie schedule id."""
    tracks: dict[str, list[str]] = {}
    taken: set[str] = set()
    for raw in schedules:
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


# --- escalations ------------------------------------------------------------------------------


def _delay_seconds(delay: dict[str, Any] | None) -> int:
    delay = delay or {}
    return int(delay.get("timeAmount") or 0) * TIME_UNITS.get(str(delay.get("timeUnit")), 60)


def map_escalations(
    result: Import,
    escalations: list[dict[str, Any]],
    people: People,
    tracks: dict[str, list[str]],
    teams: Teams,
) -> dict[str, str]:
    """Each escalation as an escalation policy; returns the policy name of each escalation id."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for raw in escalations:
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
        result.came_across(
            "escalation", name, notes, f"{len(levels)} level(s), repeat {doc['repeat']}"
        )
        names[str(raw["id"])] = name
    return names
