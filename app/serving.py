"""Running the API, the worker (and the example page sink) until SIGINT or SIGTERM.

The first signal asks every part to finish what it is doing: the API answers the requests in
flight, the worker takes no new job and lets its running jobs end their current batch, for at
most `worker_stop_grace_seconds`; whatever is still running then is cancelled, which rolls its
transaction back and leaves the job queued for the next worker. A second signal cancels at once.
The process then exits 0.
"""

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any

from app.config import Settings

if TYPE_CHECKING:
    import uvicorn
    from arq.worker import Worker

log = logging.getLogger("stairway")
WORKER_RESTART_DELAY_SECONDS = 1.0
STOP_POLL_SECONDS = 0.05


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop."""
    import uvloop

    uvloop.run(main)


class Stop:
    """SIGINT/SIGTERM: the first asks for a graceful stop, a second one for an immediate one."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.hurried = asyncio.Event()

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.signalled, sig)

    def signalled(self, sig: signal.Signals) -> None:
        if self.requested.is_set():
            log.warning("%s again: stopping at once", sig.name)
            self.hurried.set()
            return
        log.info(
            "%s: finishing the work in flight, then stopping (again to stop at once)", sig.name
        )
        self.requested.set()


def api_server(settings: Settings) -> "uvicorn.Server":
    """The API's uvicorn server; it leaves SIGINT/SIGTERM to `Stop`."""
    import uvicorn

    from app.main import create_app

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=settings.access_log,
        proxy_headers=True,
    )
    return Server(config)


async def _api(settings: Settings, stop: Stop) -> None:
    server = api_server(settings)

    async def relay() -> None:
        from app.web.live import end_streams

        await stop.requested.wait()
        server.should_exit = True  # the requests in flight are answered first
        end_streams()  # open consoles' event streams would hold the API up forever
        await stop.hurried.wait()
        server.force_exit = True

    relaying = asyncio.ensure_future(relay())
    try:
        await server.serve()
    finally:
        relaying.cancel()


def _started(settings: Settings, startup: Callable[[dict[str, Any]], Awaitable[None]]) -> Any:
    async def on_startup(ctx: dict[str, Any]) -> None:
        await startup(ctx)
        metrics = (
            f"metrics on port {settings.worker_metrics_port}"
            if settings.worker_metrics_port
            else "no metrics port (STAIRWAY_WORKER_METRICS_PORT)"
        )
        log.info(
            "worker started: queue %s, up to %d jobs at once, %s",
            settings.queue_name,
            settings.worker_max_jobs,
            metrics,
        )

    return on_startup


async def _finish(
    worker: "Worker", running: "asyncio.Future[None]", stop: Stop, grace: float
) -> None:
    """No new jobs; running ones end their batch (or are cancelled and stay queued)."""
    from app.jobs import STOPPING

    worker.allow_pick_jobs = False
    worker.ctx.setdefault(STOPPING, asyncio.Event()).set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while (
        any(not task.done() for task in worker.tasks.values())
        and loop.time() < deadline
        and not stop.hurried.is_set()
    ):
        await asyncio.sleep(STOP_POLL_SECONDS)
    unfinished = [task for task in worker.tasks.values() if not task.done()]
    if unfinished:
        log.warning("cancelling %d job(s) still running; they stay queued", len(unfinished))
    for task in unfinished:
        task.cancel()
    await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
    worker.tasks.clear()
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running


async def _worker(settings: Settings, stop: Stop) -> None:
    from redis.exceptions import RedisError

    from workers.main import make_startup, make_worker

    while not stop.requested.is_set():
        worker = make_worker(
            settings, handle_signals=False, on_startup=_started(settings, make_startup(settings))
        )
        running = asyncio.ensure_future(worker.async_run())
        stopping = asyncio.ensure_future(stop.requested.wait())
        try:
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not running.done():
                await _finish(worker, running, stop, settings.worker_stop_grace_seconds)
                log.info("worker stopped")
                return
            running.result()
            return
        except (RedisError, ConnectionError, OSError) as exc:
            # Redis went away for longer than the command retries cover: start over, the
            # sweeper re-arms whatever the queue lost.
            log.warning("worker lost Redis; restarting", extra={"error": repr(exc)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.requested.wait(), WORKER_RESTART_DELAY_SECONDS)
        finally:
            stopping.cancel()
            await worker.close()


async def until_stopped(
    settings: Settings,
    *,
    api: bool = True,
    worker: bool = True,
    started: Callable[[], Awaitable[Callable[[], None]]] | None = None,
) -> None:
    """Run the API and/or the worker until a signal, or until one of them stops by itself.

    `started` (e.g. the example page sink) runs first and returns how to stop it.
    """
    stop = Stop()
    stop.install()
    close = await started() if started else None
    parts = []
    if api:
        parts.append(asyncio.ensure_future(_api(settings, stop)))
    if worker:
        parts.append(asyncio.ensure_future(_worker(settings, stop)))
    try:
        await asyncio.wait(parts, return_when=asyncio.FIRST_COMPLETED)
        stop.requested.set()  # one part ended on its own: stop the others too
        await asyncio.wait(parts)
    finally:
        if close is not None:
            close()
    for part in parts:
        part.result()  # an error that ended a part ends the command with it
