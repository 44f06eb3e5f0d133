"""Opsgenie's Alert API (`/v2/alerts`) mapped onto Stairway events, and Opsgenie's answer shapes.

An alert's alias is the incident's dedup key: creating an alert whose alias is open adds to
that incident, as Opsgenie counts a repeated alert. Priorities map onto severity and urgency:

| priority | severity | urgency |
|---|---|---|
| P1 | critical | high |
| P2 | error | high |
| P3 (default) | warning | high |
| P4 | info | low |
| P5 | info | low |

The incident keeps the priority itself (`priority`). Field limits are Opsgenie's.
"""

import hashlib
import uuid
from typing import Any

from pydantic import ValidationError

from app.incidents.schemas import IncidentTrigger
from app.integrations.ingest import BadPayload, Event, Received, Target
from app.vocabulary import Priority, Severity, Urgency

OPERATIONS = ("create", "acknowledge", "close", "notes")
IDENTIFIER_TYPES = ("id", "alias", "tiny")
SEVERITY = {
    Priority.P1: Severity.CRITICAL,
    Priority.P2: Severity.ERROR,
    Priority.P3: Severity.WARNING,
    Priority.P4: Severity.INFO,
    Priority.P5: Severity.INFO,
}
URGENCY = {
    p: Urgency.HIGH if p in (Priority.P1, Priority.P2, Priority.P3) else Urgency.LOW
    for p in Priority
}
# Opsgenie's limits, in characters (and items).
MAX_TEXT = {
    "message": 130,
    "alias": 512,
    "description": 15000,
    "entity": 512,
    "source": 100,
    "user": 100,
    "note": 25000,
}
MAX_TAGS = 20
MAX_TAG = 50
MAX_ACTIONS = 10
MAX_ACTION = 50
MAX_RESPONDERS = 50
MAX_DETAILS_CHARS = 8000
RESPONDER_TYPES = ("team", "user", "escalation", "schedule")
MAX_DEDUP_KEY = 255
Errors = list[tuple[str, str]]


def alias_key(alias: str) -> str:
    """The dedup key of an alias (an alias longer than a dedup key is kept as its digest)."""
    if len(alias) <= MAX_DEDUP_KEY:
        return alias
    return "opsgenie-alias:sha256:" + hashlib.sha256(alias.encode()).hexdigest()


def _text(errors: Errors, body: dict[str, Any], name: str, *, required: bool = False) -> None:
    value = body.get(name)
    if value is None:
        if required:
            errors.append((name, f"{name.capitalize()} can not be empty."))
        return
    if not isinstance(value, str):
        errors.append((name, f"{name.capitalize()} must be a string."))
    elif required and not value.strip():
        errors.append((name, f"{name.capitalize()} can not be empty."))
    elif len(value) > MAX_TEXT[name]:
        errors.append((name, f"{name.capitalize()} can not exceed {MAX_TEXT[name]} characters."))


def _strings(errors: Errors, body: dict[str, Any], name: str, most: int, longest: int) -> None:
    value = body.get(name)
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.append((name, f"{name.capitalize()} must be an array of strings."))
    elif len(value) > most:
        errors.append((name, f"{name.capitalize()} can not have more than {most} items."))
    elif any(len(v) > longest for v in value):
        errors.append((name, f"Each of {name} can not exceed {longest} characters."))


def _recipients(errors: Errors, body: dict[str, Any], name: str) -> None:
    value = body.get(name)
    if value is None:
        return
    if not isinstance(value, list) or len(value) > MAX_RESPONDERS:
        errors.append((name, f"{name} must be an array of at most {MAX_RESPONDERS} objects."))
        return
    for i, item in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(item, dict):
            errors.append((where, "must be an object with a type and an id, name or username."))
            continue
        if item.get("type") not in RESPONDER_TYPES:
            errors.append((f"{where}.type", f"must be one of {', '.join(RESPONDER_TYPES)}."))
        named = [k for k in ("id", "name", "username") if item.get(k) is not None]
        if not named:
            errors.append((where, "needs an id, a name or a username."))
        for k in ("id", "name", "username"):
            if item.get(k) is not None and (
                not isinstance(item[k], str) or not 0 < len(item[k]) <= MAX_TEXT["alias"]
            ):
                errors.append((f"{where}.{k}", "must be a non-empty string."))


def _details(errors: Errors, body: dict[str, Any]) -> None:
    value = body.get("details")
    if value is None:
        return
    if not isinstance(value, dict):
        errors.append(("details", "Details must be an object of strings."))
        return
    for k, v in value.items():
        if not isinstance(v, str):
            errors.append((f"details.{k}", "must be a string."))
    if sum(len(k) + len(v) for k, v in value.items() if isinstance(v, str)) > MAX_DETAILS_CHARS:
        errors.append(("details", f"Details can not exceed {MAX_DETAILS_CHARS} characters."))


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadPayload([("body", "Request body must be a JSON object.")])
    return body


