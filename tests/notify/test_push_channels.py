"""ntfy, Discord, Teams, Gotify, Matrix, Pushover and apprise pages, end to end: a worker pages
through the real provider to a loopback stand-in speaking that service's API, and a responder
acts from what arrived."""

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from app.notify import registry
from app.notify.base import Outcome
from app.notify.matrix import MatrixProvider
from tests.factories import Api
from tests.notify.helpers import (
    delete_paged_user,
    incident_for,
    page,
    paged_user,
    settled,
    status,
    types,
)
from tests.notify.services import (
    GOTIFY_TOKEN,
    MATRIX_ROOM,
    NTFY_TOKEN,
    PUSHOVER_USER,
    TEAMS_SIG,
    Services,
)
from tests.support import HttpSink, JobTracker

pytestmark = pytest.mark.usefixtures("worker")


def path_of(url: str) -> str:
    return urlsplit(url).path


async def final_failure(api: Api, jobs: JobTracker, incident: dict[str, Any]) -> dict[str, Any]:
    """The page's last failure, once the deliverer has recorded it."""

    async def failures() -> list[dict[str, Any]]:
        timeline = await api.timeline(incident["id"])
        return [i for i in timeline if i["type"] == "notification_failed" and i["details"]["final"]]

    async def recorded() -> bool:
        return bool(await failures())

    await jobs.until(recorded)
    [failed] = await failures()
    return failed


async def timeline_of(api: Api, app: Any, jobs: JobTracker, incident: dict[str, Any]) -> str:
    """The incident's timeline once its pages are settled, as the JSON the API returns."""
    await settled(app, jobs, incident["id"])
    return json.dumps(await api.timeline(incident["id"]))


async def test_an_ntfy_page_is_urgent_and_its_button_acknowledges_as_the_paged_user(
    api: Api, services: Services, client: httpx.AsyncClient, app: Any, jobs: JobTracker
) -> None:
    services.ntfy_protected.add("ada-pager")
    topic_url = services.url("/ntfy/ada-pager").replace("://", f"://:{NTFY_TOKEN}@")
    ada = await paged_user(api, "Ada", "ntfy", topic_url)
    incident = await incident_for(api, ada, name="ntfy", title="disk-full", source="node-7")
    [published] = await services.wait_about("ntfy", "disk-full")
    assert published.headers["authorization"] == f"Bearer {NTFY_TOKEN}"
    body = published.json()
    assert body["title"] == f"#{incident['number']} [CRITICAL] disk-full"
    assert "escalation level 1" in body["message"]
    assert "source node-7" in body["message"]
    assert body["priority"] == 5, "high urgency rings as urgent"
    assert body["tags"] == ["rotating_light", "critical"]
    acknowledge, resolve = body["actions"]
    assert (acknowledge["action"], acknowledge["method"], acknowledge["label"]) == (
        "http",
        "POST",
        "Acknowledge",
    )
    assert resolve["label"] == "Resolve"
    timeline = await timeline_of(api, app, jobs, incident)
    assert NTFY_TOKEN not in timeline
    assert "ada-pager" not in timeline, "on a public server the topic is the password"
    # The phone's ntfy app POSTs the button's URL.
    tapped = await client.post(path_of(acknowledge["url"]))
    assert tapped.status_code == 200
    assert await status(api, incident) == "acknowledged"
    [acked] = [i for i in await api.timeline(incident["id"]) if i["type"] == "acknowledged"]
    assert acked["actor"]["id"] == ada["id"]


async def test_a_low_urgency_ntfy_page_is_default_priority_and_a_bad_token_fails_for_good(
    api: Api, services: Services, app: Any, jobs: JobTracker
) -> None:
    bob = await paged_user(api, "Bob", "ntfy", services.url("/ntfy/bob-pager"))
    quiet = await incident_for(
        api, bob, name="ntfy-low", title="ntfy-low", urgency="low", severity="warning"
    )
    [published] = await services.wait_about("ntfy", "ntfy-low")
    assert published.json()["priority"] == 3
    assert published.json()["tags"][0] == "warning"
    await settled(app, jobs, quiet["id"])

    wrong = services.url("/ntfy/carol-pager").replace("://", "://:tk_wrong@")
    carol = await paged_user(api, "Carol", "ntfy", wrong)
    incident = await incident_for(api, carol, name="ntfy-bad-token")
    failed = await final_failure(api, jobs, incident)
    assert failed["details"]["final"] is True
    assert failed["details"]["attempt"] == 1
    assert failed["details"]["response"] == "HTTP 401 error 40101: unauthorized"


