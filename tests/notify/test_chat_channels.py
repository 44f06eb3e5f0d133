"""Telegram and Mattermost end to end: a worker pages through the real provider to a stand-in
speaking the service's API; an account is linked with a one-time code sent through the chat,
button presses act as the linked user, and a demoted or deleted one is refused."""

import itertools
from typing import Any

import httpx
import pytest

from tests.factories import Api
from tests.notify.helpers import delete_paged_user, incident_for, paged_user, status
from tests.notify.services import (
    MATTERMOST_COMMAND_TOKEN,
    TELEGRAM_CHAT,
    TELEGRAM_WEBHOOK_SECRET,
    Services,
)

pytestmark = pytest.mark.usefixtures("worker")

WEBHOOK = "/integrations/telegram/webhook"
ACCOUNT = 424242
updates = itertools.count(1000)


async def deliver(
    client: httpx.AsyncClient, update: dict[str, Any], secret: str = TELEGRAM_WEBHOOK_SECRET
) -> httpx.Response:
    """Telegram calling the bot's webhook with one update."""
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
    return await client.post(WEBHOOK, json={"update_id": next(updates), **update}, headers=headers)


def press(data: str, sender: int = ACCOUNT) -> dict[str, Any]:
    user = {"id": sender, "is_bot": False, "first_name": "Ada"}
    message = {"message_id": 7, "chat": {"id": int(TELEGRAM_CHAT), "type": "private"}}
    return {"callback_query": {"id": f"cq{sender}", "from": user, "message": message, "data": data}}


def said(text: str, sender: int = ACCOUNT) -> dict[str, Any]:
    user = {"id": sender, "is_bot": False, "first_name": "Ada"}
    chat = {"id": sender, "type": "private"}
    return {"message": {"message_id": 3, "from": user, "chat": chat, "text": text}}


async def link(api: Api, client: httpx.AsyncClient, user: dict[str, Any]) -> None:
    headers = await api.key_for(user)
    response = await client.post(f"/api/v1/users/{user['id']}/chat-links/telegram", headers=headers)
    assert response.status_code == 201, response.text
    code = response.json()["code"]
    assert response.json()["how"] == f"Send /link {code} to the Stairway bot in Telegram."
    linked = await deliver(client, said(f"/link {code}"))
    assert linked.json() == {
        "method": "sendMessage",
        "chat_id": ACCOUNT,
        "text": f"This Telegram account is now linked to Stairway user {user['name']}.",
    }
    # The code is good once.
    again = await deliver(client, said(f"/link {code}", sender=ACCOUNT + 1))
    assert "wrong or has expired" in again.json()["text"]


async def test_a_telegram_page_has_buttons_that_act_as_the_linked_user(
    api: Api, client: httpx.AsyncClient, services: Services
) -> None:
    ada = await paged_user(api, "Ada", "telegram", TELEGRAM_CHAT)
    incident = await incident_for(api, ada, name="tg-ack", title="tg disk full")
    [call] = await services.wait_about("telegram", "tg disk full")
    body = call.json()
    assert body["chat_id"] == TELEGRAM_CHAT
    assert body["parse_mode"] == "HTML"
    assert body["text"].startswith(f"<b>#{incident['number']} [")
    [[ack, resolve]] = body["reply_markup"]["inline_keyboard"]
    assert ack == {"text": "Acknowledge", "callback_data": f"a:{incident['id']}"}
    assert resolve["callback_data"] == f"r:{incident['id']}"

    refused = await deliver(client, press(ack["callback_data"]), secret="wrong")
    assert refused.status_code == 401
    unlinked = await deliver(client, press(ack["callback_data"]))
    assert "not linked" in unlinked.json()["text"]
    assert await status(api, incident) == "triggered"

    await link(api, client, ada)
    pressed = await deliver(client, press(ack["callback_data"]))
    assert pressed.json()["method"] == "answerCallbackQuery"
    assert pressed.json()["callback_query_id"] == f"cq{ACCOUNT}"
    assert pressed.json()["text"].startswith(f"Incident #{incident['number']} acknowledged")
    assert await status(api, incident) == "acknowledged"
    [acked] = [i for i in await api.timeline(incident["id"]) if i["type"] == "acknowledged"]
    assert acked["actor"] == {"type": "user", "id": ada["id"], "name": "Ada", "via": "telegram"}


