"""The providers a worker delivers with, by channel."""

import httpx

from app.config import Settings
from app.notify.base import Provider
from app.notify.webhook import WebhookProvider


def build_providers(client: httpx.AsyncClient, settings: Settings) -> dict[str, Provider]:
    """Every configured provider; a channel without one fails its pages permanently."""
    providers: list[Provider] = [WebhookProvider(client)]
    return {p.channel: p for p in providers}


def make_http_client(settings: Settings) -> httpx.AsyncClient:
    """The one outbound HTTP client of a process, sized for the worker's concurrency."""
    timeout = httpx.Timeout(
        settings.delivery_timeout_seconds, connect=min(2.0, settings.delivery_timeout_seconds)
    )
    limits = httpx.Limits(
        max_connections=settings.db_pool_size * 4,
        max_keepalive_connections=settings.db_pool_size * 2,
    )
    return httpx.AsyncClient(
        timeout=timeout,
        limits=limits,
        follow_redirects=False,
        headers={"User-Agent": "Stairway/0.1"},
    )
