"""Carrying out a plan through the same service layer as the REST API, in one transaction."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.db import transaction
from app.errors import AppError
from app.integrations.heartbeats import service as heartbeats
from app.integrations.heartbeats.schemas import HeartbeatCreate, HeartbeatUpdate
from app.models import IntegrationKey, Service, User, utcnow
from app.policies import service as policies
from app.policies.schemas import PolicyUpdate
from app.policyfiles.apply_teams import apply_team, apply_team_member
from app.policyfiles.common import Refs, Reporter, without
from app.policyfiles.documents import Desired
from app.policyfiles.loader import Path_, field_name
from app.policyfiles.model import override as override_model
from app.policyfiles.model import policy_models, schedule_models, user_models
from app.policyfiles.model_services import service_models
from app.policyfiles.plan import Change, Plan, make_plan
from app.policyfiles.state import IdKey, Snapshot, read_state
from app.repository import flush_unique
from app.routing import service as routing
from app.routing.schemas import WindowCreate
from app.schedules import service as schedules
from app.schedules.schemas import ScheduleUpdate
from app.security import NewKey
from app.services import service as services
from app.services.schemas import IntegrationKeyCreate, ServiceUpdate
from app.users import service as users
from app.users.schemas import ContactMethodCreate, NotificationRuleCreate, UserUpdate

# One apply at a time: the plan is made and carried out against a database nobody else applies to.
_APPLY_LOCK = 0x5354_4149_5257_4159


class ApplyError(Exception):
    """Applying failed; the transaction was rolled back and nothing changed."""


@dataclass(frozen=True)
class Issued:
    """A secret or address made during apply, shown once (integration keys are hashed)."""

    what: str
    name: str
    value: str


@dataclass
class ApplyResult:
    plan: Plan
    issued: list[Issued] = field(default_factory=list)


def _strict(path: Path_, message: str) -> None:
    # The plan holds validated documents: a problem here is a bug, not a user's mistake.
    raise ApplyError(f"{field_name(path)}: {message}")


def _attribute(file_field: str) -> str:
    """The API field a file's field sets (files name what the API gives by id)."""
    return {"escalation_policy": "escalation_policy_id", "team": "team_id"}.get(
        file_field, file_field
    )


