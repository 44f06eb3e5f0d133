"""Services in policy files: policy by name, integration keys, routing rules, windows, heartbeats.

Like model.py: each part is validated by the API's own schema, with names in place of ids.
"""

import re
from dataclasses import dataclass
from typing import Any

from pydantic import field_validator

from app.integrations.heartbeats.schemas import HeartbeatCreate
from app.policyfiles.common import (
    M,
    Refs,
    Reporter,
    duplicates,
    items,
    mapping,
    nested,
    owner_team,
    plain,
    reject,
    renamed,
    utc_text,
    validate,
    without,
)
from app.policyfiles.loader import Path_
from app.routing.schemas import RuleIn, WindowCreate
from app.security import hash_key
from app.services.schemas import IntegrationKeyCreate, ServiceCreate

PARTS = ("integration_keys", "routing_rules", "maintenance_windows", "heartbeats")
_BY_NAME = "use escalation_policy (a name)"
# A routing key brought from elsewhere: PagerDuty's are 32 characters, Opsgenie's are UUIDs.
KEPT_KEY_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"


class IntegrationKeyFile(IntegrationKeyCreate):
    """An integration key in a file; `key` keeps a known value (hashed on apply) so that senders
    moving from another pager keep their routing key."""

    key: str | None = None

    @field_validator("key")
    @classmethod
    def _kept_key(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(KEPT_KEY_PATTERN, value):
            raise ValueError(
                "must be 16 to 64 letters, digits, - or _ (such as a PagerDuty integration key)"
            )
        return value


def key_doc(key: IntegrationKeyFile) -> dict[str, Any]:
    """An integration key in canonical form: a kept value only as its hash and display prefix."""
    doc: dict[str, Any] = {"name": key.name, "alert_grouping": key.alert_grouping}
    if key.key is not None:
        doc["key_sha256"] = hash_key(key.key)
        doc["key_prefix"] = key.key[:8]
    return doc


@dataclass
class ServiceModels:
    service: ServiceCreate
    integration_keys: list[IntegrationKeyFile]
    routing_rules: list[RuleIn]
    maintenance_windows: list[WindowCreate]
    heartbeats: list[HeartbeatCreate]


def window_key(doc: dict[str, Any]) -> str:
    """How a maintenance window is told apart (and shown)."""
    description = f' "{doc["description"]}"' if doc.get("description") else ""
    return f"{doc['starts_at']} to {doc['ends_at']}{description}"


def routing_rule(raw: Any, at: Path_, refs: Refs, report: Reporter) -> RuleIn | None:
    """A routing rule; the policy it pages by, if any, is named."""
    doc = mapping(raw, at, report)
    if doc is None:
        return None
    reject(doc, at, report, escalation_policy_id=_BY_NAME)
    body = without(doc, "escalation_policy", "escalation_policy_id")
    if "escalation_policy" in doc:
        body["escalation_policy_id"] = refs.resolve(
            "escalation_policy",
            doc["escalation_policy"],
            (*at, "escalation_policy"),
            report,
            optional=True,
        )
    return validate(RuleIn, body, at, report, renamed("escalation_policy_id", "escalation_policy"))


def heartbeat(raw: Any, at: Path_, report: Reporter) -> HeartbeatCreate | None:
    """A heartbeat listed under its service (which is why it names none)."""
    hint = "list the heartbeat under its service"
    return nested(HeartbeatCreate, raw, at, report, parent_field="service_id", hint=hint)


def _mapped(model: type[M], raw: Any, at: Path_, report: Reporter) -> M | None:
    doc = mapping(raw, at, report)
    return None if doc is None else validate(model, doc, at, report)


def _parts(
    doc: dict[str, Any], refs: Refs, report: Reporter
) -> tuple[
    list[IntegrationKeyFile | None],
    list[RuleIn | None],
    list[WindowCreate | None],
    list[HeartbeatCreate | None],
]:
    def each(part: str) -> list[tuple[Any, Path_]]:
        return [(x, (part, i)) for i, x in enumerate(items(doc.get(part), (part,), report))]

    keys = [_mapped(IntegrationKeyFile, x, at, report) for x, at in each("integration_keys")]
    rules = [routing_rule(x, at, refs, report) for x, at in each("routing_rules")]
    windows = [_mapped(WindowCreate, x, at, report) for x, at in each("maintenance_windows")]
    beats = [heartbeat(x, at, report) for x, at in each("heartbeats")]
    return keys, rules, windows, beats


def service_models(raw: Any, refs: Refs, report: Reporter) -> ServiceModels | None:
    """A service and its parts."""
    start = report.count
    doc = mapping(raw, (), report)
    if doc is None:
        return None
    reject(doc, (), report, escalation_policy_id=_BY_NAME)
    body = without(doc, *PARTS, "escalation_policy", "escalation_policy_id", "team", "team_id")
    body |= owner_team(doc, refs, report)
    if "escalation_policy" in doc:
        body["escalation_policy_id"] = refs.resolve(
            "escalation_policy", doc["escalation_policy"], ("escalation_policy",), report
        )
    service = validate(
        ServiceCreate, body, (), report, renamed("escalation_policy_id", "escalation_policy")
    )
    keys, rules, windows, beats = _parts(doc, refs, report)
    key_names = [
        (k.name if k else None, ("integration_keys", i, "name")) for i, k in enumerate(keys)
    ]
    duplicates(key_names, "integration key", report)
    beat_names = [(h.name if h else None, ("heartbeats", i, "name")) for i, h in enumerate(beats)]
    duplicates(beat_names, "heartbeat", report)
    if service is None or report.count > start:
        return None
    return ServiceModels(
        service,
        [k for k in keys if k is not None],
        [r for r in rules if r is not None],
        [w for w in windows if w is not None],
        [h for h in beats if h is not None],
    )


def rule_doc(rule: RuleIn, refs: Refs) -> dict[str, Any]:
    """A routing rule in canonical file form."""
    return {
        "name": rule.name,
        "conditions": plain(rule.conditions),
        "escalation_policy": refs.name("escalation_policy", rule.escalation_policy_id),
        "urgency": plain(rule.urgency),
        "suppress": rule.suppress,
    }


def window_doc(window: WindowCreate) -> dict[str, Any]:
    """A maintenance window in canonical form."""
    return {
        "starts_at": utc_text(window.starts_at),
        "ends_at": utc_text(window.ends_at),
        "description": window.description,
    }


def service_doc(models: ServiceModels, refs: Refs) -> dict[str, Any]:
    """A service in canonical file form; keys, windows and heartbeats in a stable order."""
    s = models.service
    windows = [window_doc(w) for w in models.maintenance_windows]
    return {
        "name": s.name,
        "description": s.description,
        "escalation_policy": refs.name("escalation_policy", s.escalation_policy_id),
        "team": refs.name("team", s.team_id),
        "ack_timeout_seconds": s.ack_timeout_seconds,
        "auto_resolve_seconds": s.auto_resolve_seconds,
        "integration_keys": sorted(
            (key_doc(k) for k in models.integration_keys), key=lambda d: d["name"]
        ),
        "routing_rules": [rule_doc(r, refs) for r in models.routing_rules],
        "maintenance_windows": sorted(windows, key=lambda d: (d["starts_at"], d["ends_at"])),
        "heartbeats": sorted(
            ({"name": h.name, "interval_seconds": h.interval_seconds} for h in models.heartbeats),
            key=lambda d: d["name"],
        ),
    }
