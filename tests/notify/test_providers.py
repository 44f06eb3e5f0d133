"""Slack, email, SMS and voice pages, end to end: worker → provider → a real local server."""

import base64
from datetime import datetime
from typing import Any

import pytest

from app.paging.delivery import EARLY_TOLERANCE
from tests.factories import Api
from tests.notify.helpers import (
    CALLS,
    MESSAGES,
    form,
    incident_for,
    paged_user,
    settled,
    types,
)
from tests.provider_support import TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN, MailSink
from tests.support import HttpSink, JobTracker

pytestmark = pytest.mark.usefixtures("worker")


async def test_a_slack_page_has_the_summary_and_acknowledge_resolve_buttons(
    api: Api, sink: HttpSink, app: Any, jobs: JobTracker
) -> None:
    ada = await paged_user(api, "Ada", "slack", sink.url("/slack/T000/B000/ada"))
    incident = await incident_for(
        api, ada, name="slack", title="disk <!channel> full", severity="critical", source="node-7"
    )
    [message] = await sink.wait_count("/slack/T000/B000/ada", 1)
    body = message.json()
    assert body["text"] == f"#{incident['number']} [CRITICAL] disk &lt;!channel&gt; full"
    section, context, actions = body["blocks"]
    assert f"*#{incident['number']} disk &lt;!channel&gt; full*" in section["text"]["text"]
    assert "Severity *critical*" in section["text"]["text"]
    assert "escalation level 1" in section["text"]["text"]
    assert "source node-7" in section["text"]["text"]
    assert "http://stairway.test/r/" in context["elements"][0]["text"]
    assert actions["type"] == "actions"
    buttons = {b["action_id"]: b for b in actions["elements"]}
    assert buttons["stairway_acknowledge"]["value"] == f"acknowledge:{incident['id']}"
    assert buttons["stairway_resolve"]["value"] == f"resolve:{incident['id']}"
    await settled(app, jobs, incident["id"])
    [notified] = [i for i in await api.timeline(incident["id"]) if i["type"] == "notified"]
    assert notified["details"]["channel"] == "slack"
    assert notified["details"]["address"].endswith("/…"), "the webhook URL is a secret"


async def test_an_email_page_arrives_with_text_html_and_action_links(
    api: Api, smtp: MailSink, app: Any, jobs: JobTracker
) -> None:
    ada = await paged_user(api, "Ada", "email", "ada.pager@example.com")
    incident = await incident_for(
        api, ada, name="email", title="queue <b>backlog</b>", details={"depth": 9000}
    )
    [mail] = await smtp.wait_for("ada.pager@example.com")
    message = mail.message()
    assert message["Subject"] == f"[Stairway] #{incident['number']} CRITICAL: queue <b>backlog</b>"
    assert message["From"] == "Stairway <pager@stairway.test>"
    assert message["X-Stairway-Incident"] == incident["id"]
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    plain = text.get_content()
    assert "queue <b>backlog</b>" in plain
    assert "depth: 9000" in plain
    assert "Acknowledge: http://stairway.test/r/" in plain
    assert "Resolve:     http://stairway.test/r/" in plain
    markup = html.get_content()
    assert "queue &lt;b&gt;backlog&lt;/b&gt;" in markup, "HTML is escaped"
    assert markup.count('href="http://stairway.test/r/') == 2
    await settled(app, jobs, incident["id"])
    timeline = await api.timeline(incident["id"])
    notified = next(i for i in timeline if i["type"] == "notified")
    assert notified["details"]["response"].startswith("SMTP accepted")


def _basic_auth(received: Any) -> tuple[str, str]:
    scheme, _, encoded = received.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    user, _, password = base64.b64decode(encoded).decode().partition(":")
    return user, password


async def test_an_sms_page_is_a_twilio_message(
    api: Api, sink: HttpSink, app: Any, jobs: JobTracker
) -> None:
    ada = await paged_user(api, "Ada", "sms", "+14155550101")
    incident = await incident_for(api, ada, name="sms", title="payments down")
    [request] = await sink.wait_count(MESSAGES, 1)
    fields = form(request)
    assert fields["To"] == "+14155550101"
    assert fields["From"] == TWILIO_FROM
    number = incident["number"]
    assert fields["Body"] == (
        f"[Stairway] #{number} CRITICAL: payments down. Reply 'ack {number}' or 'resolve {number}'."
    )
    assert _basic_auth(request) == (TWILIO_SID, TWILIO_TOKEN)
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    await settled(app, jobs, incident["id"])
    timeline = await api.timeline(incident["id"])
    notified = next(i for i in timeline if i["type"] == "notified")
    assert TWILIO_TOKEN not in str(timeline)
    assert notified["details"]["address"] == "+14155550101"


async def test_a_voice_page_is_a_twilio_call_reading_the_page(api: Api, sink: HttpSink) -> None:
    ada = await paged_user(api, "Ada", "voice", "+14155550102")
    incident = await incident_for(api, ada, name="voice", title="db & cache <down>")
    [request] = await sink.wait_count(CALLS, 1)
    fields = form(request)
    assert fields["To"] == "+14155550102"
    assert fields["From"] == TWILIO_FROM
    twiml = fields["Twiml"]
    assert twiml.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Say>')
    assert f"Incident {incident['number']}, severity critical: db &amp; cache &lt;down&gt;" in twiml
    assert twiml.count("<Say>") == 2
    assert _basic_auth(request) == (TWILIO_SID, TWILIO_TOKEN)


async def test_a_rate_limited_sms_is_delayed_and_recorded_never_dropped(
    api: Api, sink: HttpSink, app: Any, jobs: JobTracker
) -> None:
    ada = await paged_user(api, "Ada", "sms", "+14155550103")
    policy = await api.policy([(600, [ada["id"]])], name="limited")
    service = await api.service(policy["id"], name="limited")
    first = await api.trigger(service["id"], title="first", dedup_key="one")
    second = await api.trigger(service["id"], title="second", dedup_key="two")

    def to_ada() -> list[Any]:
        return [r for r in sink.at(MESSAGES) if form(r)["To"] == "+14155550103"]

    await sink.wait_for(lambda: len(to_ada()) >= 2)
    delayed = []
    for incident in (first, second):
        await settled(app, jobs, incident["id"])
        timeline = await api.timeline(incident["id"])
        waits = [i for i in timeline if i["type"] == "notification_delayed"]
        [notified] = [i for i in timeline if i["type"] == "notified"]
        assert notified["details"]["attempt"] == 1, "waiting does not use up an attempt"
        assert "notification_failed" not in types(timeline)
        if waits:
            # Not handed to Twilio before the number's slot (one SMS per second here) was free:
            # the batch that sent it started no earlier than the last wait's retry_at.
            retry_at = datetime.fromisoformat(waits[-1]["details"]["retry_at"])
            assert datetime.fromisoformat(notified["at"]) >= retry_at - EARLY_TOLERANCE
        delayed += waits
    assert len(delayed) >= 1
    assert delayed[0]["details"]["reason"].startswith("rate limited: at most one sms page per 1s")
