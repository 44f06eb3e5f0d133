"""The console follows the team rule (app/teams/rules.py): buttons are shown on the incidents the
viewer may act on, a team's responder acts on its incidents even as a global observer, a forged
POST on another team's incident is refused, and "my teams" lists the viewer's teams' incidents."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.web.conftest import SCREENSHOTS, SIZES, Console, make_user, sign_in, visit


@pytest.fixture
def others_closed(console: Console) -> Iterator[None]:
    """STAIRWAY_TEAM_RESPONDERS_ACT_ON_OTHER_TEAMS=false for this test."""
    settings = console.app.state.settings
    console.app.state.settings = settings.model_copy(
        update={"team_responders_act_on_other_teams": False}
    )
    yield
    console.app.state.settings = settings


@dataclass
class Teams:
    ledger: dict[str, Any]  # an incident of payments' service
    disk: dict[str, Any]  # an incident of storage's service
    dns: dict[str, Any]  # an incident of a global service


async def _teams(console: Console, admin_headers: dict[str, str]) -> Teams:
    """Pia: a global observer, payments' responder. Rex: a global responder, storage's responder."""
    api = console.api(admin_headers)
    payments = await api.post("/teams", {"name": "payments"})
    storage = await api.post("/teams", {"name": "storage"})
    rex = await make_user(console, "rex@example.com", name="Rex")
    pia = await make_user(console, "pia@example.com", role="observer", name="Pia")
    await api.post(f"/teams/{storage['id']}/members", {"user_id": str(rex.id), "role": "responder"})
    await api.post(
        f"/teams/{payments['id']}/members", {"user_id": str(pia.id), "role": "responder"}
    )
    policy = await api.policy([(600, [str(rex.id)])], name="everyone")
    ledger = await api.service(policy["id"], name="ledger", team_id=payments["id"])
    disks = await api.service(policy["id"], name="disks", team_id=storage["id"])
    dns = await api.service(policy["id"], name="dns")
    return Teams(
        ledger=await api.trigger(ledger["id"], title="Ledger lag"),
        disk=await api.trigger(disks["id"], title="Disk full"),
        dns=await api.trigger(dns["id"], title="DNS flapping"),
    )


async def _csrf_token(page: Page) -> str:
    headers = await page.locator("body").get_attribute("hx-headers")
    assert headers is not None
    return headers.split('"X-CSRF-Token": "')[1].split('"')[0]


async def _shoot(page: Page, name: str) -> None:
    for size, (width, height) in SIZES.items():
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=SCREENSHOTS / f"{name}-{size}.png", full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 800})


async def test_a_teams_responder_with_the_observer_role_acknowledges_its_incident(
    page: Page, console: Console, admin_headers: dict[str, str]
) -> None:
    teams = await _teams(console, admin_headers)
    api = console.api(admin_headers)
    await sign_in(page, console, "pia@example.com")

    # The list offers Pia her team's incident only: a global observer may not act on the others.
    ledger_row = page.locator(f"#incident-{teams.ledger['number']}")
    await expect(ledger_row.get_by_role("button", name="Acknowledge")).to_be_visible()
    await expect(ledger_row.get_by_role("checkbox")).to_be_visible()
    for other in (teams.disk, teams.dns):
        row = page.locator(f"#incident-{other['number']}")
        await expect(row.get_by_role("link")).to_be_visible()
        assert await row.get_by_role("button").count() == 0
        assert await row.get_by_role("checkbox").count() == 0
    await expect(page.get_by_role("button", name="Acknowledge selected")).to_be_visible()

    await visit(page, f"{console.url}/incidents/{teams.ledger['id']}")
    await expect(page.get_by_role("button", name="Add note")).to_be_visible()
    await _shoot(page, "incident-team-responder")
    await page.get_by_role("button", name="Acknowledge", exact=True).click()
    await expect(page.locator("#incident-summary .badge.status-acknowledged")).to_be_visible()
    current = await api.get(f"/incidents/{teams.ledger['id']}")
    assert current["acknowledged_by"]["name"] == "Pia"

    # Another team's incident: no buttons, and a forged POST with her own token is refused.
    await visit(page, f"{console.url}/incidents/{teams.disk['id']}")
    await expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    assert await page.get_by_role("button").count() == 0
    forged = await page.request.post(
        f"{console.url}/incidents/{teams.disk['id']}/acknowledge",
        form={"csrf_token": await _csrf_token(page)},
    )
    assert forged.status == 403
    assert "not a responder of the team" in await forged.text()
    assert (await api.get(f"/incidents/{teams.disk['id']}"))["status"] == "triggered"


@pytest.mark.usefixtures("others_closed")
async def test_with_other_teams_closed_a_responder_sees_no_buttons_on_them(
    page: Page, console: Console, admin_headers: dict[str, str]
) -> None:
    teams = await _teams(console, admin_headers)
    api = console.api(admin_headers)
    await sign_in(page, console, "rex@example.com")

    ledger_row = page.locator(f"#incident-{teams.ledger['number']}")
    await expect(ledger_row.get_by_role("link")).to_be_visible()
    assert await ledger_row.get_by_role("button").count() == 0
    assert await ledger_row.get_by_role("checkbox").count() == 0
    for own in (teams.disk, teams.dns):  # his team's, and a global service's
        row = page.locator(f"#incident-{own['number']}")
        await expect(row.get_by_role("button", name="Acknowledge")).to_be_visible()

    await visit(page, f"{console.url}/incidents/{teams.ledger['id']}")
    await expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    assert await page.get_by_role("button").count() == 0
    await _shoot(page, "incident-other-team")
    forged = await page.request.post(
        f"{console.url}/incidents/{teams.ledger['id']}/resolve",
        form={"csrf_token": await _csrf_token(page)},
    )
    assert forged.status == 403
    assert "only on their own teams" in await forged.text()
    assert (await api.get(f"/incidents/{teams.ledger['id']}"))["status"] == "triggered"

    await visit(page, f"{console.url}/incidents/{teams.disk['id']}")
    await page.get_by_role("button", name="Acknowledge", exact=True).click()
    await expect(page.locator("#incident-summary .badge.status-acknowledged")).to_be_visible()


async def test_the_my_teams_filter_lists_only_the_viewers_teams_incidents(
    page: Page, console: Console, admin_headers: dict[str, str]
) -> None:
    teams = await _teams(console, admin_headers)
    await sign_in(page, console, "rex@example.com")
    for incident in (teams.ledger, teams.disk, teams.dns):
        await expect(page.get_by_role("link", name=f"#{incident['number']} ")).to_be_visible()

    await page.get_by_label("My teams").check()
    await page.get_by_role("button", name="Filter").click()
    await page.wait_for_url(re.compile(r"/incidents\?teams=1&"))  # in the URL, as the others
    disk_link = page.get_by_role("link", name=f"#{teams.disk['number']} Disk full")
    await expect(disk_link).to_be_visible()
    for other in (teams.ledger, teams.dns):
        await expect(page.locator(f"#incident-{other['number']}")).to_have_count(0)
    await expect(page.get_by_label("My teams")).to_be_checked()
    await _shoot(page, "incidents-my-teams")

    # Kept with the other filters, and narrowed by them: another team's service lists nothing.
    ledger_service = teams.ledger["service_id"]
    await visit(page, f"{console.url}/incidents?teams=1&service={ledger_service}")
    await expect(page.get_by_text("No incidents match these filters.")).to_be_visible()
    await expect(page.get_by_label("My teams")).to_be_checked()
