"""Signing in and out of the console in a real browser: passwords, SSO, links, expiry."""

import asyncio
import hashlib
import os
import sys
from datetime import timedelta
from pathlib import Path

import httpx
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select
from sqlmodel import col

from app.accounts import links
from app.accounts.commands import issue_link
from app.config import Settings
from app.db import transaction
from app.models import AuditEntry, ConsoleSession, User, utcnow
from tests.web.conftest import (
    PASSWORD,
    Console,
    make_user,
    sign_in,
    unique_email,
    visit,
)


async def test_password_sign_in_reaches_the_incidents(page: Page, console: Console) -> None:
    await make_user(console, "ada@example.com", name="Ada Lovelace")
    await visit(page, f"{console.url}/incidents")
    await expect(page).to_have_url(f"{console.url}/sign-in")  # not signed in: sent to sign in
    await sign_in(page, console, "ada@example.com")
    await expect(page.get_by_role("heading", name="Incidents")).to_be_visible()
    await expect(page.get_by_role("link", name="Ada Lovelace")).to_be_visible()
    cookie = next(c for c in await page.context.cookies() if c["name"] == "stairway_session")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Lax"


async def test_wrong_password_is_refused_and_audited(page: Page, console: Console) -> None:
    await make_user(console, "ada@example.com")
    await page.goto(f"{console.url}/sign-in")
    await page.get_by_label("Email").fill("ada@example.com")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_role("alert")).to_have_text("wrong email or password")
    await expect(page).to_have_url(f"{console.url}/sign-in")
    assert "stairway_session" not in {c["name"] for c in await page.context.cookies()}
    async with console.app.state.sessions() as session:
        refused = (
            await session.scalars(select(AuditEntry).where(col(AuditEntry.action) == "refused"))
        ).all()
    assert [(e.resource_type, e.changes["email"]) for e in refused] == [
        ("sign_in", "ada@example.com")
    ]


async def _post_sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    form = await client.get("/sign-in")
    token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    return await client.post(
        "/sign-in", data={"csrf_token": token, "email": email, "password": password}
    )


async def test_repeated_failures_lock_the_email_out(console: Console) -> None:
    await make_user(console, "ada@example.com")
    async with httpx.AsyncClient(base_url=console.url) as client:
        for _ in range(5):
            assert (await _post_sign_in(client, "ada@example.com", "guess")).status_code == 401
        # The right password no longer helps until the window has passed.
        refused = await _post_sign_in(client, "ada@example.com", PASSWORD)
        assert refused.status_code == 429
        assert "too many failed sign-ins" in refused.text


async def test_sign_in_form_without_its_token_is_refused(console: Console) -> None:
    await make_user(console, "ada@example.com")
    async with httpx.AsyncClient(base_url=console.url) as client:
        response = await client.post(
            "/sign-in", data={"email": "ada@example.com", "password": PASSWORD}
        )
    assert response.status_code == 403
    assert "stairway_session" not in response.cookies


async def test_an_idle_session_expires(page: Page, console: Console, settings: Settings) -> None:
    await make_user(console, "ada@example.com")
    await sign_in(page, console, "ada@example.com")
    console.clock.offset = timedelta(seconds=settings.session_idle_seconds - 60)
    await visit(page, f"{console.url}/incidents")  # still in use: the idle time starts again
    await expect(page.get_by_role("heading", name="Incidents")).to_be_visible()
    console.clock.offset += timedelta(seconds=settings.session_idle_seconds + 1)
    await visit(page, f"{console.url}/incidents")
    await expect(page).to_have_url(f"{console.url}/sign-in")


