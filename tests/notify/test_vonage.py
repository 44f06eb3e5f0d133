"""Vonage as the SMS/voice gateway: the real providers against stand-ins speaking the SMS and
Voice APIs (classification per service), and inbound SMS replies verified by Vonage's message
signature acting once as the sender's user."""

import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from app.config import Settings
from app.notify import registry
from app.notify.base import Outcome
from app.responders.vonage import vonage_signature
from tests.factories import Api
from tests.faults.harness import eventually
from tests.notify.helpers import delete_paged_user, incident_for, page, paged_user, status
from tests.notify.services import (
    VONAGE_SECRET,
    VONAGE_SIGNATURE_SECRET,
    Services,
)
from tests.provider_support import TWILIO_SID
from tests.support import HttpSink

SENDER = "+14155550142"
OWN_NUMBER = "+14155550143"


async def test_vonage_sms_is_sent_and_refusals_are_classified(
    vonage: Settings, services: Services
) -> None:
    async with httpx.AsyncClient() as client:
        sms = registry.build_providers(client, vonage)["sms"]
        sent = await sms.send(page("sms", "+14155550161", title="vonage-disk-full"))
        assert sent.outcome is Outcome.SENT, sent
        assert sent.detail.startswith("HTTP 200 message-id ")
        [call] = services.about("vonage-sms", "vonage-disk-full")
        form = call.form()
        assert (form["to"], form["from"]) == ("14155550161", "14155550100")
        assert form["text"].startswith("[Stairway] #42 CRITICAL: vonage-disk-full")

        throttled = {"messages": [{"status": "1", "error-text": "Throughput Rate Exceeded"}]}
        services.answer("14155550162", 200, throttled)
        busy = await sms.send(page("sms", "+14155550162"))
        assert (busy.outcome, busy.detail) == (
            Outcome.TRANSIENT,
            "HTTP 200 status 1: Throughput Rate Exceeded",
        )
        services.answer("14155550163", 500, {"error": "down"})
        assert (await sms.send(page("sms", "+14155550163"))).outcome is Outcome.TRANSIENT
        wrong = registry.build_providers(
            client, vonage.model_copy(update={"vonage_api_secret": SecretStr("nope")})
        )["sms"]
        refused = await wrong.send(page("sms", "+14155550164"))
        assert (refused.outcome, refused.detail) == (
            Outcome.PERMANENT,
            "HTTP 200 status 4: Bad Credentials",
        )
        assert VONAGE_SECRET not in refused.detail


async def test_vonage_calls_carry_a_signed_application_jwt(
    vonage: Settings, services: Services, vonage_private_key: rsa.RSAPrivateKey
) -> None:
    async with httpx.AsyncClient() as client:
        voice = registry.build_providers(client, vonage)["voice"]
        sent = await voice.send(page("voice", "+14155550171", title="vonage-call"))
        assert sent.outcome is Outcome.SENT, sent
        assert " started" in sent.detail
        [call] = services.about("vonage-voice", "vonage-call")
        [talk] = call.json()["ncco"]
        assert talk["action"] == "talk"
        assert talk["loop"] == 2
        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged_pem = other_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        forged = registry.build_providers(
            client, vonage.model_copy(update={"vonage_private_key": SecretStr(forged_pem)})
        )["voice"]
        refused = await forged.send(page("voice", "+14155550172"))
        assert (refused.outcome, refused.detail) == (
            Outcome.PERMANENT,
            "HTTP 401 Unauthorized: You did not provide correct credentials.",
        )
        services.answer("14155550173", 429, {"title": "Too Many Requests"})
        assert (await voice.send(page("voice", "+14155550173"))).outcome is Outcome.TRANSIENT


def signed(params: dict[str, str], *, secret: str = VONAGE_SIGNATURE_SECRET) -> dict[str, str]:
    stamped = {**params, "timestamp": str(int(time.time()))}
    return {**stamped, "sig": vonage_signature(secret, "sha256", stamped)}


def inbound(message_id: str, text: str, sender: str = SENDER) -> dict[str, str]:
    return {
        "msisdn": sender.removeprefix("+"),
        "to": "14155550100",
        "messageId": message_id,
        "text": text,
        "type": "text",
        "keyword": text.split()[0].upper(),
        "message-timestamp": "2026-12-02 12:00:00",
    }


