"""Routing rules and maintenance windows of a service, and the route of a new incident."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.errors import Conflict, InvalidInput, NotFound
from app.models import EscalationPolicy, MaintenanceWindow, RoutingRule, Service
from app.repository import get_or_404
from app.routing import matcher
from app.routing.schemas import MAX_RULES, RuleCreate, RuleIn, WindowCreate
from app.vocabulary import Severity, Urgency


async def _check_policies(session: AsyncSession, rules: Sequence[RuleIn]) -> None:
    wanted = {r.escalation_policy_id for r in rules if r.escalation_policy_id}
    query = select(col(EscalationPolicy.id)).where(col(EscalationPolicy.id).in_(wanted))
    found = set((await session.scalars(query)).all()) if wanted else set()
    errors = [
        {"field": f"rules[{i}].escalation_policy_id", "message": "unknown escalation policy"}
        for i, r in enumerate(rules)
        if r.escalation_policy_id and r.escalation_policy_id not in found
    ]
    if errors:
        raise InvalidInput(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), details=errors
        )


def _row(service_id: uuid.UUID, position: int, rule: RuleIn) -> RoutingRule:
    return RoutingRule(
        service_id=service_id,
        position=position,
        name=rule.name,
        conditions=[c.model_dump() for c in rule.conditions],
        escalation_policy_id=rule.escalation_policy_id,
        urgency=rule.urgency.value if rule.urgency else None,
        suppress=rule.suppress,
    )


async def list_rules(*, session: AsyncSession, service_id: uuid.UUID) -> list[RoutingRule]:
    """A service's rules in the order they are tried."""
    query = (
        select(RoutingRule)
        .where(col(RoutingRule.service_id) == service_id)
        .order_by(col(RoutingRule.position))
    )
    return list((await session.scalars(query)).all())


async def _lock_service(session: AsyncSession, service_id: uuid.UUID) -> None:
    # Rule edits of one service are serialised so positions stay dense and unique.
    await get_or_404(session, Service, service_id, what="service", lock=True)


async def replace_rules(
    *, session: AsyncSession, service_id: uuid.UUID, rules: Sequence[RuleIn]
) -> list[RoutingRule]:
    """Replace the whole ordered list at once."""
    await _lock_service(session, service_id)
    await _check_policies(session, rules)
    await session.execute(delete(RoutingRule).where(col(RoutingRule.service_id) == service_id))
    rows = [_row(service_id, i, r) for i, r in enumerate(rules, start=1)]
    session.add_all(rows)
    await session.flush()
    return rows


async def _shift(
    session: AsyncSession, service_id: uuid.UUID, *, from_position: int, delta: int
) -> None:
    # Two passes through negative positions: the unique (service, position) is checked per row.
    await session.execute(
        update(RoutingRule)
        .where(col(RoutingRule.service_id) == service_id)
        .where(col(RoutingRule.position) >= from_position)
        .values(position=-(col(RoutingRule.position) + delta))
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(RoutingRule)
        .where(col(RoutingRule.service_id) == service_id, col(RoutingRule.position) < 0)
        .values(position=-col(RoutingRule.position))
        .execution_options(synchronize_session=False)
    )


async def add_rule(
    *, session: AsyncSession, service_id: uuid.UUID, data: RuleCreate
) -> RoutingRule:
    """Insert one rule at `position` (1-based) or append it."""
    await _lock_service(session, service_id)
    await _check_policies(session, [data])
    count = await session.scalar(
        select(func.count()).where(col(RoutingRule.service_id) == service_id)
    )
    total = int(count or 0)
    if total >= MAX_RULES:
        raise Conflict(f"a service has at most {MAX_RULES} routing rules")
    position = min(data.position or total + 1, total + 1)
    await _shift(session, service_id, from_position=position, delta=1)
    row = _row(service_id, position, data)
    session.add(row)
    await session.flush()
    return row


async def delete_rule(*, session: AsyncSession, service_id: uuid.UUID, rule_id: uuid.UUID) -> None:
    """Remove one rule; the ones after it move up."""
    await _lock_service(session, service_id)
    rule = await session.get(RoutingRule, rule_id)
    if rule is None or rule.service_id != service_id:
        raise NotFound(f"routing rule {rule_id} not found")
    position = rule.position
    await session.delete(rule)
    await session.flush()
    await _shift(session, service_id, from_position=position + 1, delta=-1)


async def add_window(
    *, session: AsyncSession, service_id: uuid.UUID, data: WindowCreate
) -> MaintenanceWindow:
    """Schedule a maintenance window."""
    await get_or_404(session, Service, service_id, what="service")
    window = MaintenanceWindow(service_id=service_id, **data.model_dump())
    session.add(window)
    await session.flush()
    return window


