"""/incidents and /incidents/{id}: the live list, one incident, and every action on it."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.sessions import Viewer
from app.db import SessionDep
from app.errors import Conflict, Forbidden, NotFound, field_error
from app.escalation.snapshot import PolicySnapshot
from app.incidents import lifecycle, service
from app.incidents.action_schemas import (
    WEEK_SECONDS,
    EscalateRequest,
    ReassignRequest,
)
from app.models import Incident, Service
from app.policies.service import list_policies
from app.schedules.oncall import resolve_on_call
from app.schedules.service import list_schedules
from app.services.service import list_services
from app.store import listing, timeline
from app.store.incidents import lock_incident
from app.store.listing import Involvement
from app.teams.access import others_allowed, viewer_refusal
from app.teams.rules import refusal_to_act
from app.teams.service import team_roles
from app.users.service import list_users
from app.vocabulary import Priority, Status
from app.web import live, notice
from app.web.auth import ActorDep, MaybeViewer, ViewerDep, actor_of, now_of
from app.web.templating import render

router = APIRouter(tags=["console"], include_in_schema=False)

PAGE_SIZE = 25
STATUSES = {
    "open": ["triggered", "acknowledged"],
    "triggered": ["triggered"],
    "acknowledged": ["acknowledged"],
    "resolved": ["resolved"],
    "any": [],
}
PRIORITIES = tuple(p.value for p in Priority)
SINCE = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
SNOOZE_PRESETS = ((900, "15 min"), (3600, "1 hour"), (4 * 3600, "4 hours"), (86400, "1 day"))


@dataclass(frozen=True)
class Filters:
    """The list's filters, as the form and the URL carry them."""

    status: str = "open"
    mine: bool = False
    teams: bool = False
    service: uuid.UUID | None = None
    urgency: str = ""
    since: str = ""
    priority: str = ""

    def query(self, **extra: str) -> str:
        """The filters as a query string (defaults left out)."""
        values = {
            "status": self.status if self.status != "open" else "",
            "mine": "1" if self.mine else "",
            "teams": "1" if self.teams else "",
            "service": str(self.service) if self.service else "",
            "urgency": self.urgency,
            "priority": self.priority,
            "since": self.since,
            **extra,
        }
        return urlencode({k: v for k, v in values.items() if v})


def _filters(
    status: str,
    mine: str,
    service_id: str,
    urgency: str,
    since: str,
    priority: str = "",
    teams: str = "",
) -> Filters:
    if status not in STATUSES:
        raise field_error("status", f"must be one of {', '.join(STATUSES)}")
    if urgency not in ("", "high", "low"):
        raise field_error("urgency", "must be high or low")
    if priority not in ("", *PRIORITIES):
        raise field_error("priority", f"must be one of {', '.join(PRIORITIES)}")
    if since not in ("", *SINCE):
        raise field_error("since", f"must be one of {', '.join(SINCE)}")
    try:
        service = uuid.UUID(service_id) if service_id else None
    except ValueError as exc:
        raise field_error("service", "not a service id") from exc
    on = ("1", "on", "true")
    return Filters(status, mine in on, teams in on, service, urgency, since, priority)


@dataclass(frozen=True)
class Acting:
    """Who may act on which incident, for showing the console's buttons (app/teams/rules.py)."""

    viewer: Viewer
    team_roles: dict[uuid.UUID, str]
    service_teams: dict[uuid.UUID, uuid.UUID | None]
    others_allowed: bool

    def may(self, incident: Incident) -> bool:
        refused = refusal_to_act(
            name=self.viewer.name,
            global_role=self.viewer.role,
            team_roles=self.team_roles,
            owner_team_id=self.service_teams.get(incident.service_id),
            others_allowed=self.others_allowed,
        )
        return refused is None


async def _acting(
    request: Request, session: AsyncSession, viewer: Viewer, services: list[Service]
) -> Acting:
    return Acting(
        viewer=viewer,
        team_roles=await team_roles(session, viewer.user_id),
        service_teams={s.id: s.team_id for s in services},
        others_allowed=others_allowed(request),
    )


def _service_scope(filters: Filters, acting: Acting, services: list[Service]) -> list[uuid.UUID]:
    """The services the list is limited to: empty means all, unless "my teams" is on, which keeps
    only services owned by a team the viewer belongs to (and may leave none)."""
    if not filters.teams:
        return [filters.service] if filters.service else []
    chosen = [filters.service] if filters.service else [s.id for s in services]
    return [sid for sid in chosen if acting.service_teams.get(sid) in acting.team_roles]