@pytest.mark.usefixtures("worker")
async def test_a_signed_vonage_reply_acknowledges_once_as_the_sender(
    api: Api, client: httpx.AsyncClient, sink: HttpSink
) -> None:
    ada = await paged_user(api, "Ada", "sms", SENDER)
    incident = await incident_for(api, ada, name="vonage-in", title="vonage reply")
    url = "/integrations/vonage/sms"
    text = f"ack {incident['number']}"
    forged = signed(inbound("0B00000001", text), secret="not-the-secret")
    assert (await client.post(url, data=forged)).status_code == 403
    stale = {**inbound("0B00000002", text), "timestamp": str(int(time.time()) - 3600)}
    stale["sig"] = vonage_signature(VONAGE_SIGNATURE_SECRET, "sha256", stale)
    assert (await client.post(url, data=stale)).status_code == 403
    assert await status(api, incident) == "triggered"

    reply_path = f"/twilio/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    before = len(sink.at(reply_path))
    good = signed(inbound("0B00000003", text))
    assert (await client.post(url, data=good)).status_code == 204
    assert await status(api, incident) == "acknowledged"
    [acked] = [i for i in await api.timeline(incident["id"]) if i["type"] == "acknowledged"]
    assert acked["actor"] == {"type": "user", "id": ada["id"], "name": "Ada", "via": "sms"}
    replies = await sink.wait_count(reply_path, before + 1)
    reply: dict[str, Any] = dict(
        pair.split("=", 1) for pair in replies[-1].body.decode().split("&")
    )
    assert reply["To"] == "%2B14155550142"
    assert "acknowledged" in reply["Body"]

    # The same message again (Vonage retrying) changes nothing and sends no second reply.
    assert (await client.get(url, params=good)).status_code == 204
    timeline = await api.timeline(incident["id"])
    assert [i["type"] for i in timeline].count("acknowledged") == 1
    assert len(sink.at(reply_path)) == before + 1


async def test_a_reply_from_an_unverified_number_acts_as_nobody(
    api: Api, client: httpx.AsyncClient
) -> None:
    eve = await api.user("Eve")
    await api.post(f"/users/{eve['id']}/contact-methods", {"type": "sms", "address": SENDER})
    ada = await paged_user(api, "Ada", "webhook", "http://127.0.0.1:9/unused")
    incident = await incident_for(api, ada, name="vonage-unverified", title="unverified")
    good = signed(inbound("0B00000009", f"ack {incident['number']}"))
    assert (await client.post("/integrations/vonage/sms", data=good)).status_code == 204
    assert await status(api, incident) == "triggered"


@pytest.mark.usefixtures("worker")
async def test_a_reply_from_a_demoted_or_deleted_user_changes_nothing(
    api: Api, client: httpx.AsyncClient, sink: HttpSink
) -> None:
    # A number of its own: replies to one number are rate-limited, and earlier tests used SENDER.
    ada = await paged_user(api, "Ada", "sms", OWN_NUMBER)
    incident = await incident_for(api, ada, name="vonage-demoted", title="demoted reply")
    reply_path = f"/twilio/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    await api.patch(f"/users/{ada['id']}", {"role": "observer"})
    url = "/integrations/vonage/sms"
    demoted = signed(inbound("0B00000011", f"ack {incident['number']}", OWN_NUMBER))
    assert (await client.post(url, data=demoted)).status_code == 204

    # The page itself goes out through the same gateway: the refusal is the message that says so.
    async def refused() -> bool:
        texts = [httpx.QueryParams(r.body.decode())["Body"] for r in sink.at(reply_path)]
        return any(t.endswith("not linked to a responder; nothing was changed.") for t in texts)

    await eventually(refused, 15, "the refusal by SMS")
    assert await status(api, incident) == "triggered"

    await delete_paged_user(api, ada, incident)
    deleted = signed(inbound("0B00000012", f"ack {incident['number']}", OWN_NUMBER))
    assert (await client.post(url, data=deleted)).status_code == 204
    assert await status(api, incident) == "triggered"
    timeline = await api.timeline(incident["id"])
    assert "acknowledged" not in [i["type"] for i in timeline]
