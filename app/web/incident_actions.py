"""/incidents/{id}/... and /incidents/bulk: every console action on incidents (acknowledge,
unacknowledge, resolve, snooze, escalate, reassign, note, merge, and the list's bulk action).

Each locks the incident, asks the team rule (app/teams/access.py), calls the lifecycle, and
redirects back with a notice of what happened; the forms work without JavaScript.
"""

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.sessions import Viewer
from app.db import SessionDep
from app.errors import Conflict, Forbidden, NotFound, field_error
from app.incidents import lifecycle, service
from app.incidents.action_schemas import (
    WEEK_SECONDS,
    EscalateRequest,
    ReassignRequest,
)
from app.models import Incident
from app.store import listing
from app.store.incidents import get_incident, lock_incident
from app.teams.access import others_allowed, viewer_refusal
from app.vocabulary import Status
from app.web import notice
from app.web.auth import ActorDep, actor_of, now_of

router = APIRouter(tags=["console"], include_in_schema=False)


async def _refusal(
    request: Request, session: AsyncSession, viewer: Viewer, incident: Incident
) -> str | None:
    others = others_allowed(request)
    return await viewer_refusal(session, viewer.user_id, incident, others_allowed=others)


async def _locked(session: AsyncSession, incident_id: uuid.UUID) -> Incident:
    incident = await lock_incident(session, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    return incident


@router.post("/incidents/bulk")
async def bulk_action(
    request: Request,
    session: SessionDep,
    viewer: ActorDep,
    action: Annotated[str, Form()],
    incident_id: Annotated[list[uuid.UUID] | None, Form()] = None,
    back: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    if action not in ("acknowledge", "resolve"):
        raise field_error("action", "must be acknowledge or resolve")
    if not incident_id:
        raise field_error("incident_id", "select at least one incident")
    now = now_of(request)
    changed = 0
    # In id order, so two bulk actions over the same incidents never deadlock.
    for one_id in sorted(set(incident_id)):
        incident = await lock_incident(session, one_id)
        if incident is None or (action == "acknowledge" and incident.status == Status.RESOLVED):
            continue
        if await _refusal(request, session, viewer, incident):
            continue  # another team's incident (docs/teams.md): left as it is
        act = service.acknowledge if action == "acknowledge" else service.resolve
        changed += await act(session=session, incident=incident, actor=actor_of(viewer), now=now)
    verb = "Acknowledged" if action == "acknowledge" else "Resolved"
    query = back if back.startswith("?") else ""
    return notice.redirect_with(f"/incidents{query}", f"{verb} {changed} incident(s).")


Action = Callable[[Incident, dict[str, Any], datetime], Awaitable[str]]


async def _act(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    incident_id: uuid.UUID,
    action: Action,
) -> Response:
    """Run one action on the locked incident, then show the incident with what happened."""
    incident = await _locked(session, incident_id)
    refused = await _refusal(request, session, viewer, incident)
    if refused is not None:
        raise Forbidden(refused)
    message = await action(incident, actor_of(viewer), now_of(request))
    return notice.redirect_with(f"/incidents/{incident_id}", f"#{incident.number}: {message}")


@router.post("/incidents/{incident_id}/acknowledge")
async def acknowledge(
    request: Request, session: SessionDep, viewer: ActorDep, incident_id: uuid.UUID
) -> Response:
    async def act(incident: Incident, actor: dict[str, Any], now: datetime) -> str:
        changed = await service.acknowledge(
            session=session, incident=incident, actor=actor, now=now
        )
        return "acknowledged" if changed else "already acknowledged; nothing changed"

    return await _act(request, session, viewer, incident_id, act)


@router.post("/incidents/{incident_id}/unacknowledge")
async def unacknowledge(
    request: Request, session: SessionDep, viewer: ActorDep, incident_id: uuid.UUID
) -> Response:
    async def act(incident: Incident, actor: dict[str, Any], now: datetime) -> str:
        outcome = await lifecycle.unacknowledge(
            session=session, incident=incident, actor=actor, now=now
        )
        return outcome.message

    return await _act(request, session, viewer, incident_id, act)


@router.post("/incidents/{incident_id}/resolve")
async def resolve(
    request: Request, session: SessionDep, viewer: ActorDep, incident_id: uuid.UUID
) -> Response:
    async def act(incident: Incident, actor: dict[str, Any], now: datetime) -> str:
        changed = await service.resolve(session=session, incident=incident, actor=actor, now=now)
        return "resolved" if changed else "already resolved; nothing changed"

    return await _act(request, session, viewer, incident_id, act)


def _snooze_seconds(duration_seconds: str, until: str, tz: str, now: datetime) -> int:
    if until:
        try:
            local = datetime.fromisoformat(until)
        except ValueError as exc:
            raise field_error("until", "not a date and time") from exc
        if local.tzinfo is None:
            local = local.replace(tzinfo=ZoneInfo(tz))
        seconds = int((local - now).total_seconds())
        field = "until"
    else:
        if not duration_seconds.isdigit():
            raise field_error("duration_seconds", "choose how long to snooze")
        seconds, field = int(duration_seconds), "duration_seconds"
    if not 1 <= seconds <= WEEK_SECONDS:
        raise field_error(field, "must be in the future and at most 7 days away")
    return seconds


@router.post("/incidents/{incident_id}/snooze")
async def snooze(
    request: Request,
    session: SessionDep,
    viewer: ActorDep,
    incident_id: uuid.UUID,
    duration_seconds: Annotated[str, Form(max_length=10)] = "",
    until: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    seconds = _snooze_seconds(duration_seconds, until, viewer.time_zone, now_of(request))

    async def act(incident: Incident, actor: dict[str, Any], now: datetime) -> str:
        outcome = await lifecycle.snooze(
            session=session, incident=incident, actor=actor, now=now, duration_seconds=seconds
        )
        return outcome.message

    return await _act(request, session, viewer, incident_id, act)


@router.post("/incidents/{incident_id}/escalate")
async def escalate(
    request: Request,
    session: SessionDep,
    viewer: ActorDep,
    incident_id: uuid.UUID,
    level: Annotated[int | None, Form(ge=1)] = None,
    from_level: Annotated[int | None, Form(ge=1)] = None,
) -> Response:
    data = EscalateRequest(level=level, from_level=from_level)

    async def act(incident: Incident, actor: dict[str, Any], now: datetime) -> str:
        outcome = await lifecycle.escalate(
            session=session, incident=incident, actor=actor, now=now, data=data
        )
        return outcome.message

    return await _act(request, session, viewer, incident_id, act)


def _reassignment(to: str) -> ReassignRequest:
    kind, _, raw_id = to.partition(":")
    try:
        target = uuid.UUID(raw_id)
    except ValueError as exc:
        raise field_error("to", "choose a policy or a user") from exc
    if kind == "policy":
        return ReassignRequest(escalation_policy_id=target)
    if kind == "user":
        return ReassignRequest(user_id=target)
    raise field_error("to", "choose a policy or a user")


@router.post("/incidents/{incident_id}/reassign")
async def reassign(
    request: Request,
    session: SessionDep,
    viewer: ActorDep,
    incident_id: uuid.UUID,
    to: Annotated[str, Form(max_length=60)],
) -> Response:
    data = _reassignment(to)

    async def act(incident: Incident, actor: dict[str, Any], now: datetime) -> str:
        outcome = await lifecycle.reassign(
            session=session, incident=incident, actor=actor, now=now, data=data
        )
        return outcome.message

    return await _act(request, session, viewer, incident_id, act)


@router.post("/incidents/{incident_id}/notes")
async def add_note(
    request: Request,
    session: SessionDep,
    viewer: ActorDep,
    incident_id: uuid.UUID,
    text: Annotated[str, Form(min_length=1, max_length=10_000)],
) -> Response:
    if not text.strip():
        raise field_error("text", "write something")

    async def act(incident: Incident, actor: dict[str, Any], now: datetime) -> str:
        await lifecycle.add_note(
            session=session, incident=incident, actor=actor, now=now, text=text.strip()
        )
        return "note added"

    return await _act(request, session, viewer, incident_id, act)


def _numbers(text: str) -> list[int]:
    parts = [p.strip().lstrip("#") for p in text.replace(",", " ").split()]
    if not parts or not all(p.isdigit() and len(p) < 19 for p in parts):
        raise field_error("numbers", "list incident numbers, e.g. 12, 15")
    return [int(p) for p in parts]


@router.post("/incidents/{incident_id}/merge")
async def merge(
    request: Request,
    session: SessionDep,
    viewer: ActorDep,
    incident_id: uuid.UUID,
    numbers: Annotated[str, Form(max_length=1000)],
) -> Response:
    wanted = _numbers(numbers)
    found = await listing.ids_by_number(session, numbers=wanted)
    missing = [str(n) for n in wanted if n not in found]
    if missing:
        raise field_error("numbers", f"no incident numbered {', '.join(missing)}")
    if incident_id in found.values():
        raise Conflict("an incident cannot be merged into itself")
    for one_id in (incident_id, *found.values()):
        one = await get_incident(session, one_id)
        refused = one and await _refusal(request, session, viewer, one)
        if refused:
            raise Forbidden(refused)
    target = await lifecycle.merge(
        session=session,
        target_id=incident_id,
        source_ids=list(dict.fromkeys(found[n] for n in wanted)),
        actor=actor_of(viewer),
        now=now_of(request),
    )
    message = f"#{target.number}: merged {len(found)} incident(s) into it"
    return notice.redirect_with(f"/incidents/{incident_id}", message)
