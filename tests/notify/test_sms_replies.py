"""SMS replies through Twilio's inbound webhook act as the owner of the sending number."""

import asyncio
import base64
import hashlib
import hmac
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col

from app.models import User
from tests.factories import Api
from tests.notify.helpers import paged_user, status, types, until_waiting_on_a_lock
from tests.provider_support import TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN
from tests.support import JobTracker

pytestmark = pytest.mark.usefixtures("worker")

URL = "http://stairway.test/integrations/twilio/sms"


def sms(
    sender: str, text: str, *, token: str = TWILIO_TOKEN, url: str = URL, sid: str | None = None
) -> dict[str, Any]:
    """An inbound-message request as Twilio sends it, signed over URL + sorted parameters."""
    params = {
        "MessageSid": sid or f"SM{uuid.uuid4().hex}",
        "AccountSid": TWILIO_SID,
        "From": sender,
        "To": TWILIO_FROM,
        "Body": text,
        "NumMedia": "0",
    }
    data = url + "".join(k + v for k, v in sorted(params.items()))
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": base64.b64encode(digest).decode(),
    }
    return {"content": urlencode(params), "headers": headers}


async def reply(client: httpx.AsyncClient, request: dict[str, Any]) -> str:
    response = await client.post("/integrations/twilio/sms", **request)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    return response.text


async def _setup(api: Api, phone: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    ada = await paged_user(api, "Ada", "sms", phone)
    policy = await api.policy([(600, [ada["id"]])], name=name)
    service = await api.service(policy["id"], name=name)
    return ada, service


async def test_ack_and_resolve_by_number_act_as_the_phone_s_owner(
    api: Api, client: httpx.AsyncClient
) -> None:
    ada, service = await _setup(api, "+14155550201", "sms-ack")
    incident = await api.trigger(service["id"])
    number = incident["number"]
    answer = await reply(client, sms("+14155550201", f"ACK {number}"))
    assert f"<Message>Stairway: Incident #{number} acknowledged: p99 latency &gt; 2s" in answer
    current = await api.get(f"/incidents/{incident['id']}")
    assert current["status"] == "acknowledged"
    assert current["acknowledged_by"] == {
        "type": "user",
        "id": ada["id"],
        "name": "Ada",
        "via": "sms",
    }
    answer = await reply(client, sms("+14155550201", f" resolve #{number}. "))
    assert f"Incident #{number} resolved" in answer
    assert await status(api, incident) == "resolved"


async def test_ack_all_acknowledges_every_triggered_incident_the_user_was_paged_for(
    api: Api, client: httpx.AsyncClient, jobs: JobTracker
) -> None:
    _, service = await _setup(api, "+14155550202", "sms-all")
    first = await api.trigger(service["id"], dedup_key="a")
    second = await api.trigger(service["id"], dedup_key="b")
    bob = await api.user("Bob")
    other_policy = await api.policy([(600, [bob["id"]])], name="bob-only")
    other = await api.trigger((await api.service(other_policy["id"], name="bob"))["id"])
    for incident in (first, second, other):
        await jobs.step_applied(incident["id"], 0)
    answer = await reply(client, sms("+14155550202", "ack all"))
    numbers = sorted([first["number"], second["number"]])
    assert "Stairway: acknowledged " in answer
    assert all(f"#{n}" in answer for n in numbers)
    assert await status(api, first) == "acknowledged"
    assert await status(api, second) == "acknowledged"
    assert await status(api, other) == "triggered", "Ada was never paged for it"
    assert "nothing to acknowledge" in await reply(client, sms("+14155550202", "ack all"))


async def test_unknown_commands_numbers_and_incidents_get_a_short_answer(
    api: Api, client: httpx.AsyncClient
) -> None:
    _, service = await _setup(api, "+14155550203", "sms-help")
    incident = await api.trigger(service["id"])
    help_text = await reply(client, sms("+14155550203", "what is going on?"))
    assert "<Message>Stairway: reply 'ack 42' or 'resolve 42'" in help_text
    assert "there is no incident #99999" in await reply(client, sms("+14155550203", "ack 99999"))
    stranger = await reply(client, sms("+14155550999", f"ack {incident['number']}"))
    assert "not linked to a responder; nothing was changed" in stranger
    assert await status(api, incident) == "triggered"


async def test_bad_signature_or_replayed_message_changes_nothing(
    api: Api, client: httpx.AsyncClient
) -> None:
    _, service = await _setup(api, "+14155550204", "sms-forged")
    incident = await api.trigger(service["id"])
    text = f"resolve {incident['number']}"
    forged = sms("+14155550204", text, token="not-the-auth-token")
    other_url = sms("+14155550204", text, url="http://evil.test/integrations/twilio/sms")
    unsigned = {
        "content": forged["content"],
        "headers": {"Content-Type": forged["headers"]["Content-Type"]},
    }
    for request in (forged, other_url, unsigned):
        response = await client.post("/integrations/twilio/sms", **request)
        assert response.status_code == 403
    assert await status(api, incident) == "triggered"

    genuine = sms("+14155550204", text)
    assert "resolved" in await reply(client, genuine)
    replayed = await reply(client, genuine)
    assert replayed == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    assert types(await api.timeline(incident["id"])).count("resolved") == 1


async def test_a_user_demoted_while_the_reply_is_handled_is_refused(
    api: Api, client: httpx.AsyncClient, app: Any
) -> None:
    ada, service = await _setup(api, "+14155550209", "sms-demoted")
    incident = await api.trigger(service["id"])
    async with app.state.sessions() as admin, admin.begin():
        # Committed while the reply is handled: the reply must wait for it, then see it.
        await admin.execute(update(User).where(col(User.id) == ada["id"]).values(role="observer"))
        acting = asyncio.ensure_future(
            reply(client, sms("+14155550209", f"ack {incident['number']}"))
        )
        await until_waiting_on_a_lock(app)
    assert "Ada is an observer in Stairway; only responders and admins" in await acting
    assert await status(api, incident) == "triggered"
    assert "not linked to a responder" in await reply(
        client, sms("+14155550209", f"ack {incident['number']}")
    )
