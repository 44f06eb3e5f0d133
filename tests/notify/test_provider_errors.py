"""Provider failures: 5xx, 429, timeouts transient (Retry-After kept), 4xx permanent, no secrets."""

import uuid
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from app.config import Settings
from app.notify.base import Outcome
from app.notify.ratelimit import DestinationLimiter, RateLimited
from app.notify.registry import templates
from app.notify.slack import SlackProvider
from app.notify.smtp import EmailProvider
from app.notify.twilio import SmsProvider, VoiceProvider
from tests.notify.helpers import page
from tests.provider_support import TWILIO_TOKEN, MailSink

SLACK_URL = "https://hooks.slack.test/services/T0/B0/very-secret-token"


def client_answering(status: int, body: Any = None, **headers: str) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


def twilio_settings(**overrides: Any) -> Settings:
    return Settings(
        twilio_account_sid="AC1",
        twilio_auth_token=TWILIO_TOKEN,
        twilio_from_number="+15005550006",
        twilio_base_url="https://twilio.test",
        **overrides,
    )


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.SENT),
        (429, Outcome.TRANSIENT),
        (500, Outcome.TRANSIENT),
        (503, Outcome.TRANSIENT),
        (400, Outcome.PERMANENT),
        (404, Outcome.PERMANENT),
        (410, Outcome.PERMANENT),
    ],
)
async def test_slack_statuses_map_to_outcomes_without_leaking_the_webhook_url(
    status: int, outcome: Outcome
) -> None:
    async with client_answering(
        status, {"error": "channel_not_found"}, **{"Retry-After": "7"}
    ) as c:
        result = await SlackProvider(c, templates()).send(page("slack", SLACK_URL))
    assert result.outcome is outcome
    assert result.status_code == status
    assert result.retry_after_seconds == 7
    assert "very-secret-token" not in result.detail
    assert result.detail.startswith(f"HTTP {status}")


async def test_slack_timeouts_and_refused_connections_are_transient() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(hang)) as client:
        result = await SlackProvider(client, templates()).send(page("slack", SLACK_URL))
    assert (result.outcome, result.detail) == (Outcome.TRANSIENT, "timed out")
    async with httpx.AsyncClient() as client:
        result = await SlackProvider(client, templates()).send(
            page("slack", "http://127.0.0.1:9/very-secret-token")
        )
    assert result.outcome is Outcome.TRANSIENT
    assert "very-secret-token" not in result.detail


async def test_twilio_errors_are_classified_with_twilio_s_code_and_never_the_token() -> None:
    invalid = {"code": 21211, "message": "The 'To' number +1555 is not a valid phone number."}
    async with client_answering(400, invalid) as client:
        result = await SmsProvider(client, twilio_settings(), templates()).send(
            page("sms", "+1555")
        )
    assert result.outcome is Outcome.PERMANENT
    assert result.detail == f"HTTP 400 error 21211: {invalid['message']}"
    async with client_answering(
        429, {"code": 20429, "message": "Too Many Requests"}, **{"Retry-After": "12"}
    ) as client:
        result = await VoiceProvider(client, twilio_settings(), templates()).send(
            page("voice", "+14155550100")
        )
    assert (result.outcome, result.retry_after_seconds) == (Outcome.TRANSIENT, 12)
    async with client_answering(503, {"message": "unavailable"}) as client:
        result = await SmsProvider(client, twilio_settings(), templates()).send(
            page("sms", "+14155550100")
        )
    assert result.outcome is Outcome.TRANSIENT
    async with client_answering(201, {"sid": "SM123", "status": "queued"}) as client:
        result = await SmsProvider(client, twilio_settings(), templates()).send(
            page("sms", "+14155550100")
        )
    assert (result.outcome, result.detail) == (Outcome.SENT, "HTTP 201 sid=SM123 status=queued")

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(hang)) as client:
        result = await SmsProvider(client, twilio_settings(), templates()).send(
            page("sms", "+14155550100")
        )
    assert result.outcome is Outcome.TRANSIENT


def smtp_settings(smtp: MailSink, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_starttls": False,
        "smtp_username": smtp.username,
        "smtp_password": smtp.password,
        "smtp_timeout_seconds": 5.0,
        **overrides,
    }
    return Settings(**values)


async def test_smtp_refusals_are_permanent_or_transient_by_reply_code(smtp: MailSink) -> None:
    smtp.refuse["gone@example.com"] = "550 5.1.1 no such user"
    smtp.refuse["full@example.com"] = "452 4.2.2 mailbox full"
    provider = EmailProvider(smtp_settings(smtp), templates())
    gone = await provider.send(page("email", "gone@example.com"))
    assert (gone.outcome, gone.status_code) == (Outcome.PERMANENT, 550)
    assert "no such user" in gone.detail
    full = await provider.send(page("email", "full@example.com"))
    assert (full.outcome, full.status_code) == (Outcome.TRANSIENT, 452)
    assert smtp.to("gone@example.com") == []
    assert smtp.to("full@example.com") == []


async def test_bad_smtp_credentials_fail_for_good_without_showing_the_password(
    smtp: MailSink,
) -> None:
    provider = EmailProvider(smtp_settings(smtp, smtp_password="wrong-password"), templates())
    result = await provider.send(page("email", "ada@example.com"))
    assert result.outcome is Outcome.PERMANENT
    assert result.status_code == 535
    assert "wrong-password" not in result.detail


async def test_an_unreachable_smtp_server_is_transient(smtp: MailSink) -> None:
    provider = EmailProvider(smtp_settings(smtp, smtp_port=9), templates())
    result = await provider.send(page("email", "ada@example.com"))
    assert result.outcome is Outcome.TRANSIENT


async def test_the_destination_limit_is_shared_through_redis(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis_url)
    prefix = f"test-limit:{uuid.uuid4().hex}"
    try:
        limiter = DestinationLimiter(redis, prefix=prefix)
        other_worker = DestinationLimiter(redis, prefix=prefix)
        assert await limiter.claim("sms", "+14155550111", 30) == 0
        wait = await other_worker.claim("sms", "+14155550111", 30)
        assert 29 < wait <= 30
        assert await other_worker.claim("sms", "+14155550112", 30) == 0, "per destination"
        assert await other_worker.claim("voice", "+14155550111", 30) == 0, "per channel"
    finally:
        await redis.aclose()


async def test_a_limited_provider_defers_instead_of_sending() -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(201, json={"sid": "SM1", "status": "queued"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as client:
        provider = RateLimited(
            SmsProvider(client, twilio_settings(), templates()),
            DestinationLimiter(None, prefix="local"),
            60,
        )
        first = await provider.send(page("sms", "+14155550120"))
        second = await provider.send(page("sms", "+14155550120"))
    assert first.outcome is Outcome.SENT
    assert second.outcome is Outcome.DEFERRED
    assert second.retry_after_seconds is not None
    assert 59 < second.retry_after_seconds <= 60
    assert len(sent) == 1
