"""/profile in a real browser: contact methods and test pages through the real provider,
notification rules, time zone, API keys shown once, and the person's signed-in browsers."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.notify.services import TELEGRAM_WEBHOOK_SECRET
from tests.provider_support import MailSink
from tests.support import HttpSink
from tests.web.conftest import PASSWORD, Console, make_user, sign_in, unique_email, visit

ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"
)


@pytest.fixture
async def pager() -> AsyncIterator[HttpSink]:
    """A loopback receiver standing in for a person's pager bridge."""
    server = HttpSink()
    await server.start()
    yield server
    await server.stop()


async def _open(page: Page, summary: str) -> None:
    """Open a folded form (forms the page has nothing above are already open)."""
    details = page.locator("details").filter(has=page.get_by_text(summary, exact=True))
    if await details.get_attribute("open") is None:
        await page.get_by_text(summary, exact=True).click()


async def _add_webhook(page: Page, url: str, label: str) -> str:
    """Add a webhook contact method through the form; the signing secret it shows once."""
    await _open(page, "Add a contact method")
    await page.get_by_label("Type").select_option("webhook")
    await page.get_by_label("Address").fill(url)
    await page.get_by_label("Label (optional)").fill(label)
    await page.get_by_role("button", name="Add contact method").click()
    shown = page.get_by_role("region", name=f"Signing secret of {label}")
    await expect(shown).to_be_visible()
    return await shown.get_by_label("Copy it now").input_value()


async def test_a_test_page_reaches_the_webhook_and_shows_sent(
    page: Page, console: Console, pager: HttpSink
) -> None:
    await make_user(console, "ada@example.com", name="Ada Lovelace")
    await sign_in(page, console, "ada@example.com")
    await page.get_by_role("link", name="Ada Lovelace").click()
    await expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
    secret = await _add_webhook(page, pager.url("/page-ada"), "pager bridge")

    await page.get_by_role("button", name="Send test page to pager bridge").click()
    [received] = await pager.wait_count("/page-ada", 1)
    body = received.json()
    # A notice, not an incident: nothing to acknowledge, nothing in the incident list.
    assert body["event"] == "notice.test"
    assert body["notice"]["title"] == "Test page for Ada Lovelace"
    assert "incident" not in body
    assert body["user"]["name"] == "Ada Lovelace"
    # Signed like every real page, with the secret the page showed once.
    assert received.signed_by(secret)

    await expect(page.get_by_role("status")).to_contain_text("Test page to pager bridge: sent.")
    row = page.locator("#contact li").filter(has_text="pager bridge")
    await expect(row.locator(".trial")).to_contain_text("sent")
    await expect(row.locator(".trial")).to_contain_text("HTTP 200")
    # The secret is not shown again.
    await visit(page, f"{console.url}/profile")
    assert secret not in await page.content()


async def test_a_test_email_goes_through_the_smtp_provider(
    page: Page, console: Console, smtp: MailSink
) -> None:
    await make_user(console, "ada@example.com", name="Ada Lovelace")
    await sign_in(page, console, "ada@example.com")
    await visit(page, f"{console.url}/profile")
    await _open(page, "Add a contact method")
    await page.get_by_label("Type").select_option("email")
    address = unique_email("ada-pager")  # the mail sink serves the whole test session
    await page.get_by_label("Address").fill(address)
    await page.get_by_role("button", name="Add contact method").click()
    await expect(page.get_by_role("status")).to_have_text(
        "Added email. Send it a code to verify it: until then it is not paged."
    )
    await page.get_by_role("button", name="Send test page to email").click()
    [mail] = await smtp.wait_for(address)
    assert "Test page for Ada Lovelace" in str(mail.message()["subject"])
    trial = page.locator("#contact li").filter(has_text=address).locator(".trial")
    await expect(trial).to_contain_text("sent")