async def test_a_session_ends_at_its_absolute_expiry(
    page: Page, console: Console, settings: Settings
) -> None:
    await make_user(console, "ada@example.com")
    await sign_in(page, console, "ada@example.com")
    # Used every few hours, it still ends when its absolute lifetime is over.
    step = timedelta(seconds=settings.session_idle_seconds // 2)
    while console.clock.offset + step < timedelta(seconds=settings.session_absolute_seconds):
        console.clock.offset += step
        await visit(page, f"{console.url}/incidents")
        await expect(page.get_by_role("heading", name="Incidents")).to_be_visible()
    console.clock.offset = timedelta(seconds=settings.session_absolute_seconds + 1)
    await visit(page, f"{console.url}/incidents")
    await expect(page).to_have_url(f"{console.url}/sign-in")


async def test_sign_out_everywhere_ends_every_session(browser: Browser, console: Console) -> None:
    await make_user(console, "ada@example.com")
    phone = await (await browser.new_context()).new_page()
    laptop = await (await browser.new_context()).new_page()
    await sign_in(phone, console, "ada@example.com")
    await sign_in(laptop, console, "ada@example.com")
    await laptop.get_by_role("link", name="Sign out").click()
    await laptop.get_by_role("button", name="Sign out everywhere").click()
    await expect(laptop).to_have_url(f"{console.url}/sign-in")
    await visit(phone, f"{console.url}/incidents")
    await expect(phone).to_have_url(f"{console.url}/sign-in")
    async with console.app.state.sessions() as session:
        assert (await session.scalars(select(ConsoleSession))).all() == []
    await phone.context.close()
    await laptop.context.close()


async def test_sign_out_ends_only_this_browser(browser: Browser, console: Console) -> None:
    await make_user(console, "ada@example.com")
    phone = await (await browser.new_context()).new_page()
    laptop = await (await browser.new_context()).new_page()
    await sign_in(phone, console, "ada@example.com")
    await sign_in(laptop, console, "ada@example.com")
    await laptop.get_by_role("link", name="Sign out").click()
    await laptop.get_by_role("button", name="Sign out of this browser").click()
    await expect(laptop).to_have_url(f"{console.url}/sign-in")
    await visit(phone, f"{console.url}/incidents")
    await expect(phone.get_by_role("heading", name="Incidents")).to_be_visible()
    await phone.context.close()
    await laptop.context.close()


async def _provider_user(
    console: Console, email: str, groups: list[str] | None, verified: bool
) -> str:
    """The provider's person (`groups=None`: its ID tokens carry no groups claim at all)."""
    sub = email
    claims: dict[str, object] = {"email": email, "email_verified": verified, "name": "Grace Hopper"}
    if groups is not None:
        claims["groups"] = groups
    async with httpx.AsyncClient(base_url=console.oidc_url) as client:
        (await client.put(f"/users/{sub}", json=claims)).raise_for_status()
    return sub


async def _sso(page: Page, console: Console, sub: str) -> None:
    await page.goto(f"{console.url}/sign-in")
    await page.get_by_role("link", name="Sign in with SSO").click()
    await page.get_by_placeholder("sub").fill(sub)  # the provider's own authorization form
    await page.get_by_role("button", name="Authorize").click()


async def test_sso_sign_in_provisions_the_user_with_the_mapped_role(
    page: Page, console: Console
) -> None:
    email = unique_email("grace")
    sub = await _provider_user(console, email, ["staff", "sre"], verified=True)
    await _sso(page, console, sub)
    await expect(page).to_have_url(f"{console.url}/incidents")
    await expect(page.get_by_role("link", name="Grace Hopper")).to_be_visible()
    async with console.app.state.sessions() as session:
        user = await session.scalar(select(User).where(col(User.email) == email))
    assert user is not None
    assert user.role == "responder"  # "sre" maps to responder


async def test_sso_signs_in_an_existing_user_by_email(page: Page, console: Console) -> None:
    email = unique_email("ada")
    await make_user(console, email, role="admin", name="Ada Admin")
    sub = await _provider_user(console, email, None, verified=True)
    await _sso(page, console, sub)
    await expect(page.get_by_role("link", name="Ada Admin")).to_be_visible()
    # Her ID token carries no groups claim: the role made in Stairway stays.
    assert await _role(console, email) == "admin"


async def _role(console: Console, email: str) -> str | None:
    async with console.app.state.sessions() as session:
        user = await session.scalar(select(User).where(col(User.email) == email))
    return user.role if user is not None else None


async def test_the_role_mapping_applies_at_every_sso_sign_in(
    browser: Browser, console: Console
) -> None:
    email = unique_email("lin")
    seen = []
    for groups in (["sre"], ["sre", "sre-leads"], ["staff"], None):
        sub = await _provider_user(console, email, groups, verified=True)
        page = await (await browser.new_context()).new_page()
        await _sso(page, console, sub)
        await expect(page).to_have_url(f"{console.url}/incidents")
        seen.append(await _role(console, email))
        await page.context.close()
    # Promoted, demoted to the default role (no group maps), then left alone (no claim).
    assert seen == ["responder", "admin", "observer", "observer"]
    async with console.app.state.sessions() as session:
        user = await session.scalar(select(User).where(col(User.email) == email))
        assert user is not None
        changes = (
            await session.scalars(
                select(AuditEntry)
                .where(col(AuditEntry.resource_id) == user.id, col(AuditEntry.action) == "update")
                .order_by(col(AuditEntry.seq))
            )
        ).all()
    assert [(e.actor["name"], e.changes["role"]) for e in changes] == [
        ("single sign-on", {"old": "responder", "new": "admin"}),
        ("single sign-on", {"old": "admin", "new": "observer"}),
    ]


async def test_signing_in_forgets_the_sessions_that_have_ended(
    console: Console, settings: Settings
) -> None:
    ada = await make_user(console, "ada@example.com")
    now = utcnow()
    idle = timedelta(seconds=settings.session_idle_seconds)
    rows = {
        "idle": (now - idle - timedelta(seconds=1), now + timedelta(days=1)),
        "expired": (now - timedelta(minutes=1), now - timedelta(seconds=1)),
        "live": (now - timedelta(minutes=1), now + timedelta(days=1)),
    }
    async with transaction(console.app.state.sessions) as session:
        for name, (last_seen_at, expires_at) in rows.items():
            session.add(
                ConsoleSession(
                    token_hash=hashlib.sha256(name.encode()).hexdigest(),
                    user_id=ada.id,
                    csrf_token="unused",
                    method="password",
                    created_at=now - idle * 2,
                    last_seen_at=last_seen_at,
                    expires_at=expires_at,
                )
            )
    async with httpx.AsyncClient(base_url=console.url) as client:
        assert (await _post_sign_in(client, "ada@example.com", PASSWORD)).status_code == 303
    async with console.app.state.sessions() as session:
        kept = set((await session.scalars(select(col(ConsoleSession.token_hash)))).all())
    assert hashlib.sha256(b"live").hexdigest() in kept
    assert hashlib.sha256(b"idle").hexdigest() not in kept
    assert hashlib.sha256(b"expired").hexdigest() not in kept
    assert len(kept) == 2  # the live one and the one just started


async def test_sso_refuses_an_unverified_email(page: Page, console: Console) -> None:
    sub = await _provider_user(console, unique_email("mallory"), ["sre-leads"], verified=False)
    await _sso(page, console, sub)
    await expect(page.get_by_role("alert")).to_contain_text("email_verified")
    assert "stairway_session" not in {c["name"] for c in await page.context.cookies()}


async def test_sso_refuses_other_domains(page: Page, console: Console) -> None:
    sub = await _provider_user(console, "eve@elsewhere.org", ["sre-leads"], verified=True)
    await _sso(page, console, sub)
    await expect(page.get_by_role("alert")).to_contain_text("elsewhere.org may not sign in")
    async with console.app.state.sessions() as session:
        assert (
            await session.scalar(select(User).where(col(User.email) == "eve@elsewhere.org")) is None
        )


async def test_invite_link_sets_a_password_once(
    page: Page, console: Console, settings: Settings
) -> None:
    link_settings = console.app.state.settings
    invited = await issue_link(
        link_settings, email="new@example.com", purpose=links.Purpose.INVITE, name="New Person"
    )
    await page.goto(invited.url)
    await expect(page.get_by_role("heading", name="Welcome to Stairway")).to_be_visible()
    await page.get_by_label("New password").fill("a brand new password")
    await page.get_by_label("The same password again").fill("a brand new password")
    await page.get_by_role("button", name="Set password and sign in").click()
    await expect(page.get_by_role("link", name="New Person")).to_be_visible()
    # The link worked once; the password works from now on.
    await page.goto(invited.url)
    await page.get_by_label("New password").fill("another password!!")
    await page.get_by_label("The same password again").fill("another password!!")
    await page.get_by_role("button", name="Set password and sign in").click()
    await expect(page.get_by_role("heading", name="This link cannot be used")).to_be_visible()
    await page.context.clear_cookies()
    await sign_in(page, console, "new@example.com", "a brand new password")


async def test_set_password_reads_standard_input(settings: Settings, console: Console) -> None:
    await make_user(console, "ada@example.com")
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url}
    stairway = str(Path(sys.executable).parent / "stairway")
    command = [stairway, "users", "set-password", "--email", "ada@example.com"]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(b"set from a script\n"), 60)
    assert process.returncode == 0, err.decode()
    assert "Password set for" in out.decode()
    async with httpx.AsyncClient(base_url=console.url) as client:
        assert (await _post_sign_in(client, "ada@example.com", PASSWORD)).status_code == 401
        signed_in = await _post_sign_in(client, "ada@example.com", "set from a script")
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/incidents"
