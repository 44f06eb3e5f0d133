"""Responding in the console, in a real browser, with the real worker paging a local sink."""

import asyncio
import base64

from playwright.async_api import Browser, Page, Route, expect

from app.models import utcnow
from tests.faults.harness import eventually
from tests.support import HttpSink
from tests.web.conftest import Console, World, incident_titled, sign_in, status_of, visit

XSS_TITLE = "<img src=x onerror=alert(1)>"


async def test_a_new_incident_appears_without_reload(
    page: Page, console: Console, world: World
) -> None:
    await sign_in(page, console, "ada.lovelace@example.com")
    await expect(page.get_by_text("No incidents match these filters.")).to_be_visible()
    await page.evaluate("window.stillTheSamePage = true")
    await world.enqueue(console, "Disk full on db-3")
    await expect(page.get_by_role("link", name="#1 Disk full on db-3")).to_be_visible()
    await expect(page).to_have_title("(1) Incidents · Stairway")
    assert await page.evaluate("window.stillTheSamePage") is True


# Counts the live list's refreshes (htmx swaps of #incident-list), from the page's first script on.
COUNT_LIST_REFRESHES = (
    "window.listRefreshes = 0; document.addEventListener('htmx:afterSwap', e => {"
    " if (e.target.id === 'incident-list') window.listRefreshes += 1; });"
)


async def _list_refreshes(page: Page) -> int:
    count: int = await page.evaluate("window.listRefreshes")
    return count


async def _list_refreshed_since(page: Page, count: int) -> None:
    await page.wait_for_function(f"() => window.listRefreshes > {count}")


async def test_a_press_on_a_link_outlasts_a_live_refresh_of_the_list(
    page: Page, console: Console, world: World
) -> None:
    # A responder's tap or click lands even when the list refreshes between press and release:
    # the refresh morphs the list in place, so the link pressed is the link released.
    await page.add_init_script(COUNT_LIST_REFRESHES)
    incident = await world.api.trigger(world.service_id, title="Checkout down", urgency="low")
    await sign_in(page, console, "ada.lovelace@example.com")
    await _list_refreshed_since(page, 0)  # the refresh every stream starts with
    link = page.get_by_role("link", name="#1 Checkout down")
    box = await link.bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    before = await _list_refreshes(page)
    await page.mouse.down()
    await world.api.post(f"/incidents/{incident['id']}/notes", {"text": "Looking."})
    await _list_refreshed_since(page, before)
    await page.mouse.up()
    await expect(page.get_by_role("heading", name="#1 Checkout down")).to_be_visible()


async def test_a_selection_outlasts_a_live_refresh_of_the_list(
    page: Page, console: Console, world: World
) -> None:
    await page.add_init_script(COUNT_LIST_REFRESHES)
    first = await world.api.trigger(world.service_id, title="Checkout down", urgency="low")
    await world.api.trigger(world.service_id, title="Disk 80%", urgency="low")
    await sign_in(page, console, "ada.lovelace@example.com")
    await _list_refreshed_since(page, 0)
    await page.get_by_label("Select #1").check()
    before = await _list_refreshes(page)
    await world.api.post(f"/incidents/{first['id']}/acknowledge", None, status=200)
    await _list_refreshed_since(page, before)
    await expect(page.locator("#incident-1 .badge.status-acknowledged")).to_be_visible()
    await expect(page.get_by_label("Select #1")).to_be_checked()
    await expect(page.get_by_label("Select #2")).not_to_be_checked()
    await page.get_by_role("button", name="Resolve selected").click()
    await expect(page.get_by_role("status")).to_contain_text("Resolved 1 incident(s).")
    await expect(page.get_by_role("link", name="#2 Disk 80%")).to_be_visible()
    await expect(page.get_by_role("link", name="#1 Checkout down")).to_have_count(0)


