"""`stairway doctor`: what would keep this installation from paging, each with its fix."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from app.config import Settings, is_loopback_url
from app.destinations import FIX as DESTINATION_FIX
from app.destinations import refused_destinations

Level = Literal["ok", "warn", "fail"]
CHECK_TIMEOUT_SECONDS = 5.0
# The worker fires steps by its own clock against due times PostgreSQL stores.
CLOCK_SKEW_WARN_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's verdict: `fail` means pages would not go out."""

    check: str
    level: Level
    message: str
    fix: str = ""


def _shown_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


async def _database(engine: AsyncEngine, settings: Settings) -> list[Finding]:
    async with engine.connect() as conn:
        version = await conn.scalar(text("SHOW server_version"))
        db_epoch = await conn.scalar(text("SELECT extract(epoch FROM clock_timestamp())"))
    skew = abs(float(db_epoch) - time.time())
    findings = [
        Finding("database", "ok", f"PostgreSQL {version} at {_shown_url(settings.database_url)}")
    ]
    if skew > CLOCK_SKEW_WARN_SECONDS:
        findings.append(
            Finding(
                "clock",
                "warn",
                f"this host's clock and PostgreSQL's differ by {skew:.1f} s: escalation steps "
                "fire that much early or late",
                "run NTP (chrony, systemd-timesyncd) on both hosts",
            )
        )
    else:
        findings.append(Finding("clock", "ok", f"host and PostgreSQL agree within {skew:.2f} s"))
    return findings


async def _redis(settings: Settings) -> list[Finding]:
    from arq import create_pool

    from app.redis_url import arq_redis_settings

    redis_settings = arq_redis_settings(settings.redis_url)
    redis_settings.conn_retries = 0
    pool = await create_pool(redis_settings)
    try:
        await pool.ping()
    finally:
        await pool.aclose()
    return [Finding("redis", "ok", f"reachable at {_shown_url(settings.redis_url)}")]


async def _migrations(settings: Settings) -> list[Finding]:
    from app.migrations import alembic_ini, database_revisions, script_heads

    heads = script_heads(alembic_ini().parent / "alembic" / "versions")
    current = await database_revisions(settings.database_url)
    if heads is not None and current == heads:
        return [Finding("migrations", "ok", f"schema is current ({', '.join(sorted(heads))})")]
    at = ", ".join(sorted(current)) or "an empty schema"
    newest = ", ".join(sorted(heads or ())) or "?"
    return [
        Finding("migrations", "fail", f"database at {at}, newest is {newest}", "stairway migrate")
    ]


def _public_url(settings: Settings) -> list[Finding]:
    parts = urlsplit(settings.public_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [
            Finding(
                "public URL",
                "fail",
                f"STAIRWAY_PUBLIC_URL={settings.public_url!r} is not an http(s) URL: the "
                "acknowledge links in pages cannot be built",
                "set STAIRWAY_PUBLIC_URL to the address people open, e.g. https://pager.example.com",
            )
        ]
    if is_loopback_url(settings.public_url) and (
        settings.listens_everywhere or settings.database_url
    ):
        return [
            Finding(
                "public URL",
                "warn",
                f"{settings.public_url} is this machine only: acknowledge links in pages open "
                "nowhere else",
                "set STAIRWAY_PUBLIC_URL to the address people and providers reach",
            )
        ]
    return [Finding("public URL", "ok", settings.public_url)]


async def _providers(engine: AsyncEngine, settings: Settings) -> list[Finding]:
    from app.db import make_sessionmaker
    from app.models import ContactMethod
    from app.notify.registry import build_providers, make_http_client

    client = make_http_client(settings)
    try:
        configured = set(build_providers(client, settings))
    finally:
        await client.aclose()
    async with make_sessionmaker(engine)() as session:
        rows = await session.execute(
            select(col(ContactMethod.type), func.count()).group_by(col(ContactMethod.type))
        )
        in_use = dict(rows.tuples().all())
        refused = await refused_destinations(session=session, settings=settings)
    findings = []
    for channel, count in sorted(in_use.items()):
        if channel in configured:
            findings.append(Finding("providers", "ok", f"{channel}: {count} contact method(s)"))
            continue
        setting = "STAIRWAY_SMTP_HOST" if channel == "email" else "STAIRWAY_TWILIO_ACCOUNT_SID"
        findings.append(
            Finding(
                "providers",
                "fail",
                f"{count} {channel} contact method(s) but no {channel} provider: those pages fail",
                f"configure {setting} and its companions (docs/notifications.md)",
            )
        )
    if in_use.get("slack") and not settings.slack_signing_secret.get_secret_value():
        findings.append(
            Finding(
                "providers",
                "warn",
                "Slack pages go out, but their Acknowledge/Resolve buttons are refused",
                "set STAIRWAY_SLACK_SIGNING_SECRET (docs/notifications.md)",
            )
        )
    if not in_use:
        findings.append(
            Finding(
                "providers",
                "warn",
                "no contact methods: nobody can be paged",
                "add users and contact methods (REST API or policies/)",
            )
        )
    for item in refused:
        findings.append(
            Finding(
                "destinations",
                "fail",
                f"{item.what}: {item.url} is refused ({item.reason})",
                DESTINATION_FIX,
            )
        )
    if not refused:
        findings.append(Finding("destinations", "ok", "every saved destination may be sent to"))
    return findings


async def _guarded(
    check: str, fix: str, run: Callable[[], Awaitable[list[Finding]]]
) -> list[Finding]:
    try:
        return await asyncio.wait_for(run(), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure is the finding: name it
        return [Finding(check, "fail", f"unreachable: {type(exc).__name__}: {exc}", fix)]


async def _all(settings: Settings) -> list[Finding]:
    from app.db import make_engine

    engine = make_engine(settings)
    try:
        findings = await _guarded(
            "database",
            "check DATABASE_URL and that PostgreSQL is running and accepts this host",
            lambda: _database(engine, settings),
        )
        findings += await _guarded(
            "redis", "check REDIS_URL and that Redis is running", lambda: _redis(settings)
        )
        reachable = findings[0].level == "ok"
        if reachable:
            findings += await _guarded(
                "migrations", "stairway migrate", lambda: _migrations(settings)
            )
        findings += _public_url(settings)
        if reachable:
            findings += await _guarded(
                "providers", "see the error above", lambda: _providers(engine, settings)
            )
        return findings
    finally:
        await engine.dispose()


def diagnose(settings: Settings) -> list[Finding]:
    """Every check, in the order an operator would fix them."""
    return asyncio.run(_all(settings))


def render(findings: list[Finding]) -> str:
    """One line per finding, its fix under it."""
    labels = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    lines = []
    for finding in findings:
        lines.append(f"{labels[finding.level]}  {finding.check}: {finding.message}")
        if finding.fix and finding.level != "ok":
            lines.append(f"      fix: {finding.fix}")
    failed = sum(f.level == "fail" for f in findings)
    lines.append(
        f"{failed} problem(s) would stop pages from going out." if failed else "Ready to page."
    )
    return "\n".join(lines)
