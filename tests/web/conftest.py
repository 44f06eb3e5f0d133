"""The console in a real browser: Stairway served over HTTP, Debian's Chromium driven by Playwright.

The console server is the real app on a loopback port (its own settings: its public URL, a
single sign-on provider), sharing the suite's database, Redis queue and worker.
"""

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from oidc_provider_mock import run_server_in_thread
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from playwright.async_api import Error as PlaywrightError
from pydantic import SecretStr
from sqlalchemy import select
from sqlmodel import col

from app.accounts import passwords
from app.config import Settings
from app.db import transaction
from app.main import create_app
from app.models import Incident, User, utcnow
from app.users.schemas import UserCreate
from app.users.service import create_user
from tests.factories import Api
from tests.faults.harness import eventually
from tests.support import HttpSink

CHROMIUM = os.environ.get("STAIRWAY_TEST_CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
SCREENSHOTS = Path(__file__).parent / "screenshots"
# Every page is screenshotted at these sizes (a laptop, a phone).
SIZES = {"wide": (1280, 800), "phone": (390, 844)}
PASSWORD = "correct horse battery staple"
OIDC_CLIENT_ID = "stairway-console"
OIDC_ROLE_MAP = {"sre-leads": "admin", "sre": "responder"}
# What a person waits for on a busy machine (the actions' default below): assertions wait as long.
expect.set_options(timeout=10_000)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Clock:
    """The console's clock: real time plus however far a test moved it."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return utcnow() + self.offset


@dataclass
class Console:
    url: str
    app: Any
    clock: Clock
    oidc_url: str

    def api(self, headers: dict[str, str]) -> Api:
        return Api(httpx.AsyncClient(base_url=self.url, timeout=10), headers)


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[str]:
    """A real OpenID Connect provider on loopback (oidc-provider-mock)."""
    with run_server_in_thread(require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="session")
async def console(settings: Settings, app: Any, oidc_provider: str) -> AsyncIterator[Console]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    console_settings = settings.model_copy(
        update={
            "public_url": url,
            "oidc_issuer": oidc_provider,
            "oidc_client_id": OIDC_CLIENT_ID,
            "oidc_client_secret": SecretStr("mock-provider-accepts-any-secret"),
            "oidc_auto_provision": True,
            "oidc_role_map": OIDC_ROLE_MAP,
            "oidc_allowed_domains": ["example.com"],
            "signin_failures_allowed": 5,
        }
    )
    application = create_app(console_settings)
    clock = Clock()
    async with application.router.lifespan_context(application):
        application.state.clock = clock
        config = uvicorn.Config(
            application, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                await task  # it could not start: its error, rather than waiting forever
                raise RuntimeError("the console's server stopped before it started")
            await asyncio.sleep(0.01)  # uvicorn sets a flag on starting, no event
        yield Console(url=url, app=application, clock=clock, oidc_url=oidc_provider)
        from app.web.live import end_streams

        end_streams()
        server.should_exit = True
        await task


@pytest.fixture(autouse=True)
def web_worker(worker: Any) -> Any:
    """Every console test runs with its own real worker (stopped before the next test)."""
    return worker


@pytest.fixture(autouse=True)
def reset_clock(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "console" in request.fixturenames:
        request.getfixturevalue("console").clock.offset = timedelta()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield chromium
        await chromium.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(10_000)
    yield ctx
    await ctx.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


async def make_user(
    console: Console, email: str, *, role: str = "responder", name: str | None = None
) -> User:
    """A user with the test password."""
    async with transaction(console.app.state.sessions) as session:
        user = await session.scalar(select(User).where(col(User.email) == email))
        if user is None:
            data = UserCreate(name=name or email.split("@")[0].title(), email=email, role=role)
            user = await create_user(session=session, data=data)
        await passwords.set_password(session=session, user_id=user.id, password=PASSWORD)
    return user


async def sign_in(page: Page, console: Console, email: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a person would."""
    await page.goto(f"{console.url}/sign-in")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await page.wait_for_url(f"{console.url}/incidents")


async def visit(page: Page, url: str) -> None:
    """Open `url`; a navigation the open page's own event stream raced with is retried once."""
    try:
        await page.goto(url)
    except PlaywrightError as exc:
        if "ERR_ABORTED" not in str(exc):
            raise
        await page.goto(url)


def unique_email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}@example.com"


@dataclass
class World:
    api: Any
    service_id: str
    routing_key: str
    policy: dict[str, Any]

    async def enqueue(
        self,
        console: Console,
        summary: str,
        *,
        extra: dict[str, Any] | None = None,
        **payload: Any,
    ) -> str:
        """Trigger through /v2/enqueue; `extra` goes beside the payload (links, images)."""
        dedup_key = uuid.uuid4().hex
        body = {
            "routing_key": self.routing_key,
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {"summary": summary, "source": "db-3", "severity": "critical", **payload},
            **(extra or {}),
        }
        async with httpx.AsyncClient(base_url=console.url) as client:
            response = await client.post("/v2/enqueue", json=body)
        assert response.status_code == 202, response.text
        return dedup_key


@pytest.fixture
async def world(console: Console, admin_headers: dict[str, str], sink: HttpSink) -> World:
    sink.received.clear()  # pages of earlier tests
    api = console.api(admin_headers)
    first = await api.user("Ada Lovelace", webhook=sink.url("/page-ada"), rules=[0])
    second = await api.user("Brian Kernighan", webhook=sink.url("/page-brian"), rules=[0])
    policy = await api.policy([(3, [first["id"]]), (3, [second["id"]])])
    service = await api.service(policy["id"])
    key = await api.post(f"/services/{service['id']}/integration-keys", {"name": "pagerduty"})
    await make_user(console, "ada.lovelace@example.com")
    await make_user(console, "watcher@example.com", role="observer", name="Watcher")
    return World(api=api, service_id=service["id"], routing_key=key["key"], policy=policy)


async def incident_titled(console: Console, title: str) -> Incident:
    """The incident with this title, once the worker has opened it from the inbox."""
    found: list[Incident] = []

    async def opened() -> bool:
        async with console.app.state.sessions() as session:
            row = await session.scalar(select(Incident).where(col(Incident.title) == title))
        found.extend([row] if row is not None else [])
        return row is not None

    await eventually(opened, what=f"incident {title!r}")
    return found[0]


async def status_of(console: Console, incident_id: uuid.UUID) -> str:
    async with console.app.state.sessions() as session:
        incident: Incident | None = await session.get(Incident, incident_id)
    assert incident is not None
    return incident.status
