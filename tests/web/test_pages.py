"""Every console page: no serious accessibility violation (axe-core), screenshots at two sizes."""

import json
import uuid

import pytest
from playwright.async_api import Browser, Page, expect

from app.accounts import links
from app.accounts.commands import issue_link
from tests.web.conftest import AXE, SCREENSHOTS, Console, make_user, sign_in, visit

SIZES = {"wide": (1280, 800), "phone": (390, 844)}


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


async def _check(page: Page, name: str, size: str, scheme: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
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
    }
    incident = await api.trigger(service["id"], details=details)
    await api.trigger(service["id"], title="Disk full on db-3", severity="warning", urgency="low")
    await api.trigger(service["id"], title="<img src=x onerror=alert(1)>", severity="info")
    await make_user(console, "ada.lovelace@example.com")

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
    await visit(page, f"{console.url}/sign-out")
    await _check(page, "sign-out", size, scheme)
    await context.close()
