"""SSRF guard: webhook destinations checked at creation and at send time; answers read capped."""

import ipaddress
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlmodel import col

from app import outbound
from app.config import Settings
from app.errors import InvalidInput
from app.events.delivery import deliver
from app.models import User, WebhookDelivery, WebhookSubscription, utcnow
from app.notify import registry
from app.notify.base import Outcome
from app.notify.registry import make_http_client
from app.notify.slack import SlackProvider
from app.notify.webhook import WebhookProvider
from app.outbound import ForbiddenDestination, GuardedResolver, GuardedTransport, check_destination
from app.policyfiles.apply import ApplyError
from tests.factories import Api
from tests.notify.helpers import page
from tests.policies_code.conftest import Files, write
from tests.support import HttpSink

INTERNAL = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
    # Other spellings of loopback the resolver accepts: normalized, then refused.
    "http://127.0.0.1./hook",
    "http://LOCALHOST./hook",
    "http://0177.0.0.1/hook",
    "http://0x7f.0.0.1/hook",
    "http://127.1/hook",
    "http://2130706433/hook",
    "http://0xa9fea9fe/latest/meta-data/",
]
# URLs no request can ever be made to: refused whatever the private-address setting.
UNSENDABLE = ["http://[::1/hook", "http://hooks.example.com:99999/x", "http://xn--/x"]


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_targets_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(InvalidInput, match="must not point at a private, loopback or link-local"):
        check_destination(url, allow_private=False, field="url")
    if url == "http://0177.0.0.1/hook":
        # Allowed or not, httpx cannot send this spelling (it refuses leading zeros).
        with pytest.raises(InvalidInput, match="not a URL that can be sent"):
            check_destination(url, allow_private=True, field="url")
    else:
        check_destination(url, allow_private=True, field="url")


@pytest.mark.parametrize("url", UNSENDABLE)
def test_urls_that_can_never_be_sent_are_refused_even_when_private_ones_are_allowed(
    url: str,
) -> None:
    for allow_private in (False, True):
        with pytest.raises(InvalidInput, match="not a URL that can be sent"):
            check_destination(url, allow_private=allow_private, field="url")


def test_public_targets_pass() -> None:
    for url in ("https://hooks.example.com/x", "http://93.184.216.34/x", "http://0x5db8d822/x"):
        check_destination(url, allow_private=False, field="url")


def test_private_targets_are_allowed_by_default_only_in_embedded_mode() -> None:
    assert Settings(database_url="").allow_private_webhook_targets is True
    served = Settings(database_url="postgresql+asyncpg://db/stairway")
    assert served.allow_private_webhook_targets is False
    explicit = Settings(
        database_url="postgresql+asyncpg://db/stairway", allow_private_webhook_targets=True
    )
    assert explicit.allow_private_webhook_targets is True


STRICT = {"allow_private_webhook_targets": False}


@pytest.fixture
def strict_targets(app: Any) -> Iterator[None]:
    previous = app.state.settings
    app.state.settings = previous.model_copy(update=STRICT)
    yield
    app.state.settings = previous


async def test_the_api_refuses_internal_webhook_urls(
    client: httpx.AsyncClient, admin_headers: dict[str, str], strict_targets: None
) -> None:
    api = Api(client, admin_headers)
    user = await api.user("Ada")
    refused = await api.post(
        f"/users/{user['id']}/contact-methods",
        {"type": "webhook", "address": "http://169.254.169.254/latest"},
        status=422,
    )
    assert refused["error"]["details"][0]["field"] == "address"
    refused = await api.post("/webhook-subscriptions", {"url": "http://127.0.0.1/x"}, status=422)
    assert refused["error"]["details"][0]["field"] == "url"
    await api.post("/webhook-subscriptions", {"url": "https://hooks.example.com/x"})
    refused = await api.post(
        f"/users/{user['id']}/contact-methods",
        {"type": "slack", "address": "http://0177.0.0.1/services/T/B/x"},
        status=422,
    )
    assert refused["error"]["details"][0]["field"] == "address"
    refused = await api.post("/webhook-subscriptions", {"url": "http://127.0.0.1./x"}, status=422)
    assert refused["error"]["details"][0]["field"] == "url"


