"""What the `stairway policies` commands and the first-start load do (imported when they run)."""

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import TypeVar

import typer
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker
from app.migrations import migrate
from app.models import User, utcnow
from app.policyfiles.apply import (
    ApplyError,
    ApplyResult,
    Issued,
    apply_policies,
    plan_policies,
    reissue_key,
    shown_once,
)
from app.policyfiles.documents import Desired, read_policies
from app.policyfiles.export import ExportError, export_files, write_export
from app.policyfiles.loader import policy_files
from app.policyfiles.plan import render_json, render_text
from app.policyfiles.state import read_state
from app.servers import resolve_servers

T = TypeVar("T")


def read(directory: Path) -> Desired:
    """The files, or exit 1 after printing every problem."""
    desired, problems = read_policies(directory)
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems:
        typer.echo(f"{len(problems)} problem(s) in {directory}; nothing was changed.", err=True)
        raise typer.Exit(1)
    return desired


def database() -> Settings:
    """DATABASE_URL or the embedded servers, migrated; their chatter kept off stdout."""
    with redirect_stdout(sys.stderr):
        settings = resolve_servers(get_settings())
        migrate(settings.database_url)
    return settings


async def with_sessions(
    settings: Settings, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
) -> T:
    engine = make_engine(settings)
    try:
        return await work(make_sessionmaker(engine))
    finally:
        await engine.dispose()


def diff(directory: Path, *, prune: bool, as_json: bool, exit_code: bool) -> None:
    """Print the plan; exit 2 on changes when asked."""
    desired = read(directory)
    settings = database()
    plan = asyncio.run(
        with_sessions(settings, lambda sessions: plan_policies(sessions, desired, prune=prune))
    )
    typer.echo(json.dumps(render_json(plan), indent=2) if as_json else render_text(plan))
    if exit_code and plan.has_changes:
        raise typer.Exit(2)


def apply(directory: Path, *, prune: bool, dry_run: bool) -> None:
    """Apply and print what was done and what was issued."""
    desired = read(directory)
    settings = database()

    async def work(sessions: async_sessionmaker[AsyncSession]) -> ApplyResult:
        return await apply_policies(
            sessions,
            desired,
            prune=prune,
            dry_run=dry_run,
            public_url=settings.public_url,
            allow_private=bool(settings.allow_private_webhook_targets),
        )

    try:
        result = asyncio.run(with_sessions(settings, work))
    except ApplyError as exc:
        typer.echo(f"apply failed; nothing was changed: {exc}", err=True)
        raise typer.Exit(1) from exc
    except DBAPIError as exc:
        typer.echo(f"apply failed; nothing was changed: database error: {exc.orig}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(render_text(result.plan, applied=not dry_run))
    if dry_run:
        typer.echo("Dry run: the changes were made and rolled back; nothing was changed.")
    if result.issued:
        typer.echo(shown_once(result.issued))


def export(directory: Path, *, force: bool) -> None:
    """Write the database's configuration as files."""
    settings = database()

    async def work(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
        async with sessions() as session:
            now = utcnow()
            return export_files(await read_state(session=session, now=now), now=now)

    files = asyncio.run(with_sessions(settings, work))
    try:
        written = write_export(directory, files, force=force)
    except ExportError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    for path in written:
        typer.echo(f"wrote {path}")


def reissue(settings: Settings, service: str, key: str) -> str:
    """A new secret for the named integration key (the old one stops working)."""
    return asyncio.run(with_sessions(settings, lambda s: reissue_key(s, service=service, key=key)))


def rotate_key(service: str, key: str) -> None:
    """Print a new secret for a named integration key."""
    settings = database()
    try:
        secret = reissue(settings, service, key)
    except ApplyError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(secret)


async def _load_if_empty(settings: Settings, desired: Desired) -> ApplyResult | None:
    async def work(sessions: async_sessionmaker[AsyncSession]) -> ApplyResult | None:
        async with sessions() as session:
            users = await session.scalar(select(func.count()).select_from(User))
        if users:
            return None
        return await apply_policies(
            sessions,
            desired,
            prune=False,
            dry_run=False,
            public_url=settings.public_url,
            allow_private=bool(settings.allow_private_webhook_targets),
        )

    return await with_sessions(settings, work)


def load_on_first_start(settings: Settings) -> list[Issued] | None:
    """Apply the policies directory to a database with no users yet; what it issued, or None."""
    directory = settings.policies_dir
    if not directory.exists() or not policy_files(directory):
        return None
    desired, problems = read_policies(directory)
    if problems:
        typer.echo(f"{directory} not loaded, {len(problems)} problem(s):", err=True)
        for problem in problems:
            typer.echo(f"  {problem}", err=True)
        return None
    try:
        result = asyncio.run(_load_if_empty(settings, desired))
    except ApplyError as exc:
        typer.echo(f"{directory} not loaded: {exc}", err=True)
        return None
    if result is None:
        return None
    typer.echo(f"Loaded {directory} into the new database ({desired.count()}).")
    if result.issued:
        typer.echo(shown_once(result.issued))
    return result.issued