async def test_opened_timeline_details_stay_open_across_a_live_update(
    page: Page, console: Console, world: World
) -> None:
    incident = await world.api.trigger(world.service_id, title="Checkout down", urgency="low")
    await sign_in(page, console, "ada.lovelace@example.com")
    await visit(page, f"{console.url}/incidents/{incident['id']}")
    timeline = page.locator("#incident-timeline")
    triggered = timeline.locator("li.type-triggered details")
    await triggered.get_by_text("details").click()
    await expect(triggered).to_have_attribute("open", "")
    await world.api.post(f"/incidents/{incident['id']}/notes", {"text": "Rolled back."})
    await expect(timeline.get_by_text("Rolled back.")).to_be_visible()
    await expect(triggered).to_have_attribute("open", "")


async def test_acknowledging_in_the_browser_stops_the_next_level(
    page: Page, console: Console, world: World, sink: HttpSink
) -> None:
    await sign_in(page, console, "ada.lovelace@example.com")
    await world.enqueue(console, "p99 latency > 2s")
    await sink.wait_count("/page-ada", 1)
    await page.get_by_role("link", name="#1 p99 latency > 2s").click()
    await expect(page.get_by_role("heading", name="#1 p99 latency > 2s")).to_be_visible()
    # The timeline shows the delivery attempt: channel, redacted address, outcome.
    timeline = page.locator("#incident-timeline")
    await expect(timeline.get_by_text("notified")).to_be_visible()
    await expect(timeline.get_by_text("webhook to")).to_be_visible()
    await expect(timeline.get_by_text("sent", exact=True)).to_be_visible()
    incident = await incident_titled(console, "p99 latency > 2s")
    assert incident.next_due_at is not None
    level_two_due = incident.next_due_at
    await page.locator("#incident-summary").get_by_role("button", name="Acknowledge").click()
    await expect(page.get_by_role("status")).to_contain_text("acknowledged")
    await expect(page.locator("#incident-summary .badge.status-acknowledged")).to_be_visible()
    # Past the moment level 2 was due (and the worker's sweeper after it): Brian hears nothing.
    await eventually(
        lambda: _after(level_two_due.timestamp() + 2.0), timeout=15, what="level 2 due time"
    )
    assert sink.at("/page-brian") == []
    assert len(sink.at("/page-ada")) == 1


async def _after(instant: float) -> bool:
    return utcnow().timestamp() > instant


async def test_a_status_change_elsewhere_reaches_the_open_incident_page(
    page: Page, console: Console, world: World, admin_headers: dict[str, str]
) -> None:
    await sign_in(page, console, "ada.lovelace@example.com")
    await world.enqueue(console, "Queue backlog")
    incident = await incident_titled(console, "Queue backlog")
    await visit(page, f"{console.url}/incidents/{incident.id}")
    await expect(page.locator("#incident-summary .badge.status-triggered")).to_be_visible()
    await world.api.post(f"/incidents/{incident.id}/resolve", None, status=200)
    await expect(page.locator("#incident-summary .badge.status-resolved")).to_be_visible()


async def test_observer_sees_no_buttons_and_a_forged_post_is_refused(
    page: Page, console: Console, world: World
) -> None:
    await world.enqueue(console, "Cache misses")
    incident = await incident_titled(console, "Cache misses")
    await sign_in(page, console, "watcher@example.com")
    await expect(page.get_by_role("link", name="#1 Cache misses")).to_be_visible()
    assert await page.get_by_role("button", name="Acknowledge").count() == 0
    assert await page.get_by_label("Select #1").count() == 0
    await visit(page, f"{console.url}/incidents/{incident.id}")
    await expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    assert await page.get_by_role("button").count() == 0
    # The observer's own session token does not make the POST acceptable: the role forbids it.
    headers = await page.locator("body").get_attribute("hx-headers")
    assert headers is not None
    token = headers.split('"X-CSRF-Token": "')[1].split('"')[0]
    forged = await page.request.post(
        f"{console.url}/incidents/{incident.id}/acknowledge", form={"csrf_token": token}
    )
    assert forged.status == 403
    assert "responder role" in await forged.text()
    assert await status_of(console, incident.id) == "triggered"


