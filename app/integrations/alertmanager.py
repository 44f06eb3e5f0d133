"""Prometheus Alertmanager webhook (payload version 4) mapped onto Stairway events.

One incident per alert group (dedup key from `groupKey`, the default) or per alert (dedup key
from `fingerprint`), chosen per integration key. Grafana's webhook contact point sends the same
shape with a few extra fields (see grafana.py).
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from app.incidents.schemas import MAX_DETAILS_BYTES, IncidentTrigger
from app.integrations.ingest import BadPayload, Event, Received

STATUSES = ("firing", "resolved")
SEVERITY_RANK = {"critical": 4, "error": 3, "warning": 2, "info": 1}
# Common spellings of the `severity` label; anything else is an error.
SEVERITY_ALIASES = {
    "critical": "critical",
    "crit": "critical",
    "page": "critical",
    "error": "error",
    "err": "error",
    "warning": "warning",
    "warn": "warning",
    "info": "info",
    "informational": "info",
    "none": "info",
}
ALERT_FIELDS = ("status", "labels", "annotations", "startsAt", "endsAt", "generatorURL")
# Fields kept as they come, once their JSON type is right (a sender's field of another type
# is refused, not stored: whatever is kept must mean what its name says).
Fields = Mapping[str, type | tuple[type, ...]]
ALERT_TYPES: Fields = {"startsAt": str, "endsAt": str, "generatorURL": str}
_NAMES = {str: "a string", int: "an integer", dict: "an object"}
MAX_TITLE = 1024
MAX_SOURCE = 255
# Room left for the rest of the details when the alert list has to be cut.
_DETAILS_BUDGET = MAX_DETAILS_BYTES - 4096


def severity_of(labels: dict[str, Any]) -> str:
    """The incident severity from a `severity` label (unknown or absent: error)."""
    value = str(labels.get("severity", "")).strip().lower()
    return SEVERITY_ALIASES.get(value, "error")


def _strings(errors: list[tuple[str, str]], value: Any, label: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        errors.append((label, "must be an object of strings"))
        return {}
    return value


def _typed(errors: list[tuple[str, str]], where: dict[str, Any], types: Fields, label: str) -> None:
    for name, kind in types.items():
        value = where.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
            wanted = _NAMES.get(kind if isinstance(kind, type) else kind[0], "another type")
            errors.append((f"{label}{name}", f"must be {wanted}"))


def validate(body: Any, extra: Fields | None = None) -> dict[str, Any]:
    """The body if it is a usable webhook payload, else BadPayload naming the fields; `extra`
    types the sender's own fields, on the body and on each alert."""
    if not isinstance(body, dict):
        raise BadPayload([("body", "must be a JSON object")])
    errors: list[tuple[str, str]] = []
    if body.get("status") not in STATUSES:
        errors.append(("status", "must be firing or resolved"))
    alerts = body.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        errors.append(("alerts", "must be a non-empty array"))
        alerts = []
    for i, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            errors.append((f"alerts[{i}]", "must be an object"))
            continue
        if alert.get("status") not in STATUSES:
            errors.append((f"alerts[{i}].status", "must be firing or resolved"))
        if not _strings(errors, alert.get("labels"), f"alerts[{i}].labels"):
            errors.append((f"alerts[{i}].labels", "must not be empty"))
        _strings(errors, alert.get("annotations"), f"alerts[{i}].annotations")
        if alert.get("fingerprint") is not None and not isinstance(alert["fingerprint"], str):
            errors.append((f"alerts[{i}].fingerprint", "must be a string"))
        _typed(errors, alert, {**ALERT_TYPES, **(extra or {})}, f"alerts[{i}].")
    for name in ("groupLabels", "commonLabels", "commonAnnotations"):
        _strings(errors, body.get(name), name)
    for name in ("groupKey", "receiver", "externalURL"):
        if body.get(name) is not None and not isinstance(body[name], str):
            errors.append((name, "must be a string"))
    _typed(errors, body, extra or {}, "")
    truncated = body.get("truncatedAlerts")
    if truncated is not None and (
        isinstance(truncated, bool) or not isinstance(truncated, int) or truncated < 0
    ):
        errors.append(("truncatedAlerts", "must be a non-negative integer"))
    if errors:
        raise BadPayload(errors)
    return body


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _fingerprint(alert: dict[str, Any]) -> str:
    if alert.get("fingerprint"):
        return str(alert["fingerprint"])
    return _digest(json.dumps(alert["labels"], sort_keys=True))[:16]