async def test_a_failing_destination_shows_the_providers_answer(
    page: Page, console: Console, pager: HttpSink
) -> None:
    await make_user(console, "ada@example.com", name="Ada Lovelace")
    await sign_in(page, console, "ada@example.com")
    await visit(page, f"{console.url}/profile")
    pager.script["/gone"] = [410]
    await _add_webhook(page, pager.url("/gone"), "old bridge")
    await page.get_by_role("button", name="Send test page to old bridge").click()
    await expect(page.get_by_role("status")).to_contain_text(
        "Test page to old bridge: failed. HTTP 410"
    )
    trial = page.locator("#contact li").filter(has_text="old bridge").locator(".trial")
    await expect(trial).to_contain_text("failed")
    await expect(trial).to_contain_text('HTTP 410 {"ok":false}')
    assert len(pager.at("/gone")) == 1


async def test_a_contact_method_is_verified_with_the_code_it_received(
    page: Page, console: Console, pager: HttpSink
) -> None:
    await make_user(console, "ada@example.com")
    await sign_in(page, console, "ada@example.com")
    await visit(page, f"{console.url}/profile")
    await _add_webhook(page, pager.url("/verify-me"), "pager bridge")
    await visit(page, f"{console.url}/profile")
    row = page.locator("#contact li").filter(has_text="pager bridge")
    await expect(row.get_by_text("not verified")).to_be_visible()
    await expect(row).to_contain_text("Not paged until verified.")

    await page.get_by_role("button", name="Send code to pager bridge").click()
    [received] = await pager.wait_count("/verify-me", 1)
    notice = received.json()["notice"]
    assert notice["kind"] == "verification"
    code = re.findall(r"\b\d{6}\b", notice["text"])[0]
    await expect(page.get_by_role("status")).to_contain_text(
        "A code went to pager bridge. Enter it below within 15 minutes."
    )
    await expect(row).to_contain_text("A code was sent; it is good until")

    wrong = "000000" if code != "000000" else "111111"
    await page.get_by_label("Code for pager bridge").fill(wrong)
    await row.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("alert")).to_have_text("code: wrong code (4 attempts left)")
    await expect(page.get_by_label("Code for pager bridge")).to_have_attribute(
        "aria-invalid", "true"
    )

    await page.get_by_label("Code for pager bridge").fill(code)
    await row.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("status")).to_have_text(
        "pager bridge is verified: pages now go to it."
    )
    await expect(row.locator(".badge.verified")).to_have_text("verified")
    await expect(row).to_contain_text("with a code")
    await expect(page.get_by_role("button", name="Send code to pager bridge")).to_have_count(0)
    await expect(page.get_by_label("Code for pager bridge")).to_have_count(0)


async def test_the_calendar_feed_url_is_shown_once_and_can_be_replaced_or_turned_off(
    page: Page, console: Console
) -> None:
    await make_user(console, "ada@example.com")
    await sign_in(page, console, "ada@example.com")
    await visit(page, f"{console.url}/profile")
    await page.get_by_role("button", name="Make a calendar URL").click()
    shown = page.get_by_role("region", name="Calendar feed URL")
    first = await shown.get_by_label("Copy it now").input_value()
    assert first.startswith(f"{console.url}/calendars/cal_")
    async with httpx.AsyncClient() as client:
        feed = await client.get(first)
        assert feed.status_code == 200
        assert feed.headers["content-type"].startswith("text/calendar")
        await visit(page, f"{console.url}/profile")
        assert first not in await page.content()  # shown once
        await page.get_by_role("button", name="New calendar URL").click()
        second = await shown.get_by_label("Copy it now").input_value()
        assert second != first
        assert (await client.get(first)).status_code == 404
        assert (await client.get(second)).status_code == 200
        await visit(page, f"{console.url}/profile")
        await page.get_by_role("button", name="Turn the feed off").click()
        await expect(page.get_by_role("status")).to_have_text(
            "Calendar feed turned off: its URL no longer works."
        )
        assert (await client.get(second)).status_code == 404
    await expect(page.get_by_role("button", name="Make a calendar URL")).to_be_visible()


