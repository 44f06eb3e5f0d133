"""Users, schedules and escalation policies in policy files.

Each object is validated by the REST API's own create schema; the file only swaps ids for
names (users by email, schedules and policies by name) and nests an object's parts inside it.
`*_models` turns a file's object into API bodies (resolving names with `Refs`); `*_doc` turns
API bodies back into the canonical file form that plans compare and exports write.
"""

from dataclasses import dataclass
from typing import Any

from app.policies.schemas import PolicyCreate
from app.policyfiles.common import (
    UNRESOLVED,
    RefKind,
    Refs,
    Reporter,
    by_user_email,
    duplicates,
    items,
    mapping,
    nested,
    owner_team,
    parse_field,
    plain,
    utc_text,
    validate,
    without,
)
from app.policyfiles.loader import Path_
from app.schedules import calculator
from app.schedules.schemas import LayerIn, OverrideCreate, ScheduleCreate
from app.users.schemas import ContactMethodCreate, NotificationRuleCreate, UserCreate

# --- users ------------------------------------------------------------------------------------


@dataclass
class UserModels:
    user: UserCreate
    contact_methods: list[tuple[ContactMethodCreate, list[NotificationRuleCreate]]]


def rule_key(doc: dict[str, Any]) -> str:
    """How a notification rule is told apart from its siblings (and shown)."""
    urgency = f" ({doc['urgency']} urgency)" if doc.get("urgency") else ""
    return f"after {doc['delay_seconds']}s{urgency}"


def method_key(doc: dict[str, Any]) -> str:
    """How a contact method is told apart from the user's others (and shown)."""
    label = f' "{doc["label"]}"' if doc.get("label") else ""
    return f"{doc['type']} {doc['address']}{label}"


def notification_rule(raw: Any, at: Path_, report: Reporter) -> NotificationRuleCreate | None:
    """A rule listed under its contact method (which is why it names none)."""
    hint = "list the rule under its contact method"
    return nested(
        NotificationRuleCreate, raw, at, report, parent_field="contact_method_id", hint=hint
    )


def user_models(raw: Any, report: Reporter) -> UserModels | None:
    """A user with contact methods, each with its notification rules."""
    start = report.count
    doc = mapping(raw, (), report)
    if doc is None:
        return None
    user = validate(UserCreate, without(doc, "contact_methods"), (), report)
    methods: list[tuple[ContactMethodCreate, list[NotificationRuleCreate]]] = []
    for i, item in enumerate(items(doc.get("contact_methods"), ("contact_methods",), report)):
        at: Path_ = ("contact_methods", i)
        cm = mapping(item, at, report)
        if cm is None:
            continue
        method = validate(ContactMethodCreate, without(cm, "notification_rules"), at, report)
        rules = [
            notification_rule(r, (*at, "notification_rules", j), report)
            for j, r in enumerate(
                items(cm.get("notification_rules"), (*at, "notification_rules"), report)
            )
        ]
        kept = [r for r in rules if r is not None]
        rule_keys = [
            (rule_key(rule_doc(r)), (*at, "notification_rules", j)) for j, r in enumerate(kept)
        ]
        duplicates(rule_keys, "notification rule", report)
        if method is not None:
            methods.append((method, kept))
    keys = [
        (method_key(method_doc(m, [])), ("contact_methods", i)) for i, (m, _) in enumerate(methods)
    ]
    duplicates(keys, "contact method", report)
    if user is None or report.count > start:
        return None
    return UserModels(user, methods)


def rule_doc(rule: NotificationRuleCreate) -> dict[str, Any]:
    """A notification rule in file form."""
    return {"delay_seconds": rule.delay_seconds, "urgency": plain(rule.urgency)}


def method_doc(method: ContactMethodCreate, rules: list[NotificationRuleCreate]) -> dict[str, Any]:
    """A contact method in file form, rules soonest first."""
    docs = sorted(
        (rule_doc(r) for r in rules), key=lambda d: (d["delay_seconds"], d["urgency"] or "")
    )
    return {**plain(method), "notification_rules": docs}


def user_doc(models: UserModels) -> dict[str, Any]:
    """A user in canonical file form."""
    doc: dict[str, Any] = plain(models.user)
    doc["email"] = doc["email"].lower()
    methods = [method_doc(m, rules) for m, rules in models.contact_methods]
    doc["contact_methods"] = sorted(methods, key=method_key)
    return doc


# --- schedules --------------------------------------------------------------------------------


@dataclass
class ScheduleModels:
    schedule: ScheduleCreate
    overrides: list[OverrideCreate]


def override_key(doc: dict[str, Any]) -> str:
    """How an override is told apart (and shown)."""
    return f"{doc['user']} {doc['start']} to {doc['end']}"


def override(raw: Any, at: Path_, refs: Refs, report: Reporter) -> OverrideCreate | None:
    """`user` (an email) is on call from `start` to `end`."""
    return by_user_email(OverrideCreate, raw, at, refs, report)


def _layer(raw: Any, at: Path_, refs: Refs, report: Reporter) -> Any:
    participants = raw.get("participants") if isinstance(raw, dict) else None
    if not isinstance(participants, list):
        return raw
    ids = [
        refs.resolve("user", p, (*at, "participants", j), report)
        for j, p in enumerate(participants)
    ]
    return {**raw, "participants": ids}


def _check_calendar(models: ScheduleModels, report: Reporter) -> None:
    """The on-call calculator's own rules (time zones, turn lengths, restrictions)."""
    layers = tuple(
        calculator.Layer(
            participants=tuple(str(p) for p in layer.participants),
            turn_seconds=layer.turn_seconds or 0,
            start=layer.start,
            restrictions=tuple(
                calculator.Restriction(r.kind, r.start, r.duration_seconds, r.start_weekday)
                for r in layer.restrictions
            ),
        )
        for layer in models.schedule.layers
    )
    overrides = tuple(calculator.Override(str(o.user_id), o.start, o.end) for o in models.overrides)
    for problem in calculator.validate_schedule(
        calculator.Schedule(models.schedule.time_zone, layers, overrides)
    ):
        field, _, message = problem.partition(": ")
        report(parse_field(field), message)