def _create(body: dict[str, Any], received: Received) -> list[Event]:
    errors: Errors = []
    _text(errors, body, "message", required=True)
    for name in ("alias", "description", "entity", "source", "user", "note"):
        _text(errors, body, name)
    _recipients(errors, body, "responders")
    _recipients(errors, body, "visibleTo")
    _strings(errors, body, "tags", MAX_TAGS, MAX_TAG)
    _strings(errors, body, "actions", MAX_ACTIONS, MAX_ACTION)
    _details(errors, body)
    priority = body.get("priority", Priority.P3.value)
    if priority not in list(Priority):
        errors.append(("priority", "Priority should be one of P1, P2, P3, P4, P5."))
    if errors:
        raise BadPayload(errors)
    alias = body.get("alias")
    key = alias_key(alias) if alias else uuid.uuid4().hex
    level = Priority(priority)
    kept = ("alias", "description", "responders", "visibleTo", "tags", "actions", "details")
    details = {name: body[name] for name in (*kept, "entity", "user", "note") if body.get(name)}
    try:
        trigger = IncidentTrigger.model_validate(
            {
                "title": body["message"].strip(),
                "severity": SEVERITY[level],
                "urgency": URGENCY[level],
                "priority": level,
                "dedup_key": key,
                "source": body.get("source") or "opsgenie",
                "details": details,
            },
            context={"source_bytes": received.body_bytes, "json_checked": True},
        )
    except ValidationError as exc:
        message = str(exc.errors()[0].get("msg", "invalid")).removeprefix("Value error, ")
        raise BadPayload([("details", message)]) from exc
    return [Event("trigger", key, trigger, request_id=received.request_id)]


def _action(body: dict[str, Any], received: Received) -> list[Event]:
    errors: Errors = []
    _text(errors, body, "user")
    _text(errors, body, "source")
    _text(errors, body, "note", required=received.operation == "notes")
    if errors:
        raise BadPayload(errors)
    target = received.target
    assert target is not None  # the route found what the identifier names
    note = body.get("note")
    if received.operation == "notes":
        actions: list[Any] = ["note"]
    else:
        # An acknowledgement or close may carry a note: it goes on the timeline first.
        actions = ["note"] if note else []
        actions.append("acknowledge" if received.operation == "acknowledge" else "resolve")
    return [
        Event(
            action,
            target.dedup_key,
            incident_id=target.incident_id,
            note=note if action == "note" else None,
            # The receipt tells of what was asked: the acknowledgement, not its note.
            request_id=received.request_id if i == len(actions) - 1 else None,
        )
        for i, action in enumerate(actions)
    ]


def events(body: Any, received: Received) -> list[Event]:
    """The source's parser: what a request to the Alert API (`received.operation`) asks."""
    payload = _object(body)
    if received.operation == "create":
        return _create(payload, received)
    return _action(payload, received)


def alias_target(alias: str) -> Target:
    """The alert an alias names: the open incident with its dedup key."""
    return Target(None, alias_key(alias))


def answer(request_id: uuid.UUID, took: float, **fields: Any) -> dict[str, Any]:
    """An Opsgenie answer: its fields, how long it took (seconds) and the request id."""
    return {**fields, "took": round(took, 3), "requestId": str(request_id)}


def invalid(errors: Errors) -> dict[str, Any]:
    """The fields of Opsgenie's answer to a body it cannot process."""
    return {
        "message": "Request body is not processable. Please check the errors.",
        "errors": dict(errors),
    }


# How each outcome reads in a request status: (isSuccess, status).
_ACTIONS = {
    "trigger": "Create",
    "acknowledge": "Acknowledge",
    "resolve": "Close",
    "note": "AddNote",
}
_STATUS = {
    ("trigger", "created"): (True, "Created alert"),
    ("trigger", "deduplicated"): (True, "Alert count incremented"),
    ("acknowledge", "changed"): (True, "Acknowledged alert"),
    ("acknowledge", "unchanged"): (True, "Alert is already acknowledged"),
    ("resolve", "changed"): (True, "Closed alert"),
    ("resolve", "unchanged"): (True, "Alert is already closed"),
    ("note", "changed"): (True, "Added note"),
}


def request_status(
    *,
    action: str,
    outcome: str,
    error: str | None,
    alias: str,
    alert_id: uuid.UUID | None,
    integration_id: uuid.UUID,
    processed_at: str | None,
) -> dict[str, Any]:
    """The `data` of `GET /v2/alerts/requests/{requestId}`."""
    if outcome == "dead":
        success, status = False, f"Could not be processed: {error}"
    elif outcome == "dropped":
        success, status = False, "Alert does not exist"
    else:
        success, status = _STATUS.get((action, outcome), (True, outcome))
    return {
        "success": success,
        "action": _ACTIONS.get(action, action),
        "processedAt": processed_at,
        "integrationId": str(integration_id),
        "isSuccess": success,
        "status": status,
        "alertId": str(alert_id) if alert_id else "",
        "alias": alias,
    }