async def test_a_replayed_update_acts_once_and_the_bot_token_stays_off_the_timeline(
    api: Api, client: httpx.AsyncClient, services: Services
) -> None:
    ada = await paged_user(api, "Ada", "telegram", TELEGRAM_CHAT)
    incident = await incident_for(api, ada, name="tg-once", title="tg replay")
    await services.wait_about("telegram", "tg replay")
    await link(api, client, ada)
    update = {"update_id": next(updates), **press(f"r:{incident['id']}")}
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_WEBHOOK_SECRET}
    first = await client.post(WEBHOOK, json=update, headers=headers)
    assert "resolved" in first.json()["text"]
    second = await client.post(WEBHOOK, json=update, headers=headers)
    assert second.json() == {}
    timeline = await api.timeline(incident["id"])
    assert [i["type"] for i in timeline].count("resolved") == 1
    assert "AAtelegramTestBotToken" not in str(timeline)


async def test_telegram_presses_are_refused_for_a_demoted_or_deleted_user(
    api: Api, client: httpx.AsyncClient, services: Services
) -> None:
    ada = await paged_user(api, "Ada", "telegram", TELEGRAM_CHAT)
    incident = await incident_for(api, ada, name="tg-demoted", title="tg demoted")
    await services.wait_about("telegram", "tg demoted")
    await link(api, client, ada)
    demote = await client.patch(
        f"/api/v1/users/{ada['id']}", json={"role": "observer"}, headers=api.headers
    )
    assert demote.status_code == 200
    refused = await deliver(client, press(f"a:{incident['id']}"))
    assert "only responders and admins" in refused.json()["text"]
    assert await status(api, incident) == "triggered"
    await delete_paged_user(api, ada, incident)
    gone = await deliver(client, press(f"a:{incident['id']}"))
    assert "not linked" in gone.json()["text"]
    assert await status(api, incident) == "triggered"


MM_ACCOUNT = "mm4uf6ybrtgfmx7pjq3kd8wz9c"


async def mm_link(api: Api, client: httpx.AsyncClient, user: dict[str, Any]) -> None:
    code = (await api.post(f"/users/{user['id']}/chat-links/mattermost", {}))["code"]
    form = {
        "token": MATTERMOST_COMMAND_TOKEN,
        "user_id": MM_ACCOUNT,
        "user_name": "ada",
        "command": "/stairway",
        "text": f"link {code}",
    }
    wrong = await client.post("/integrations/mattermost/command", data={**form, "token": "no"})
    assert wrong.status_code == 401
    linked = await client.post("/integrations/mattermost/command", data=form)
    assert linked.json() == {
        "response_type": "ephemeral",
        "text": f"This Mattermost account is now linked to Stairway user {user['name']}.",
    }


def mm_press(button: dict[str, Any], account: str = MM_ACCOUNT) -> dict[str, Any]:
    return {
        "user_id": account,
        "user_name": "ada",
        "channel_id": "chan1",
        "team_id": "team1",
        "post_id": "post1",
        "trigger_id": "trigger1",
        "type": "",
        "context": button["integration"]["context"],
    }


async def test_mattermost_buttons_act_as_the_linked_user_and_refuse_others(
    api: Api, client: httpx.AsyncClient, services: Services
) -> None:
    ada = await paged_user(api, "Ada", "mattermost", services.url("/mattermost/hooks/mm-ada"))
    incident = await incident_for(api, ada, name="mm-ack", title="mm queue stuck")
    [call] = await services.wait_about("mattermost", "mm queue stuck")
    [attachment] = call.json()["attachments"]
    ack, resolve = attachment["actions"]
    assert ack["name"] == "Acknowledge"
    assert ack["integration"]["url"] == "http://stairway.test/integrations/mattermost/actions"

    actions = "/integrations/mattermost/actions"
    forged = {**mm_press(ack), "context": {"action": "acknowledge", "token": "forged.token"}}
    assert (await client.post(actions, json=forged)).status_code == 403
    unlinked = await client.post(actions, json=mm_press(ack))
    assert "not linked" in unlinked.json()["ephemeral_text"]
    assert await status(api, incident) == "triggered"

    await mm_link(api, client, ada)
    pressed = await client.post(actions, json=mm_press(ack))
    assert pressed.json()["update"]["message"].startswith(
        f"Ada: Incident #{incident['number']} acknowledged"
    )
    [acked] = [i for i in await api.timeline(incident["id"]) if i["type"] == "acknowledged"]
    assert acked["actor"] == {"type": "user", "id": ada["id"], "name": "Ada", "via": "mattermost"}

    demote = await client.patch(
        f"/api/v1/users/{ada['id']}", json={"role": "observer"}, headers=api.headers
    )
    assert demote.status_code == 200
    refused = await client.post(actions, json=mm_press(resolve))
    assert "only responders and admins" in refused.json()["ephemeral_text"]
    assert await status(api, incident) == "acknowledged"
    await delete_paged_user(api, ada, incident)
    gone = await client.post(actions, json=mm_press(resolve))
    assert "not linked" in gone.json()["ephemeral_text"]
    assert await status(api, incident) == "acknowledged"
