"""Liveness, readiness and Prometheus metrics."""

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text

from app import metrics
from app.models import DeadInboundEvent
from app.store import listing

router = APIRouter(tags=["health"])
CHECK_TIMEOUT_SECONDS = 2.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


async def _database(request: Request) -> None:
    async with request.app.state.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _redis(request: Request) -> None:
    await request.app.state.redis.ping()


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """PostgreSQL and Redis are reachable."""
    checks = {}
    for name, check in (("database", _database), ("redis", _redis)):
        try:
            await asyncio.wait_for(check(request), CHECK_TIMEOUT_SECONDS)
            checks[name] = "ok"
        except Exception as exc:  # any failure means not ready; say which
            checks[name] = f"unavailable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    headers = {} if ready else {"Retry-After": "5"}
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
        headers=headers,
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def prometheus_metrics(request: Request) -> Response:
    """Process metrics plus incident and dead inbound event counts read from PostgreSQL at
    scrape time."""
    try:
        async with request.app.state.sessions() as session:
            counts = await listing.counts_by_status(session)
            dead = await session.scalar(select(func.count()).select_from(DeadInboundEvent))
        for status in ("triggered", "acknowledged", "resolved"):
            metrics.INCIDENTS.labels(status).set(counts.get(status, 0))
        metrics.INBOUND_DEAD_WAITING.set(dead or 0)
        metrics.QUEUE_DEPTH.set(
            await request.app.state.redis.zcard(request.app.state.settings.queue_name)
        )
    except Exception:  # a scrape during an outage still returns the process metrics
        pass
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