async def test_a_discord_page_has_an_embed_and_link_buttons_and_pings_nobody(
    api: Api, services: Services, app: Any, jobs: JobTracker
) -> None:
    webhook = services.url("/discord/api/webhooks/4242/token-4242")
    ada = await paged_user(api, "Ada", "discord", webhook)
    incident = await incident_for(api, ada, name="discord", title="@everyone db-down")
    [call] = await services.wait_about("discord", "db-down")
    assert call.query == {"wait": "true", "with_components": "true"}
    body = call.json()
    assert body["allowed_mentions"] == {"parse": []}
    [embed] = body["embeds"]
    assert embed["title"] == f"#{incident['number']} [CRITICAL] @everyone db-down"
    assert "escalation level 1" in embed["description"]
    [row] = body["components"]
    buttons = {b["label"]: b for b in row["components"]}
    assert sorted(buttons) == ["Acknowledge", "Resolve"]
    assert all(b["style"] == 5 and "/r/" in b["url"] for b in buttons.values())
    timeline = await timeline_of(api, app, jobs, incident)
    assert "token-4242" not in timeline
    [notified] = [i for i in json.loads(timeline) if i["type"] == "notified"]
    assert notified["details"]["response"].startswith("HTTP 200 message ")


async def test_a_discord_webhook_with_a_revoked_token_fails_the_page_for_good(
    api: Api, services: Services, jobs: JobTracker
) -> None:
    ada = await paged_user(api, "Ada", "discord", services.url("/discord/api/webhooks/77/bad"))
    incident = await incident_for(api, ada, name="discord-gone")
    failed = await final_failure(api, jobs, incident)
    assert failed["details"]["final"] is True
    assert failed["details"]["response"] == "HTTP 401 error 50027: Invalid Webhook Token"


async def test_a_teams_page_is_an_adaptive_card_with_buttons_opening_the_links(
    api: Api, services: Services, app: Any, jobs: JobTracker
) -> None:
    flow = services.url(
        f"/teams/workflows/wf1/triggers/manual/paths/invoke?api-version=1&sig={TEAMS_SIG}"
    )
    ada = await paged_user(api, "Ada", "teams", flow)
    incident = await incident_for(api, ada, name="teams", title="queue-backlog", source="rabbit")
    [call] = await services.wait_about("teams", "queue-backlog")
    [attachment] = call.json()["attachments"]
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["body"][0]["text"] == f"#{incident['number']} queue-backlog"
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts == {
        "Severity": "critical (urgency high)",
        "Source": "rabbit",
        "Policy": "teams",
        "Level": "1",
    }
    assert [(a["type"], a["title"]) for a in card["actions"]] == [
        ("Action.OpenUrl", "Acknowledge"),
        ("Action.OpenUrl", "Resolve"),
    ]
    timeline = await timeline_of(api, app, jobs, incident)
    assert TEAMS_SIG not in timeline
    assert "notified" in types(json.loads(timeline))


async def test_a_gotify_page_sends_the_token_in_the_header_and_a_wrong_one_fails_for_good(
    api: Api, services: Services, app: Any, jobs: JobTracker
) -> None:
    ada = await paged_user(
        api, "Ada", "gotify", services.url(f"/gotify/message?token={GOTIFY_TOKEN}")
    )
    incident = await incident_for(api, ada, name="gotify", title="cert-expires")
    [call] = await services.wait_about("gotify", "cert-expires")
    assert call.headers["x-gotify-key"] == GOTIFY_TOKEN
    assert call.query == {}, "the token stays out of the URL"
    body = call.json()
    assert body["title"] == f"#{incident['number']} [CRITICAL] cert-expires"
    assert body["priority"] == 8
    assert "[Acknowledge](http://stairway.test/r/" in body["message"]
    assert body["extras"]["client::notification"]["click"]["url"].startswith(
        "http://stairway.test/r/"
    )
    assert GOTIFY_TOKEN not in await timeline_of(api, app, jobs, incident)

    bob = await paged_user(api, "Bob", "gotify", services.url("/gotify/message?token=Awrong"))
    refused = await incident_for(api, bob, name="gotify-wrong")
    failed = await final_failure(api, jobs, refused)
    assert failed["details"]["final"] is True
    assert failed["details"]["response"].startswith("HTTP 401 Unauthorized: you need to provide")


async def test_a_matrix_page_is_sent_once_to_the_room_even_when_retried(
    api: Api, services: Services, app: Any, jobs: JobTracker
) -> None:
    services.answer(MATRIX_ROOM, 502, {"errcode": "M_UNKNOWN", "error": "bad gateway"})
    ada = await paged_user(api, "Ada", "matrix", MATRIX_ROOM)
    incident = await incident_for(api, ada, name="matrix", title="<b>lag</b>")
    first, second = await services.wait_about("matrix", "lag</b>", 2)
    assert first.path == second.path, "a retry reuses the transaction id"
    assert first.path.startswith("/matrix/_matrix/client/v3/rooms/!oncall:matrix.test/send/")
    body = second.json()
    assert body["msgtype"] == "m.text"
    assert f"#{incident['number']} [CRITICAL] <b>lag</b>" in body["body"]
    assert "&lt;b&gt;lag&lt;/b&gt;" in body["formatted_body"], "HTML is escaped"
    timeline = json.loads(await timeline_of(api, app, jobs, incident))
    failed, notified = (
        [i for i in timeline if i["type"] == "notification_failed"],
        [i for i in timeline if i["type"] == "notified"],
    )
    assert failed[0]["details"]["response"] == "HTTP 502 M_UNKNOWN: bad gateway"
    assert notified[0]["details"]["response"].startswith("HTTP 200 event $")
    assert notified[0]["details"]["address"] == MATRIX_ROOM


