"""One place that writes the audit log: a `before_flush` hook on every ORM session.

Whatever service changes an audited object, the entry is flushed with the change itself, so
both commit or roll back together. The actor is whoever the request authenticated as
(`session.info["actor"]`, set by `app.auth`); changes made without one are the system's.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction
from sqlmodel import SQLModel

from app.models import (
    ApiKey,
    AuditEntry,
    ContactMethod,
    EscalationLevel,
    EscalationPolicy,
    Heartbeat,
    IntegrationKey,
    MaintenanceWindow,
    NotificationRule,
    RoutingRule,
    Schedule,
    ScheduleLayer,
    ScheduleOverride,
    Service,
    Team,
    TeamMember,
    User,
    WebhookSubscription,
    utcnow,
)

ACTOR_KEY = "actor"
ENTRIES_KEY = "audit_entries"
SYSTEM_ACTOR: dict[str, Any] = {"type": "system", "name": "stairway"}
REDACTED = "[redacted]"
# Never copied into an entry, whatever the model.
# A verification code's hash: six digits are quickly found from it.
SECRET_FIELDS = frozenset({"key_hash", "secret", "signing_secret", "verification_code_hash"})


@dataclass(frozen=True)
class Audited:
    resource_type: str
    # Fields that change as the system runs (not configuration): a change to only these is no entry.
    runtime_fields: frozenset[str] = frozenset()


AUDITED: dict[type[SQLModel], Audited] = {
    User: Audited("user"),
    # Sending a code is no configuration change; verifying is (verified_at, verified_by).
    ContactMethod: Audited(
        "contact_method",
        frozenset({"verification_code_hash", "verification_expires_at", "verification_attempts"}),
    ),
    NotificationRule: Audited("notification_rule"),
    ApiKey: Audited("api_key", frozenset({"last_used_at"})),
    Schedule: Audited("schedule"),
    ScheduleOverride: Audited("schedule_override"),
    EscalationPolicy: Audited("escalation_policy"),
    Service: Audited("service"),
    IntegrationKey: Audited("integration_key", frozenset({"last_used_at"})),
    RoutingRule: Audited("routing_rule"),
    MaintenanceWindow: Audited("maintenance_window"),
    Heartbeat: Audited("heartbeat", frozenset({"status", "last_ping_at", "due_at"})),
    WebhookSubscription: Audited("webhook_subscription"),
    Team: Audited("team"),
    TeamMember: Audited("team_member"),
}
# Rows that belong to an audited parent: a change to them is a change of the parent's field.
CHILDREN: dict[type[SQLModel], tuple[type[SQLModel], str, str]] = {
    EscalationLevel: (EscalationPolicy, "policy_id", "levels"),
    ScheduleLayer: (Schedule, "schedule_id", "layers"),
}


def set_actor(session: Any, actor: dict[str, Any]) -> None:
    """Attribute this session's changes to `actor` (a sync or async session)."""
    session.info[ACTOR_KEY] = actor


def _value(name: str, value: Any) -> Any:
    return REDACTED if name in SECRET_FIELDS else jsonable_encoder(value)


def _columns(obj: SQLModel) -> list[str]:
    return [attr.key for attr in inspect(obj).mapper.column_attrs]


def _created(obj: SQLModel) -> dict[str, Any]:
    return {
        name: {"new": _value(name, getattr(obj, name))}
        for name in _columns(obj)
        if name != "id" and getattr(obj, name) is not None
    }


def _updated(obj: SQLModel) -> dict[str, Any]:
    state = inspect(obj)
    changes: dict[str, Any] = {}
    for name in _columns(obj):
        history = state.attrs[name].history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if old != new:
            changes[name] = {"old": _value(name, old), "new": _value(name, new)}
    return changes


def _merge(entry: AuditEntry, changes: dict[str, Any]) -> None:
    # Reassigned (not mutated) so the ORM sees the JSON column change.
    entry.changes = {**entry.changes, **changes}


def _entries(session: Session) -> list[AuditEntry]:
    """New entries for this flush; changes to objects already audited in it are merged."""
    # Entries of this transaction: a create flushed in steps (a policy, then its levels) is one.
    known: dict[tuple[type[SQLModel], uuid.UUID], AuditEntry] = session.info.setdefault(
        ENTRIES_KEY, {}
    )
    fresh: list[AuditEntry] = []

    def record(key: tuple[type[SQLModel], uuid.UUID], action: str, changes: dict[str, Any]) -> None:
        entry = known.get(key)
        if entry is not None and action != "delete":
            # Later changes join the entry; nothing is recorded after a deletion.
            if entry.action != "delete":
                _merge(entry, changes)
            return
        entry = AuditEntry(
            at=utcnow(),
            actor=session.info.get(ACTOR_KEY, SYSTEM_ACTOR),
            action=action,
            resource_type=AUDITED[key[0]].resource_type,
            resource_id=key[1],
            changes=changes,
        )
        known[key] = entry
        fresh.append(entry)

    for obj in list(session.new):
        if type(obj) in AUDITED:
            record((type(obj), obj.id), "create", _created(obj))
    for obj in list(session.dirty):
        kind = AUDITED.get(type(obj))
        if kind is None or not session.is_modified(obj):
            continue
        changes = _updated(obj)
        if set(changes) - kind.runtime_fields:
            record((type(obj), obj.id), "update", changes)
    for obj in list(session.deleted):
        if type(obj) in AUDITED:
            record((type(obj), obj.id), "delete", {})
    modified = [obj for obj in session.dirty if session.is_modified(obj)]
    for obj in [*session.new, *modified, *session.deleted]:
        child = CHILDREN.get(type(obj))
        if child is not None:
            parent, fk, field = child
            record((parent, getattr(obj, fk)), "update", {field: "changed"})
    return fresh


@event.listens_for(Session, "before_flush")
def _record(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    for entry in _entries(session):
        session.add(entry)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(ENTRIES_KEY, None)


def record_event(
    session: Any,
    *,
    action: str,
    resource_type: str,
    resource_id: uuid.UUID,
    details: dict[str, Any],
    actor: dict[str, Any] | None = None,
) -> AuditEntry:
    """An entry for something other than a configuration change (e.g. a refused sign-in)."""
    entry = AuditEntry(
        at=utcnow(),
        actor=actor or session.info.get(ACTOR_KEY, SYSTEM_ACTOR),
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        changes=details,
    )
    session.add(entry)
    return entry
