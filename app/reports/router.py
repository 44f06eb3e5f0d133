"""HTTP routes for reports."""

from datetime import datetime, timedelta

from fastapi import APIRouter

from app.auth import Observer
from app.db import SessionDep
from app.errors import field_error
from app.models import utcnow
from app.reports import service
from app.reports.schemas import GroupBy, ResponseReport

router = APIRouter(prefix="/reports", tags=["reports"])

DEFAULT_RANGE = timedelta(days=30)


@router.get("/response")
async def response_report(
    session: SessionDep,
    principal: Observer,
    since: datetime | None = None,
    until: datetime | None = None,
    group_by: GroupBy = GroupBy.SERVICE,
) -> ResponseReport:
    """MTTA, MTTR, escalation rate and exhausted count of incidents triggered in [since, until)."""
    for field, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise field_error(field, "needs a time zone offset, e.g. 2026-01-01T00:00:00Z")
    end = until or utcnow()
    start = since or end - DEFAULT_RANGE
    if start >= end:
        raise field_error("since", "must be before until")
    return await service.response_report(session=session, since=start, until=end, group_by=group_by)
