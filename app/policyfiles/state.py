"""The database's configuration in the canonical file form, with the ids behind it."""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.integrations.heartbeats.schemas import HeartbeatCreate
from app.models import (
    ApiKey,
    ContactMethod,
    Heartbeat,
    IntegrationKey,
    MaintenanceWindow,
    NotificationRule,
    RoutingRule,
    ScheduleOverride,
    TeamMember,
)
from app.policies.schemas import PolicyCreate
from app.policies.service import list_policies
from app.policyfiles.common import Refs
from app.policyfiles.model import (
    ScheduleModels,
    UserModels,
    method_doc,
    method_key,
    override_doc,
    override_key,
    policy_doc,
    rule_doc,
    rule_key,
    schedule_doc,
    user_doc,
)
from app.policyfiles.model_services import (
    IntegrationKeyFile,
    ServiceModels,
    service_doc,
    window_doc,
    window_key,
)
from app.policyfiles.model_teams import TeamModels, team_doc
from app.routing.schemas import RuleIn, WindowCreate
from app.schedules.schemas import LayerIn, OverrideCreate, ScheduleCreate, ScheduleRead
from app.schedules.service import list_schedules
from app.services.schemas import ServiceCreate
from app.services.service import list_services
from app.store.listing import services_with_incidents
from app.teams.schemas import MemberCreate, TeamCreate
from app.teams.service import list_teams
from app.users.schemas import ContactMethodCreate, NotificationRuleCreate, UserCreate
from app.users.service import list_users

# (kind, parent identity..., identity) of an object or of a part of one.
IdKey = tuple[str, ...]


@dataclass
class Snapshot:
    """What the database holds, as the files would say it."""

    refs: Refs
    docs: dict[str, dict[str, dict[str, Any]]]
    ids: dict[IdKey, uuid.UUID] = field(default_factory=dict)
    # Overrides and maintenance windows already over: history, never pruned or exported.
    ended: set[IdKey] = field(default_factory=set)
    # (section, identity) -> why --prune must keep it.
    blockers: dict[tuple[str, str], str] = field(default_factory=dict)


def _grouped(rows: Any, attr: str) -> dict[uuid.UUID, list[Any]]:
    groups: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in rows:
        groups[getattr(row, attr)].append(row)
    return groups


async def _all(session: AsyncSession, model: Any, *order: Any) -> list[Any]:
    return list((await session.scalars(select(model).order_by(*order))).all())


async def _users(session: AsyncSession, snap: Snapshot) -> None:
    methods = _grouped(
        await _all(session, ContactMethod, col(ContactMethod.created_at), col(ContactMethod.id)),
        "user_id",
    )
    rules = _grouped(
        await _all(session, NotificationRule, col(NotificationRule.created_at)), "contact_method_id"
    )
    keyed = await session.scalars(
        select(col(ApiKey.user_id)).where(col(ApiKey.revoked_at).is_(None)).distinct()
    )
    with_keys = set(keyed.all())
    for user in await list_users(session=session):
        email = user.email.lower()
        parts: list[tuple[ContactMethodCreate, list[NotificationRuleCreate]]] = []
        seen: set[str] = set()
        for m in methods.get(user.id, []):
            method = ContactMethodCreate.model_validate(
                {"type": m.type, "address": m.address, "label": m.label}
            )
            rule_models = [
                NotificationRuleCreate(
                    contact_method_id=m.id, delay_seconds=r.delay_seconds, urgency=r.urgency
                )
                for r in rules.get(m.id, [])
            ]
            mkey = method_key(method_doc(method, []))
            if mkey in seen:
                continue  # a duplicate made through the API: the files can name only one
            seen.add(mkey)
            parts.append((method, rule_models))
            snap.ids[("contact_method", email, mkey)] = m.id
            for r, model in zip(rules.get(m.id, []), rule_models, strict=True):
                snap.ids.setdefault(
                    ("notification_rule", email, mkey, rule_key(rule_doc(model))), r.id
                )
        body = UserCreate.model_validate(
            {
                "name": user.name,
                "email": user.email,
                "role": user.role,
                "time_zone": user.time_zone,
                "slack_user_id": user.slack_user_id,
            }
        )
        snap.docs["users"][email] = user_doc(UserModels(body, parts))
        snap.ids[("user", email)] = user.id
        if user.id in with_keys:
            snap.blockers[("users", email)] = "has API keys"


async def _schedules(
    session: AsyncSession, snap: Snapshot, now: datetime, schedules: list[ScheduleRead]
) -> None:
    overrides = _grouped(
        await _all(
            session, ScheduleOverride, col(ScheduleOverride.start), col(ScheduleOverride.created_at)
        ),
        "schedule_id",
    )
    for s in schedules:
        body = ScheduleCreate(
            name=s.name,
            time_zone=s.time_zone,
            description=s.description,
            team_id=s.team_id,
            layers=[
                LayerIn.model_validate(
                    {
                        "participants": layer.participants,
                        "turn_seconds": layer.turn_seconds,
                        "start": layer.start,
                        "restrictions": [r.model_dump() for r in layer.restrictions],
                    }
                )
                for layer in s.layers
            ],
        )
        parts = []
        for o in overrides.get(s.id, []):
            model = OverrideCreate(user_id=o.user_id, start=o.start, end=o.end)
            okey = override_key(override_doc(model, snap.refs))
            snap.ids.setdefault(("override", s.name, okey), o.id)
            if o.end <= now:
                snap.ended.add(("override", s.name, okey))
            parts.append(model)
        snap.docs["schedules"][s.name] = schedule_doc(ScheduleModels(body, parts), snap.refs)
        snap.ids[("schedule", s.name)] = s.id


