"""/oncall: who is on call now and next, per schedule and per escalation level; my shifts."""

import uuid
from dataclasses import dataclass
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.db import SessionDep
from app.policies.service import list_policies
from app.schedules.oncall import OnCall, Outlook, outlooks
from app.schedules.service import list_schedules
from app.users.service import list_users
from app.web import notice
from app.web.auth import ViewerDep, now_of
from app.web.templating import render

router = APIRouter(tags=["console"], include_in_schema=False)

MY_SHIFTS_DAYS = 14


@dataclass(frozen=True)
class MyShift:
    """One of the viewer's shifts in the coming days, with the schedule it belongs to."""

    schedule_name: str
    shift: OnCall


@router.get("/oncall")
async def oncall_page(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    now = now_of(request)
    until = now + timedelta(days=MY_SHIFTS_DAYS)
    schedules = await list_schedules(session=session)
    seen: dict[uuid.UUID, Outlook] = await outlooks(session, [s.id for s in schedules], now, until)
    names = {s.id: s.name for s in schedules}
    mine = sorted(
        (
            MyShift(names[sid], shift)
            for sid, outlook in seen.items()
            for shift in outlook.shifts
            if shift.user_id == viewer.user_id
        ),
        key=lambda item: (item.shift.start, item.schedule_name),
    )
    context = {
        "viewer": viewer,
        "nav": "oncall",
        "now": now,
        "schedules": schedules,
        "schedule_names": names,
        "outlooks": seen,
        "policies": await list_policies(session=session),
        "users": {u.id: u for u in await list_users(session=session)},
        "my_shifts": mine,
        "days": MY_SHIFTS_DAYS,
        "notice": notice.take(request),
    }
    response = render(request, "oncall/oncall.html", context)
    notice.forget(request, response)
    return response
