"""Which PostgreSQL and Redis a command talks to: the configured URLs or the embedded servers."""

import logging

from app.config import Settings

log = logging.getLogger("stairway")


def uses_embedded(settings: Settings) -> bool:
    """No DATABASE_URL: a development installation on the embedded servers."""
    return not settings.database_url


def resolve_servers(settings: Settings) -> Settings:
    """Use DATABASE_URL/REDIS_URL, or start the embedded servers for whichever is missing."""
    if settings.database_url and settings.redis_url:
        return settings
    from app.embedded import EmbeddedServerError, running_embedded, start_embedded

    data_dir = settings.data_dir.resolve()
    try:
        servers = start_embedded(data_dir)
        database_url, redis_url = servers.database_url, servers.redis_url
        log.info("embedded PostgreSQL and Redis running, data in %s", data_dir)
    except EmbeddedServerError:
        # A running `stairway serve` owns them: use its servers rather than failing.
        running = running_embedded(data_dir)
        if running is None:
            raise
        database_url, redis_url = running
    return settings.model_copy(
        update={
            "database_url": settings.database_url or database_url,
            "redis_url": settings.redis_url or redis_url,
        }
    )