async def test_a_post_without_the_csrf_token_is_refused(
    page: Page, console: Console, world: World
) -> None:
    await world.enqueue(console, "Cache misses")
    incident = await incident_titled(console, "Cache misses")
    await sign_in(page, console, "ada.lovelace@example.com")
    # As another site's form would: the browser sends the cookie, but not the token.
    response = await page.request.post(f"{console.url}/incidents/{incident.id}/acknowledge")
    assert response.status == 403
    wrong = await page.request.post(
        f"{console.url}/incidents/{incident.id}/resolve", form={"csrf_token": "guessed"}
    )
    assert wrong.status == 403
    assert await status_of(console, incident.id) == "triggered"


async def test_html_in_titles_and_details_is_shown_as_text(
    page: Page, console: Console, world: World
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await world.enqueue(
        console,
        XSS_TITLE,
        custom_details={"note": "<script>alert(2)</script>", "link": "javascript:alert(3)"},
    )
    incident = await incident_titled(console, XSS_TITLE)
    await sign_in(page, console, "ada.lovelace@example.com")
    await expect(page.get_by_role("link", name=f"#1 {XSS_TITLE}")).to_be_visible()
    await visit(page, f"{console.url}/incidents/{incident.id}")
    await expect(page.get_by_role("heading", name=f"#1 {XSS_TITLE}")).to_be_visible()
    await expect(page.get_by_text("<script>alert(2)</script>")).to_be_visible()
    assert await page.locator("img[src='x']").count() == 0
    assert await page.locator("a[href^='javascript']").count() == 0
    assert dialogs == []


# A 1x1 PNG: what the stand-in Grafana renders.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


async def test_alert_links_and_images_render_and_hostile_ones_stay_text(
    page: Page, console: Console, world: World
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    fetched: list[str] = []

    async def grafana(route: Route) -> None:
        fetched.append(route.request.url)
        await route.fulfill(status=200, content_type="image/png", body=PNG)

    await page.route("**/render/*.png", grafana)
    hostile = "<img src=y onerror=alert(9)>"
    await world.enqueue(
        console,
        "Error rate",
        custom_details={"labels": {"env": "prod"}},
        extra={
            "links": [
                {"href": "https://grafana.example.test/d/errors", "text": "Dashboard"},
                {"href": "javascript:alert(8)", "text": "Evil link"},
                {"href": "https://runbooks.example.test/errors", "text": hostile},
            ],
            "images": [
                {
                    "src": "http://grafana.example.test/render/errors.png",
                    "href": "https://grafana.example.test/d/errors?view=panel",
                    "alt": "Error graph",
                },
                {"src": "https://grafana.example.test/render/latency.png", "alt": "Latency"},
                {"src": "javascript:alert(5)", "alt": "Script image"},
                {"src": "data:image/svg+xml,<svg onload=alert(6)>", "alt": "Data image"},
                {"src": 'https://grafana.example.test/render/x.png" onerror="alert(7)', "alt": "Q"},
            ],
        },
    )
    incident = await incident_titled(console, "Error rate")
    await sign_in(page, console, "ada.lovelace@example.com")
    await visit(page, f"{console.url}/incidents/{incident.id}")
    details = page.locator("section", has=page.get_by_role("heading", name="Alert details"))
    await expect(details.get_by_role("link", name="Dashboard")).to_have_attribute(
        "href", "https://grafana.example.test/d/errors"
    )
    await expect(details.get_by_text("prod")).to_be_visible()
    # http and https images are shown (the CSP lets them load), linked where the alert says.
    for name in ("Error graph", "Latency"):
        image = details.get_by_role("img", name=name)
        await expect(image).to_be_visible()
        await expect(image).to_have_js_property("naturalWidth", 1)  # loaded and decoded
    await expect(details.get_by_role("link", name="Error graph")).to_have_attribute(
        "href", "https://grafana.example.test/d/errors?view=panel"
    )
    assert sorted(fetched) == [
        "http://grafana.example.test/render/errors.png",
        "https://grafana.example.test/render/latency.png",
    ]
    # javascript: and data: are neither images nor links: the tree shows them as text.
    await expect(details.get_by_role("img", name="Script image")).to_have_count(0)
    await expect(details.get_by_role("img", name="Data image")).to_have_count(0)
    await expect(details.get_by_role("link", name="Evil link")).to_have_count(0)
    await expect(details.get_by_text("javascript:alert(8)")).to_be_visible()
    await expect(details.get_by_text("data:image/svg+xml,<svg onload=alert(6)>")).to_be_visible()
    # Markup in a link's text or an image's URL stays text and attribute value.
    await expect(details.get_by_role("link", name=hostile)).to_be_visible()
    await expect(details.get_by_role("img", name="Q")).to_have_attribute(
        "src", 'https://grafana.example.test/render/x.png" onerror="alert(7)'
    )
    unsafe = "[onerror], [onload], img[src^='javascript'], img[src^='data']"
    assert await page.locator(unsafe).count() == 0
    assert dialogs == []


async def test_keyboard_only_acknowledge(page: Page, console: Console, world: World) -> None:
    await world.enqueue(console, "Login errors")
    incident = await incident_titled(console, "Login errors")
    await sign_in(page, console, "ada.lovelace@example.com")
    await visit(page, f"{console.url}/incidents/{incident.id}")
    for _ in range(30):
        await page.keyboard.press("Tab")
        focused = await page.evaluate("document.activeElement.textContent.trim()")
        if focused == "Acknowledge":
            break
    else:
        raise AssertionError("Acknowledge is not reachable with Tab")
    await page.keyboard.press("Enter")
    await expect(page.locator("#incident-summary .badge.status-acknowledged")).to_be_visible()
    assert await status_of(console, incident.id) == "acknowledged"


async def test_bulk_acknowledge_and_resolve(page: Page, console: Console, world: World) -> None:
    for title in ("One", "Two", "Three"):
        await world.enqueue(console, title)
        await incident_titled(console, title)
    await sign_in(page, console, "ada.lovelace@example.com")
    await expect(page.get_by_role("link", name="#3 Three")).to_be_visible()
    await page.get_by_label("Select #1").check()
    await page.get_by_label("Select #3").check()
    await page.get_by_role("button", name="Acknowledge selected").click()
    await expect(page.get_by_role("status")).to_have_text("Acknowledged 2 incident(s).")
    assert await status_of(console, (await incident_titled(console, "One")).id) == "acknowledged"
    assert await status_of(console, (await incident_titled(console, "Two")).id) == "triggered"
    await page.get_by_label("Select #2").check()
    await page.get_by_role("button", name="Resolve selected").click()
    await expect(page.get_by_role("status")).to_have_text("Resolved 1 incident(s).")
    assert await status_of(console, (await incident_titled(console, "Three")).id) == "acknowledged"
    await expect(page.get_by_role("link", name="#2 Two")).to_have_count(0)  # open only


async def test_filters_narrow_the_list(page: Page, console: Console, world: World) -> None:
    await world.enqueue(console, "Urgent thing")
    await incident_titled(console, "Urgent thing")
    await world.api.trigger(world.service_id, title="Quiet thing", urgency="low")
    await sign_in(page, console, "ada.lovelace@example.com")
    await expect(page.get_by_role("link", name="#2 Quiet thing")).to_be_visible()
    await page.get_by_label("Urgency").select_option("low")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_role("link", name="#2 Quiet thing")).to_be_visible()
    await expect(page.get_by_role("link", name="#1 Urgent thing")).to_have_count(0)
    # "Mine": Ada was paged for the urgent one (the quiet one is low urgency: no rule pages her).
    await visit(page, f"{console.url}/incidents?mine=1")
    await expect(page.get_by_role("link", name="#1 Urgent thing")).to_be_visible()


async def test_priority_is_shown_and_filters_the_list(
    page: Page, console: Console, world: World
) -> None:
    await world.api.trigger(world.service_id, title="Checkout down", priority="P1", urgency="low")
    await world.api.trigger(world.service_id, title="Disk 80%", severity="warning", urgency="low")
    await sign_in(page, console, "ada.lovelace@example.com")
    await expect(page.get_by_title("priority P3")).to_be_visible()  # from its severity
    await page.get_by_label("Priority").select_option("P1")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_role("link", name="#1 Checkout down")).to_be_visible()
    await expect(page.get_by_role("link", name="#2 Disk 80%")).to_have_count(0)
    await page.get_by_role("link", name="#1 Checkout down").click()
    await expect(page.locator("#incident-summary").get_by_text("priority P1")).to_be_visible()


