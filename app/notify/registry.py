"""The providers a worker delivers with, by channel."""

import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from app.config import Settings
from app.notify.base import DeliveryResult, Outcome, Page, Provider
from app.notify.ratelimit import DestinationLimiter, RateLimited
from app.notify.slack import SlackProvider
from app.notify.smtp import EmailProvider
from app.notify.templates import Templates
from app.notify.twilio import SmsProvider, VoiceProvider
from app.notify.webhook import WebhookProvider
from app.outbound import USER_AGENT, GuardedResolver, GuardedTransport


def build_providers(
    client: httpx.AsyncClient, settings: Settings, redis: Any | None = None
) -> dict[str, Provider]:
    """Every configured provider; a channel without one fails its pages permanently.

    `redis` shares the per-destination rate limits between worker processes.
    """
    templates = Templates(settings.templates_dir)
    providers: list[Provider] = [WebhookProvider(client), SlackProvider(client, templates)]
    if settings.smtp_host:
        providers.append(EmailProvider(settings, templates))
    if settings.twilio_account_sid:
        providers.append(SmsProvider(client, settings, templates))
        providers.append(VoiceProvider(client, settings, templates))
    limiter = DestinationLimiter(redis, prefix=f"{settings.queue_name}:rate")
    limits = settings.destination_min_interval_seconds
    return {
        p.channel: RateLimited(p, limiter, limits[p.channel]) if limits.get(p.channel) else p
        for p in providers
    }


log = logging.getLogger(__name__)


async def send_page(providers: Mapping[str, Provider], page: Page) -> DeliveryResult:
    """Hand one page to its channel's provider; a missing provider or a provider's bug is an
    outcome like any other, never an exception."""
    provider = providers.get(page.channel)
    if provider is None:
        return DeliveryResult(Outcome.PERMANENT, f"no {page.channel} provider is configured")
    try:
        return await provider.send(page)
    except Exception as exc:  # one provider's bug must not lose the outcomes of a whole batch
        log.exception("provider failed", extra={"channel": page.channel})
        return DeliveryResult(Outcome.TRANSIENT, f"{type(exc).__name__}: {exc}"[:300])


# Connections to all destinations together; a worker has at most SEND_CONCURRENCY pages of a
# batch (app/paging/delivery.py) and its outbound events in flight.
OUTBOUND_CONNECTIONS = 64
KEEPALIVE_SECONDS = 5.0


def _aiohttp_session(settings: Settings) -> Callable[[], aiohttp.ClientSession]:
    """The pool under the outbound client (made on first use, inside the running loop)."""
    proxies = getproxies()

    def make() -> aiohttp.ClientSession:
        resolver = GuardedResolver(
            allow_private=bool(settings.allow_private_webhook_targets),
            # Operator-configured: the Twilio base URL and any egress proxy.
            trusted_hosts=[_host(settings.twilio_base_url), *map(_host, proxies.values())],
        )
        connector = aiohttp.TCPConnector(
            limit=OUTBOUND_CONNECTIONS,
            keepalive_timeout=KEEPALIVE_SECONDS,
            ssl=httpx.create_ssl_context(),
            resolver=resolver,
        )
        # Like httpx: HTTP(S)_PROXY / NO_PROXY from the environment apply. aiohttp would read
        # the environment on every request, so it is asked to only when a proxy is configured.
        return aiohttp.ClientSession(connector=connector, trust_env=bool(proxies))

    return make


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


def make_http_client(settings: Settings) -> httpx.AsyncClient:
    """The one outbound HTTP client of a process, sized for the worker's concurrency.

    Requests are made through httpx; the bytes go over aiohttp's connection pool
    (`httpx-aiohttp`), which costs a third of the CPU per request of httpx's own pool here and
    does not slow down as the pool grows. Redirects, timeouts, the SSRF guard and the response
    cap are httpx's and Stairway's, the same whichever transport carries them.
    """
    timeout = httpx.Timeout(
        settings.delivery_timeout_seconds, connect=min(2.0, settings.delivery_timeout_seconds)
    )
    transport = GuardedTransport(
        AiohttpTransport(client=_aiohttp_session(settings)),
        allow_private=bool(settings.allow_private_webhook_targets),
        trusted_hosts=[_host(settings.twilio_base_url)],
        max_response_bytes=settings.max_outbound_response_bytes,
    )
    return httpx.AsyncClient(
        timeout=timeout,
        transport=transport,
        # A redirect is never followed: it could lead anywhere, including inside the network.
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )
