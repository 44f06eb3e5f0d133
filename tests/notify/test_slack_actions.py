"""Slack buttons: a signed click acts as the linked user; bad, stale or replayed ones do nothing."""

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col

from app.models import User
from tests.factories import Api
from tests.notify.helpers import incident_for, paged_user, status, types, until_waiting_on_a_lock
from tests.provider_support import SLACK_SIGNING_SECRET
from tests.support import HttpSink

pytestmark = pytest.mark.usefixtures("worker")


def signed(
    payload: dict[str, Any], *, secret: str = SLACK_SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, Any]:
    """The request Slack would send: form-encoded payload, v0 signature over timestamp + body."""
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={mac}",
    }
    return {"content": body, "headers": headers}


def click(button: dict[str, Any], slack_user: dict[str, Any], response_url: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": slack_user,
        "team": {"id": "T0001"},
        "actions": [{**button, "block_id": "stairway_actions", "action_ts": str(time.time())}],
        "response_url": response_url,
        "trigger_id": "1.2.3",
    }


async def _slack_page(
    api: Api, sink: HttpSink, name: str, **user_fields: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]:
    path = f"/slack/{name}"
    ada = await paged_user(api, "Ada", "slack", sink.url(path), **user_fields)
    incident = await incident_for(api, ada, name=name)
    [message] = await sink.wait_count(path, 1)
    buttons = {b["action_id"]: b for b in message.json()["blocks"][-1]["elements"]}
    return ada, incident, buttons


async def test_a_signed_click_acknowledges_as_the_linked_user_and_answers_in_slack(
    api: Api, sink: HttpSink, client: httpx.AsyncClient
) -> None:
    ada, incident, buttons = await _slack_page(api, sink, "click", slack_user_id="U0ADA")
    reply_to = sink.url("/slack-reply/click")
    payload = click(buttons["stairway_acknowledge"], {"id": "U0ADA", "name": "ada"}, reply_to)
    response = await client.post("/integrations/slack/actions", **signed(payload))
    assert response.status_code == 200
    assert response.json()["ok"] is True
    current = await api.get(f"/incidents/{incident['id']}")
    assert current["status"] == "acknowledged"
    assert current["acknowledged_by"] == {
        "type": "user",
        "id": ada["id"],
        "name": "Ada",
        "via": "slack",
    }
    [reply] = await sink.wait_count("/slack-reply/click", 1)
    assert reply.json() == {
        "response_type": "in_channel",
        "replace_original": False,
        "text": f"Ada: Incident #{incident['number']} acknowledged: p99 latency > 2s",
    }


async def test_the_slack_user_may_be_matched_by_email(
    api: Api, sink: HttpSink, client: httpx.AsyncClient
) -> None:
    _, incident, buttons = await _slack_page(api, sink, "email")
    slack_user = {"id": "U0OTHER", "name": "ada", "email": "ADA@example.com"}
    payload = click(buttons["stairway_resolve"], slack_user, sink.url("/slack-reply/email"))
    response = await client.post("/integrations/slack/actions", **signed(payload))
    assert response.status_code == 200
    assert await status(api, incident) == "resolved"


async def test_bad_signature_stale_timestamp_and_replay_change_nothing(
    api: Api, sink: HttpSink, client: httpx.AsyncClient
) -> None:
    _, incident, buttons = await _slack_page(api, sink, "forged", slack_user_id="U0ADA2")
    payload = click(buttons["stairway_resolve"], {"id": "U0ADA2"}, sink.url("/slack-reply/f"))
    forged = signed(payload, secret="not-the-signing-secret")
    stale = signed(payload, timestamp=int(time.time()) - 301)
    unsigned = {"content": forged["content"], "headers": {"Content-Type": "text/plain"}}
    for request in (forged, stale, unsigned):
        response = await client.post("/integrations/slack/actions", **request)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
    assert await status(api, incident) == "triggered"

    genuine = signed(click(buttons["stairway_acknowledge"], {"id": "U0ADA2"}, ""))
    assert (await client.post("/integrations/slack/actions", **genuine)).status_code == 200
    replayed = await client.post("/integrations/slack/actions", **genuine)
    assert replayed.status_code == 401
    assert types(await api.timeline(incident["id"])).count("acknowledged") == 1
    assert sink.at("/slack-reply/f") == []


async def test_an_unknown_or_observer_slack_user_is_refused(
    api: Api, sink: HttpSink, client: httpx.AsyncClient
) -> None:
    _, incident, buttons = await _slack_page(api, sink, "stranger")
    await api.post(
        "/users",
        {
            "name": "Olive",
            "email": "olive@example.com",
            "role": "observer",
            "slack_user_id": "U0OLIVE",
        },
    )
    reply_to = sink.url("/slack-reply/stranger")
    for slack_user in ({"id": "U0NOBODY", "name": "eve"}, {"id": "U0OLIVE", "name": "olive"}):
        payload = click(buttons["stairway_acknowledge"], slack_user, reply_to)
        response = await client.post("/integrations/slack/actions", **signed(payload))
        assert response.status_code == 200
        assert response.json()["ok"] is False
    assert await status(api, incident) == "triggered"
    replies = await sink.wait_count("/slack-reply/stranger", 2)
    assert all(r.json()["response_type"] == "ephemeral" for r in replies)
    assert "not linked to a Stairway responder" in replies[0].json()["text"]


async def test_a_click_on_an_unknown_incident_says_so(
    api: Api, sink: HttpSink, client: httpx.AsyncClient
) -> None:
    await api.post("/users", {"name": "Ada", "email": "ada@example.com", "slack_user_id": "U0A"})
    button = {"action_id": "stairway_acknowledge", "value": f"acknowledge:{uuid.uuid4()}"}
    payload = click(button, {"id": "U0A"}, sink.url("/slack-reply/unknown"))
    response = await client.post("/integrations/slack/actions", **signed(payload))
    assert response.json() == {"ok": False, "text": "Incident not found; nothing changed."}


async def test_a_user_demoted_while_the_click_is_handled_is_refused(
    api: Api, sink: HttpSink, client: httpx.AsyncClient, app: Any
) -> None:
    ada, incident, buttons = await _slack_page(api, sink, "demoted", slack_user_id="U0DEMOTED")
    reply_to = sink.url("/slack-reply/demoted")
    payload = click(buttons["stairway_acknowledge"], {"id": "U0DEMOTED"}, reply_to)
    async with app.state.sessions() as admin, admin.begin():
        # Committed while the click is handled: the click must wait for it, then see it.
        await admin.execute(update(User).where(col(User.id) == ada["id"]).values(role="observer"))
        acting = asyncio.ensure_future(
            client.post("/integrations/slack/actions", **signed(payload))
        )
        await until_waiting_on_a_lock(app)
    response = await acting
    assert response.json()["ok"] is False
    assert "Ada is an observer in Stairway" in response.json()["text"]
    assert await status(api, incident) == "triggered"
    [answer] = await sink.wait_count("/slack-reply/demoted", 1)
    assert answer.json()["response_type"] == "ephemeral"
