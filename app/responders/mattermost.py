"""Mattermost: interactive buttons act as the linked user; `/stairway link CODE` links.

A button press reaches Stairway from the Mattermost server with the pressing account's user id
and the button's context, which carries the page's signed action token: a press whose token
Stairway did not sign, or which has expired, is refused. Mattermost keeps the context on the
server (clients never see it). The press acts as the Stairway user linked to the account that
pressed it, while that user exists and may respond.
"""

import hmac
import uuid
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request

from app import jsonsafe
from app.db import SessionDep
from app.errors import Forbidden, Unauthorized, field_error
from app.models import utcnow
from app.notify.links import read_action
from app.responders.actions import act, refusal
from app.store.incidents import get_incident
from app.teams.access import others_allowed
from app.users.chat_links import complete_link, linked_user

router = APIRouter(prefix="/integrations/mattermost", tags=["responding"], include_in_schema=False)

NOT_LINKED = (
    "Your Mattermost account is not linked to a Stairway user, so nothing was changed. "
    "Get a link code on your Stairway profile and type /stairway link CODE."
)


@router.post("/actions")
async def mattermost_action(request: Request, session: SessionDep) -> dict[str, Any]:
    """Verify the button's signed token, map the pressing account, act."""
    try:
        payload = jsonsafe.loads(await request.body())
    except ValueError as exc:
        raise field_error("body", "expected Mattermost's action JSON") from exc
    if not isinstance(payload, dict):
        raise field_error("body", "expected Mattermost's action JSON object")
    found = payload.get("context")
    context: dict[str, Any] = found if isinstance(found, dict) else {}
    claims = read_action(
        request.app.state.link_secret, str(context.get("token", "")), now=utcnow().timestamp()
    )
    if claims is None or claims["a"] != context.get("action"):
        raise Forbidden("this button is not one Stairway sent, or it has expired")
    account = str(payload.get("user_id", ""))
    user = await linked_user(session=session, kind="mattermost", external_id=account)
    if user is None:
        return {"ephemeral_text": NOT_LINKED}
    others = others_allowed(request)
    incident = await get_incident(session, uuid.UUID(claims["i"]))
    refused = incident and await refusal(session, user, incident, others_allowed=others)
    if refused:
        return {"ephemeral_text": refused}
    result = await act(
        session=session,
        incident_id=uuid.UUID(claims["i"]),
        action=claims["a"],
        user_id=user.id,
        via="mattermost",
        now=utcnow(),
        others_allowed=others,
    )
    if not result.changed:
        return {"ephemeral_text": result.message}
    return {
        "ephemeral_text": result.message,
        "update": {"message": f"{user.name}: {result.message}"},
    }


@router.post("/command")
async def mattermost_command(request: Request, session: SessionDep) -> dict[str, Any]:
    """The `/stairway` slash command: `link CODE` links the account that typed it."""
    form = dict(parse_qsl((await request.body()).decode(errors="replace")))
    secret = request.app.state.settings.mattermost_command_token.get_secret_value()
    sent = form.get("token", "")
    if not secret or not hmac.compare_digest(secret.encode(), sent.encode()):
        raise Unauthorized("invalid slash command token")
    verb, _, code = form.get("text", "").strip().partition(" ")
    if verb.lower() != "link" or not code.strip():
        return {"response_type": "ephemeral", "text": "Usage: /stairway link CODE"}
    user = await complete_link(
        session=session,
        kind="mattermost",
        external_id=form.get("user_id", ""),
        code=code.strip(),
        now=utcnow(),
    )
    if user is None:
        text = "That link code is wrong or has expired; get a new one on your Stairway profile."
    else:
        text = f"This Mattermost account is now linked to Stairway user {user.name}."
    return {"response_type": "ephemeral", "text": text}
