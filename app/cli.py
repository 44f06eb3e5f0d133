"""The `stairway` command."""

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from app.accounts.cli import users_app
from app.config import Settings, get_settings
from app.logs import configure_logging
from app.policyfiles.commands import demo, load_on_first_start, policies_app

log = logging.getLogger("stairway")
WORKER_RESTART_DELAY_SECONDS = 1.0

cli = typer.Typer(help="Stairway: incident paging and escalation.", no_args_is_help=True)
keys = typer.Typer(help="API keys.", no_args_is_help=True)
cli.add_typer(keys, name="keys")
cli.add_typer(policies_app, name="policies")
cli.add_typer(users_app, name="users")
cli.command("demo")(demo)


def _run(coro: Coroutine[Any, Any, None]) -> None:
    import uvloop

    uvloop.run(coro)


def _resolve_servers(settings: Settings) -> Settings:
    """Use DATABASE_URL/REDIS_URL, or start the embedded servers for whichever is missing."""
    if settings.database_url and settings.redis_url:
        return settings
    from app.embedded import EmbeddedServerError, running_embedded, start_embedded

    data_dir = settings.data_dir.resolve()
    try:
        servers = start_embedded(data_dir)
        database_url, redis_url = servers.database_url, servers.redis_url
        typer.echo(f"embedded PostgreSQL and Redis running, data in {data_dir}", err=True)
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


def _migrate(settings: Settings) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(Path(__file__).resolve().parent.parent / "alembic.ini"))
    config.attributes["database_url"] = settings.database_url
    command.upgrade(config, "head")


@cli.command()
def migrate() -> None:
    """Apply database migrations."""
    configure_logging()
    _migrate(_resolve_servers(get_settings()))


def _api_server(settings: Settings, *, own_signals: bool = True) -> Any:
    """The API's uvicorn server; without `own_signals` it leaves SIGINT/SIGTERM to the caller."""
    import uvicorn

    from app.main import create_app

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if own_signals:
                with super().capture_signals():
                    yield
            else:
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


async def _serve_api(settings: Settings) -> None:
    await _api_server(settings).serve()


async def _serve_worker(settings: Settings, *, own_signals: bool = True) -> None:
    from redis.exceptions import RedisError

    from workers.main import make_worker

    while True:
        worker = make_worker(settings, handle_signals=own_signals)
        try:
            await worker.async_run()
            return
        except (RedisError, ConnectionError, OSError) as exc:
            # Redis went away for longer than the command retries cover: start over, the
            # sweeper re-arms whatever the queue lost.
            log.warning("worker lost Redis; restarting", extra={"error": repr(exc)})
            await asyncio.sleep(WORKER_RESTART_DELAY_SECONDS)
        finally:
            await worker.close()


async def _serve_both(settings: Settings) -> None:
    """API and worker in this process until SIGINT/SIGTERM, or until either of them stops."""
    server = _api_server(settings, own_signals=False)
    worker = asyncio.ensure_future(_serve_worker(settings, own_signals=False))

    from app.web.live import end_streams

    def stop() -> None:
        server.should_exit = True  # the API finishes the requests in flight, then returns
        end_streams()  # open consoles' event streams would hold the API up forever
        worker.cancel()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    worker.add_done_callback(lambda _: setattr(server, "should_exit", True))
    try:
        await server.serve()
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    error = None if worker.cancelled() else worker.exception()
    if error is not None:
        raise error


def _banner(settings: Settings) -> None:
    typer.echo(f"Stairway API on http://{settings.host}:{settings.port} (docs at /docs)")
    typer.echo(f"Console on http://{settings.host}:{settings.port}/ (sign in with a link from:")
    typer.echo("  stairway users sign-in-link --email you@example.com)")
    typer.echo("First admin key: stairway keys create-admin --email you@example.com")


@cli.command()
def serve() -> None:
    """API and worker in one process; embedded PostgreSQL/Redis when no URLs are set."""
    configure_logging()
    settings = _resolve_servers(get_settings())
    _migrate(settings)
    load_on_first_start(settings)
    _banner(settings)

    _run(_serve_both(settings))


@cli.command()
def api() -> None:
    """The API only (run workers separately)."""
    configure_logging()
    settings = _resolve_servers(get_settings())
    _banner(settings)
    _run(_serve_api(settings))


@cli.command()
def worker() -> None:
    """A worker only: escalation steps, deliveries and the sweeper."""
    configure_logging()
    settings = _resolve_servers(get_settings())
    if settings.worker_nice:
        os.nice(settings.worker_nice)
    _run(_serve_worker(settings))


@keys.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="The admin's email (created if new).")],
    name: Annotated[str, typer.Option(help="The admin's name.")] = "Admin",
) -> None:
    """Create (or reuse) an admin user and print a new API key for it, once."""
    settings = _resolve_servers(get_settings())
    _migrate(settings)
    from app.bootstrap import create_admin_key

    secret = asyncio.run(create_admin_key(settings, email=email, name=name))
    typer.echo(secret)


def main() -> None:
    """Entry point of the `stairway` script."""
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    cli()
