"""Pushover's emergency acknowledgement callback: acknowledging in the app acknowledges here.

The callback URL of each emergency page carries the page's signed acknowledge token (made for
the paged user, expiring with the page's links). Pushover POSTs it once, with the receipt and
the key of the Pushover user who acknowledged, when someone acknowledges the notification.
"""

import hashlib
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import SessionDep
from app.errors import Forbidden, InvalidInput
from app.models import ContactMethod, User, utcnow
from app.notify.links import read_action
from app.responders import docs
from app.responders.actions import act, may_respond_somewhere
from app.responders.nonces import use_once
from app.teams.access import others_allowed

router = APIRouter(prefix="/integrations/pushover", tags=["responding"])


class CallbackAnswer(BaseModel):
    changed: bool = Field(description="Whether the incident was acknowledged by this call.")
    message: str


async def _owns_key(session: AsyncSession, user: User, key: str) -> bool:
    """Whether the user's own Pushover contact method is that key."""
    found = await session.scalar(
        select(col(ContactMethod.id)).where(
            col(ContactMethod.user_id) == user.id,
            col(ContactMethod.type) == "pushover",
            col(ContactMethod.address) == key,
        )
    )
    return found is not None


@router.post("/ack/{token}", response_model=CallbackAnswer, **docs.PUSHOVER_ACK)
async def acknowledged(token: str, request: Request, session: SessionDep) -> JSONResponse:
    """Verify the token, the acknowledging Pushover user and their role; then acknowledge."""
    claims = read_action(request.app.state.link_secret, token, now=utcnow().timestamp())
    if claims is None or claims.get("a") != "acknowledge" or not claims.get("u"):
        raise Forbidden("this callback is not one Stairway issued, or it has expired")
    form = dict(parse_qsl((await request.body()).decode(errors="replace")))
    if form.get("acknowledged") != "1":
        raise InvalidInput("acknowledged: must be 1")
    user = await session.get(User, uuid.UUID(claims["u"]))
    if not await may_respond_somewhere(session, user):
        raise Forbidden("the paged user may no longer respond")
    assert user is not None
    if not await _owns_key(session, user, form.get("acknowledged_by", "")):
        raise Forbidden("acknowledged_by: not the paged user's Pushover key")
    key = "pushover:" + hashlib.sha256(token.encode()).hexdigest()
    if not await use_once(session, key, expires_at=datetime.fromtimestamp(claims["exp"], UTC)):
        return JSONResponse({"changed": False, "message": "already used"})
    result = await act(
        session=session,
        incident_id=uuid.UUID(claims["i"]),
        action="acknowledge",
        user_id=user.id,
        via="pushover",
        now=utcnow(),
        others_allowed=others_allowed(request),
    )
    return JSONResponse({"changed": result.changed, "message": result.message})