async def test_a_telegram_account_is_linked_by_the_code_it_sends(
    page: Page, console: Console
) -> None:
    await make_user(console, "ada@example.com")
    await sign_in(page, console, "ada@example.com")
    await visit(page, f"{console.url}/profile")
    chat = page.locator("#chat li").filter(has_text="Telegram")
    await expect(chat).to_contain_text("not linked")
    await page.get_by_role("button", name="Link Telegram: get a code").click()
    shown = page.get_by_role("region", name="Telegram link code")
    code = await shown.get_by_label("Copy it now").input_value()
    await expect(shown).to_contain_text(f"Send /link {code} to the Stairway bot in Telegram.")
    # The bot's webhook hears the code from the account (as Telegram delivers it).
    sender = {"id": 515151, "is_bot": False, "first_name": "Ada"}
    update = {
        "update_id": 9001,
        "message": {
            "message_id": 1,
            "from": sender,
            "chat": {"id": 515151, "type": "private"},
            "text": f"/link {code}",
        },
    }
    async with httpx.AsyncClient(base_url=console.url) as client:
        heard = await client.post(
            "/integrations/telegram/webhook",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_WEBHOOK_SECRET},
        )
    assert heard.status_code == 200, heard.text
    await visit(page, f"{console.url}/profile")
    await expect(chat.locator(".badge.verified")).to_have_text("linked")
    await page.get_by_role("button", name="Unlink Telegram").click()
    await expect(page.get_by_role("status")).to_have_text(
        "Telegram account unlinked: its buttons act as nobody."
    )
    await expect(chat).to_contain_text("not linked")


async def test_a_second_test_page_at_once_is_refused(
    page: Page, console: Console, pager: HttpSink
) -> None:
    await make_user(console, "ada@example.com")
    await sign_in(page, console, "ada@example.com")
    await visit(page, f"{console.url}/profile")
    await _add_webhook(page, pager.url("/twice"), "bridge")
    await page.get_by_role("button", name="Send test page to bridge").click()
    await expect(page.get_by_role("status")).to_contain_text("sent")
    await page.get_by_role("button", name="Send test page to bridge").click()
    await expect(
        page.get_by_text("a test page went to this contact method just now")
    ).to_be_visible()
    assert len(pager.at("/twice")) == 1


async def test_a_bad_address_is_refused_beside_the_form(page: Page, console: Console) -> None:
    await make_user(console, "ada@example.com")
    await sign_in(page, console, "ada@example.com")
    await visit(page, f"{console.url}/profile")
    await _open(page, "Add a contact method")
    await page.get_by_label("Type").select_option("sms")
    await page.get_by_label("Address").fill("call me maybe")
    await page.get_by_role("button", name="Add contact method").click()
    alert = page.locator("#contact").get_by_role("alert")
    await expect(alert).to_contain_text("address:")
    # What was typed is kept, and nothing was added.
    await expect(page.get_by_label("Address")).to_have_value("call me maybe")
    await expect(page.get_by_text("No contact methods: nobody can page you yet.")).to_be_visible()


async def test_notification_rules_by_urgency(page: Page, console: Console, pager: HttpSink) -> None:
    await make_user(console, "ada@example.com")
    await sign_in(page, console, "ada@example.com")
    await visit(page, f"{console.url}/profile")
    await _add_webhook(page, pager.url("/rules"), "bridge")
    await visit(page, f"{console.url}/profile")
    rules = page.locator("#rules")
    await expect(rules).to_contain_text("every contact method is used at once")

    await _open(page, "Add a notification rule")
    await page.get_by_label("After (minutes)").fill("2")
    await page.get_by_label("For", exact=True).select_option("high")
    await page.get_by_role("button", name="Add rule").click()
    await expect(page.get_by_role("status")).to_have_text("Notification rule added.")
    high = rules.locator("ol.rules").nth(0)
    await expect(high.get_by_role("listitem")).to_have_text(
        ["After 2m: bridge webhook not verified: skipped Remove"]
    )
    await expect(rules).to_contain_text(
        "No rule for low-urgency incidents: you will not be paged for them."
    )

    await rules.get_by_role("button", name="Remove rule: bridge after 2m").click()
    await expect(page.get_by_role("status")).to_have_text("Notification rule removed.")
    await expect(rules).to_contain_text("every contact method is used at once")


