"""The provider contract, run against every channel registered in app/notify/registry.py.

A channel is tested the moment it is registered: its address check, its redaction on the
timeline, how its far end's answers are classified, its templates, and what happens to its pages
while it is not configured.
"""

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import insert, update
from sqlmodel import col

from app.config import Settings
from app.models import Incident, Notification, utcnow
from app.notify import registry
from app.notify.base import Outcome, Provider
from app.notify.spec import ProviderSpec
from app.paging.delivery import DeliveryContext, deliver_batch
from tests.factories import Api
from tests.notify.far_ends import FAR_ENDS, TWILIO_BASE_PATH, Answer, FarEnd, Servers
from tests.notify.helpers import page
from tests.notify.services import Services
from tests.provider_support import MailSink
from tests.support import HttpSink

each_channel = pytest.mark.parametrize("spec", registry.SPECS, ids=lambda spec: spec.type)
# Each channel through each gateway that can carry it ("" for the default one): what is sent.
DELIVERIES = [(spec, "") for spec in registry.SPECS] + [
    (spec, gateway) for spec in registry.SPECS for gateway in spec.gateways[1:]
]
each_delivery = pytest.mark.parametrize(
    ("spec", "gateway"),
    DELIVERIES,
    ids=[spec.type + (f"@{gateway}" if gateway else "") for spec, gateway in DELIVERIES],
)


def far_end(spec: ProviderSpec, gateway: str) -> FarEnd:
    return FAR_ENDS[f"{spec.type}@{gateway}" if gateway else spec.type]


def configured_secrets(settings: Settings) -> list[str]:
    """Every secret setting's value (tokens, passwords, keys): none may reach a timeline."""
    values = [getattr(settings, name) for name in type(settings).model_fields]
    return [
        v.get_secret_value() for v in values if isinstance(v, SecretStr) and v.get_secret_value()
    ]


@pytest.fixture
def far_end_servers(sink: HttpSink, smtp: MailSink, services: Services) -> Servers:
    return Servers(sink, smtp, services)


@pytest.fixture
def unlimited(settings: Settings, sink: HttpSink) -> Settings:
    """The suite's settings without the rate limits (pages here repeat fast)."""
    return settings.model_copy(
        update={
            "destination_min_interval_seconds": {},
            "twilio_base_url": sink.url(TWILIO_BASE_PATH),
        }
    )


@pytest.fixture
async def providers(unlimited: Settings) -> AsyncIterator[dict[str, Provider]]:
    """Every provider as a worker builds it."""
    client = registry.make_http_client(unlimited)
    yield registry.build_providers(client, unlimited)
    await client.aclose()


@pytest.fixture
def gateway_settings(unlimited: Settings, vonage: Settings) -> dict[str, Settings]:
    """The settings of each SMS/voice gateway, pointed at its stand-in."""
    return {"": unlimited, "twilio": unlimited, "vonage": vonage}


def test_every_registered_channel_and_gateway_has_a_far_end_in_the_tests() -> None:
    gateways = [f"{spec.type}@{gateway}" for spec, gateway in DELIVERIES if gateway]
    assert sorted(FAR_ENDS) == sorted([*registry.CONTACT_TYPES, *gateways])
    assert gateways == ["sms@vonage", "voice@vonage"]


@each_channel
def test_the_address_check_takes_a_real_address_and_refuses_nonsense(spec: ProviderSpec) -> None:
    spec.check_address(FAR_ENDS[spec.type].secret_address)
    with pytest.raises(ValueError, match="must"):
        spec.check_address("not an address")


@each_channel
def test_the_timeline_never_shows_a_secret_of_the_address(spec: ProviderSpec) -> None:
    far = FAR_ENDS[spec.type]
    shown = registry.shown_address(spec.type, far.secret_address)
    for secret in far.secrets:
        assert secret not in shown
    if not far.secrets:
        assert shown == far.secret_address, "an address that is no secret is shown as it is"


# Channels whose address is a URL of the user's: the destination itself may hold secrets.
@pytest.mark.parametrize(
    "spec", [s for s in registry.SPECS if s.outbound_url], ids=lambda spec: spec.type
)
async def test_an_unreachable_destination_is_retried_and_its_secrets_not_reported(
    spec: ProviderSpec, providers: dict[str, Provider]
) -> None:
    far = FAR_ENDS[spec.type]
    closed = urlunsplit(urlsplit(far.secret_address)._replace(netloc="127.0.0.1:9"))
    result = await providers[spec.type].send(page(spec.type, closed))
    assert result.outcome is Outcome.TRANSIENT
    for secret in far.secrets:
        assert secret not in result.detail


