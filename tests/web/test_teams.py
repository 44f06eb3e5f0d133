"""The console follows the team rule: with other teams' incidents closed, the button is refused."""

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.web.conftest import Console, make_user, sign_in, visit


@pytest.fixture
def others_closed(console: Console) -> Iterator[None]:
    """STAIRWAY_TEAM_RESPONDERS_ACT_ON_OTHER_TEAMS=false for this test."""
    settings = console.app.state.settings
    console.app.state.settings = settings.model_copy(
        update={"team_responders_act_on_other_teams": False}
    )
    yield
    console.app.state.settings = settings


async def _team_incident(console: Console, admin_headers: dict[str, str]) -> dict[str, Any]:
    api = console.api(admin_headers)
    payments = await api.post("/teams", {"name": "payments"})
    storage = await api.post("/teams", {"name": "storage"})
    rex = await make_user(console, "rex@example.com", name="Rex")
    pia = await make_user(console, "pia@example.com", name="Pia")
    await api.post(f"/teams/{storage['id']}/members", {"user_id": str(rex.id), "role": "responder"})
    await api.post(
        f"/teams/{payments['id']}/members", {"user_id": str(pia.id), "role": "responder"}
    )
    policy = await api.policy([(600, [str(pia.id)])], name="payments")
    service = await api.service(policy["id"], name="ledger", team_id=payments["id"])
    incident: dict[str, Any] = await api.trigger(service["id"], title="Ledger lag")
    return incident


@pytest.mark.usefixtures("others_closed")
async def test_another_teams_responder_is_refused_and_the_teams_own_responder_acts(
    page: Page, console: Console, admin_headers: dict[str, str]
) -> None:
    incident = await _team_incident(console, admin_headers)
    api = console.api(admin_headers)

    await sign_in(page, console, "rex@example.com")
    await visit(page, f"{console.url}/incidents/{incident['id']}")
    await page.get_by_role("button", name="Acknowledge").click()
    await expect(page.get_by_text("own teams' incidents")).to_be_visible()
    assert (await api.get(f"/incidents/{incident['id']}"))["status"] == "triggered"

    await page.context.clear_cookies()
    await sign_in(page, console, "pia@example.com")
    await visit(page, f"{console.url}/incidents/{incident['id']}")
    await page.get_by_role("button", name="Acknowledge").click()
    await expect(page.locator("#incident-summary .badge.status-acknowledged")).to_be_visible()
    current = await api.get(f"/incidents/{incident['id']}")
    assert current["acknowledged_by"]["name"] == "Pia"