async def _involvement(session: AsyncSession, viewer: Viewer, now: datetime) -> Involvement:
    """The viewer's stake for "mine": the schedules the viewer is on call for now."""
    schedule_ids = [s.id for s in await list_schedules(session=session)]
    on_call = await resolve_on_call(session, schedule_ids, now)
    mine = tuple(sid for sid, who in on_call.items() if who and who.user_id == viewer.user_id)
    return Involvement(user_id=viewer.user_id, schedule_ids=mine)


@router.get("/incidents")
async def incident_list(
    request: Request,
    session: SessionDep,
    viewer: ViewerDep,
    status: Annotated[str, Query(max_length=20)] = "open",
    mine: Annotated[str, Query(max_length=5)] = "",
    service_id: Annotated[str, Query(alias="service", max_length=40)] = "",
    urgency: Annotated[str, Query(max_length=5)] = "",
    since: Annotated[str, Query(max_length=5)] = "",
    priority: Annotated[str, Query(max_length=5)] = "",
    teams: Annotated[str, Query(max_length=5)] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    filters = _filters(status, mine, service_id, urgency, since, priority, teams)
    now = now_of(request)
    services = await list_services(session=session)
    acting = await _acting(request, session, viewer, services)
    scope = _service_scope(filters, acting, services)
    rows: list[Incident] = []
    next_cursor = None
    if scope or not filters.teams:  # "my teams" with no team services: nothing to list
        rows, next_cursor = await service.list_incidents(
            session=session,
            statuses=STATUSES[filters.status],
            service_ids=scope,
            since=now - timedelta(seconds=SINCE[filters.since]) if filters.since else None,
            limit=PAGE_SIZE,
            cursor=cursor,
            urgencies=[filters.urgency] if filters.urgency else None,
            priorities=[filters.priority] if filters.priority else None,
            involving=await _involvement(session, viewer, now) if filters.mine else None,
        )
    actable = {incident.id for incident in rows if acting.may(incident)}
    context = {
        "viewer": viewer,
        "incidents": rows,
        "services": services,
        "service_names": {s.id: s.name for s in services},
        "filters": filters,
        "cursor": cursor,
        "next_cursor": next_cursor,
        "triggered": await listing.count_by_status(session, status=Status.TRIGGERED),
        "actable": actable,
        "has_teams": bool(acting.team_roles),
        "notice": notice.take(request),
        "statuses": list(STATUSES),
        "since_choices": list(SINCE),
        "priorities": PRIORITIES,
    }
    live_refresh = request.headers.get("hx-request") and not request.headers.get("hx-boosted")
    template = "incidents/_list.html" if live_refresh else "incidents/list.html"
    response = render(request, template, {**context, "fragment": bool(live_refresh)})
    notice.forget(request, response)
    return response


@router.get("/incidents/events")
async def list_events(request: Request, viewer: MaybeViewer) -> Response:
    return live.changes(request, viewer, lambda changed: True)


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


async def _get(session: AsyncSession, incident_id: uuid.UUID) -> Incident:
    incident = await session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    return incident


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


@router.get("/incidents/{incident_id}")
async def incident_page(
    request: Request, session: SessionDep, viewer: ViewerDep, incident_id: uuid.UUID
) -> Response:
    incident = await _get(session, incident_id)
    snapshot = PolicySnapshot.from_json(incident.policy_snapshot)
    services = await list_services(session=session)
    acting = (await _acting(request, session, viewer, services)).may(incident)
    context: dict[str, Any] = {
        "viewer": viewer,
        "incident": incident,
        "levels": len(snapshot.levels),
        "policy_name": snapshot.name,
        "service_names": {s.id: s.name for s in services},
        "entries": await timeline.entries(session=session, incident_id=incident_id),
        "can_act": acting,
        "notice": notice.take(request),
        "snooze_presets": SNOOZE_PRESETS,
        "policies": await list_policies(session=session) if acting else [],
        "users": await list_users(session=session) if acting else [],
    }
    response = render(request, "incidents/detail.html", context)
    notice.forget(request, response)
    return response


@router.get("/incidents/{incident_id}/events")
async def incident_events(
    request: Request, viewer: MaybeViewer, incident_id: uuid.UUID
) -> Response:
    key = str(incident_id)
    return live.changes(request, viewer, lambda changed: key in changed)


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
        one = await session.get(Incident, one_id)
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