@each_delivery
@pytest.mark.parametrize(
    ("answer", "outcome"),
    [("accept", Outcome.SENT), ("busy", Outcome.TRANSIENT), ("reject", Outcome.PERMANENT)],
)
async def test_the_far_end_s_answer_is_classified_and_no_secret_is_reported(
    spec: ProviderSpec,
    gateway: str,
    answer: Answer,
    outcome: Outcome,
    far_end_servers: Servers,
    gateway_settings: dict[str, Settings],
) -> None:
    far = far_end(spec, gateway)
    settings = gateway_settings[gateway]
    address = far.address(far_end_servers, f"classify-{answer}-{uuid.uuid4().hex[:6]}")
    far.answer(far_end_servers, address, answer)
    async with registry.make_http_client(settings) as client:
        provider = registry.build_providers(client, settings)[spec.type]
        result = await provider.send(page(spec.type, address))
    assert result.outcome is far.outcomes.get(answer, outcome), result.detail
    for secret in configured_secrets(settings):
        assert secret not in result.detail


@each_channel
def test_the_channel_s_templates_are_its_own_and_render(spec: ProviderSpec) -> None:
    templates = registry.templates()
    parts = []
    for name in spec.templates:
        assert name.startswith(f"{spec.type}.")
        assert name.endswith(".j2")
        parts.append(templates.render(name, page(spec.type, "x", title="disk full")))
    if spec.templates:
        message = "\n".join(parts)
        assert "42" in message, "the incident's number"
        assert "disk full" in message, "the incident's title"


@each_delivery
async def test_an_unconfigured_channel_fails_for_good_and_says_what_to_set(
    spec: ProviderSpec, gateway: str
) -> None:
    chosen: dict[str, Any] = {"sms_gateway": gateway} if gateway else {}
    bare = Settings(_env_file=None, database_url="postgresql://unused/db", **chosen)
    async with httpx.AsyncClient() as client:
        configured = registry.build_providers(client, bare)
    if spec.enabled(bare):
        assert spec.needs == ""
        assert spec.type in configured
        return
    assert spec.type not in configured
    assert spec.needs.startswith("STAIRWAY_")
    result = registry.not_configured(spec.type)
    assert result.outcome is Outcome.PERMANENT
    assert result.detail == f"no {spec.type} provider is configured (set {spec.needs})"


async def test_a_page_to_an_unconfigured_channel_fails_at_once_on_the_timeline(
    api: Api, app: Any, settings: Settings
) -> None:
    gated = [spec for spec in registry.SPECS if spec.needs]
    ada = await api.user("Ada")
    policy = await api.policy([(600, [ada["id"]])], name="unconfigured")
    service = await api.service(policy["id"])
    incident = await api.trigger(service["id"])
    # Its escalation stops here: the pages below are this test's to deliver.
    async with app.state.sessions() as session, session.begin():
        await session.execute(
            update(Incident).where(col(Incident.id) == incident["id"]).values(next_due_at=None)
        )
    due_at = utcnow() + timedelta(hours=1)
    rows = [
        {
            "id": uuid.uuid4(),
            "incident_id": uuid.UUID(incident["id"]),
            "level": 1,
            "loop": 0,
            "condition": "unacknowledged",
            "target_type": "user",
            "user_id": uuid.UUID(ada["id"]),
            "channel": spec.type,
            "address": FAR_ENDS[spec.type].secret_address,
            "idempotency_key": f"unconfigured:{uuid.uuid4()}",
            "status": "pending",
            "due_at": due_at,
            "attempts": 0,
            "created_at": utcnow(),
        }
        for spec in gated
    ]
    async with app.state.sessions() as session, session.begin():
        await session.execute(insert(Notification), rows)
    # The providers of a worker whose settings configure no channel that needs settings.
    bare = Settings(_env_file=None, database_url="postgresql://unused/db")
    async with httpx.AsyncClient() as client:
        ctx = DeliveryContext(registry.build_providers(client, bare), settings, "link-secret")
        async with app.state.sessions() as session, session.begin():
            await deliver_batch(session=session, now=due_at, ctx=ctx)
    failed = {
        item["details"]["channel"]: item["details"]
        for item in await api.timeline(incident["id"])
        if item["type"] == "notification_failed"
        and item["details"]["notification_id"] in {str(r["id"]) for r in rows}
    }
    assert sorted(failed) == sorted(spec.type for spec in gated)
    for spec in gated:
        details = failed[spec.type]
        assert details["final"] is True
        assert details["attempt"] == 1
        assert details["response"] == f"no {spec.type} provider is configured (set {spec.needs})"
