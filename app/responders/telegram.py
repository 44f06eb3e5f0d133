"""The Telegram bot's webhook: button presses act as the linked user; `/link CODE` links.

Telegram calls the webhook with the `secret_token` it was set with in
`X-Telegram-Bot-Api-Secret-Token`; anything else is refused. The answer goes back in the
webhook's response as a Bot API method call (`answerCallbackQuery`, `sendMessage`), so no
outbound request is needed.
"""

import hmac
import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request

from app import jsonsafe
from app.db import SessionDep
from app.errors import Unauthorized, field_error
from app.models import utcnow
from app.notify.telegram import ACTION_CODES
from app.responders.actions import act, refusal
from app.responders.nonces import use_once
from app.store.incidents import get_incident
from app.teams.access import others_allowed
from app.users.chat_links import complete_link, linked_user

router = APIRouter(prefix="/integrations/telegram", tags=["responding"], include_in_schema=False)

ACTIONS_BY_CODE = {code: action for action, code in ACTION_CODES.items()}
LINK_COMMANDS = ("/link", "/start")
# Telegram gives up redelivering an update after about a day.
UPDATE_MEMORY = timedelta(days=2)
NOT_LINKED = (
    "Your Telegram account is not linked to a Stairway user, so nothing was changed. "
    "Get a link code on your Stairway profile and send /link CODE here."
)


def _verified(request: Request) -> bool:
    secret = request.app.state.settings.telegram_webhook_secret.get_secret_value()
    sent = request.headers.get("x-telegram-bot-api-secret-token", "")
    return bool(secret) and hmac.compare_digest(secret.encode(), sent.encode())


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@router.post("/webhook")
async def telegram_webhook(request: Request, session: SessionDep) -> dict[str, Any]:
    """Verify the secret token, then handle a button press or a link command."""
    if not _verified(request):
        raise Unauthorized("invalid X-Telegram-Bot-Api-Secret-Token")
    try:
        update = jsonsafe.loads(await request.body())
    except ValueError as exc:
        raise field_error("body", "expected a Telegram update (JSON)") from exc
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        raise field_error("update_id", "expected a Telegram update with an update_id")
    now = utcnow()
    # Telegram redelivers an update until it gets a 200: each one acts once.
    if not await use_once(
        session, f"telegram:{update['update_id']}", expires_at=now + UPDATE_MEMORY
    ):
        return {}
    if "callback_query" in update:
        others = others_allowed(request)
        return await _pressed(session, _object(update["callback_query"]), others_allowed=others)
    message = _object(update.get("message"))
    command, _, code = str(message.get("text", "")).strip().partition(" ")
    if command.split("@")[0] in LINK_COMMANDS and code.strip():
        return await _link(session, message, code.strip())
    return {}


async def _pressed(session: Any, query: dict[str, Any], *, others_allowed: bool) -> dict[str, Any]:
    answer: dict[str, Any] = {"method": "answerCallbackQuery", "callback_query_id": query.get("id")}
    code, _, incident = str(query.get("data", "")).partition(":")
    action = ACTIONS_BY_CODE.get(code)
    try:
        incident_id = uuid.UUID(incident)
    except ValueError:
        action = None
    sender = _object(query.get("from")).get("id")
    if action is None or not isinstance(sender, int):
        return {**answer, "text": "This button is not one Stairway sent."}
    user = await linked_user(session=session, kind="telegram", external_id=str(sender))
    if user is None:
        return {**answer, "text": NOT_LINKED, "show_alert": True}
    incident_row = await get_incident(session, incident_id)
    refused = incident_row and await refusal(
        session, user, incident_row, others_allowed=others_allowed
    )
    if refused:
        return {**answer, "text": refused[:200], "show_alert": True}
    result = await act(
        session=session,
        incident_id=incident_id,
        action=action,
        user_id=user.id,
        via="telegram",
        now=utcnow(),
        others_allowed=others_allowed,
    )
    return {**answer, "text": result.message[:200]}


async def _link(session: Any, message: dict[str, Any], code: str) -> dict[str, Any]:
    sender = _object(message.get("from")).get("id")
    chat = _object(message.get("chat")).get("id")
    if not isinstance(sender, int):
        return {}
    user = await complete_link(
        session=session, kind="telegram", external_id=str(sender), code=code, now=utcnow()
    )
    if user is None:
        text = "That link code is wrong or has expired; get a new one on your Stairway profile."
    else:
        text = f"This Telegram account is now linked to Stairway user {user.name}."
    return {"method": "sendMessage", "chat_id": chat, "text": text}