def schedule_models(raw: Any, refs: Refs, report: Reporter) -> ScheduleModels | None:
    """A schedule with its layers (participants by email) and overrides."""
    start = report.count
    doc = mapping(raw, (), report)
    if doc is None:
        return None
    body = {**without(doc, "overrides", "team", "team_id"), **owner_team(doc, refs, report)}
    if isinstance(doc.get("layers"), list):
        body["layers"] = [
            _layer(x, ("layers", i), refs, report) for i, x in enumerate(doc["layers"])
        ]
    schedule = validate(ScheduleCreate, body, (), report)
    overrides = [
        override(o, ("overrides", i), refs, report)
        for i, o in enumerate(items(doc.get("overrides"), ("overrides",), report))
    ]
    kept = [o for o in overrides if o is not None]
    if schedule is None or report.count > start:
        return None
    models = ScheduleModels(schedule, kept)
    _check_calendar(models, report)
    return None if report.count > start else models


def layer_doc(layer: LayerIn, refs: Refs) -> dict[str, Any]:
    """A layer in canonical form: participants by email, the turn in seconds, start in UTC."""
    return {
        "participants": [refs.name("user", p) for p in layer.participants],
        "turn_seconds": layer.turn_seconds,
        "start": utc_text(layer.start),
        "restrictions": plain(layer.restrictions),
    }


def override_doc(data: OverrideCreate, refs: Refs) -> dict[str, Any]:
    """An override in canonical form."""
    return {
        "user": refs.name("user", data.user_id),
        "start": utc_text(data.start),
        "end": utc_text(data.end),
    }


def schedule_doc(models: ScheduleModels, refs: Refs) -> dict[str, Any]:
    """A schedule in canonical file form, overrides by start."""
    s = models.schedule
    overrides = [override_doc(o, refs) for o in models.overrides]
    return {
        "name": s.name,
        "time_zone": s.time_zone,
        "description": s.description,
        "team": refs.name("team", s.team_id),
        "layers": [layer_doc(layer, refs) for layer in s.layers],
        "overrides": sorted(overrides, key=lambda d: (d["start"], d["end"], d["user"])),
    }


# --- escalation policies ----------------------------------------------------------------------

TARGET_KINDS = ("user", "schedule", "team", "webhook")
TARGET_FORMS = "{user: <email>}, {schedule: <name>}, {team: <name>} or {webhook: <url>}"
_REF_KINDS: dict[str, RefKind] = {"user": "user", "schedule": "schedule", "team": "team"}
# Stands in for a target already reported, so the schema does not report it twice.
_REPORTED_TARGET = {"type": "user", "id": UNRESOLVED}


def _target(raw: Any, at: Path_, refs: Refs, report: Reporter) -> Any:
    if not isinstance(raw, dict):
        report(at, f"a target is {TARGET_FORMS}")
        return _REPORTED_TARGET
    unknown = sorted(set(raw) - set(TARGET_KINDS))
    given = [kind for kind in TARGET_KINDS if kind in raw]
    if unknown:
        report((*at, unknown[0]), f"unknown field; a target is {TARGET_FORMS}")
        return _REPORTED_TARGET
    if len(given) != 1:
        report(at, f"give exactly one of user, schedule, team, webhook: a target is {TARGET_FORMS}")
        return _REPORTED_TARGET
    kind = given[0]
    if kind == "webhook":
        return {"type": "webhook", "url": raw["webhook"]}
    return {"type": kind, "id": refs.resolve(_REF_KINDS[kind], raw[kind], at, report)}


def _target_loc(loc: Path_) -> Path_:
    # Errors inside a target ("url", "id") belong to the target as the file writes it.
    if len(loc) > 4 and loc[0] == "levels" and loc[2] == "targets":
        return loc[:4]
    return loc


def policy_models(raw: Any, refs: Refs, report: Reporter) -> PolicyCreate | None:
    """An escalation policy whose level targets name users, schedules or webhook URLs."""
    start = report.count
    doc = mapping(raw, (), report)
    if doc is None:
        return None
    body = {**without(doc, "team", "team_id"), **owner_team(doc, refs, report)}
    if isinstance(doc.get("levels"), list):
        body["levels"] = []
        for i, level in enumerate(doc["levels"]):
            if isinstance(level, dict) and isinstance(level.get("targets"), list):
                targets = level["targets"]
                level = {
                    **level,
                    "targets": [
                        _target(t, ("levels", i, "targets", j), refs, report)
                        for j, t in enumerate(targets)
                    ],
                }
            body["levels"].append(level)
    policy = validate(PolicyCreate, body, (), report, _target_loc)
    return None if report.count > start else policy


def policy_doc(policy: PolicyCreate, refs: Refs) -> dict[str, Any]:
    """An escalation policy in canonical file form."""
    levels = []
    for level in policy.levels:
        targets: list[dict[str, Any]] = []
        for t in level.targets:
            if t.url is not None:
                targets.append({"webhook": t.url})
            else:
                targets.append({t.type.value: refs.name(_REF_KINDS[t.type.value], t.id)})
        levels.append(
            {
                "escalate_after_seconds": level.escalate_after_seconds,
                "condition": plain(level.condition),
                "targets": targets,
            }
        )
    return {
        "name": policy.name,
        "description": policy.description,
        "team": refs.name("team", policy.team_id),
        "repeat": policy.repeat,
        "levels": levels,
    }
