"""/oncall in a real browser: who is on call now and next, in the viewer's time zone."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

from app.models import utcnow
from tests.web.conftest import Console, make_user, sign_in, visit

VIEWER_ZONE = ZoneInfo("Europe/Berlin")
WHEN = "%a %d %b %H:%M"


@dataclass
class Rota:
    """A daily rotation Kenji (Tokyo) → Ada (the viewer, Berlin), in a New York schedule."""

    start: datetime
    schedule: dict[str, Any]
    kenji: dict[str, Any]
    ada: dict[str, Any]
    brian: dict[str, Any]


def _berlin(moment: datetime) -> str:
    return moment.astimezone(VIEWER_ZONE).strftime(WHEN)


@pytest.fixture
async def rota(console: Console, admin_headers: dict[str, str]) -> Rota:
    api = console.api(admin_headers)

    async def user(name: str, email: str, zone: str) -> dict[str, Any]:
        body = {"name": name, "email": email, "role": "responder", "time_zone": zone}
        created: dict[str, Any] = await api.post("/users", body)
        return created

    ada = await user("Ada Lovelace", "ada@example.com", "Europe/Berlin")
    kenji = await user("Kenji Sato", "kenji@example.com", "Asia/Tokyo")
    brian = await user("Brian Kernighan", "brian@example.com", "America/New_York")
    await make_user(console, "ada@example.com")
    # The first turn began at the last whole hour (UTC), so Kenji is on call for about a day.
    start = (utcnow() - timedelta(minutes=5)).replace(minute=0, second=0, microsecond=0)
    schedule = await api.post(
        "/schedules",
        {
            "name": "Primary",
            "time_zone": "America/New_York",
            "layers": [
                {
                    "participants": [kenji["id"], ada["id"]],
                    "rotation": "daily",
                    "start": start.isoformat(),
                }
            ],
        },
    )
    await api.post(
        "/escalation-policies",
        {
            "name": "payments",
            "levels": [
                {
                    "escalate_after_seconds": 300,
                    "targets": [{"type": "schedule", "id": schedule["id"]}],
                },
                {"escalate_after_seconds": 600, "targets": [{"type": "user", "id": brian["id"]}]},
            ],
        },
    )
    return Rota(start=start, schedule=schedule, kenji=kenji, ada=ada, brian=brian)


def _local_times(console: Console, zone: str, since: datetime) -> list[str]:
    """What "local time" may say for `zone` on a page rendered between `since` and now (every
    minute in between: a loaded machine may take more than one to get there)."""
    now = console.clock()
    minutes = int((now - since).total_seconds() // 60) + 1
    return [
        f"local time {(since + timedelta(minutes=m)).astimezone(ZoneInfo(zone)):%a %H:%M} ({zone})"
        for m in range(minutes + 1)
    ]


async def test_oncall_shows_now_and_next_in_the_viewers_time_zone(
    page: Page, console: Console, rota: Rota
) -> None:
    await sign_in(page, console, "ada@example.com")
    loaded_after = console.clock()
    await page.get_by_role("link", name="On call").click()
    await expect(page.get_by_role("heading", name="On call", exact=True)).to_be_visible()
    await expect(page.get_by_text("Times are in Europe/Berlin")).to_be_visible()

    primary = page.get_by_role("region", name="Primary")
    now_row = primary.get_by_role("definition").nth(0)
    next_row = primary.get_by_role("definition").nth(1)
    await expect(now_row).to_contain_text("Kenji Sato")
    handoff = rota.start + timedelta(days=1)
    # The handoff instant, in Berlin (the viewer), not in New York (the schedule) nor UTC.
    await expect(now_row).to_contain_text(f"until {_berlin(handoff)}")
    assert _berlin(handoff) != handoff.strftime(WHEN)
    kenji_local = await now_row.locator(".local").inner_text()
    assert kenji_local in _local_times(console, "Asia/Tokyo", loaded_after), kenji_local
    await expect(next_row).to_contain_text("Ada Lovelace")
    await expect(next_row.locator(".badge.you")).to_have_text("you")
    await expect(next_row).to_contain_text(f"from {_berlin(handoff)}")

    # The policy's levels: level 1 resolves the schedule, level 2 names Brian (New York time).
    policy = page.get_by_role("region", name="payments")
    levels = policy.locator("ol.levels > li")
    await expect(levels).to_have_count(2)
    await expect(levels.nth(0)).to_contain_text("then level 2 after 5m")
    await expect(levels.nth(0)).to_contain_text("Schedule Primary")
    await expect(levels.nth(0).get_by_role("definition").nth(0)).to_contain_text("Kenji Sato")
    await expect(levels.nth(0).get_by_role("definition").nth(1)).to_contain_text("Ada Lovelace")
    await expect(levels.nth(1)).to_contain_text("Brian Kernighan")
    brian_local = await levels.nth(1).locator(".local").inner_text()
    assert brian_local in _local_times(console, "America/New_York", loaded_after), brian_local


async def test_my_shifts_lists_the_next_fourteen_days(
    page: Page, console: Console, rota: Rota
) -> None:
    await sign_in(page, console, "ada@example.com")
    await visit(page, f"{console.url}/oncall")
    mine = page.get_by_role("region", name="My shifts, next 14 days").get_by_role("listitem")
    # Ada's turns are every other day from the first handoff, within the next 14 days.
    horizon = console.clock() + timedelta(days=14)
    starts = [rota.start + timedelta(days=d) for d in range(1, 15, 2)]
    starts = [s for s in starts if s < horizon]
    await expect(mine).to_have_count(len(starts))
    for item, start in zip(await mine.all(), starts, strict=True):
        await expect(item).to_contain_text(f"{_berlin(start)} →")
        await expect(item).to_contain_text("Primary")

    # A day later Ada has taken over: she is on call now, and Kenji is next.
    console.clock.offset = timedelta(days=1, minutes=1)
    await sign_in(page, console, "ada@example.com")  # the session has been idle for a day
    await visit(page, f"{console.url}/oncall")
    primary = page.get_by_role("region", name="Primary")
    await expect(primary.get_by_role("definition").nth(0)).to_contain_text("Ada Lovelace")
    await expect(primary.get_by_role("definition").nth(1)).to_contain_text("Kenji Sato")
    first = page.get_by_role("region", name="My shifts, next 14 days").get_by_role("listitem")
    await expect(first.nth(0)).to_contain_text("on call now")
    await expect(first.nth(0)).to_contain_text(f"until {_berlin(rota.start + timedelta(days=2))}")


async def test_an_observer_sees_the_rota_and_has_no_shifts(
    page: Page, console: Console, rota: Rota
) -> None:
    await make_user(console, "watcher@example.com", role="observer", name="Watcher")
    await sign_in(page, console, "watcher@example.com")
    await visit(page, f"{console.url}/oncall")
    await expect(
        page.get_by_text("You have no on-call shifts in the next 14 days.")
    ).to_be_visible()
    primary = page.get_by_role("region", name="Primary")
    await expect(primary.get_by_role("definition").nth(0)).to_contain_text("Kenji Sato")
    # Times follow this viewer's zone (UTC by default).
    handoff = rota.start + timedelta(days=1)
    await expect(primary).to_contain_text(f"until {handoff.strftime(WHEN)}")