async def test_the_api_refuses_internal_policy_webhook_targets(
    client: httpx.AsyncClient, admin_headers: dict[str, str], strict_targets: None
) -> None:
    api = Api(client, admin_headers)
    ada = await api.user("Ada")

    def levels(url: str) -> list[dict[str, Any]]:
        targets = [{"type": "user", "id": ada["id"]}, {"type": "webhook", "url": url}]
        return [{"escalate_after_seconds": 60, "targets": targets}]

    body = {"name": "hooks", "levels": levels("http://169.254.169.254/")}
    refused = await api.post("/escalation-policies", body, status=422)
    assert refused["error"]["details"] == [
        {
            "field": "levels[0].targets[1].url",
            "message": "must not point at a private, loopback or link-local address",
        }
    ]
    assert (await api.get("/escalation-policies"))["items"] == []
    policy = await api.post("/escalation-policies", {**body, "levels": levels("https://x.test/")})
    response = await client.patch(
        f"/api/v1/escalation-policies/{policy['id']}",
        json={"levels": levels("http://0177.0.0.1/")},
        headers=admin_headers,
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "levels[0].targets[1].url"
    policy = await api.get(f"/escalation-policies/{policy['id']}")
    assert policy["levels"][0]["targets"][1]["url"] == "https://x.test/"


async def test_policy_files_follow_the_same_rule_and_apply_nothing(
    app: Any, settings: Settings, tmp_path: Path
) -> None:
    write(
        tmp_path,
        "team.yaml",
        """
        users:
          - name: Ada
            email: ada@example.com
            contact_methods:
              - type: webhook
                address: http://127.0.0.1:9/ada
        escalation_policies:
          - name: hooks
            levels:
              - escalate_after_seconds: 60
                targets:
                  - webhook: http://169.254.169.254/
        """,
    )
    strict = Files(app.state.sessions, settings.model_copy(update=STRICT))
    with pytest.raises(ApplyError, match=r"team.yaml:\d+ .*address: must not point at a private"):
        await strict.apply(tmp_path)
    async with app.state.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0
    write(
        tmp_path,
        "team.yaml",
        """
        escalation_policies:
          - name: hooks
            levels:
              - escalate_after_seconds: 60
                targets:
                  - webhook: http://169.254.169.254/
        """,
    )
    with pytest.raises(ApplyError, match=r"levels\[0\]\.targets\[0\]\.url: must not point"):
        await strict.apply(tmp_path)


async def test_sending_to_an_address_that_resolves_inside_is_refused(sink: HttpSink) -> None:
    guarded = GuardedTransport(
        httpx.AsyncHTTPTransport(), allow_private=False, max_response_bytes=1024
    )
    async with httpx.AsyncClient(transport=guarded) as client:
        for url in (sink.url("/ssrf"), sink.url("/ssrf").replace("127.0.0.1", "localhost")):
            with pytest.raises(ForbiddenDestination):
                await client.post(url, json={})
    assert sink.at("/ssrf") == []
    allowed = GuardedTransport(
        httpx.AsyncHTTPTransport(), allow_private=True, max_response_bytes=1024
    )
    async with httpx.AsyncClient(transport=allowed) as client:
        assert (await client.post(sink.url("/ssrf"), json={})).status_code == 200
    assert len(sink.at("/ssrf")) == 1


async def test_answers_are_read_up_to_a_cap() -> None:
    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"x" * 65536

    huge = httpx.MockTransport(lambda request: httpx.Response(200, content=endless()))
    guarded = GuardedTransport(huge, allow_private=True, max_response_bytes=4096)
    async with httpx.AsyncClient(transport=guarded) as client:
        response = await client.post("https://hooks.example.com/x")
    assert len(response.content) == 4096


def test_the_delivery_client_never_follows_redirects(settings: Settings) -> None:
    client = make_http_client(settings)
    assert client.follow_redirects is False


async def test_pages_go_through_the_proxy_the_environment_names(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An egress proxy (here a loopback recorder) receives the request for the destination.
    proxy = HttpSink()
    await proxy.start()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = make_http_client(settings.model_copy(update={"allow_private_webhook_targets": True}))
    try:
        response = await client.post("http://hooks.example.test/page", content=b"{}")
    finally:
        await client.aclose()
        await proxy.stop()
    assert response.status_code == 200
    [seen] = proxy.received
    assert seen.path == "/page"
    assert seen.headers["host"] == "hooks.example.test"


@pytest.fixture
async def rebound_sink(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[HttpSink]:
    """A loopback sink whose name the send-time check sees resolve to a public address.

    DNS rebinding: the check sees a public address, the connection would get loopback.
    """
    sink = HttpSink()
    await sink.start()

    async def public(host: str, port: int) -> list[Any]:
        return [ipaddress.ip_address("93.184.216.34")]

    monkeypatch.setattr(outbound, "_resolve", public)
    yield sink
    await sink.stop()


async def test_the_pool_refuses_a_name_that_resolves_inside_at_connect_time(
    settings: Settings, rebound_sink: HttpSink
) -> None:
    # The pool's own lookup refuses it, so the loopback sink hears nothing.
    client = make_http_client(settings.model_copy(update={"allow_private_webhook_targets": False}))
    try:
        with pytest.raises(ForbiddenDestination):
            await client.post(f"http://localhost:{rebound_sink.port}/hook", content=b"{}")
    finally:
        await client.aclose()
    assert rebound_sink.received == []


async def test_a_webhook_page_to_a_name_that_resolves_inside_at_connect_time_is_refused(
    settings: Settings, rebound_sink: HttpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same rebinding, on the way webhook pages take (straight to the pool, past httpx).
    # The send-time check is fooled entirely (not even the name gives it away).
    monkeypatch.setattr(outbound, "_is_localhost", lambda host: False)
    client = make_http_client(settings.model_copy(update={"allow_private_webhook_targets": False}))
    try:
        address = f"http://localhost:{rebound_sink.port}/hook"
        result = await WebhookProvider(client).send(page("webhook", address))
    finally:
        await client.aclose()
    assert result.outcome is Outcome.PERMANENT
    assert result.detail.startswith("refused: ")
    assert "private, loopback" in result.detail
    assert rebound_sink.received == []


async def test_a_webhook_page_goes_through_the_proxy_and_a_closed_port_is_retried(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = HttpSink()
    await proxy.start()
    closed = HttpSink()
    await closed.start()
    await closed.stop()
    allowed = settings.model_copy(update={"allow_private_webhook_targets": True})
    direct = make_http_client(allowed)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    proxied = make_http_client(allowed)
    try:
        sent = await WebhookProvider(proxied).send(page("webhook", "http://hooks.example.test/p"))
        refused = await WebhookProvider(direct).send(
            page("webhook", f"http://127.0.0.1:{closed.port}/hook")
        )
    finally:
        await proxied.aclose()
        await direct.aclose()
        await proxy.stop()
    assert (sent.outcome, sent.status_code) == (Outcome.SENT, 200)
    assert sent.detail == 'HTTP 200 {"ok":true}'
    [seen] = proxy.received
    assert (seen.path, seen.headers["host"]) == ("/p", "hooks.example.test")
    assert seen.headers["user-agent"] == outbound.USER_AGENT
    assert refused.outcome is Outcome.TRANSIENT
    assert refused.detail.startswith("ConnectError: ")


async def test_the_pool_resolver_passes_trusted_and_allowed_hosts() -> None:
    refusing = GuardedResolver(allow_private=False)
    trusting = GuardedResolver(allow_private=False, trusted_hosts=["LocalHost"])
    allowing = GuardedResolver(allow_private=True)
    try:
        with pytest.raises(OSError, match="private, loopback or link-local"):
            await refusing.resolve("localhost", 80)
        for resolver in (trusting, allowing):
            found = await resolver.resolve("localhost", 80)
            assert {r["host"] for r in found} & {"127.0.0.1", "::1"}
    finally:
        for resolver in (refusing, trusting, allowing):
            await resolver.close()


async def test_a_page_to_a_refused_destination_fails_permanently(settings: Settings) -> None:
    # Retrying cannot help, and a level whose every page failed permanently moves on at once.
    sink = HttpSink()
    await sink.start()
    client = make_http_client(settings.model_copy(update={"allow_private_webhook_targets": False}))
    try:
        address = f"http://localhost:{sink.port}/hook"
        result = await WebhookProvider(client).send(page("webhook", address))
    finally:
        await client.aclose()
        await sink.stop()
    assert result.outcome is Outcome.PERMANENT
    assert result.detail.startswith("refused: ")
    assert sink.received == []


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("http://127.0.0.1.:{port}/hook", "refused: "),
        ("http://0177.0.0.1:{port}/hook", "refused: not a URL that can be sent"),
        ("http://[::1:{port}/hook", "refused: not a URL that can be sent"),
    ],
)
async def test_a_page_to_a_refused_spelling_or_an_unsendable_url_fails_permanently(
    settings: Settings, address: str, why: str
) -> None:
    sink = HttpSink()
    await sink.start()
    client = make_http_client(settings.model_copy(update=STRICT))
    try:
        url = address.format(port=sink.port)
        webhook = await WebhookProvider(client).send(page("webhook", url))
        slack = await SlackProvider(client, registry.templates()).send(page("slack", url))
    finally:
        await client.aclose()
        await sink.stop()
    for result in (webhook, slack):
        assert result.outcome is Outcome.PERMANENT
        assert result.detail.startswith(why)
    assert sink.received == []


@pytest.mark.parametrize("url", ["http://localhost:{port}/refused", "http://0177.0.0.1/unsendable"])
async def test_an_event_to_a_refused_or_unsendable_url_fails_at_once_and_disables_it(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    app: Any,
    settings: Settings,
    sink: HttpSink,
    url: str,
) -> None:
    # No worker runs here: the test delivers the event itself, through a strict client.
    api = Api(client, admin_headers)
    subscription = await api.post("/webhook-subscriptions", {"url": sink.url("/events-ssrf")})
    async with app.state.sessions() as session, session.begin():
        await session.execute(
            update(WebhookSubscription)
            .where(col(WebhookSubscription.id) == subscription["id"])
            .values(url=url.format(port=sink.port))
        )
    nobody = await api.user("Nobody")
    service = await api.service((await api.policy([(600, [nobody["id"]])], name="ev"))["id"])
    await api.trigger(service["id"])
    async with app.state.sessions() as session:
        [delivery_id] = (await session.scalars(select(col(WebhookDelivery.id)))).all()
    http = make_http_client(settings.model_copy(update=STRICT))
    try:
        async with app.state.sessions() as session, session.begin():
            await deliver(
                session=session,
                delivery_id=delivery_id,
                now=utcnow(),
                client=http,
                settings=settings,
            )
    finally:
        await http.aclose()
    shown = await api.get(f"/webhook-subscriptions/{subscription['id']}")
    assert shown["enabled"] is False
    assert "cannot be delivered; last answer: refused: " in shown["disabled_reason"]
    [failed] = (await api.get(f"/webhook-subscriptions/{subscription['id']}/deliveries"))["items"]
    assert (failed["status"], failed["attempts"]) == ("failed", 1)
    assert sink.at("/refused") == []