async def list_windows(
    *, session: AsyncSession, service_id: uuid.UUID, since: datetime
) -> list[MaintenanceWindow]:
    """Windows of a service that have not ended by `since`, soonest first."""
    await get_or_404(session, Service, service_id, what="service")
    query = (
        select(MaintenanceWindow)
        .where(col(MaintenanceWindow.service_id) == service_id)
        .where(col(MaintenanceWindow.ends_at) > since)
        .order_by(col(MaintenanceWindow.starts_at))
    )
    return list((await session.scalars(query)).all())


async def delete_window(
    *, session: AsyncSession, service_id: uuid.UUID, window_id: uuid.UUID
) -> None:
    """Cancel (or end early) a maintenance window."""
    window = await session.get(MaintenanceWindow, window_id)
    if window is None or window.service_id != service_id:
        raise NotFound(f"maintenance window {window_id} not found")
    await session.delete(window)
    await session.flush()


class Trigger(Protocol):
    """What routing reads of an incoming trigger (an `IncidentTrigger`)."""

    @property
    def title(self) -> str: ...
    @property
    def severity(self) -> Severity: ...
    @property
    def urgency(self) -> Urgency: ...
    @property
    def source(self) -> str: ...
    @property
    def details(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class RoutingContext:
    """What routes a service's new incidents at one instant: its rules and open window."""

    default_policy_id: uuid.UUID
    rules: tuple[matcher.Rule, ...]
    maintenance_window_id: uuid.UUID | None

    def decide(self, data: Trigger) -> matcher.Route:
        """The route of one new incident."""
        alert = matcher.Alert(
            severity=data.severity.value,
            summary=data.title,
            source=data.source,
            details=data.details,
        )
        return matcher.decide(
            self.rules,
            alert,
            default_policy_id=self.default_policy_id,
            urgency=data.urgency.value,
            maintenance_window_id=self.maintenance_window_id,
        )


async def routing_context(
    *, session: AsyncSession, service: Service, now: datetime
) -> RoutingContext:
    """A service's rules and the maintenance window open at `now`: one query."""
    window = (
        select(col(MaintenanceWindow.id))
        .where(
            col(MaintenanceWindow.service_id) == service.id,
            col(MaintenanceWindow.starts_at) <= now,
            col(MaintenanceWindow.ends_at) > now,
        )
        .order_by(col(MaintenanceWindow.ends_at).desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            select(RoutingRule, window.label("window_id"))
            .select_from(Service)
            .outerjoin(RoutingRule, col(RoutingRule.service_id) == col(Service.id))
            .where(col(Service.id) == service.id)
            .order_by(col(RoutingRule.position))
        )
    ).all()
    rules = tuple(
        matcher.rule_from_json(
            r.id,
            r.conditions,
            escalation_policy_id=r.escalation_policy_id,
            urgency=r.urgency,
            suppress=r.suppress,
            name=r.name,
        )
        for r, _ in rows
        if r is not None
    )
    window_id = rows[0][1] if rows else None
    return RoutingContext(service.escalation_policy_id, rules, window_id)


async def route(
    *, session: AsyncSession, service: Service, data: Trigger, now: datetime
) -> matcher.Route:
    """How a new incident of `service` is paged (rules, then maintenance windows)."""
    context = await routing_context(session=session, service=service, now=now)
    return context.decide(data)


ROUTING_ACTOR = {"type": "system", "name": "routing"}


def route_entries(
    *, incident_id: uuid.UUID, route: matcher.Route, at: datetime
) -> list[dict[str, Any]]:
    """The timeline rows saying why a new incident is paged differently, or not at all."""
    rule = matcher.describe(route.rule) if route.rule else None

    def entry(type_: str, details: dict[str, Any]) -> dict[str, Any]:
        return {
            "incident_id": incident_id,
            "type": type_,
            "at": at,
            "actor": ROUTING_ACTOR,
            "details": details,
        }

    if route.suppressed:
        reason = "a routing rule suppresses this alert; nobody is paged"
        return [entry("suppressed", {"rule": rule, "reason": reason})]
    entries = []
    if rule is not None:
        details = {"rule": rule, "policy_id": str(route.policy_id), "urgency": route.urgency}
        entries.append(entry("routed", details))
    if route.maintenance_window_id is not None:
        details = {
            "maintenance_window_id": str(route.maintenance_window_id),
            "reason": "the service is in a maintenance window; nobody is paged",
        }
        entries.append(entry("maintenance", details))
    return entries