async def test_an_api_key_is_shown_once_works_and_stops_when_revoked(
    page: Page, console: Console
) -> None:
    await make_user(console, "ada@example.com")
    await sign_in(page, console, "ada@example.com")
    await visit(page, f"{console.url}/profile")
    await _open(page, "Create an API key")
    await page.get_by_label("Name").fill("laptop scripts")
    await page.get_by_role("button", name="Create API key").click()
    shown = page.get_by_role("region", name="API key laptop scripts")
    key = await shown.get_by_label("Copy it now").input_value()
    assert key.startswith("sw_")

    async with httpx.AsyncClient(base_url=console.url) as client:
        headers = {"Authorization": f"Bearer {key}"}
        works = await client.get("/api/v1/incidents", headers=headers)
        assert works.status_code == 200, works.text

        await visit(page, f"{console.url}/profile")
        assert key not in await page.content()  # shown once
        await expect(page.locator("#keys")).to_contain_text(key[:10])
        await page.get_by_role("button", name="Revoke API key laptop scripts").click()
        await expect(page.get_by_role("status")).to_contain_text("revoked")
        refused = await client.get("/api/v1/incidents", headers=headers)
        assert refused.status_code == 401


async def test_ending_another_browsers_session(browser: Browser, console: Console) -> None:
    await make_user(console, "ada@example.com")
    phone_context = await browser.new_context(user_agent=ANDROID_CHROME)
    laptop_context = await browser.new_context()
    phone, laptop = await phone_context.new_page(), await laptop_context.new_page()
    try:
        await sign_in(phone, console, "ada@example.com")
        await sign_in(laptop, console, "ada@example.com")
        await visit(laptop, f"{console.url}/profile")
        sessions = laptop.locator("#sessions li")
        await expect(sessions).to_have_count(2)
        await expect(sessions.filter(has_text="this browser")).to_have_count(1)
        await laptop.get_by_role("button", name="Sign out Chrome on Android").click()
        await expect(laptop.get_by_role("status")).to_have_text("Signed that browser out.")
        await expect(sessions).to_have_count(1)
        # The phone is signed out; the laptop is not.
        await visit(phone, f"{console.url}/incidents")
        await expect(phone).to_have_url(f"{console.url}/sign-in")
        await visit(laptop, f"{console.url}/incidents")
        await expect(laptop.get_by_role("heading", name="Incidents")).to_be_visible()
    finally:
        await phone_context.close()
        await laptop_context.close()


async def test_an_observer_edits_their_own_profile(page: Page, console: Console) -> None:
    await make_user(console, "watcher@example.com", role="observer", name="Watcher")
    await sign_in(page, console, "watcher@example.com")
    await visit(page, f"{console.url}/profile")
    await page.get_by_label("Show times in").select_option("Asia/Tokyo")
    await page.get_by_role("button", name="Save time zone").click()
    await expect(page.get_by_role("status")).to_have_text("Time zone set to Asia/Tokyo.")
    await expect(page.get_by_text("in Asia/Tokyo.")).to_be_visible()
    await visit(page, f"{console.url}/oncall")
    await expect(page.get_by_text("Times are in Asia/Tokyo")).to_be_visible()


