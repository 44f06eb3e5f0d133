"""PagerDuty Events API v2: alert events (`/v2/enqueue`) mapped onto Stairway incidents."""

import uuid
from typing import Any

from pydantic import ValidationError

from app.incidents.schemas import IncidentTrigger
from app.integrations.ingest import BadPayload, Event, Received

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
ROUTING_KEY_LENGTH = 32
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
MAX_SOURCE = 255
_TEXT_FIELDS = ("timestamp", "component", "group", "class")


def _text(errors: list[tuple[str, str]], where: dict[str, Any], name: str, label: str) -> None:
    value = where.get(name)
    if value is not None and not isinstance(value, str):
        errors.append((label, "must be a string"))


def _objects(
    errors: list[tuple[str, str]], value: Any, label: str, required: str, optional: str
) -> None:
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        errors.append((label, "must be an array of objects"))
        return
    for i, item in enumerate(value):
        if not isinstance(item.get(required), str):
            errors.append((f"{label}[{i}].{required}", "is required and must be a string"))
        _text(errors, item, optional, f"{label}[{i}].{optional}")


def routing_key(body: Any) -> str:
    """The event's routing key, or BadPayload (checked first: it selects the rate limit)."""
    if not isinstance(body, dict):
        raise BadPayload([("body", "the event must be a JSON object")])
    key = body.get("routing_key")
    if not isinstance(key, str) or not key:
        raise BadPayload([("routing_key", "is required")])
    if len(key) != ROUTING_KEY_LENGTH:
        raise BadPayload(
            [("routing_key", f"length is incorrect (should be {ROUTING_KEY_LENGTH} characters)")]
        )
    return key


def _check_payload(errors: list[tuple[str, str]], payload: Any) -> None:
    if not isinstance(payload, dict):
        errors.append(("payload", "is required for trigger events and must be an object"))
        return
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        errors.append(("payload.summary", "is required"))
    elif len(summary) > MAX_SUMMARY:
        errors.append(("payload.summary", f"must be at most {MAX_SUMMARY} characters"))
    source = payload.get("source")
    if not isinstance(source, str) or not source.strip():
        errors.append(("payload.source", "is required"))
    if payload.get("severity") not in SEVERITIES:
        errors.append(("payload.severity", f"must be one of {', '.join(SEVERITIES)}"))
    for name in _TEXT_FIELDS:
        _text(errors, payload, name, f"payload.{name}")


def _details(body: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {}
    for name in (*_TEXT_FIELDS, "custom_details"):
        if payload.get(name) is not None:
            details[name] = payload[name]
    for name in ("links", "images", "client", "client_url"):
        if body.get(name) is not None:
            details[name] = body[name]
    source = payload["source"]
    if len(source) > MAX_SOURCE:
        details["source"] = source  # the column keeps a prefix; the full value stays here
    return details


def parse_event(body: dict[str, Any], *, body_bytes: int | None = None) -> Event:
    """An alert event as Stairway applies it, or BadPayload listing every problem.

    `body_bytes`: the size of the request body `body` was parsed from by `read_json`, if so
    (its values are then known to be safe JSON, and a small body cannot hold details over the
    size limit, which then need not be measured).
    """
    errors: list[tuple[str, str]] = []
    action = body.get("event_action")
    if action not in ACTIONS:
        errors.append(("event_action", f"must be one of {', '.join(ACTIONS)}"))
    dedup_key = body.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or not dedup_key):
        errors.append(("dedup_key", "must be a non-empty string"))
    elif isinstance(dedup_key, str) and len(dedup_key) > MAX_DEDUP_KEY:
        errors.append(("dedup_key", f"must be at most {MAX_DEDUP_KEY} characters"))
    elif dedup_key is None and action in ("acknowledge", "resolve"):
        errors.append(("dedup_key", f"is required for {action} events"))
    _text(errors, body, "client", "client")
    _text(errors, body, "client_url", "client_url")
    _objects(errors, body.get("links"), "links", "href", "text")
    _objects(errors, body.get("images"), "images", "src", "alt")
    payload = body.get("payload")
    if action == "trigger":
        _check_payload(errors, payload)
    if errors:
        raise BadPayload(errors)
    key = dedup_key if isinstance(dedup_key, str) else uuid.uuid4().hex
    if action != "trigger":
        return Event("acknowledge" if action == "acknowledge" else "resolve", key)
    assert isinstance(payload, dict)
    try:
        trigger = IncidentTrigger.model_validate(
            {
                "title": payload["summary"].strip(),
                "severity": payload["severity"],
                "dedup_key": key,
                "source": payload["source"].strip()[:MAX_SOURCE],
                "details": _details(body, payload),
            },
            context={"source_bytes": body_bytes, "json_checked": body_bytes is not None},
        )
    except ValidationError as exc:
        raise BadPayload([("payload.custom_details", _first_message(exc))]) from exc
    return Event("trigger", key, trigger)


def events(body: Any, received: Received) -> list[Event]:
    """The source's parser: one alert event (the routing key was checked at the door)."""
    return [parse_event(body, body_bytes=received.body_bytes)]


def _first_message(exc: ValidationError) -> str:
    return str(exc.errors()[0].get("msg", "invalid")).removeprefix("Value error, ")


def invalid(errors: list[tuple[str, str]]) -> dict[str, Any]:
    """PagerDuty's answer to an invalid event."""
    return {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": [f"'{field}' {message}" for field, message in errors],
    }


def accepted(dedup_key: str | None, message: str = "Event processed") -> dict[str, Any]:
    """PagerDuty's answer to an accepted event."""
    body: dict[str, Any] = {"status": "success", "message": message}
    if dedup_key is not None:
        body["dedup_key"] = dedup_key
    return body


def check_change_event(body: dict[str, Any]) -> None:
    """A change event (`/v2/change/enqueue`) must carry a summary; BadPayload otherwise."""
    payload = body.get("payload")
    errors: list[tuple[str, str]] = []
    if not isinstance(payload, dict):
        errors.append(("payload", "is required and must be an object"))
    else:
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors.append(("payload.summary", "is required"))
        elif len(summary) > MAX_SUMMARY:
            errors.append(("payload.summary", f"must be at most {MAX_SUMMARY} characters"))
    _objects(errors, body.get("links"), "links", "href", "text")
    if errors:
        raise BadPayload(errors)
