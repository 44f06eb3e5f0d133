"""Every channel Stairway can page through, and the providers a worker delivers with.

A channel is one provider module declaring a `ProviderSpec`, listed once in `SPECS`; the
contact types, timeline redaction, default templates and rate limits all come from this list.
"""

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from app.config import Settings
from app.notify import (
    apprise_channel,
    discord,
    gotify,
    matrix,
    mattermost,
    ntfy,
    pushover,
    slack,
    smtp,
    teams,
    telegram,
    twilio,
    webhook,
)
from app.notify.base import DeliveryResult, Outcome, Page, Provider
from app.notify.ratelimit import DestinationLimiter, RateLimited
from app.notify.spec import ProviderDeps, ProviderSpec
from app.notify.templates import NOTICE_TEMPLATES, Templates
from app.outbound import GuardedResolver, GuardedTransport, OutboundClient

log = logging.getLogger(__name__)

SPECS: tuple[ProviderSpec, ...] = (
    webhook.SPEC,
    slack.SPEC,
    smtp.SPEC,
    twilio.SMS,
    twilio.VOICE,
    ntfy.SPEC,
    discord.SPEC,
    teams.SPEC,
    gotify.SPEC,
    matrix.SPEC,
    pushover.SPEC,
    telegram.SPEC,
    mattermost.SPEC,
    apprise_channel.SPEC,
)

BY_TYPE: dict[str, ProviderSpec] = {spec.type: spec for spec in SPECS}
CONTACT_TYPES: tuple[str, ...] = tuple(BY_TYPE)
DEFAULT_TEMPLATES: dict[str, str] = {
    **NOTICE_TEMPLATES,
    **{name: text for spec in SPECS for name, text in spec.templates.items()},
}
DEFAULT_MIN_INTERVAL_SECONDS: dict[str, float] = {
    spec.type: spec.min_interval_seconds for spec in SPECS if spec.min_interval_seconds
}


def templates(directory: Path | None = None) -> Templates:
    """Every channel's templates: the defaults, unless overridden by a file in `directory`."""
    escapes = {spec.type: spec.escape for spec in SPECS if spec.escape is not None}
    return Templates(directory, defaults=DEFAULT_TEMPLATES, escapes=escapes)


def shown_address(channel: str, address: str) -> str:
    """The address as timelines show it: without the tokens some channels carry in it."""
    spec = BY_TYPE.get(channel)
    # A channel no longer registered: nothing is known about where its secrets are.
    return spec.redact(address) if spec is not None else "…"


def not_configured(channel: str) -> DeliveryResult:
    """The outcome of a page to a channel without a provider: permanent, saying what is missing."""
    spec = BY_TYPE.get(channel)
    needs = f" (set {spec.needs})" if spec is not None and spec.needs else ""
    return DeliveryResult(Outcome.PERMANENT, f"no {channel} provider is configured{needs}")


async def send_page(providers: Mapping[str, Provider], page: Page) -> DeliveryResult:
    """Send one page through its channel's provider; a provider's bug is a transient failure."""
    provider = providers.get(page.channel)
    if provider is None:
        return not_configured(page.channel)
    try:
        return await provider.send(page)
    except Exception as exc:  # one provider's bug must not lose the outcomes of the whole batch
        log.exception("provider failed", extra={"channel": page.channel})
        return DeliveryResult(Outcome.TRANSIENT, f"{type(exc).__name__}: {exc}"[:300])


def build_providers(
    client: httpx.AsyncClient, settings: Settings, redis: Any | None = None
) -> dict[str, Provider]:
    """Every configured provider; a channel without one fails its pages permanently.

    `redis` shares the per-destination rate limits between worker processes.
    """
    deps = ProviderDeps(client, settings, templates(settings.templates_dir))
    limiter = DestinationLimiter(redis, prefix=f"{settings.queue_name}:rate")
    limits = settings.destination_min_interval_seconds
    if limits is None:
        limits = DEFAULT_MIN_INTERVAL_SECONDS
    providers: dict[str, Provider] = {}
    for spec in SPECS:
        if not spec.enabled(settings):
            continue
        provider = spec.build(deps)
        interval = limits.get(spec.type)
        providers[spec.type] = RateLimited(provider, limiter, interval) if interval else provider
    return providers


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
            # Operator-configured: providers' API base URLs and any egress proxy.
            trusted_hosts=[*_operator_hosts(settings), *map(_host, proxies.values())],
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


def _operator_hosts(settings: Settings) -> list[str]:
    """The hosts of the API endpoints the operator configured (Twilio, Matrix, Pushover)."""
    return [_host(url) for spec in SPECS for url in spec.operator_urls(settings) if url]


def make_http_client(settings: Settings) -> OutboundClient:
    """The one outbound HTTP client of a process, sized for the worker's concurrency.

    Requests are made through httpx; the bytes go over aiohttp's connection pool
    (`httpx-aiohttp`), which costs a third of the CPU per request of httpx's own pool here and
    does not slow down as the pool grows; prepared POSTs (webhook pages and events) skip
    httpx and go to that pool directly (`app.outbound.post_bytes`). Redirects, timeouts, the
    SSRF guard and the response cap are the same whichever way a request goes.
    """
    timeout = httpx.Timeout(
        settings.delivery_timeout_seconds, connect=min(2.0, settings.delivery_timeout_seconds)
    )
    pool = AiohttpTransport(client=_aiohttp_session(settings))
    guard = GuardedTransport(
        pool,
        allow_private=bool(settings.allow_private_webhook_targets),
        trusted_hosts=_operator_hosts(settings),
        max_response_bytes=settings.max_outbound_response_bytes,
    )
    return OutboundClient(guard=guard, pool=pool, timeout=timeout)