@dataclass
class _Executor:
    session: AsyncSession
    refs: Refs
    ids: dict[IdKey, uuid.UUID]
    public_url: str
    # Outbound URLs follow the API's rule (STAIRWAY_ALLOW_PRIVATE_WEBHOOK_TARGETS).
    allow_private: bool
    issued: list[Issued] = field(default_factory=list)

    def id(self, kind: str, *key: str) -> uuid.UUID:
        return self.ids[(kind, *key)]

    async def user(self, c: Change) -> None:
        (email,) = c.key
        if c.action == "delete":
            await users.delete_user(
                session=self.session, user_id=self.id("user", email), now=utcnow()
            )
            return
        assert c.doc is not None
        models = user_models({**c.doc, "contact_methods": []}, Reporter(_strict))
        assert models is not None
        if c.action == "create":
            user = await users.create_user(session=self.session, data=models.user)
            self.ids[("user", email)] = user.id
            self.refs.add("user", email, user.id)
            return
        user_id = self.id("user", email)
        changes = {f: getattr(models.user, f) for f in c.fields}
        await users.update_user(
            session=self.session, user_id=user_id, data=UserUpdate.model_validate(changes)
        )
        if "slack_user_id" in changes and changes["slack_user_id"] is None:
            # A PATCH cannot clear it (nulls mean "unchanged"); the file says it is gone.
            row = await self.session.get(User, user_id)
            assert row is not None
            row.slack_user_id = None
            await self.session.flush()

    async def contact_method(self, c: Change) -> None:
        email, mkey = c.key
        user_id = self.id("user", email)
        if c.action == "delete":
            method_id = self.id("contact_method", email, mkey)
            await users.delete_contact_method(
                session=self.session, user_id=user_id, method_id=method_id
            )
            return
        assert c.doc is not None
        data = ContactMethodCreate.model_validate(without(c.doc, "notification_rules"))
        # The operator applying the files vouches for their contact methods, as an admin does.
        method = await users.add_contact_method(
            session=self.session,
            user_id=user_id,
            data=data,
            allow_private=self.allow_private,
            trusted=True,
        )
        self.ids[("contact_method", email, mkey)] = method.id
        if method.signing_secret:
            self.issued.append(
                Issued("webhook signing secret", f"{email} {mkey}", method.signing_secret)
            )

    async def notification_rule(self, c: Change) -> None:
        email, mkey, rkey = c.key
        user_id = self.id("user", email)
        if c.action == "delete":
            rule_id = self.id("notification_rule", email, mkey, rkey)
            await users.delete_notification_rule(
                session=self.session, user_id=user_id, rule_id=rule_id
            )
            return
        assert c.doc is not None
        data = NotificationRuleCreate.model_validate(
            {**c.doc, "contact_method_id": self.id("contact_method", email, mkey)}
        )
        await users.add_notification_rule(session=self.session, user_id=user_id, data=data)

    async def team(self, c: Change) -> None:
        await apply_team(
            c, session=self.session, refs=self.refs, ids=self.ids, report=Reporter(_strict)
        )

    async def team_member(self, c: Change) -> None:
        await apply_team_member(
            c, session=self.session, refs=self.refs, ids=self.ids, report=Reporter(_strict)
        )

    async def schedule(self, c: Change) -> None:
        (name,) = c.key
        if c.action == "delete":
            await schedules.delete_schedule(
                session=self.session, schedule_id=self.id("schedule", name)
            )
            return
        assert c.doc is not None
        models = schedule_models({**c.doc, "overrides": []}, self.refs, Reporter(_strict))
        assert models is not None
        if c.action == "create":
            read = await schedules.create_schedule(session=self.session, data=models.schedule)
            self.ids[("schedule", name)] = read.id
            self.refs.add("schedule", name, read.id)
            return
        changes = {_attribute(f): getattr(models.schedule, _attribute(f)) for f in c.fields}
        await schedules.update_schedule(
            session=self.session,
            schedule_id=self.id("schedule", name),
            data=ScheduleUpdate.model_validate(changes),
        )

    async def override(self, c: Change) -> None:
        name, okey = c.key
        schedule_id = self.id("schedule", name)
        if c.action == "delete":
            await schedules.delete_override(
                session=self.session,
                schedule_id=schedule_id,
                override_id=self.id("override", name, okey),
            )
            return
        data = override_model(c.doc, (), self.refs, Reporter(_strict))
        assert data is not None
        await schedules.add_override(session=self.session, schedule_id=schedule_id, data=data)

    async def escalation_policy(self, c: Change) -> None:
        (name,) = c.key
        if c.action == "delete":
            await policies.delete_policy(
                session=self.session, policy_id=self.id("escalation_policy", name)
            )
            return
        policy = policy_models(c.doc, self.refs, Reporter(_strict))
        assert policy is not None
        if c.action == "create":
            read = await policies.create_policy(
                session=self.session, data=policy, allow_private=self.allow_private
            )
            self.ids[("escalation_policy", name)] = read.id
            self.refs.add("escalation_policy", name, read.id)
            return
        changes = {_attribute(f): getattr(policy, _attribute(f)) for f in c.fields}
        await policies.update_policy(
            session=self.session,
            policy_id=self.id("escalation_policy", name),
            data=PolicyUpdate.model_validate(changes),
            allow_private=self.allow_private,
        )

    async def service(self, c: Change) -> None:
        (name,) = c.key
        if c.action == "delete":
            await services.delete_service(session=self.session, service_id=self.id("service", name))
            return
        assert c.doc is not None
        models = service_models(c.doc, self.refs, Reporter(_strict))
        assert models is not None
        if c.action == "create":
            svc = await services.create_service(session=self.session, data=models.service)
            self.ids[("service", name)] = svc.id
            fields = ["routing_rules"] if models.routing_rules else []
        else:
            fields = list(c.fields)
        service_id = self.id("service", name)
        attrs = {_attribute(f) for f in fields if f != "routing_rules"}
        if attrs:
            data = ServiceUpdate.model_validate({a: getattr(models.service, a) for a in attrs})
            await services.update_service(session=self.session, service_id=service_id, data=data)
        if "routing_rules" in fields:
            await routing.replace_rules(
                session=self.session, service_id=service_id, rules=models.routing_rules
            )

    async def integration_key(self, c: Change) -> None:
        name, key_name = c.key
        service_id = self.id("service", name)
        if c.action == "delete":
            key_id = self.id("integration_key", name, key_name)
            await services.delete_integration_key(
                session=self.session, service_id=service_id, key_id=key_id
            )
            return
        assert c.doc is not None
        data = IntegrationKeyCreate.model_validate(without(c.doc, "key_sha256", "key_prefix"))
        kept = (
            NewKey(secret="", key_hash=c.doc["key_sha256"], prefix=c.doc["key_prefix"])
            if "key_sha256" in c.doc
            else None
        )
        if c.action == "create":
            _, secret = await services.create_integration_key(
                session=self.session, service_id=service_id, data=data, kept=kept
            )
            if kept is None:  # a kept key's senders already have it
                self.issued.append(Issued("integration key", f"{name}/{key_name}", secret))
            return
        # The API has no update for keys: replacing one would change its secret under every
        # sender. Only the grouping changes, or the value when the files keep another one.
        row = await self.session.get(IntegrationKey, self.id("integration_key", name, key_name))
        assert row is not None
        row.alert_grouping = data.alert_grouping
        if kept is not None:
            row.key_hash, row.prefix = kept.key_hash, kept.prefix
        await flush_unique(self.session, field="key", message="this integration key is in use")

    async def maintenance_window(self, c: Change) -> None:
        name, wkey = c.key
        service_id = self.id("service", name)
        if c.action == "delete":
            window_id = self.id("maintenance_window", name, wkey)
            await routing.delete_window(
                session=self.session, service_id=service_id, window_id=window_id
            )
            return
        data = WindowCreate.model_validate(c.doc)
        await routing.add_window(session=self.session, service_id=service_id, data=data)

    async def heartbeat(self, c: Change) -> None:
        name, beat = c.key
        if c.action == "delete":
            await heartbeats.delete(
                session=self.session, heartbeat_id=self.id("heartbeat", name, beat)
            )
            return
        assert c.doc is not None
        if c.action == "update":
            data = HeartbeatUpdate(interval_seconds=c.doc["interval_seconds"])
            await heartbeats.update(
                session=self.session, heartbeat_id=self.id("heartbeat", name, beat), data=data
            )
            return
        created = await heartbeats.create(
            session=self.session,
            data=HeartbeatCreate.model_validate({**c.doc, "service_id": self.id("service", name)}),
        )
        url = f"{self.public_url.rstrip('/')}/api/v1/heartbeats/{created.id}/ping"
        self.issued.append(Issued("heartbeat ping URL", f"{name}/{beat}", url))

    async def run(self, change: Change) -> None:
        if change.action == "keep":
            return
        handler: Callable[[Change], Awaitable[None]] = getattr(self, change.kind)
        try:
            await handler(change)
        except AppError as exc:
            where = f"{change.origin} " if change.origin else ""
            raise ApplyError(f"{where}{change.name}: {exc.message}") from exc