async def test_a_matrix_rate_limit_waits_as_long_as_the_homeserver_asks(
    services: Services, settings: Any
) -> None:
    services.answer(MATRIX_ROOM, 429, {"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 2500})
    services.script[MATRIX_ROOM][-1] = (429, services.script[MATRIX_ROOM][-1][1], {})
    async with httpx.AsyncClient() as client:
        provider = MatrixProvider(client, settings, registry.templates())
        result = await provider.send(page("matrix", MATRIX_ROOM))
    assert (result.outcome, result.retry_after_seconds) == (Outcome.TRANSIENT, 2.5)


async def test_a_high_urgency_pushover_page_is_an_emergency_acknowledged_from_the_app(
    api: Api, services: Services, client: httpx.AsyncClient, app: Any, jobs: JobTracker
) -> None:
    ada = await paged_user(api, "Ada", "pushover", PUSHOVER_USER)
    incident = await incident_for(api, ada, name="pushover", title="api-down")
    [call] = await services.wait_about("pushover", "api-down")
    form = call.form()
    assert (form["priority"], form["retry"], form["expire"]) == ("2", "60", "3600")
    assert form["title"] == f"#{incident['number']} [CRITICAL] api-down"
    assert form["html"] == "1"
    assert form["url"].startswith("http://stairway.test/r/")
    callback = form["callback"]
    assert callback.startswith("http://stairway.test/integrations/pushover/ack/")
    timeline = await timeline_of(api, app, jobs, incident)
    assert PUSHOVER_USER not in timeline
    assert "receipt=" in timeline
    # Pushover calls back once someone acknowledges the emergency in the app.
    acknowledgement = {
        "receipt": "r" * 30,
        "acknowledged": "1",
        "acknowledged_at": "1767225600",
        "acknowledged_by": PUSHOVER_USER,
        "acknowledged_by_device": "pixel",
    }
    answer = await client.post(path_of(callback), data=acknowledgement)
    assert answer.status_code == 200, answer.text
    assert await status(api, incident) == "acknowledged"
    [acked] = [i for i in await api.timeline(incident["id"]) if i["type"] == "acknowledged"]
    assert acked["actor"] == {"type": "user", "id": ada["id"], "name": "Ada", "via": "pushover"}
    again = await client.post(path_of(callback), data=acknowledgement)
    assert again.json()["changed"] is False


async def test_a_pushover_acknowledgement_is_refused_for_a_demoted_deleted_or_other_user(
    api: Api, services: Services, client: httpx.AsyncClient, app: Any, jobs: JobTracker
) -> None:
    ada = await paged_user(api, "Ada", "pushover", PUSHOVER_USER)
    incident = await incident_for(api, ada, name="pushover-refused", title="refused-ack")
    [call] = await services.wait_about("pushover", "refused-ack")
    callback = path_of(call.form()["callback"])
    await settled(app, jobs, incident["id"])
    by = {"receipt": "x" * 30, "acknowledged": "1", "acknowledged_by": PUSHOVER_USER}
    someone_else = {**by, "acknowledged_by": "u" * 30}
    assert (await client.post(callback, data=someone_else)).status_code == 403
    tampered = callback[:-3] + ("AAA" if not callback.endswith("AAA") else "BBB")
    assert (await client.post(tampered, data=by)).status_code == 403
    demoted = await api.client.patch(
        f"/api/v1/users/{ada['id']}", json={"role": "observer"}, headers=api.headers
    )
    assert demoted.status_code == 200
    assert (await client.post(callback, data=by)).status_code == 403
    await delete_paged_user(api, ada, incident)
    assert (await client.post(callback, data=by)).status_code == 403
    assert await status(api, incident) == "triggered"


async def test_a_low_urgency_pushover_page_is_normal_priority_without_a_callback(
    api: Api, services: Services, app: Any, jobs: JobTracker
) -> None:
    ada = await paged_user(api, "Ada", "pushover", PUSHOVER_USER)
    incident = await incident_for(api, ada, name="pushover-low", title="low-one", urgency="low")
    [call] = await services.wait_about("pushover", "low-one")
    form = call.form()
    assert form["priority"] == "0"
    assert "callback" not in form
    assert "retry" not in form
    await settled(app, jobs, incident["id"])


async def test_an_apprise_page_goes_out_through_the_apprise_url(
    api: Api, sink: HttpSink, app: Any, jobs: JobTracker
) -> None:
    address = f"json://127.0.0.1:{sink.port}/apprise/ada"
    ada = await paged_user(api, "Ada", "apprise", address)
    incident = await incident_for(api, ada, name="apprise", title="backup failed")
    [received] = await sink.wait_count("/apprise/ada", 1)
    body = received.json()
    assert body["title"] == f"#{incident['number']} [CRITICAL] backup failed"
    assert "Acknowledge: http://stairway.test/r/" in body["message"]
    timeline = json.loads(await timeline_of(api, app, jobs, incident))
    [notified] = [i for i in timeline if i["type"] == "notified"]
    assert notified["details"]["address"] == "json://…"
    assert notified["details"]["response"] == "apprise: sent"
