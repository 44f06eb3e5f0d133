"""Every console page: no serious accessibility violation (axe-core), screenshots at two sizes."""

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from app.accounts import links
from app.accounts.commands import issue_link
from app.models import utcnow
from tests.factories import Api
from tests.web.conftest import AXE, SCREENSHOTS, SIZES, Console, make_user, sign_in, visit


async def _axe(page: Page) -> list[dict[str, object]]:
    """Serious and critical violations axe-core finds on the page as it is now."""
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("async () => await axe.run(document)")
    assert len(result["passes"]) > 10  # axe really looked at the page
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"] for n in v["nodes"]][:3]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def _rota(api: Api, ada: dict[str, Any]) -> None:
    """People in three time zones, schedules and a policy for /oncall; more of Ada's profile."""
    await api.client.patch(
        f"/api/v1/users/{ada['id']}", json={"time_zone": "Europe/Berlin"}, headers=api.headers
    )
    kenji = await api.post(
        "/users",
        {
            "name": "Kenji Sato-Featherstonehaugh",
            "email": "kenji@example.com",
            "time_zone": "Asia/Tokyo",
        },
    )
    brian = await api.post(
        "/users",
        {"name": "Brian Kernighan", "email": "brian@example.com", "time_zone": "America/New_York"},
    )
    start = (utcnow() - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    schedules = []
    for name, zone, rotation, people in (
        ("Payments primary", "America/New_York", "daily", [kenji, ada, brian]),
        ("Database (weekly)", "Europe/Berlin", "weekly", [brian, ada]),
        ("Empty weekend cover", "UTC", "daily", []),
    ):
        layers = [
            {
                "participants": [p["id"] for p in people],
                "rotation": rotation,
                "start": start.isoformat(),
            }
        ]
        body = {"name": name, "time_zone": zone, "layers": layers if people else []}
        schedules.append(await api.post("/schedules", body))
    await api.post(
        "/escalation-policies",
        {
            "name": "payments on call",
            "repeat": 1,
            "levels": [
                {
                    "escalate_after_seconds": 300,
                    "targets": [{"type": "schedule", "id": s["id"]} for s in schedules[:2]],
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
    sms = await api.post(
        f"/users/{ada['id']}/contact-methods",
        {"type": "sms", "address": "+15555550123", "label": "work phone"},
    )
    await api.post(
        f"/users/{ada['id']}/notification-rules",
        {"contact_method_id": sms["id"], "delay_seconds": 120, "urgency": "high"},
    )
    await api.post(f"/users/{ada['id']}/api-keys", {"name": "grafana"})


GRAPH = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="480" height="120" viewBox="0 0 480 120">'
    '<rect width="480" height="120" fill="#f4f6f8"/><polyline fill="none" stroke="#d1453b" '
    'stroke-width="3" points="0,100 60,92 120,95 180,70 240,30 300,20 360,60 420,85 480,90"/></svg>'
)


async def _check(page: Page, name: str, size: str, scheme: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    # Nothing may stick out sideways (a phone would scroll the whole page).
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name} at {size} is {overflow}px wider than the screen"
    await page.screenshot(path=SCREENSHOTS / f"{name}-{size}-{scheme}.png", full_page=True)
    violations = await _axe(page)
    assert violations == [], json.dumps(violations, indent=1)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", list(SIZES))
async def test_every_page_is_accessible_and_readable(
    browser: Browser, console: Console, admin_headers: dict[str, str], size: str, scheme: str
) -> None:
    width, height = SIZES[size]
    context = await browser.new_context(
        viewport={"width": width, "height": height},
        color_scheme=scheme,  # type: ignore[arg-type]
        bypass_csp=True,  # axe-core is injected by the test as an inline script
    )
    page = await context.new_page()
    api = console.api(admin_headers)
    user = await api.user("Ada Lovelace", webhook="http://127.0.0.1:9/page", rules=[0])
    policy = await api.policy([(300, [user["id"]]), (600, [user["id"]])])
    service = await api.service(policy["id"])
    details = {
        "labels": {"env": "prod", "region": "eu-west-1"},
        "value": 2.4,
        "runbook": "https://runbooks.example.com/latency",
        "links": [{"href": "https://grafana.example.com/d/latency", "text": "Latency dashboard"}],
        "images": [{"src": "https://grafana.example.com/render/latency.png", "alt": "p99 latency"}],
    }
    # The alert's graph, as Grafana's renderer would serve it.
    await page.route(
        "**/render/latency.png",
        lambda route: route.fulfill(status=200, content_type="image/svg+xml", body=GRAPH),
    )
    incident = await api.trigger(service["id"], details=details)
    await api.trigger(service["id"], title="Disk full on db-3", severity="warning", urgency="low")
    await api.trigger(service["id"], title="<img src=x onerror=alert(1)>", severity="info")
    await make_user(console, "ada.lovelace@example.com")
    await _rota(api, user)

    await page.goto(f"{console.url}/sign-in")
    await _check(page, "sign-in", size, scheme)
    invite = await issue_link(
        console.app.state.settings, email="new@example.com", purpose=links.Purpose.INVITE
    )
    await page.goto(invite.url)
    await _check(page, "invite", size, scheme)
    await sign_in(page, console, "ada.lovelace@example.com")
    await expect(page.get_by_role("link", name="#3 <img src=x onerror=alert(1)>")).to_be_visible()
    await _check(page, "incidents", size, scheme)
    await visit(page, f"{console.url}/incidents/{incident['id']}")
    await expect(page.locator("#incident-timeline").get_by_text("triggered")).to_be_visible()
    await page.get_by_text("More actions").click()
    await _check(page, "incident", size, scheme)
    await visit(page, f"{console.url}/incidents/{uuid.uuid4()}")
    await _check(page, "not-found", size, scheme)
    await visit(page, f"{console.url}/oncall")
    await expect(page.get_by_role("region", name="Payments primary")).to_contain_text("Kenji")
    await _check(page, "oncall", size, scheme)
    await visit(page, f"{console.url}/profile")
    # A test page to a closed port on loopback: the profile shows how it failed.
    await page.get_by_role("button", name="Send test page to webhook").click()
    await expect(page.locator("#contact .trial")).to_contain_text("failed")
    await _check(page, "profile", size, scheme)
    await page.get_by_text("Create an API key").click()
    await page.get_by_label("Name").fill("deploy pipeline")
    await page.get_by_role("button", name="Create API key").click()
    await expect(page.get_by_role("region", name="API key deploy pipeline")).to_be_visible()
    await _check(page, "profile-new-key", size, scheme)
    await visit(page, f"{console.url}/sign-out")
    await _check(page, "sign-out", size, scheme)
    await context.close()


PAGE_BUDGET_BYTES = 150 * 1024
WEIGHT = (
    "performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
    ".filter(e => !e.name.includes('/events')).reduce((s, e) => s + e.decodedBodySize, 0)"
)


@pytest.mark.parametrize("path", ["/oncall", "/profile"])
async def test_page_weighs_less_than_150_kb(
    page: Page, console: Console, admin_headers: dict[str, str], path: str
) -> None:
    api = console.api(admin_headers)
    user = await api.user("Ada Lovelace", webhook="http://127.0.0.1:9/page", rules=[0])
    await _rota(api, user)
    await make_user(console, "ada.lovelace@example.com")
    await sign_in(page, console, "ada.lovelace@example.com")
    await visit(page, f"{console.url}{path}")
    await page.wait_for_load_state("load")
    weight = await page.evaluate(WEIGHT)
    # Uncompressed, with its scripts and stylesheet: the page, every time zone (profile), htmx.
    assert 20 * 1024 < weight < PAGE_BUDGET_BYTES, weight