class _DryRun(Exception):
    """Raised to roll a dry run back after every change was carried out."""

    def __init__(self, result: ApplyResult) -> None:
        super().__init__("dry run")
        self.result = result


async def apply_plan(
    *,
    session: AsyncSession,
    desired: Desired,
    prune: bool,
    now: datetime,
    public_url: str,
    allow_private: bool,
) -> ApplyResult:
    """Plan against the database and carry the plan out (the caller owns the transaction)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _APPLY_LOCK})
    snap: Snapshot = await read_state(session=session, now=now)
    plan = make_plan(desired, snap, prune=prune)
    executor = _Executor(session, snap.refs, dict(snap.ids), public_url, allow_private)
    for change in plan.changes:
        await executor.run(change)
    return ApplyResult(plan, executor.issued)


async def apply_policies(
    sessions: async_sessionmaker[AsyncSession],
    desired: Desired,
    *,
    prune: bool,
    dry_run: bool,
    public_url: str,
    allow_private: bool,
) -> ApplyResult:
    """Apply in one transaction: all of it or, on any error or a dry run, none of it."""
    try:
        async with transaction(sessions) as session:
            result = await apply_plan(
                session=session,
                desired=desired,
                prune=prune,
                now=utcnow(),
                public_url=public_url,
                allow_private=allow_private,
            )
            if dry_run:
                raise _DryRun(result)
    except _DryRun as rolled_back:
        return ApplyResult(rolled_back.result.plan)
    return result


async def plan_policies(
    sessions: async_sessionmaker[AsyncSession], desired: Desired, *, prune: bool
) -> Plan:
    """What apply would do, without changing anything."""
    async with sessions() as session:
        snap = await read_state(session=session, now=utcnow())
    return make_plan(desired, snap, prune=prune)


async def reissue_key(sessions: async_sessionmaker[AsyncSession], *, service: str, key: str) -> str:
    """Replace a named integration key with a fresh secret (keys are hashed: a lost secret is
    gone); the old secret stops working."""
    async with transaction(sessions) as session:
        svc = await session.scalar(select(Service).where(col(Service.name) == service))
        if svc is None:
            raise ApplyError(f'unknown service "{service}"')
        found = [
            k for k in await services.list_integration_keys(session=session, service_id=svc.id)
        ]
        old = next((k for k in found if k.name == key), None)
        if old is None:
            raise ApplyError(f'service "{service}" has no integration key named "{key}"')
        data = IntegrationKeyCreate(name=key, alert_grouping=old.alert_grouping)
        await services.delete_integration_key(session=session, service_id=svc.id, key_id=old.id)
        _, secret = await services.create_integration_key(
            session=session, service_id=svc.id, data=data
        )
    return secret


_ISSUED_ORDER = ("integration key", "heartbeat ping URL", "webhook signing secret")


def shown_once(issued: list[Issued]) -> str:
    """The secrets and addresses made by an apply, for the terminal."""
    if not issued:
        return ""
    lines = ["Shown once (store them now; integration keys cannot be read back):"]
    ordered = sorted(issued, key=lambda i: _ISSUED_ORDER.index(i.what))
    lines.extend(f"  {i.what} {i.name}: {i.value}" for i in ordered)
    return "\n".join(lines)