@asynccontextmanager
async def _signed_in(console: Console, email: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A plain HTTP client signed in as `email`, and the session's CSRF token."""
    async with httpx.AsyncClient(base_url=console.url) as client:
        form = await client.get("/sign-in")
        token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        data = {"csrf_token": token, "email": email, "password": PASSWORD}
        assert (await client.post("/sign-in", data=data)).status_code == 303
        profile = await client.get("/profile")
        yield client, profile.text.split('name="csrf_token" value="')[1].split('"')[0]


async def test_profile_forms_need_the_csrf_token(console: Console) -> None:
    await make_user(console, "ada@example.com")
    async with _signed_in(console, "ada@example.com") as (client, _):
        forged = await client.post(
            "/profile/contact-methods",
            data={"type": "email", "address": "evil@example.com", "label": "x"},
        )
        assert forged.status_code == 403
        page = await client.get("/profile")
        assert page.status_code == 200
        assert "evil@example.com" not in page.text  # the forged form changed nothing


@pytest.mark.parametrize(
    ("path", "form", "field"),
    [
        ("/profile/time-zone", {"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ("/profile/contact-methods", {"type": "pigeon", "address": "roof"}, "type"),
        ("/profile/contact-methods", {"type": "webhook", "address": "ftp://x"}, "address"),
        ("/profile/notification-rules", {"contact_method_id": "nope"}, "contact_method_id"),
        ("/profile/notification-rules", {"delay_minutes": "99999"}, "delay_minutes"),
        ("/profile/api-keys", {"name": ""}, "name"),
        ("/profile/api-keys", {"name": "k", "expires_in_days": "0"}, "expires_in_days"),
    ],
)
async def test_bad_profile_input_is_refused_naming_the_field(
    console: Console, path: str, form: dict[str, str], field: str
) -> None:
    await make_user(console, "ada@example.com")
    async with _signed_in(console, "ada@example.com") as (client, csrf):
        before = (await client.get("/profile")).text
        refused = await client.post(path, data={"csrf_token": csrf, **form})
        assert refused.status_code == 422, refused.text
        assert f"{field}:" in refused.text.split('role="alert"')[1].split("</p>")[0]
        after = (await client.get("/profile")).text
    assert _sections(after) == _sections(before)  # nothing was written


def _sections(html: str) -> str:
    """The profile's lists, without what changes by itself (the clock, the session's activity)."""
    body = html.split('<h2 id="contact-methods">')[1].split(
        '<section class="card" aria-labelledby="time-zone-heading"'
    )[0]
    return body


async def test_another_persons_methods_and_keys_are_not_found(
    console: Console, admin_headers: dict[str, str], pager: HttpSink
) -> None:
    api = console.api(admin_headers)
    bob = await api.user("Bob Bobson", webhook=pager.url("/page-bob"))
    bob_key = await api.post(f"/users/{bob['id']}/api-keys", {"name": "bob's"})
    await make_user(console, "ada@example.com")
    async with _signed_in(console, "ada@example.com") as (client, csrf):
        method_id = bob["contact_method"]["id"]
        for path in (
            f"/profile/contact-methods/{method_id}/test",
            f"/profile/contact-methods/{method_id}/delete",
            f"/profile/api-keys/{bob_key['id']}/revoke",
        ):
            response = await client.post(path, data={"csrf_token": csrf})
            assert response.status_code == 404, path
    assert pager.at("/page-bob") == []
    assert len((await api.get(f"/users/{bob['id']}/contact-methods"))["items"]) == 1
    bob_headers = {"Authorization": f"Bearer {bob_key['key']}"}
    assert (await console.api(bob_headers).get("/incidents"))["items"] == []


async def test_the_page_showing_a_new_key_is_never_cached(console: Console) -> None:
    await make_user(console, "ada@example.com")
    async with _signed_in(console, "ada@example.com") as (client, csrf):
        created = await client.post("/profile/api-keys", data={"csrf_token": csrf, "name": "ci"})
        assert created.status_code == 200
        assert 'id="shown-once"' in created.text
        assert created.headers["cache-control"] == "no-store"
