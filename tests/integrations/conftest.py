"""A real uvicorn server (HTTP and HTTPS on loopback) serving the test app to outside clients."""

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
import uvicorn
from starlette.types import Receive, Scope, Send


@dataclass
class RequestWatch:
    """ASGI wrapper counting finished requests, so tests wait on arrivals instead of sleeping."""

    app: Any
    finished: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http":
                async with self.changed:
                    self.finished += 1
                    self.changed.notify_all()

    async def until(self, check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
        """Until `check()` holds, re-checked after each request the server finishes."""

        async def loop() -> None:
            while True:
                async with self.changed:
                    seen = self.finished
                if await check():
                    return
                await self._finished_past(seen)

        await asyncio.wait_for(loop(), timeout)

    async def _finished_past(self, seen: int) -> None:
        """Until more than `seen` requests have finished."""
        async with self.changed:
            await self.changed.wait_for(lambda: self.finished > seen)


@dataclass
class LiveServer:
    http_url: str
    https_url: str
    ssl_context: ssl.SSLContext
    watch: RequestWatch


async def _serve(app: Any, **options: Any) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
        **options,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0)
    return server, task, server.servers[0].sockets[0].getsockname()[1]


@pytest.fixture(scope="session")
async def live(app: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    """The session's app behind real sockets: plain HTTP and HTTPS (a test CA)."""
    watch = RequestWatch(app)
    ca = trustme.CA()
    pem = Path(tmp_path_factory.mktemp("tls")) / "server.pem"
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(str(pem))
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    plain, plain_task, plain_port = await _serve(watch)
    tls, tls_task, tls_port = await _serve(watch, ssl_certfile=str(pem))
    yield LiveServer(
        f"http://127.0.0.1:{plain_port}", f"https://127.0.0.1:{tls_port}", client_context, watch
    )
    for server in (plain, tls):
        server.should_exit = True
    await asyncio.gather(plain_task, tls_task)
