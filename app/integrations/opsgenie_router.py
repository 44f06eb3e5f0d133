"""Opsgenie-compatible Alert API: create, acknowledge, close and annotate alerts, ask how a
request went, and ping heartbeats, with `Authorization: GenieKey <integration key>`.

Each request is parsed by the `opsgenie` source and applied in the request through the inbound
pipeline (`app/integrations/pipeline.py`); the answer is Opsgenie's 202 with a `requestId`,
whose receipt `GET /v2/alerts/requests/{requestId}` reads. Answers, errors included, are in
Opsgenie's shapes, so its client libraries read them.
"""

import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import jsonsafe
from app.db import SessionDep
from app.integrations import opsgenie, opsgenie_responders, pipeline, receipts, sources
from app.integrations.heartbeats import service as heartbeats
from app.integrations.ingest import (
    Applied,
    BadPayload,
    Event,
    KeyInfo,
    Received,
    Target,
    admit,
    find_key,
    read_json,
)
from app.models import Heartbeat, utcnow
from app.security import hash_key
from app.store import lookups

router = APIRouter(prefix="/v2", tags=["opsgenie"])

RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or unknown `GenieKey` (Opsgenie's shape)"},
    413: {"description": "Body over the inbound size limit"},
    422: {"description": "Invalid body; `errors` names each field (Opsgenie's shape)"},
    429: {"description": "Rate limited; see Retry-After"},
}
IdentifierPath = Annotated[str, Path(min_length=1, max_length=512)]
IdentifierType = Annotated[str, Query(alias="identifierType", max_length=16)]


