"""Live updates last as long as the session: a browser signed out (anywhere) or expired stops
hearing about changes, in a real browser and over a plain HTTP event stream."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
from playwright.async_api import Browser, expect
from sqlalchemy import text

from app.config import Settings
from app.web.live import CHANNEL, Subscription
from tests.web.conftest import PASSWORD, SCREENSHOTS, SIZES, Console, World, sign_in


async def test_a_browser_signed_out_elsewhere_stops_receiving_live_updates(
    browser: Browser, console: Console, world: World
) -> None:
    phone = await (await browser.new_context()).new_page()
    laptop = await (await browser.new_context()).new_page()
    await sign_in(phone, console, "ada.lovelace@example.com")
    await world.enqueue(console, "Before sign-out")
    # The phone's stream is open: the new incident arrives without a reload.
    await expect(phone.get_by_role("link", name="#1 Before sign-out")).to_be_visible()
    await sign_in(laptop, console, "ada.lovelace@example.com")
    await laptop.get_by_role("link", name="Sign out").click()
    await laptop.get_by_role("button", name="Sign out everywhere").click()
    await world.enqueue(console, "After sign-out")
    await expect(phone.get_by_role("alert")).to_contain_text(
        "You are signed out: this page no longer updates."
    )
    # The stream ended before it asked for the change that woke it: the list was not refreshed.
    await expect(phone.get_by_role("link", name="#2 After sign-out")).to_have_count(0)
    await expect(phone.get_by_role("link", name="Sign in again")).to_be_visible()
    SCREENSHOTS.mkdir(exist_ok=True)
    for size, (width, height) in SIZES.items():
        await phone.set_viewport_size({"width": width, "height": height})
        await phone.screenshot(path=SCREENSHOTS / f"incidents-signed-out-{size}.png")
    await phone.context.close()
    await laptop.context.close()


async def _sign_in_over_http(client: httpx.AsyncClient, email: str) -> None:
    form = await client.get("/sign-in")
    token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    answer = await client.post(
        "/sign-in", data={"csrf_token": token, "email": email, "password": PASSWORD}
    )
    assert answer.status_code == 303, answer.text


async def _events_until_end(lines: AsyncIterator[str]) -> list[str]:
    """The event names of the stream, read until the server ends it."""
    names = []
    async for line in lines:
        if line.startswith("event:"):
            names.append(line.removeprefix("event:").strip())
    return names


async def test_an_expired_session_s_event_stream_ends_and_is_not_reopened(
    console: Console, world: World, settings: Settings
) -> None:
    async with httpx.AsyncClient(base_url=console.url, timeout=10) as client:
        await _sign_in_over_http(client, "ada.lovelace@example.com")
        async with client.stream("GET", "/incidents/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            assert await anext(lines) == "event: changed"  # every new stream refreshes once
            console.clock.offset = timedelta(seconds=settings.session_idle_seconds + 1)
            await world.enqueue(console, "While idle")
            rest = await asyncio.wait_for(_events_until_end(lines), timeout=15)
        assert rest == ["signed-out"]
        # Reconnecting with the ended session: 204, which tells an EventSource to stop.
        assert (await client.get("/incidents/events")).status_code == 204
        assert (await client.get("/incidents")).headers["location"].startswith("/sign-in")


async def _announce(console: Console, payload: str) -> None:
    """What the database's trigger does when an incident changes (app/web/live.py)."""
    async with console.app.state.sessions() as session, session.begin():
        await session.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
        )


async def _heard(subscription: Subscription, payload: str) -> None:
    """Until the console's feed has heard `payload` (and so all announced before it)."""
    while payload not in (await subscription.next())[0]:
        pass


async def _items(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, str]]:
    """A stream's events as (name, data), its comments as (":", text)."""
    event = ""
    async for line in lines:
        if line.startswith(": "):
            yield ":", line.removeprefix(": ")
        elif line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield event, line.removeprefix("data: ")


async def _until_listening(lines: AsyncIterator[str]) -> list[tuple[str, str]]:
    """The events a stream sends before it says it is listening, with their data."""
    events: list[tuple[str, str]] = []
    async for item in _items(lines):
        if item == (":", "listening"):
            return events
        if item[0] != ":":
            events.append(item)
    raise AssertionError("the stream ended before it listened")


async def _next_event(lines: AsyncIterator[str]) -> tuple[str, str]:
    """The stream's next event, with its data."""
    async for item in _items(lines):
        if item[0] != ":":
            return item
    raise AssertionError("the stream ended")


async def _on_connecting(client: httpx.AsyncClient, path: str) -> list[tuple[str, str]]:
    async with client.stream("GET", path) as response:
        return await _until_listening(response.aiter_lines())


def _stream_of(page: str) -> str:
    return page.split('sse-connect="')[1].split('"')[0]


async def test_a_page_s_stream_asks_for_a_refresh_on_connecting_only_if_it_missed_a_change(
    console: Console, world: World
) -> None:
    incident = await world.api.trigger(world.service_id, title="Settled", urgency="low")
    await world.api.post(f"/incidents/{incident['id']}/resolve", None, status=200)
    page_path = f"/incidents/{incident['id']}"
    feed = console.app.state.feed
    async with (
        httpx.AsyncClient(base_url=console.url, timeout=10) as client,
        feed.subscribe() as subscription,
    ):
        await _sign_in_over_http(client, "ada.lovelace@example.com")
        # Announced after the resolve, so heard after it: nothing about the incident is due.
        marker = f"marker-{incident['id']}"
        await _announce(console, marker)
        await _heard(subscription, marker)

        stream = _stream_of((await client.get(page_path)).text)
        assert "?position=" in stream
        # Only another incident changed since the page was rendered: no refresh on connecting.
        await _announce(console, str(uuid.uuid4()))
        async with client.stream("GET", stream) as response:
            lines = response.aiter_lines()
            assert await _until_listening(lines) == []
            await _announce(console, incident["id"])
            assert await _next_event(lines) == ("changed", "incidents")

        # This incident changed after the page was rendered, before its stream connected.
        stream = _stream_of((await client.get(page_path)).text)
        await _announce(console, incident["id"])
        await _heard(subscription, incident["id"])
        assert await _on_connecting(client, stream) == [("changed", "subscribed")]
        # A position the feed cannot vouch for (another process's, or before a reconnect).
        assert await _on_connecting(client, f"{page_path}/events?position=x.1.0") == [
            ("changed", "subscribed")
        ]
        assert await _on_connecting(client, f"{page_path}/events") == [("changed", "subscribed")]
        # However made up, a position costs one refresh (and "²" is a digit Python cannot parse).
        feed_name, _, rest = feed.position().partition(".")
        connection = rest.partition(".")[0]
        for made_up in ("²", "-1", "99999999999999999999", "1.2", ""):
            position = f"{feed_name}.{connection}.{made_up}"
            assert await _on_connecting(client, f"{page_path}/events?position={position}") == [
                ("changed", "subscribed")
            ]
