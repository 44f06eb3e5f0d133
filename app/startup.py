"""What the serving commands do before they serve: the schema, the example set, the warnings."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlmodel import col

from app.config import Settings, get_settings, is_loopback_url
from app.destinations import Refused, warn_refused
from app.policyfiles.demo import (
    EXAMPLE_KEY,
    EXAMPLE_SERVICE,
    SINK_HOST,
    SINK_PORT,
    remember_keys,
    remembered_keys,
    start_sink,
)

log = logging.getLogger("stairway")
Starter = Callable[[], Awaitable[Callable[[], None]]]


def settings_for(*, host: str | None = None, port: int | None = None) -> Settings:
    """The environment's settings, with the listen address given on the command line."""
    overrides = {name: value for name, value in (("host", host), ("port", port)) if value}
    return Settings(**overrides) if overrides else get_settings()  # type: ignore[arg-type]


def warn_public_url(settings: Settings) -> bool:
    """Warn when links in pages would name this machine while others are meant to connect."""
    if not (settings.listens_everywhere and is_loopback_url(settings.public_url)):
        return False
    log.warning(
        "STAIRWAY_PUBLIC_URL is %s but the API listens on every interface (%s): the links in "
        "pages open only on this machine; set STAIRWAY_PUBLIC_URL to the address people reach",
        settings.public_url,
        settings.host or "all",
    )
    return True


@dataclass
class Facts:
    """What the start-up banner and warnings need from the database."""

    admin_exists: bool = False
    refused: list[Refused] = field(default_factory=list)


async def _admin_exists(settings: Settings) -> bool:
    from app.db import make_engine, make_sessionmaker
    from app.models import ApiKey, User

    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            found = await session.scalar(
                select(col(ApiKey.id))
                .join(User, col(User.id) == col(ApiKey.user_id))
                .where(col(User.role) == "admin", col(ApiKey.revoked_at).is_(None))
                .limit(1)
            )
    finally:
        await engine.dispose()
    return found is not None


def inspect(settings: Settings, *, destinations: bool = True) -> Facts:
    """Whether an admin can sign in; with `destinations`, one warning per saved destination
    the URL rule will refuse (the processes that page say so)."""

    async def both() -> Facts:
        refused = await warn_refused(settings) if destinations else []
        return Facts(await _admin_exists(settings), refused)

    from app.errors import is_connection_error

    try:
        return asyncio.run(both())
    except Exception as exc:
        # Advice only: a database that is failing over right now must not stop a process that
        # would otherwise wait for it and carry on paging.
        if not is_connection_error(exc):
            raise
        log.warning("start-up checks skipped: the database did not answer (%s)", exc)
        return Facts(admin_exists=True, refused=[])


async def _key_is_live(settings: Settings, secret: str) -> bool:
    from app.db import make_engine, make_sessionmaker
    from app.models import IntegrationKey
    from app.security import hash_key

    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            found = await session.scalar(
                select(col(IntegrationKey.id)).where(
                    col(IntegrationKey.key_hash) == hash_key(secret)
                )
            )
    finally:
        await engine.dispose()
    return found is not None


def example_key(
    settings: Settings, issued: dict[str, str], *, remember: bool, reissue: bool
) -> str | None:
    """The secret of the example integration key, the same at every start where it can be.

    `issued`: the integration keys the first-start load just made. `remember`: keep them
    beside the embedded data. `reissue`: when no working secret is known, make a new one.
    """
    from app.policyfiles.apply import ApplyError
    from app.policyfiles.runner import reissue as reissue_key

    data_dir = settings.data_dir.resolve()
    wanted = f"{EXAMPLE_SERVICE}/{EXAMPLE_KEY}"
    known = {**(remembered_keys(data_dir) if remember else {}), **issued}
    if remember and issued:
        remember_keys(data_dir, issued)
    secret = known.get(wanted)
    if secret is not None and asyncio.run(_key_is_live(settings, secret)):
        return secret
    if not reissue:
        return None
    try:
        secret = reissue_key(settings, EXAMPLE_SERVICE, EXAMPLE_KEY)
    except ApplyError as exc:
        log.warning("no example key to trigger with: %s", exc)
        return None
    log.warning("issued a new secret for integration key %s (the old one is void)", wanted)
    if remember:
        remember_keys(data_dir, {wanted: secret})
    return secret


def page_sink(write: Callable[[str], None]) -> Starter:
    """Starts the sink the example users' webhooks point at; it prints each page it gets."""

    async def start() -> Callable[[], None]:
        try:
            server = await start_sink(SINK_HOST, SINK_PORT, write)
        except OSError as exc:
            log.warning(
                "page sink not started on %s:%d (%s): example pages will not be delivered",
                SINK_HOST,
                SINK_PORT,
                exc.strerror or exc,
            )
            return lambda: None
        write(f"Page sink on http://{SINK_HOST}:{SINK_PORT}: example pages print here.")
        return server.close

    return start