def _compact(alert: dict[str, Any], extra: Iterable[str]) -> dict[str, Any]:
    kept = {k: alert[k] for k in (*ALERT_FIELDS, *extra) if alert.get(k) not in (None, "")}
    kept["fingerprint"] = _fingerprint(alert)
    return kept


def _fits(details: dict[str, Any]) -> bool:
    return len(json.dumps(details, separators=(",", ":"))) <= _DETAILS_BUDGET


def _title(annotations: dict[str, str], labels: dict[str, str], fallback: str) -> str:
    title = annotations.get("summary") or labels.get("alertname") or fallback
    return title.strip()[:MAX_TITLE] or fallback


def _source(labels: dict[str, str], fallback: str) -> str:
    return (labels.get("instance") or labels.get("job") or fallback)[:MAX_SOURCE]


def _trigger(title: str, severity: str, key: str, source: str, details: Any) -> IncidentTrigger:
    try:
        return IncidentTrigger(
            title=title, severity=severity, dedup_key=key, source=source, details=details
        )
    except ValidationError as exc:  # details too large even after cutting the alert list
        raise BadPayload([("alerts", str(exc.errors()[0].get("msg", "invalid")))]) from exc


def group_event(body: dict[str, Any], *, source: str, extra: Iterable[str] = ()) -> Event:
    """One event for the whole group: firing triggers, resolved resolves."""
    group_key = body.get("groupKey") or json.dumps(body.get("groupLabels") or {}, sort_keys=True)
    key = f"{source}:group:{_digest(group_key)}"
    if body["status"] == "resolved":
        return Event("resolve", key)
    alerts: list[dict[str, Any]] = body["alerts"]
    firing = [a for a in alerts if a["status"] == "firing"] or alerts
    labels: dict[str, str] = body.get("commonLabels") or firing[0]["labels"]
    annotations: dict[str, str] = body.get("commonAnnotations") or {}
    severity = (
        severity_of(labels)
        if "severity" in labels
        else max((severity_of(a["labels"]) for a in firing), key=SEVERITY_RANK.__getitem__)
    )
    title = _title(annotations, {**(body.get("groupLabels") or {}), **labels}, source)
    if len(firing) > 1 and not annotations.get("summary"):
        title = f"{title} ({len(firing)} alerts)"
    kept = [_compact(a, extra) for a in alerts]
    details: dict[str, Any] = {
        "labels": labels,
        "annotations": annotations,
        "groupLabels": body.get("groupLabels") or {},
        "groupKey": body.get("groupKey"),
        "receiver": body.get("receiver"),
        "externalURL": body.get("externalURL"),
        "truncatedAlerts": body.get("truncatedAlerts") or 0,
        "alerts": kept,
    }
    for name in extra:
        if body.get(name) not in (None, ""):
            details[name] = body[name]
    while len(details["alerts"]) > 1 and not _fits(details):
        details["alerts"] = details["alerts"][: len(details["alerts"]) // 2]
    details["truncatedAlerts"] += len(kept) - len(details["alerts"])
    trigger = _trigger(title[:MAX_TITLE], severity, key, _source(labels, source), details)
    return Event("trigger", key, trigger)


def alert_events(body: dict[str, Any], *, source: str, extra: Iterable[str] = ()) -> list[Event]:
    """One event per alert: each firing alert triggers, each resolved one resolves."""
    events = []
    for alert in body["alerts"]:
        key = f"{source}:alert:{_fingerprint(alert)}"
        if alert["status"] == "resolved":
            events.append(Event("resolve", key))
            continue
        labels: dict[str, str] = alert["labels"]
        details = {
            **_compact(alert, extra),
            "groupKey": body.get("groupKey"),
            "receiver": body.get("receiver"),
            "externalURL": body.get("externalURL"),
        }
        title = _title(alert.get("annotations") or {}, labels, source)
        trigger = _trigger(title, severity_of(labels), key, _source(labels, source), details)
        events.append(Event("trigger", key, trigger))
    return events


def events(
    body: Any, *, grouping: str, source: str = "alertmanager", extra: Fields | None = None
) -> list[Event]:
    """The events a webhook payload stands for, under the key's grouping; `extra`: the
    sender's own fields kept in the details (with their JSON types)."""
    payload = validate(body, extra)
    extra = extra or {}
    if grouping == "alert":
        return alert_events(payload, source=source, extra=extra)
    return [group_event(payload, source=source, extra=extra)]


def parse(body: Any, received: Received) -> list[Event]:
    """The source's parser: the events of an Alertmanager notification."""
    return events(body, grouping=received.grouping)