async def _services(session: AsyncSession, snap: Snapshot, now: datetime) -> None:
    keys = _grouped(
        await _all(session, IntegrationKey, col(IntegrationKey.created_at)), "service_id"
    )
    rules = _grouped(await _all(session, RoutingRule, col(RoutingRule.position)), "service_id")
    windows = _grouped(
        await _all(session, MaintenanceWindow, col(MaintenanceWindow.starts_at)), "service_id"
    )
    beats = _grouped(await _all(session, Heartbeat, col(Heartbeat.name)), "service_id")
    used = await services_with_incidents(session)
    for svc in await list_services(session=session):
        key_models: dict[str, IntegrationKeyFile] = {}
        hashes: dict[str, tuple[str, str]] = {}
        for k in keys.get(svc.id, []):
            if k.name not in key_models:  # duplicate names made through the API: keep the first
                key_models[k.name] = IntegrationKeyFile(
                    name=k.name, alert_grouping=k.alert_grouping
                )
                hashes[k.name] = (k.key_hash, k.prefix)
                snap.ids[("integration_key", svc.name, k.name)] = k.id
        window_models = []
        for w in windows.get(svc.id, []):
            model = WindowCreate(
                starts_at=w.starts_at, ends_at=w.ends_at, description=w.description
            )
            wkey = window_key(window_doc(model))
            snap.ids.setdefault(("maintenance_window", svc.name, wkey), w.id)
            if w.ends_at <= now:
                snap.ended.add(("maintenance_window", svc.name, wkey))
            window_models.append(model)
        for h in beats.get(svc.id, []):
            snap.ids[("heartbeat", svc.name, h.name)] = h.id
        models = ServiceModels(
            ServiceCreate(
                name=svc.name,
                description=svc.description,
                team_id=svc.team_id,
                escalation_policy_id=svc.escalation_policy_id,
                ack_timeout_seconds=svc.ack_timeout_seconds,
                auto_resolve_seconds=svc.auto_resolve_seconds,
            ),
            list(key_models.values()),
            [
                RuleIn.model_validate(
                    {
                        "name": r.name,
                        "conditions": r.conditions,
                        "escalation_policy_id": r.escalation_policy_id,
                        "urgency": r.urgency,
                        "suppress": r.suppress,
                    }
                )
                for r in rules.get(svc.id, [])
            ],
            window_models,
            [
                HeartbeatCreate(service_id=svc.id, name=h.name, interval_seconds=h.interval_seconds)
                for h in beats.get(svc.id, [])
            ],
        )
        doc = service_doc(models, snap.refs)
        for key in doc["integration_keys"]:
            # Compared only with a file that keeps a key's value (plan.py).
            key["key_sha256"], key["key_prefix"] = hashes[key["name"]]
        snap.docs["services"][svc.name] = doc
        snap.ids[("service", svc.name)] = svc.id
        if svc.id in used:
            snap.blockers[("services", svc.name)] = "has incidents"


async def _teams(session: AsyncSession, snap: Snapshot) -> None:
    members = _grouped(await _all(session, TeamMember, col(TeamMember.created_at)), "team_id")
    for team in await list_teams(session=session):
        snap.refs.add("team", team.name, team.id)
        snap.ids[("team", team.name)] = team.id
        parts = [
            MemberCreate.model_validate({"user_id": m.user_id, "role": m.role})
            for m in members.get(team.id, [])
        ]
        body = TeamCreate.model_validate({"name": team.name, "description": team.description})
        doc = team_doc(TeamModels(body, parts), snap.refs)
        snap.docs["teams"][team.name] = doc
        for m in members.get(team.id, []):
            snap.ids[("team_member", team.name, str(snap.refs.name("user", m.user_id)))] = m.user_id


async def read_state(*, session: AsyncSession, now: datetime) -> Snapshot:
    """Every user, team, schedule, escalation policy and service, in canonical file form."""
    snap = Snapshot(
        Refs(),
        {"users": {}, "teams": {}, "schedules": {}, "escalation_policies": {}, "services": {}},
    )
    await _users(session, snap)
    for email in snap.docs["users"]:
        snap.refs.add("user", email, snap.ids[("user", email)])
    await _teams(session, snap)
    schedules = await list_schedules(session=session)
    for s in schedules:
        snap.refs.add("schedule", s.name, s.id)
    policies = await list_policies(session=session)
    for p in policies:
        snap.refs.add("escalation_policy", p.name, p.id)
    await _schedules(session, snap, now, schedules)
    for p in policies:
        body = PolicyCreate.model_validate(
            {
                "name": p.name,
                "description": p.description,
                "team_id": p.team_id,
                "repeat": p.repeat,
                "levels": [level.model_dump() for level in p.levels],
            }
        )
        snap.docs["escalation_policies"][p.name] = policy_doc(body, snap.refs)
        snap.ids[("escalation_policy", p.name)] = p.id
    await _services(session, snap, now)
    return snap