class _Refused(Exception):
    """An Opsgenie-shaped error answer."""

    def __init__(
        self, status: int, message: str, *, headers: dict[str, str] | None = None, **fields: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.fields = {"message": message, **fields}


class _Call:
    """One Alert API request: its id, its clock and its answers."""

    def __init__(self) -> None:
        self.request_id = uuid.uuid4()
        self.started = time.perf_counter()

    def reply(self, status: int, headers: dict[str, str] | None = None, **fields: Any) -> Any:
        took = time.perf_counter() - self.started
        body = opsgenie.answer(self.request_id, took, **fields)
        return JSONResponse(body, status_code=status, headers=headers)

    def accepted(self, result: str = "Request will be processed") -> Any:
        return self.reply(202, result=result)


def _checked_name(field: str, value: str) -> str:
    """A name from the path, refused (422) if no stored name could hold it (NUL, surrogates)."""
    try:
        jsonsafe.check(value)
    except jsonsafe.UnsafeJson as exc:
        raise _Refused(422, **opsgenie.invalid([(field, exc.message)])) from exc
    return value


def _secret(request: Request) -> str:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "geniekey" or not secret.strip():
        raise _Refused(401, "Could not authenticate")
    return secret.strip()


async def _key(request: Request, session: AsyncSession) -> KeyInfo:
    key_hash = hash_key(_secret(request))
    verdict = await admit(request.app.state, key_hash)
    if not verdict.allowed:
        raise _Refused(
            429,
            "You are making too many requests! To avoid errors, we recommend you limit requests.",
            headers={"Retry-After": str(verdict.retry_after_seconds)},
        )
    key = await find_key(session, key_hash)
    if key is None:
        raise _Refused(401, "Could not authenticate")
    return key


async def _body(request: Request, *, empty_ok: bool) -> tuple[Any, int]:
    raw = await request.body()
    if not raw.strip() and empty_ok:
        return {}, len(raw)
    try:
        return read_json(raw), len(raw)
    except BadPayload as exc:
        raise _Refused(422, **opsgenie.invalid(exc.errors)) from exc


async def _target(
    session: AsyncSession, key: KeyInfo, identifier: str, identifier_type: str
) -> Target | None:
    """The alert an identifier names in the key's service, or None when there is none."""
    if identifier_type == "alias":
        return opsgenie.alias_target(identifier)
    if identifier_type == "tiny":
        if not (identifier.isascii() and identifier.isdigit()) or len(identifier) > 18:
            return None
        alert = await lookups.alert_by_number(
            session, service_id=key.service_id, number=int(identifier)
        )
    else:
        try:
            incident_id = uuid.UUID(identifier)
        except ValueError:
            return None
        alert = await lookups.alert_by_id(
            session, service_id=key.service_id, incident_id=incident_id
        )
    return Target(alert.id, alert.dedup_key) if alert is not None else None


def _parse(body: Any, received: Received) -> list[Event]:
    try:
        return sources.parse("opsgenie", body, received)
    except BadPayload as exc:
        raise _Refused(422, **opsgenie.invalid(exc.errors)) from exc


async def _accept(session: AsyncSession, key: KeyInfo, events: list[Event]) -> None:
    now, actor = utcnow(), key.actor()
    results = await pipeline.accept(
        session=session, service_id=key.service_id, events=events, actor=actor, now=now
    )
    for event, applied in zip(events, results, strict=True):
        # An alert that opens an incident pages its responders too (opsgenie_responders.py).
        responders = event.trigger.details.get("responders") if event.trigger else None
        if applied.outcome == "created" and applied.incident is not None and responders:
            await opsgenie_responders.honour(
                session, incident=applied.incident, responders=responders, actor=actor, now=now
            )


@router.post("/alerts", status_code=202, responses=RESPONSES)
async def create_alert(request: Request, session: SessionDep) -> Any:
    """Create an alert (Opsgenie's Alert API): opens an incident, or adds to the open one with
    the same alias."""
    call = _Call()
    try:
        key = await _key(request, session)
        body, size = await _body(request, empty_ok=False)
        received = Received(body_bytes=size, operation="create", request_id=call.request_id)
        await _accept(session, key, _parse(body, received))
    except _Refused as exc:
        return call.reply(exc.status, exc.headers, **exc.fields)
    return call.accepted()


async def _act(
    request: Request,
    session: AsyncSession,
    identifier: str,
    identifier_type: str,
    operation: str,
) -> Any:
    call = _Call()
    try:
        key = await _key(request, session)
        if identifier_type not in opsgenie.IDENTIFIER_TYPES:
            raise _Refused(
                422,
                **opsgenie.invalid([("identifierType", "must be one of id, alias, tiny")]),
            )
        body, size = await _body(request, empty_ok=operation != "notes")
        identifier = _checked_name("identifier", identifier)
        target = await _target(session, key, identifier, identifier_type)
        named = target or Target(None, identifier[:255])
        received = Received(
            body_bytes=size, operation=operation, target=named, request_id=call.request_id
        )
        events = _parse(body, received)
        if target is not None:
            await _accept(session, key, events)
        else:  # nothing to act on: told in the request's receipt
            missing = Applied(events[-1].action, named.dedup_key, None, "dropped")
            await receipts.record(
                session,
                request_id=call.request_id,
                service_id=key.service_id,
                applied=missing,
                now=utcnow(),
            )
    except _Refused as exc:
        return call.reply(exc.status, exc.headers, **exc.fields)
    return call.accepted()


@router.post("/alerts/{identifier}/acknowledge", status_code=202, responses=RESPONSES)
async def acknowledge_alert(
    identifier: IdentifierPath,
    request: Request,
    session: SessionDep,
    identifier_type: IdentifierType = "id",
) -> Any:
    """Acknowledge an alert by id (the incident's id), alias or tiny id (its number)."""
    return await _act(request, session, identifier, identifier_type, "acknowledge")


@router.post("/alerts/{identifier}/close", status_code=202, responses=RESPONSES)
async def close_alert(
    identifier: IdentifierPath,
    request: Request,
    session: SessionDep,
    identifier_type: IdentifierType = "id",
) -> Any:
    """Close (resolve) an alert by id, alias or tiny id."""
    return await _act(request, session, identifier, identifier_type, "close")


@router.post("/alerts/{identifier}/notes", status_code=202, responses=RESPONSES)
async def add_note(
    identifier: IdentifierPath,
    request: Request,
    session: SessionDep,
    identifier_type: IdentifierType = "id",
) -> Any:
    """Add a note to an alert's timeline by id, alias or tiny id."""
    return await _act(request, session, identifier, identifier_type, "notes")


@router.get("/alerts/requests/{request_id}", responses=RESPONSES)
async def request_status(request_id: str, request: Request, session: SessionDep) -> Any:
    """How a request went: 404 until it is processed (as Opsgenie answers)."""
    call = _Call()
    try:
        key = await _key(request, session)
        try:
            asked = uuid.UUID(request_id)
        except ValueError:
            asked = None
        receipt = (
            await receipts.find(session, request_id=asked, service_id=key.service_id)
            if asked is not None
            else None
        )
        if receipt is None or receipt.outcome == "queued":
            raise _Refused(404, "Request not found. It might not be processed, yet.")
    except _Refused as exc:
        return call.reply(exc.status, exc.headers, **exc.fields)
    processed = receipt.processed_at
    data = opsgenie.request_status(
        action=receipt.action,
        outcome=receipt.outcome,
        error=receipt.error,
        alias=receipt.dedup_key,
        alert_id=receipt.incident_id,
        integration_id=key.id,
        processed_at=processed.isoformat().replace("+00:00", "Z") if processed else None,
    )
    return call.reply(200, data=data)


async def _ping(request: Request, session: AsyncSession, name: str) -> Any:
    call = _Call()
    try:
        key = await _key(request, session)
        name = _checked_name("name", name)
        heartbeat = (
            await session.scalars(
                select(Heartbeat)
                .where(col(Heartbeat.service_id) == key.service_id, col(Heartbeat.name) == name)
                .with_for_update()
            )
        ).first()
        if heartbeat is None:
            raise _Refused(404, f"Heartbeat with name [{name}] does not exist.")
    except _Refused as exc:
        return call.reply(exc.status, exc.headers, **exc.fields)
    await heartbeats.ping(session=session, heartbeat=heartbeat, now=utcnow())
    return call.accepted("PONG - Heartbeat received")


HeartbeatName = Annotated[str, Path(min_length=1, max_length=255)]


@router.get("/heartbeats/{name}/ping", status_code=202, responses=RESPONSES)
async def ping_heartbeat(name: HeartbeatName, request: Request, session: SessionDep) -> Any:
    """Ping a heartbeat of the key's service by name."""
    return await _ping(request, session, name)


@router.post("/heartbeats/{name}/ping", status_code=202, responses=RESPONSES)
async def ping_heartbeat_post(name: HeartbeatName, request: Request, session: SessionDep) -> Any:
    """Ping a heartbeat of the key's service by name."""
    return await _ping(request, session, name)
