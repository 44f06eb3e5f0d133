"""`stairway serve | api | worker | demo | migrate`: the long-running commands and the schema."""

import logging
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from app.config import Settings

Host = Annotated[
    str | None,
    typer.Option(
        help="Address to listen on [default: STAIRWAY_HOST or 127.0.0.1].", show_default=False
    ),
]
Port = Annotated[
    int | None,
    typer.Option(help="Port to listen on [default: STAIRWAY_PORT or 8080].", show_default=False),
]


def register(cli: typer.Typer) -> None:
    """Add these commands to the `stairway` program."""
    for command in (serve, api, worker, demo, migrate):
        cli.command()(command)


def migrate() -> None:
    """Apply database migrations (says which, or that the schema is current)."""
    from app.config import get_settings
    from app.logs import configure_logging
    from app.migrations import upgrade
    from app.servers import resolve_servers

    configure_logging()
    typer.echo(upgrade(resolve_servers(get_settings()).database_url))


def _banner(settings: "Settings", *, admin_exists: bool) -> None:
    base = settings.public_url.rstrip("/")
    typer.echo(
        f"Stairway API listening on {settings.host}:{settings.port}; "
        f"open {base}/docs (links in pages use {base})"
    )
    typer.echo(
        f"Console at {base}/ (sign in with a link from: "
        "stairway users sign-in-link --email you@example.com)"
    )
    if not admin_exists:
        typer.echo("First admin key: stairway keys create-admin --email you@example.com")


def _serve(host: str | None, port: int | None, *, demo: bool) -> None:
    from app.logs import configure_logging
    from app.migrations import upgrade
    from app.policyfiles.demo import EXAMPLE_KEY, EXAMPLE_SERVICE, instructions
    from app.policyfiles.runner import load_on_first_start
    from app.servers import resolve_servers, uses_embedded
    from app.serving import run, until_stopped
    from app.startup import (
        example_key,
        inspect,
        page_sink,
        settings_for,
        warn_public_url,
    )

    # The demo keeps the terminal for the pages; `serve` logs what it does.
    configure_logging(level=logging.WARNING if demo else logging.INFO)
    wanted = settings_for(host=host, port=port)
    embedded = uses_embedded(wanted)
    settings = resolve_servers(wanted)
    logging.getLogger("stairway").info("migrations: %s", upgrade(settings.database_url))
    issued = load_on_first_start(settings) or []
    keys = {i.name: i.value for i in issued if i.what == "integration key"}
    warn_public_url(settings)
    facts = inspect(settings)
    _banner(settings, admin_exists=facts.admin_exists)
    with_sink = demo or embedded
    if with_sink:
        secret = example_key(settings, keys, remember=embedded, reissue=demo)
        if secret is not None:
            typer.echo(
                instructions(
                    public_url=settings.public_url,
                    routing_key=secret,
                    service=EXAMPLE_SERVICE,
                    key=EXAMPLE_KEY,
                )
            )
    if demo:
        link = _sign_in_link(settings)
        if link:
            typer.echo(f"Console: {link} (a one-time sign-in link)")
    started = page_sink(typer.echo) if with_sink else None
    run(until_stopped(settings, started=started))


def _sign_in_link(settings: "Settings") -> str | None:
    """A one-time console sign-in link for the first admin (None when there is no user)."""
    import asyncio

    from app.accounts.commands import issue_link
    from app.accounts.links import Purpose
    from app.errors import AppError

    try:
        return asyncio.run(issue_link(settings, email=None, purpose=Purpose.SIGN_IN)).url
    except AppError:
        return None


def serve(host: Host = None, port: Port = None) -> None:
    """API and worker in one process (embedded PostgreSQL, Redis and page sink if no URLs)."""
    _serve(host, port, demo=False)


def demo(host: Host = None, port: Port = None) -> None:
    """Serve the example policies with a page sink that prints every page, and a test key."""
    _serve(host, port, demo=True)


def api(host: Host = None, port: Port = None) -> None:
    """The API only (run workers separately)."""
    from app.logs import configure_logging
    from app.servers import resolve_servers
    from app.serving import run, until_stopped
    from app.startup import inspect, settings_for, warn_public_url

    configure_logging()
    settings = resolve_servers(settings_for(host=host, port=port))
    warn_public_url(settings)
    _banner(settings, admin_exists=inspect(settings, destinations=False).admin_exists)
    run(until_stopped(settings, worker=False))


def worker() -> None:
    """A worker only: escalation steps, deliveries and the sweeper."""
    import os

    from app.config import get_settings
    from app.logs import configure_logging
    from app.servers import resolve_servers
    from app.serving import run, until_stopped
    from app.startup import inspect

    configure_logging()
    settings = resolve_servers(get_settings())
    if settings.worker_nice:
        os.nice(settings.worker_nice)
    inspect(settings)
    run(until_stopped(settings, api=False))
