"""/incidents and /incidents/{id}: the live list and one incident (actions: incident_actions.py)."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.sessions import Viewer
from app.db import SessionDep
from app.errors import NotFound, field_error
from app.escalation.snapshot import PolicySnapshot
from app.incidents import service
from app.models import Incident, Service
from app.policies.service import list_policies
from app.schedules.oncall import resolve_on_call
from app.schedules.service import list_schedules
from app.services.service import list_services
from app.store import listing, timeline
from app.store.incidents import get_incident
from app.store.listing import Involvement
from app.teams.access import others_allowed
from app.teams.rules import refusal_to_act
from app.teams.service import team_roles
from app.users.service import list_users
from app.vocabulary import Priority, Status
from app.web import live, notice
from app.web.auth import MaybeViewer, ViewerDep, now_of
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
# The live feed's position a page was rendered at, in its event stream's URL (app/web/live.py).
Position = Annotated[str, Query(max_length=80)]


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
    # Before any read of what the page shows: its event stream then knows what it has seen.
    live_position = live.position(request)
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
        "live_position": live_position,
    }
    live_refresh = request.headers.get("hx-request") and not request.headers.get("hx-boosted")
    template = "incidents/_list.html" if live_refresh else "incidents/list.html"
    response = render(request, template, {**context, "fragment": bool(live_refresh)})
    notice.forget(request, response)
    return response


@router.get("/incidents/events")
async def list_events(request: Request, viewer: MaybeViewer, position: Position = "") -> Response:
    return live.changes(request, viewer, lambda changed: True, since=position)


async def _get(session: AsyncSession, incident_id: uuid.UUID) -> Incident:
    incident = await get_incident(session, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    return incident


@router.get("/incidents/{incident_id}")
async def incident_page(
    request: Request, session: SessionDep, viewer: ViewerDep, incident_id: uuid.UUID
) -> Response:
    live_position = live.position(request)  # before the page's reads, as on the list
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
        "live_position": live_position,
    }
    response = render(request, "incidents/detail.html", context)
    notice.forget(request, response)
    return response


@router.get("/incidents/{incident_id}/events")
async def incident_events(
    request: Request, viewer: MaybeViewer, incident_id: uuid.UUID, position: Position = ""
) -> Response:
    key = str(incident_id)
    return live.changes(request, viewer, lambda changed: key in changed, since=position)
