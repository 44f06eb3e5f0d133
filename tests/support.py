"""Real local parts for tests: an HTTP sink that records pages, and a tracker of finished jobs."""

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

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
    """Finished arq job ids, announced by the worker's after_job_end hook."""

    done: set[str] = field(default_factory=set)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    finished_count: int = 0

    async def finished(self, ctx: dict[str, Any]) -> None:
        async with self.changed:
            self.done.add(ctx["job_id"])
            # A batch job also names the per-row jobs it did the work of (e.g. "step:<id>:<token>").
            self.done.update(ctx.get("done", ()))
            self.finished_count += 1
            self.changed.notify_all()

    async def until(self, check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
        """Until `check()` holds, re-checked after each job the worker finishes."""

        async def loop() -> None:
            while True:
                seen = self.finished_count
                if await check():
                    return
                async with self.changed:
                    await self.changed.wait_for(lambda seen=seen: self.finished_count > seen)

        await asyncio.wait_for(loop(), timeout)

    async def wait_prefix(self, prefix: str, timeout: float = 15.0) -> None:
        """Until some job whose id starts with `prefix` has finished."""
        async with self.changed:
            await asyncio.wait_for(
                self.changed.wait_for(lambda: any(j.startswith(prefix) for j in self.done)),
                timeout,
            )
