"""Real local parts for tests: an HTTP sink that records pages, and a tracker of finished jobs."""

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.models import Incident, Notification

# How far a signature's timestamp may be from the request's arrival (what a receiver accepts).
SIGNATURE_TOLERANCE_SECONDS = 300


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)

    def signed_by(self, secret: str) -> bool:
        """Whether X-Stairway-Signature is `t=<unix>,v1=<hex hmac-sha256(secret, "<t>.<body>")>`,
        with `t` within five minutes of the request's arrival."""
        parts = dict(p.split("=", 1) for p in self.headers["x-stairway-signature"].split(","))
        expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + self.body, hashlib.sha256)
        fresh = abs(self.at - int(parts["t"])) <= SIGNATURE_TOLERANCE_SECONDS
        return fresh and hmac.compare_digest(parts["v1"], expected.hexdigest())


@dataclass
class HttpSink:
    """A loopback HTTP server that records every request; replies are scriptable per path."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    # path -> list of status codes to answer, consumed in order (then 200).
    script: dict[str, list[int]] = field(default_factory=dict)
    # Paths that answer only after `hang_seconds` (a provider hanging past our timeout).
    hang: set[str] = field(default_factory=set)
    hang_seconds: float = 30.0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    server: uvicorn.Server | None = None
    task: asyncio.Task[None] | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        async with self.changed:
            self.received.append(Received(path, dict(request.headers), body, time.time()))
            self.changed.notify_all()
        if path in self.hang:
            await asyncio.sleep(self.hang_seconds)
        codes = self.script.get(path)
        status = codes.pop(0) if codes else 200
        return JSONResponse({"ok": status < 300}, status_code=status)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST", "GET"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            await asyncio.sleep(0)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            await self.task

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        """Until `predicate()` holds, woken by each request (no polling)."""
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(predicate), timeout)

    async def wait_count(self, path: str, count: int, timeout: float = 15.0) -> list[Received]:
        await self.wait_for(lambda: len(self.at(path)) >= count, timeout)
        return self.at(path)


@dataclass
class JobTracker:
    """Finished arq job ids, announced by the worker's after_job_end hook, and waits on what the
    jobs committed to PostgreSQL, looked at again after each job the worker finishes."""

    sessions: async_sessionmaker[AsyncSession]
    done: set[str] = field(default_factory=set)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    finished_count: int = 0

    async def finished(self, ctx: dict[str, Any]) -> None:
        async with self.changed:
            self.done.add(ctx["job_id"])
            self.finished_count += 1
            self.changed.notify_all()

    async def until(self, check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
        """Until `check()` holds, re-checked after each job the worker finishes."""

        async def loop() -> None:
            while True:
                seen = self.finished_count
                if await check():
                    return
                await self._finished_past(seen)

        await asyncio.wait_for(loop(), timeout)

    async def _finished_past(self, seen: int) -> None:
        """Until more than `seen` jobs have finished."""
        async with self.changed:
            await self.changed.wait_for(lambda: self.finished_count > seen)

    async def step_applied(self, incident_id: Any, token: int, timeout: float = 15.0) -> None:
        """Until the incident's step fenced by `token` has committed (its token moved on)."""
        query = select(col(Incident.step_token)).where(
            col(Incident.id) == uuid.UUID(str(incident_id))
        )

        async def moved_on() -> bool:
            async with self.sessions() as session:
                current = await session.scalar(query)
            return current is not None and current > token

        await self.until(moved_on, timeout)

    async def page_settled(self, page_id: Any, *, attempts: int = 0, timeout: float = 15.0) -> None:
        """Until the delivery of a page that had made `attempts` attempts has been recorded
        (sent, failed, cancelled, or a failed attempt to retry)."""
        query = select(col(Notification.status), col(Notification.attempts)).where(
            col(Notification.id) == uuid.UUID(str(page_id))
        )

        async def settled() -> bool:
            async with self.sessions() as session:
                row = (await session.execute(query)).one()
            return bool(row.status != "pending" or row.attempts > attempts)

        await self.until(settled, timeout)

    async def wait_prefix(self, prefix: str, timeout: float = 15.0) -> None:
        """Until some job whose id starts with `prefix` has finished."""
        async with self.changed:
            await asyncio.wait_for(
                self.changed.wait_for(lambda: any(j.startswith(prefix) for j in self.done)),
                timeout,
            )
