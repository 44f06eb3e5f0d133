"""iCalendar feeds: parsed back with `icalendar` and compared with GET /schedules/{id}/oncall,
across a DST change; secret URLs that rotate."""

from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo
from typing import Any

import httpx
import icalendar
import pytest

from tests.factories import Api

BERLIN_LAYER_START = "2027-03-20T09:00:00+01:00"
# Europe/Berlin moves from +01:00 to +02:00 at 2027-03-28 02:00 local time.
WINDOW = ("2027-03-24T00:00:00+00:00", "2027-04-03T00:00:00+00:00")


@pytest.fixture(autouse=True)
def far_enough(app: Any) -> Iterator[None]:
    """Feeds reach past the DST change of March 2027 (STAIRWAY_CALENDAR_FEED_FUTURE_DAYS)."""
    days = (datetime(2027, 4, 10, tzinfo=UTC) - datetime.now(UTC)).days
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"calendar_feed_future_days": days})
    yield
    app.state.settings = settings


async def berlin(api: Api, name: str, participants: list[str]) -> dict[str, Any]:
    layer = {"participants": participants, "rotation": "daily", "start": BERLIN_LAYER_START}
    body = {"name": name, "time_zone": "Europe/Berlin", "layers": [layer]}
    schedule: dict[str, Any] = await api.post("/schedules", body)
    return schedule


async def fetch(client: httpx.AsyncClient, url: str, status: int = 200) -> icalendar.Calendar:
    response = await client.get(url)
    assert response.status_code == status, response.text
    if status != 200:
        return icalendar.Calendar()
    assert response.headers["content-type"].startswith("text/calendar")
    return icalendar.Calendar.from_ical(response.content)


def feed_zone(cal: icalendar.Calendar) -> tzinfo:
    """The feed's own VTIMEZONE rules (not the system's zone database)."""
    [vtimezone] = cal.timezones
    assert vtimezone["TZID"] == "Europe/Berlin"
    zone: tzinfo = vtimezone.to_tz(lookup_tzid=False)
    return zone


def events_in_window(cal: icalendar.Calendar) -> list[tuple[datetime, datetime, str]]:
    """(start, end, summary) of the events inside WINDOW, times read through the VTIMEZONE."""
    own_zone = feed_zone(cal)
    lo, hi = (datetime.fromisoformat(t) for t in WINDOW)
    found = []
    for event in cal.walk("VEVENT"):
        assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
        start = event.decoded("DTSTART").replace(tzinfo=None).replace(tzinfo=own_zone)
        end = event.decoded("DTEND").replace(tzinfo=None).replace(tzinfo=own_zone)
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if start >= lo and end <= hi:
            found.append((start, end, str(event["SUMMARY"])))
    return sorted(found)


async def api_shifts(api: Api, schedule_id: str) -> list[dict[str, Any]]:
    window = await api.get(
        f"/schedules/{schedule_id}/oncall", params={"from": WINDOW[0], "until": WINDOW[1]}
    )
    lo, hi = (datetime.fromisoformat(t) for t in WINDOW)
    shifts: list[dict[str, Any]] = []
    for s in window["shifts"]:
        start, end = datetime.fromisoformat(s["start"]), datetime.fromisoformat(s["end"])
        if start > lo and end < hi:  # shifts cut by the window's edges are left out
            shifts.append({**s, "start": start, "end": end})
    return shifts


async def test_schedule_feed_matches_oncall_across_a_dst_change(
    api: Api, client: httpx.AsyncClient
) -> None:
    ana = await api.user("Ana")
    ben = await api.user("Ben")
    cleo = await api.user("Cleo")
    primary = await berlin(api, "primary", [ana["id"], ben["id"]])
    # An override across the change of clocks, from one evening to the next noon.
    await api.post(
        f"/schedules/{primary['id']}/overrides",
        {
            "user_id": cleo["id"],
            "start": "2027-03-27T20:00:00+01:00",
            "end": "2027-03-28T12:00:00+02:00",
        },
    )
    created = await api.post(f"/schedules/{primary['id']}/calendar-feed", {})
    assert created["url"].startswith("http://stairway.test/calendars/cal_")
    cal = await fetch(client, created["url"])
    assert str(cal["X-WR-CALNAME"]) == "primary on call"
    assert str(cal["VERSION"]) == "2.0"
    events = events_in_window(cal)
    expected = [
        (s["start"], s["end"], f"{s['user_name']} on call")
        for s in await api_shifts(api, primary["id"])
    ]
    assert events == expected
    assert len(events) >= 8
    # Handoffs stay at 09:00 Berlin time on both sides of the change, and Cleo's override is in.
    berlin_zone = feed_zone(cal)
    layer_starts = {s.astimezone(berlin_zone).hour for s, _, who in events if "Cleo" not in who}
    assert layer_starts <= {9, 12}
    cleo_events = [(s, e) for s, e, who in events if who == "Cleo on call"]
    assert cleo_events == [
        (datetime(2027, 3, 27, 19, tzinfo=UTC), datetime(2027, 3, 28, 10, tzinfo=UTC))
    ]
    utc_offsets = {s.astimezone(berlin_zone).utcoffset() for s, _, _ in events}
    assert len(utc_offsets) == 2, "the window spans both offsets"
    uids = [str(e["UID"]) for e in cal.walk("VEVENT")]
    assert len(uids) == len(set(uids))


async def test_my_shifts_feed_lists_only_my_shifts_from_every_schedule(
    api: Api, client: httpx.AsyncClient
) -> None:
    ana = await api.user("Ana")
    ben = await api.user("Ben")
    primary = await berlin(api, "primary", [ana["id"], ben["id"]])
    secondary = await berlin(api, "secondary", [ben["id"], ana["id"]])
    ana_headers = await api.key_for(ana)
    response = await client.post(f"/api/v1/users/{ana['id']}/calendar-feed", headers=ana_headers)
    assert response.status_code == 201, response.text
    cal = await fetch(client, response.json()["url"])
    events = events_in_window(cal)
    summaries = {summary for _, _, summary in events}
    assert summaries == {"On call: primary", "On call: secondary"}
    expected = []
    for schedule in (primary, secondary):
        expected += [
            (s["start"], s["end"], f"On call: {schedule['name']}")
            for s in await api_shifts(api, schedule["id"])
            if s["user_id"] == ana["id"]
        ]
    assert events == sorted(expected)


async def test_rotating_a_feed_retires_the_old_url_and_only_the_owner_or_an_admin_may(
    api: Api, client: httpx.AsyncClient
) -> None:
    ana = await api.user("Ana")
    eve = await api.user("Eve")
    primary = await berlin(api, "primary", [ana["id"]])
    first = (await api.post(f"/users/{ana['id']}/calendar-feed", {}))["url"]
    await fetch(client, first)
    second = (await api.post(f"/users/{ana['id']}/calendar-feed", {}))["url"]
    assert second != first
    await fetch(client, first, status=404)
    await fetch(client, second)

    eve_headers = await api.key_for(eve)
    for path in (f"/users/{ana['id']}/calendar-feed", f"/schedules/{primary['id']}/calendar-feed"):
        refused = await client.post(f"/api/v1{path}", headers=eve_headers)
        assert refused.status_code == 403, path
    await fetch(client, second)

    response = await client.delete(f"/api/v1/users/{ana['id']}/calendar-feed", headers=api.headers)
    assert response.status_code == 204
    await fetch(client, second, status=404)
    await fetch(client, "/calendars/cal_made-up.ics", status=404)
