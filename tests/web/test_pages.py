"""Every console page at a laptop's and a phone's size, light and dark: a screenshot to look at
(tests/web/screenshots/, git-ignored) and axe-core finding no serious or critical violation."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from app.models import utcnow
from tests.web.conftest import AXE, SCREENSHOTS, Console, make_user, sign_in, visit

VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
SCHEMES = ("light", "dark")
VIEWER = "ada@example.com"


@dataclass(frozen=True)
class ConsolePage:
    name: str
    path: str
    # Brings the page to the state worth a look (e.g. a secret shown once); may be None.
    prepare: Callable[[Page, Console], Awaitable[None]] | None = None


async def _new_api_key(page: Page, console: Console) -> None:
    await page.get_by_text("Create an API key").click()
    await page.get_by_label("Name").fill("deploy pipeline")
    await page.get_by_role("button", name="Create API key").click()
    await page.get_by_role("region", name="API key deploy pipeline").wait_for()


async def _tested_contact(page: Page, console: Console) -> None:
    """One test page (to a host that does not resolve), so the profile shows an outcome."""
    if await page.locator("#contact .trial").count() == 0:
        await page.get_by_role("button", name="Send test page to pager bridge").click()
        await page.locator("#contact .trial").wait_for()


PAGES = (
    ConsolePage("oncall", "/oncall"),
    ConsolePage("profile", "/profile", _tested_contact),
    ConsolePage("profile-key-shown", "/profile", _new_api_key),
)


async def _world(console: Console, headers: dict[str, str], sink_url: str) -> None:
    """People in three time zones, two schedules, a policy, and a profile worth showing."""
    api = console.api(headers)
    people: dict[str, dict[str, Any]] = {}
    for name, email, zone in (
        ("Ada Lovelace", VIEWER, "Europe/Berlin"),
        ("Kenji Sato-Featherstonehaugh", "kenji@example.com", "Asia/Tokyo"),
        ("Brian Kernighan", "brian@example.com", "America/New_York"),
    ):
        body = {"name": name, "email": email, "role": "responder", "time_zone": zone}
        people[email] = await api.post("/users", body)
    ada, kenji, brian = people[VIEWER], people["kenji@example.com"], people["brian@example.com"]
    await make_user(console, VIEWER)
    start = (utcnow() - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    primary = await api.post(
        "/schedules",
        {
            "name": "Payments primary",
            "time_zone": "America/New_York",
            "layers": [
                {
                    "participants": [kenji["id"], ada["id"], brian["id"]],
                    "rotation": "daily",
                    "start": start.isoformat(),
                }
            ],
        },
    )
    database = await api.post(
        "/schedules",
        {
            "name": "Database (weekly)",
            "time_zone": "Europe/Berlin",
            "layers": [
                {
                    "participants": [brian["id"], ada["id"]],
                    "rotation": "weekly",
                    "start": start.isoformat(),
                }
            ],
        },
    )
    await api.post("/schedules", {"name": "Empty weekend cover", "time_zone": "UTC", "layers": []})
    await api.post(
        "/escalation-policies",
        {
            "name": "payments",
            "repeat": 1,
            "levels": [
                {
                    "escalate_after_seconds": 300,
                    "targets": [
                        {"type": "schedule", "id": primary["id"]},
                        {"type": "schedule", "id": database["id"]},
                    ],
                },
                {
                    "escalate_after_seconds": 900,
                    "targets": [
                        {"type": "user", "id": brian["id"]},
                        {"type": "webhook", "url": "https://hooks.example.com/secret-token"},
                    ],
                },
            ],
        },
    )
    webhook = await api.post(
        f"/users/{ada['id']}/contact-methods",
        {"type": "webhook", "address": sink_url, "label": "pager bridge"},
    )
    sms = await api.post(
        f"/users/{ada['id']}/contact-methods",
        {"type": "sms", "address": "+15555550123", "label": "work phone"},
    )
    await api.post(
        f"/users/{ada['id']}/notification-rules",
        {"contact_method_id": webhook["id"], "delay_seconds": 0},
    )
    await api.post(
        f"/users/{ada['id']}/notification-rules",
        {"contact_method_id": sms["id"], "delay_seconds": 120, "urgency": "high"},
    )
    await api.post(f"/users/{ada['id']}/api-keys", {"name": "grafana"})


async def _axe_problems(page: Page) -> list[str]:
    # Evaluated through the debugging protocol: the page's CSP refuses injected script tags.
    await page.evaluate(AXE.read_text())
    result: dict[str, Any] = await page.evaluate("async () => await axe.run(document)")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("console_page", PAGES, ids=[p.name for p in PAGES])
async def test_page_at_every_size_passes_axe(
    browser: Browser,
    console: Console,
    admin_headers: dict[str, str],
    console_page: ConsolePage,
) -> None:
    await _world(console, admin_headers, "https://pager.invalid/hooks/ada-7f3a")
    SCREENSHOTS.mkdir(exist_ok=True)
    problems: dict[str, list[str]] = {}
    for scheme in SCHEMES:
        for size, (width, height) in VIEWPORTS.items():
            context = await browser.new_context(
                viewport={"width": width, "height": height}, color_scheme=scheme
            )
            context.set_default_timeout(10_000)
            page = await context.new_page()
            try:
                await sign_in(page, console, VIEWER)
                await visit(page, f"{console.url}{console_page.path}")
                if console_page.prepare is not None:
                    await console_page.prepare(page, console)
                # Nothing may stick out sideways on a phone.
                overflow = await page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, f"{console_page.name} at {size}: {overflow}px too wide"
                name = f"{console_page.name}-{size}-{scheme}.png"
                await page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
                found = await _axe_problems(page)
                if found:
                    problems[f"{size} {scheme}"] = found
            finally:
                await context.close()
    assert not problems, problems