async def test_actions_on_the_incident_page(page: Page, console: Console, world: World) -> None:
    await world.enqueue(console, "Main incident")
    incident = await incident_titled(console, "Main incident")
    await world.enqueue(console, "Duplicate")
    await incident_titled(console, "Duplicate")
    await sign_in(page, console, "ada.lovelace@example.com")
    await visit(page, f"{console.url}/incidents/{incident.id}")
    await page.get_by_label("Add a note").fill("Rolled back the deploy.")
    await page.get_by_role("button", name="Add note").click()
    await expect(
        page.locator("#incident-timeline").get_by_text("Rolled back the deploy.")
    ).to_be_visible()
    await page.get_by_text("More actions").click()
    await page.get_by_label("Merge incidents into this one (numbers)").fill("2")
    await page.get_by_role("button", name="Merge").click()
    await expect(page.get_by_role("status")).to_contain_text("merged 1 incident(s)")
    await page.get_by_text("More actions").click()
    await page.get_by_role("button", name="1 hour").click()
    await expect(page.get_by_role("status")).to_contain_text("snoozed until")
    await expect(page.locator("#incident-summary").get_by_text("Snoozed until")).to_be_visible()
    await page.locator("#incident-summary").get_by_role("button", name="Unacknowledge").click()
    await expect(page.get_by_role("status")).to_contain_text("escalation restarted at level 1")
    await (
        page.locator("#incident-summary").get_by_role("button", name="Escalate to level 2").click()
    )
    await expect(page.get_by_role("status")).to_contain_text("escalated to level 2")
    await page.get_by_text("More actions").click()
    await page.get_by_label("Reassign to").select_option(label="Brian Kernighan")
    await page.get_by_role("button", name="Reassign").click()
    await expect(page.get_by_role("status")).to_contain_text("reassigned to Brian Kernighan")


async def test_essential_actions_work_without_javascript(
    browser: Browser, console: Console, world: World
) -> None:
    await world.enqueue(console, "No script")
    incident = await incident_titled(console, "No script")
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await sign_in(page, console, "ada.lovelace@example.com")
    await page.get_by_role("button", name="Acknowledge #1").click()
    await expect(page.get_by_role("status")).to_contain_text("acknowledged")
    assert await status_of(console, incident.id) == "acknowledged"
    await context.close()


async def test_the_list_pages_through_older_incidents(
    page: Page, console: Console, world: World
) -> None:
    for n in range(27):
        await world.api.trigger(world.service_id, title=f"Alert {n + 1}", urgency="low")
    await sign_in(page, console, "ada.lovelace@example.com")
    await expect(page.get_by_role("link", name="#27 Alert 27")).to_be_visible()
    await expect(page.get_by_role("link", name="#2 Alert 2")).to_have_count(0)
    await page.get_by_role("link", name="Older").click()
    await expect(page.get_by_role("link", name="#2 Alert 2")).to_be_visible()
    await expect(page.get_by_role("link", name="#27 Alert 27")).to_have_count(0)
    await asyncio.sleep(0)
