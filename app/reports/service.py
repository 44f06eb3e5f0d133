"""Response effectiveness computed in PostgreSQL: one aggregate query per grouping."""

from datetime import datetime
from typing import Any

from sqlalchemy import Float, case, cast, exists, extract, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import Incident, Service, TimelineEntry
from app.reports.schemas import Durations, GroupBy, ResponseReport, ResponseStats

UNGROUPED_NAMES = {
    GroupBy.SERVICE: "unknown service",
    GroupBy.POLICY: "reassigned directly to a user",
    GroupBy.RESPONDER: "not acknowledged",
}


def _group_columns(group_by: GroupBy) -> tuple[Any, Any]:
    """The (key, name) expressions of a grouping."""
    if group_by is GroupBy.SERVICE:
        return col(Incident.service_id), col(Service.name)
    if group_by is GroupBy.POLICY:
        name = func.jsonb_extract_path_text(col(Incident.policy_snapshot), "name")
        return col(Incident.policy_id), name
    responder = col(Incident.first_acknowledged_by)
    return (
        func.jsonb_extract_path_text(responder, "id"),
        func.jsonb_extract_path_text(responder, "name"),
    )


def _durations(values: Any) -> list[Any]:
    seconds = cast(values, Float)
    return [
        func.avg(seconds),
        func.percentile_cont(0.5).within_group(seconds),
        func.percentile_cont(0.9).within_group(seconds),
    ]


def _stats(row: Any, name: str) -> ResponseStats:
    def number(value: Any) -> float | None:
        return None if value is None else round(float(value), 3)

    return ResponseStats(
        key=None if row.key is None else str(row.key),
        name=name,
        incidents=row.incidents,
        acknowledged=row.acknowledged,
        resolved=row.resolved,
        mtta_seconds=Durations(mean=number(row[6]), p50=number(row[7]), p90=number(row[8])),
        mttr_seconds=Durations(mean=number(row[9]), p50=number(row[10]), p90=number(row[11])),
        escalation_rate=number(row.escalation_rate) or 0.0,
        exhausted=row.exhausted,
    )


async def response_report(
    *, session: AsyncSession, since: datetime, until: datetime, group_by: GroupBy
) -> ResponseReport:
    """MTTA, MTTR, escalation rate and exhaustion per group and overall, for incidents
    triggered in [since, until); merged duplicates are left out."""
    key, name = _group_columns(group_by)
    created = col(Incident.created_at)
    ever_exhausted = exists().where(
        col(TimelineEntry.incident_id) == col(Incident.id), col(TimelineEntry.type) == "exhausted"
    )
    escalated = case((col(Incident.max_level_reached) >= 2, 1.0), else_=0.0)
    query = select(
        func.grouping(key).label("is_total"),
        key.label("key"),
        func.max(name).label("name"),
        func.count().label("incidents"),
        func.count(col(Incident.first_acknowledged_at)).label("acknowledged"),
        func.count(col(Incident.resolved_at)).label("resolved"),
        *_durations(extract("epoch", col(Incident.first_acknowledged_at) - created)),
        *_durations(extract("epoch", col(Incident.resolved_at) - created)),
        func.avg(escalated).label("escalation_rate"),
        func.count().filter(ever_exhausted).label("exhausted"),
    ).select_from(Incident)
    if group_by is GroupBy.SERVICE:
        query = query.join(Service, col(Service.id) == col(Incident.service_id))
    query = (
        query.where(created >= since, created < until, col(Incident.merged_into_id).is_(None))
        .group_by(func.grouping_sets(tuple_(key), tuple_()))
        .order_by(func.grouping(key), func.max(name))
    )
    groups: list[ResponseStats] = []
    total: ResponseStats | None = None
    for row in await session.execute(query):
        if row.is_total:
            total = _stats(row, "all")
        else:
            groups.append(_stats(row, row.name or UNGROUPED_NAMES[group_by]))
    if total is None:  # no incident at all in the range
        total = ResponseStats(
            key=None,
            name="all",
            incidents=0,
            acknowledged=0,
            resolved=0,
            mtta_seconds=Durations(mean=None, p50=None, p90=None),
            mttr_seconds=Durations(mean=None, p50=None, p90=None),
            escalation_rate=0.0,
            exhausted=0,
        )
    return ResponseReport(since=since, until=until, group_by=group_by, groups=groups, total=total)
