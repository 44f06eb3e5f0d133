"""Live updates: PostgreSQL announces every incident change; open consoles hear it over SSE.

A trigger (migration 0011) calls pg_notify('stairway_incidents', <incident id>) whenever an
incident or its timeline changes, in whichever API or worker process the change was made. Each
API process keeps one LISTEN connection and fans the ids out to its open event streams.

In the browser, each live part of a page re-fetches itself on "changed" and swaps its content,
not itself, with hx-sync "queue last": a change announced while a refresh is in flight is fetched
right after it, never dropped (htmx drops a second request from a busy element by default).

A page carries the feed's position as it was rendered (`IncidentFeed.position`, read before the
page's own reads) in its stream's URL. The stream then asks for a refresh on connecting only if
a change the page shows was announced since; when it cannot tell (another process rendered the
page, the feed was not listening or has reconnected since, or the position is too old), it asks
for one anyway.
"""

import asyncio
import contextlib
import logging
import secrets
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import asyncpg  # type: ignore[import-untyped]
from fastapi import Request, Response
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sse_starlette import EventSourceResponse

from app.accounts import sessions
from app.accounts.sessions import Viewer
from app.web.auth import lifetimes, now_of, settings_of

log = logging.getLogger(__name__)

CHANNEL = "stairway_incidents"
# The most often one stream tells its browser to refresh: a storm of changes is one refresh.
MIN_INTERVAL_SECONDS = 0.25
RECONNECT_DELAY_SECONDS = 1.0
PING_SECONDS = 15
# A quiet stream checks its session this often; a busy one before every refresh it asks for.
SESSION_CHECK_SECONDS = 15.0
# Announcements a feed remembers, to tell a connecting stream what its page has not seen.
REMEMBERED = 2048
# The feeds of this process: their streams end when the server stops (uvicorn waits for open
# responses before it exits, and an event stream never ends by itself).
_feeds: "weakref.WeakSet[IncidentFeed]" = weakref.WeakSet()


def end_streams() -> None:
    """Tell every open event stream of this process to finish (the server is stopping)."""
    for feed in _feeds:
        feed.closing.set()


class Subscription:
    """The ids of incidents changed since the subscriber last looked."""

    def __init__(self) -> None:
        self.changed: set[str] = set()
        # Set when the feed lost its connection: anything may have changed meanwhile.
        self.everything = False
        self.event = asyncio.Event()

    def note(self, incident_id: str | None) -> None:
        if incident_id is None:
            self.everything = True
        else:
            self.changed.add(incident_id)
        self.event.set()

    async def next(self) -> tuple[set[str], bool]:
        """Wait for a change; the changed ids and whether everything should be re-read."""
        await self.event.wait()
        self.event.clear()
        changed, everything = self.changed, self.everything
        self.changed, self.everything = set(), False
        return changed, everything


