"""SMS replies through Vonage's inbound-message webhook, verified by Vonage's message signature.

Vonage calls the number's inbound webhook (GET query or POST form/JSON) with `msisdn` (the
sender, without +), `text`, `messageId`, and, with signed messages turned on, `timestamp` and
`sig`: the hex HMAC (or salted MD5, for `md5hash`) of every other parameter as
`&name=value` sorted by name, with `&` and `=` in values written as `_`. The commands are those of
Twilio replies (`ack 42`, `resolve 42`, `ack all`); the answer goes back as an SMS through the
`sms` provider once the action has committed.
"""

import hashlib
import hmac
import time
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, BackgroundTasks, Request, Response

from app import jsonsafe
from app.config import Settings
from app.db import SessionDep
from app.errors import Forbidden
from app.models import utcnow
from app.notify.base import Notice, Provider
from app.notify.notices import notice_page
from app.notify.registry import send_page
from app.responders.nonces import use_once
from app.responders.twilio import sms_reply
from app.teams.access import others_allowed

router = APIRouter(prefix="/integrations/vonage", tags=["responding"], include_in_schema=False)

TOLERANCE_SECONDS = 300


def vonage_signature(secret: str, method: str, params: dict[str, str]) -> str:
    """Vonage's message signature of `params` (without `sig`), lower-case hex."""
    hasher: Any
    if method == "md5hash":
        hasher = hashlib.md5()  # Vonage's legacy scheme: the secret is the salt
    else:
        hasher = hmac.new(secret.encode(), digestmod=method)
    for name in sorted(params):
        value = params[name].replace("&", "_").replace("=", "_")
        hasher.update(f"&{name}={value}".encode())
    if method == "md5hash":
        hasher.update(secret.encode())
    return str(hasher.hexdigest()).lower()


def verified(settings: Settings, params: dict[str, str], *, now: float) -> bool:
    """A signature made with our secret over these parameters, at most 5 minutes old."""
    secret = settings.vonage_signature_secret.get_secret_value()
    signature = params.get("sig", "").lower()
    if not secret or not signature:
        return False
    try:
        fresh = abs(int(now) - int(params.get("timestamp", ""))) <= TOLERANCE_SECONDS
    except ValueError:
        return False
    unsigned = {k: v for k, v in params.items() if k != "sig"}
    expected = vonage_signature(secret, settings.vonage_signature_method, unsigned)
    return fresh and hmac.compare_digest(expected.encode(), signature.encode())


async def _params(request: Request) -> dict[str, str]:
    params = dict(request.query_params)
    body = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            doc = jsonsafe.loads(body)
        except ValueError:
            doc = {}
        if isinstance(doc, dict):
            params.update({k: str(v) for k, v in doc.items() if not isinstance(v, dict | list)})
    elif body:
        params.update(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
    return params


async def _answer(providers: dict[str, Provider], to: str, reply: str, key: str) -> None:
    notice = Notice("sms_reply", "Stairway", reply.removeprefix("Stairway: "))
    page = notice_page(notice, channel="sms", address=to, user=None, idempotency_key=key)
    await send_page(providers, page)


@router.api_route("/sms", methods=["GET", "POST"])
async def vonage_sms(
    request: Request, session: SessionDep, background: BackgroundTasks
) -> Response:
    """Verify the signature, run the sender's command once, reply by SMS after commit."""
    params = await _params(request)
    if not verified(request.app.state.settings, params, now=time.time()):
        raise Forbidden("invalid or stale Vonage signature")
    message_id = params.get("messageId", "")
    # Vonage retries a webhook that did not answer 200: the same message acts once.
    if not message_id or not await use_once(
        session, f"vonage:{message_id}", expires_at=utcnow() + timedelta(days=2)
    ):
        return Response(status_code=204)
    sender = "+" + params.get("msisdn", "").removeprefix("+")
    others = others_allowed(request)
    reply = await sms_reply(
        session, sender=sender, body=params.get("text", ""), others_allowed=others
    )
    # Background tasks run after the response, so after the request's transaction committed.
    background.add_task(_answer, request.app.state.providers, sender, reply, f"reply:{message_id}")
    return Response(status_code=204)
