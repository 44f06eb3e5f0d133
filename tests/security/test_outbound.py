"""SSRF guard: webhook destinations checked at creation and at send time; answers read capped."""

import ipaddress
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from app import outbound
from app.config import Settings
from app.errors import InvalidInput
from app.notify.base import Outcome
from app.notify.registry import make_http_client
from app.notify.webhook import WebhookProvider
from app.outbound import ForbiddenDestination, GuardedResolver, GuardedTransport, check_target_url
from tests.factories import Api
from tests.notify.helpers import page
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
]


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_targets_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(InvalidInput):
        check_target_url(url, allow_private=False, field="url")
    check_target_url(url, allow_private=True, field="url")


def test_public_targets_pass() -> None:
    for url in ("https://hooks.example.com/x", "http://93.184.216.34/x"):
        check_target_url(url, allow_private=False, field="url")


def test_private_targets_are_allowed_by_default_only_in_embedded_mode() -> None:
    assert Settings(database_url="").allow_private_webhook_targets is True
    served = Settings(database_url="postgresql+asyncpg://db/stairway")
    assert served.allow_private_webhook_targets is False
    explicit = Settings(
        database_url="postgresql+asyncpg://db/stairway", allow_private_webhook_targets=True
    )
    assert explicit.allow_private_webhook_targets is True


@pytest.fixture
def strict_targets(app: Any) -> Iterator[None]:
    previous = app.state.settings
    app.state.settings = previous.model_copy(update={"allow_private_webhook_targets": False})
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


async def test_the_pool_refuses_a_name_that_resolves_inside_at_connect_time(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DNS rebinding: the send-time check sees a public address, the connection would get
    # loopback. The pool's own lookup refuses it, so the loopback sink hears nothing.
    sink = HttpSink()
    await sink.start()

    async def public(host: str, port: int) -> list[Any]:
        return [ipaddress.ip_address("93.184.216.34")]

    monkeypatch.setattr(outbound, "_resolve", public)
    client = make_http_client(settings.model_copy(update={"allow_private_webhook_targets": False}))
    try:
        with pytest.raises(ForbiddenDestination):
            await client.post(f"http://localhost:{sink.port}/hook", content=b"{}")
    finally:
        await client.aclose()
        await sink.stop()
    assert sink.received == []


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