class IncidentFeed:
    """One LISTEN connection per process, opened when the first console subscribes."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._subscribers: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self.closing = anyio.Event()
        # Positions are `<feed>.<connection>.<announcements heard on it>`.
        self._name = secrets.token_hex(6)
        self._connection = 0
        self._heard = 0
        self._recent: deque[tuple[int, str]] = deque(maxlen=REMEMBERED)
        _feeds.add(self)

    @classmethod
    def for_engine(cls, engine: AsyncEngine) -> "IncidentFeed":
        _, connect_args = engine.dialect.create_connect_args(make_url(engine.url))
        return cls(lambda: asyncpg.connect(**connect_args))

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._heard += 1
        self._recent.append((self._heard, payload))
        for subscriber in self._subscribers:
            subscriber.note(payload)

    async def _listen(self) -> None:
        while True:
            lost = asyncio.Event()
            try:
                conn = await self._connect()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("live updates: cannot listen", extra={"error": repr(exc)})
                await asyncio.sleep(RECONNECT_DELAY_SECONDS)
                continue
            try:
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                # Nothing heard on an earlier connection tells what this one missed.
                self._connection += 1
                self._heard = 0
                self._recent.clear()
                self._connected.set()
                for subscriber in self._subscribers:
                    subscriber.note(None)  # changes made while nobody listened
                await lost.wait()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("live updates: connection lost", extra={"error": repr(exc)})
            finally:
                self._connected.clear()
                with contextlib.suppress(Exception):
                    await conn.close(timeout=1)
            await asyncio.sleep(RECONNECT_DELAY_SECONDS)

    async def ready(self) -> None:
        """Until the LISTEN connection is up (changes made before it are not announced)."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen())
        await self._connected.wait()

    def position(self) -> str:
        """Where the feed is now ("" while it is not listening): for `changed_since`."""
        if not self._connected.is_set():
            return ""
        return f"{self._name}.{self._connection}.{self._heard}"

    def changed_since(self, position: str) -> set[str] | None:
        """The incidents announced since `position`; None if the feed cannot tell."""
        name, _, rest = position.partition(".")
        connection, _, heard = rest.partition(".")
        if (
            not self._connected.is_set()
            or name != self._name
            or connection != str(self._connection)
            or not (heard.isascii() and heard.isdigit())
        ):
            return None
        since = int(heard)
        oldest = self._recent[0][0] if self._recent else self._heard + 1
        if since > self._heard or since + 1 < oldest:
            return None  # not a position of this connection, or older than it remembers
        return {incident_id for seq, incident_id in self._recent if seq > since}

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        """Hear of every change while the context is open."""
        subscription = Subscription()
        self._subscribers.add(subscription)
        try:
            await self.ready()
            yield subscription
        finally:
            self._subscribers.discard(subscription)

    async def close(self) -> None:
        """Stop listening (the app is shutting down)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


async def _session_live(request: Request, viewer: Viewer) -> bool:
    async with request.app.state.sessions() as session:
        return await sessions.is_live(
            session=session,
            token_hash=viewer.token_hash,
            now=now_of(request),
            lifetimes=lifetimes(settings_of(request)),
        )


def position(request: Request) -> str:
    """The feed's position for a page about to read what it shows (see `changes`)."""
    feed: IncidentFeed = request.app.state.feed
    return feed.position()


def changes(
    request: Request,
    viewer: Viewer | None,
    wanted: Callable[[set[str]], bool],
    since: str = "",
) -> Response:
    """An event stream that says "changed" when an incident the page shows may have changed.

    `since` is the feed's position when the page was rendered: on connecting, the stream asks
    for a refresh only if a change the page shows was announced after it (or if the feed
    cannot tell).

    It lasts as long as the viewer's session: signed out (anywhere) or expired, the stream says
    "signed-out" and ends, and a browser reconnecting without a session gets 204, which tells
    it to stop. The check is a primary-key read before each refresh the browser would make
    (at most one per MIN_INTERVAL_SECONDS), and every SESSION_CHECK_SECONDS while quiet.
    """
    if viewer is None:
        return Response(status_code=204)
    feed: IncidentFeed = request.app.state.feed

    async def stream() -> AsyncIterator[dict[str, str]]:
        clock = asyncio.get_running_loop().time
        async with feed.subscribe() as subscription:
            # What changed between the page's render and this subscription: refresh once.
            missed = feed.changed_since(since) if since else None
            if missed is None or (missed and wanted(missed)):
                yield {"event": "changed", "data": "subscribed"}
            # A comment (browsers skip it): from here on, every change is heard.
            yield {"comment": "listening"}
            checked_at = clock()
            while True:
                try:
                    changed, everything = await asyncio.wait_for(
                        subscription.next(), SESSION_CHECK_SECONDS
                    )
                except TimeoutError:
                    changed, everything = set(), False
                refresh = everything or (bool(changed) and wanted(changed))
                # Changes to incidents this page does not show ask for no check of their own.
                if refresh or clock() - checked_at >= SESSION_CHECK_SECONDS:
                    if not await _session_live(request, viewer):
                        yield {"event": "signed-out", "data": "the session has ended"}
                        return
                    checked_at = clock()
                if refresh:
                    yield {"event": "changed", "data": "incidents"}
                    await asyncio.sleep(MIN_INTERVAL_SECONDS)  # a storm is one refresh a beat

    return EventSourceResponse(
        stream(),
        ping=PING_SECONDS,
        shutdown_event=feed.closing,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
