"""SMS replies through Twilio's inbound webhook: `ack 42`, `resolve 42`, `ack all`."""

import base64
import hashlib
import hmac
import re
from datetime import timedelta
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import SessionDep
from app.errors import Forbidden
from app.models import ContactMethod, User, utcnow
from app.responders import docs
from app.responders.actions import act, may_respond_somewhere
from app.responders.nonces import use_once
from app.store import listing
from app.teams.access import others_allowed

router = APIRouter(prefix="/integrations/twilio", tags=["responding"])

COMMAND = re.compile(
    r"^\s*(?P<verb>ack|acknowledge|a|resolve|res|r)\s*#?\s*(?P<what>\d{1,18}|all)\s*[.!]?\s*$",
    re.IGNORECASE,
)
HELP = "Stairway: reply 'ack 42' or 'resolve 42' (42 = incident number), or 'ack all'."
ACK_ALL_LIMIT = 100


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """base64(HMAC-SHA1(auth token, URL + every parameter name and value, sorted by name))."""
    data = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(
        hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    ).decode()


def twiml(message: str | None) -> Response:
    """A TwiML answer, with a reply SMS if `message` is given."""
    inner = f"<Message>{escape(message)}</Message>" if message else ""
    doc = f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>'
    return Response(doc, media_type="text/xml")


async def _owner(session: AsyncSession, phone: str) -> User | None:
    """The one user with a verified SMS contact method at this number (a shared number maps to
    nobody)."""
    users = (
        await session.scalars(
            select(User)
            .join(ContactMethod, col(ContactMethod.user_id) == col(User.id))
            .where(col(ContactMethod.type) == "sms", col(ContactMethod.address) == phone)
            # An unverified number is not proven to be the user's: its replies act as nobody.
            .where(col(ContactMethod.verified_at).is_not(None))
            .distinct()
            .limit(2)
        )
    ).all()
    return users[0] if len(users) == 1 else None


async def _ack_all(session: AsyncSession, user: User, *, others_allowed: bool) -> str:
    numbers = []
    paged = await listing.triggered_paging(session, user_id=user.id, limit=ACK_ALL_LIMIT)
    for incident_id in paged:
        result = await act(
            session=session,
            incident_id=incident_id,
            action="acknowledge",
            user_id=user.id,
            via="sms",
            now=utcnow(),
            others_allowed=others_allowed,
        )
        if result.refused:
            return f"Stairway: {result.message}"
        if result.changed and result.incident is not None:
            numbers.append(f"#{result.incident.number}")
    if not numbers:
        return "Stairway: nothing to acknowledge."
    return f"Stairway: acknowledged {', '.join(numbers)}."


@router.post("/sms", **docs.TWILIO_SMS)
async def twilio_sms(request: Request, session: SessionDep) -> Response:
    """Verify Twilio's signature, find the sender's user, run the command, answer in TwiML."""
    token = request.app.state.settings.twilio_auth_token.get_secret_value()
    raw = await request.body()
    try:
        params = parse_qsl(raw.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        params = []
    # Twilio signs the URL it called: the public URL, not whatever a proxy forwarded to us.
    public = request.app.state.settings.public_url.rstrip("/")
    url = public + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    signature = request.headers.get("x-twilio-signature", "")
    expected = twilio_signature(token, url, params)
    if not token or not hmac.compare_digest(expected.encode(), signature.encode()):
        raise Forbidden("invalid Twilio signature")
    form = dict(params)
    message_sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if not message_sid:
        return twiml(None)
    # Twilio retries a webhook it timed out on: the same message acts once.
    if not await use_once(
        session, f"twilio:{message_sid}", expires_at=utcnow() + timedelta(days=2)
    ):
        return twiml(None)
    others = others_allowed(request)
    reply = await sms_reply(
        session, sender=form.get("From", ""), body=form.get("Body", ""), others_allowed=others
    )
    return twiml(reply)


async def sms_reply(session: AsyncSession, *, sender: str, body: str, others_allowed: bool) -> str:
    """Run an SMS command from `sender` as the user who owns that number; the reply's text.

    The commands are the same whichever gateway delivered the message (Twilio, Vonage).
    """
    user = await _owner(session, sender)
    if user is None or not await may_respond_somewhere(session, user):
        return "Stairway: this number is not linked to a responder; nothing was changed."
    command = COMMAND.match(body)
    if command is None:
        return HELP
    verb, what = command["verb"].lower(), command["what"].lower()
    action = "resolve" if verb.startswith("r") else "acknowledge"
    if what == "all":
        return (
            await _ack_all(session, user, others_allowed=others_allowed)
            if action == "acknowledge"
            else HELP
        )
    number = int(what)
    incident_id = (await listing.ids_by_number(session, numbers=[number])).get(number)
    if incident_id is None:
        return f"Stairway: there is no incident #{what}."
    result = await act(
        session=session,
        incident_id=incident_id,
        action=action,
        user_id=user.id,
        via="sms",
        now=utcnow(),
        others_allowed=others_allowed,
    )
    return f"Stairway: {result.message}"
