"""An Opsgenie alert's `responders`, honoured as an Opsgenie user expects: the named people are
paged (docs/integrations.md#responders).

On the alert that opens an incident:

- the first `escalation` responder that names a Stairway escalation policy (by name or id)
  becomes the incident's policy, in place of the one its service's routing chose;
- `user` (by `username`, i.e. email, `id` or `name`), `schedule` and `team` (by `name` or `id`)
  responders are added to the targets of the incident's first level, paged beside it;
- responders that name nothing in Stairway are listed on the timeline entry and paged nobody.

Everything is said in one `responders` timeline entry. An alert added to an open incident (the
same alias) changes nobody's paging, as in Opsgenie.
"""

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.escalation.snapshot import LevelSnapshot, PolicySnapshot, TargetSnapshot
from app.models import EscalationPolicy, Incident, Schedule, Team, User
from app.policies.service import frozen_snapshot, read_policy
from app.store import timeline

# A policy that pages nobody at the incident's urgency still pages the named responders.
RESPONDERS_ONLY_LEVEL_SECONDS = 300
_MODELS: dict[str, Any] = {
    "user": User,
    "team": Team,
    "schedule": Schedule,
    "escalation": EscalationPolicy,
}


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def _find(session: AsyncSession, responder: dict[str, Any]) -> Any | None:
    """The Stairway object a responder names, or None (also when a name is ambiguous)."""
    model = _MODELS[responder["type"]]
    if responder.get("id") is not None:
        found_id = _uuid(responder["id"])
        if found_id is not None and (row := await session.get(model, found_id)) is not None:
            return row
    if model is User and responder.get("username") is not None:
        email = str(responder["username"]).strip().lower()
        query = select(User).where(func.lower(col(User.email)) == email)
        return (await session.scalars(query)).first()
    if responder.get("name") is not None:
        rows = (await session.scalars(select(model).where(model.name == responder["name"]))).all()
        return rows[0] if len(rows) == 1 else None
    return None


def _described(responder: dict[str, Any]) -> dict[str, Any]:
    named = {k: responder[k] for k in ("id", "name", "username") if responder.get(k) is not None}
    return {"type": responder["type"], **named}


def _with_targets(snapshot: PolicySnapshot, added: list[TargetSnapshot]) -> PolicySnapshot:
    if not snapshot.levels:
        level = LevelSnapshot(RESPONDERS_ONLY_LEVEL_SECONDS, tuple(added))
        return replace(snapshot, levels=(level,))
    first = snapshot.levels[0]
    targets = (*first.targets, *(t for t in added if t not in first.targets))
    return replace(snapshot, levels=(replace(first, targets=targets), *snapshot.levels[1:]))


async def honour(
    session: AsyncSession,
    *,
    incident: Incident,
    responders: list[dict[str, Any]],
    actor: dict[str, Any],
    now: datetime,
) -> None:
    """Page the alert's responders on the incident it opened (before its first level fires)."""
    if not responders:
        return
    paged: list[dict[str, Any]] = []
    unknown: list[dict[str, Any]] = []
    unused: list[dict[str, Any]] = []
    policy: EscalationPolicy | None = None
    added: list[TargetSnapshot] = []
    for responder in responders:
        found = await _find(session, responder)
        if found is None:
            unknown.append(_described(responder))
        elif responder["type"] == "escalation":
            if policy is None:
                policy = found
            elif found.id != policy.id:
                unused.append({"type": "escalation", "id": str(found.id), "name": found.name})
        else:
            target = TargetSnapshot(type=responder["type"], id=str(found.id))
            if target not in added:
                added.append(target)
                name = found.email if isinstance(found, User) else found.name
                paged.append({"type": responder["type"], "id": str(found.id), "name": name})
    snapshot = PolicySnapshot.from_json(incident.policy_snapshot)
    details: dict[str, Any] = {"paged": paged, "unknown": unknown}
    if policy is not None and incident.next_due_at is not None:
        snapshot = frozen_snapshot(
            await read_policy(session=session, policy_id=policy.id), urgency=incident.urgency
        )
        incident.policy_id = policy.id
        details["escalation_policy"] = {"id": str(policy.id), "name": policy.name}
    if unused:
        details["not_used"] = unused
        details["note"] = "an incident escalates by one policy: the first escalation named"
    if incident.next_due_at is None:
        # Suppressed by a routing rule or in a maintenance window: nobody is paged, as before.
        details["paging"] = "none: the incident pages nobody (suppressed or in maintenance)"
    elif added or policy is not None:
        incident.policy_snapshot = _with_targets(snapshot, added).to_json()
    incident.updated_at = now
    await session.flush()
    await timeline.record(
        session, incident_id=incident.id, type="responders", at=now, actor=actor, details=details
    )
