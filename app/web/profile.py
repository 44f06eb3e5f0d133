"""/profile: the signed-in person's own contact methods (with test pages), notification rules,
time zone, API keys and browser sessions. Anyone signed in may change their own, observers too.
"""

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import sessions
from app.accounts.sessions import Viewer
from app.config import Settings
from app.db import SessionDep
from app.errors import AppError, NotFound
from app.models import ContactMethod, User
from app.notify import registry
from app.repository import get_or_404
from app.schedules import feeds
from app.users import chat_links, service, testpage, verification
from app.users.schemas import (
    ApiKeyCreate,
    ContactMethodCreate,
    NotificationRuleCreate,
    UserUpdate,
)
from app.web import notice
from app.web.auth import CsrfViewerDep, ViewerDep, lifetimes, now_of, settings_of
from app.web.templating import render

router = APIRouter(tags=["console"], include_in_schema=False)

TIME_ZONES = sorted(available_timezones())
URGENCIES = (("", "any urgency"), ("high", "high urgency only"), ("low", "low urgency only"))
MAX_KEY_DAYS = 3650
MAX_DELAY_MINUTES = 1440  # the rules' limit, a day


@dataclass(frozen=True)
class Problem:
    """A form that was refused: which one, why, and what was typed (shown again)."""

    form: str
    message: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ShownOnce:
    """A secret the page shows this once (a new API key, a webhook's signing secret)."""

    title: str
    value: str
    note: str


def _message(exc: ValidationError | AppError) -> str:
    if isinstance(exc, AppError):
        return exc.message
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()))
        text = str(error.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{where}: {text}" if where else text)
    return "; ".join(parts)


def chat_kinds(settings: Settings) -> list[str]:
    """The chat services a person can link an account of here (those Stairway pages through)."""
    return [kind for kind in chat_links.CHAT_KINDS if registry.BY_TYPE[kind].enabled(settings)]


async def render_profile(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    *,
    problem: Problem | None = None,
    shown_once: ShownOnce | None = None,
) -> Response:
    now = now_of(request)
    user = await get_or_404(session, User, viewer.user_id, what="user")
    methods = await service.list_contact_methods(session=session, user_id=user.id)
    rules = await service.list_notification_rules(session=session, user_id=user.id)
    context: dict[str, Any] = {
        "viewer": viewer,
        "nav": "profile",
        "now": now,
        "user": user,
        "methods": methods,
        "method_by_id": {m.id: m for m in methods},
        "trials": await testpage.last_trials(session=session, method_ids=[m.id for m in methods]),
        "rules": rules,
        "keys": await service.list_api_keys(session=session, user_id=user.id),
        "browsers": await sessions.list_for(
            session=session,
            user_id=user.id,
            now=now,
            lifetimes=lifetimes(settings_of(request)),
        ),
        "contact_types": list(registry.CONTACT_TYPES),
        "urgencies": URGENCIES,
        "time_zones": TIME_ZONES,
        "problem": problem,
        "shown_once": shown_once,
        "public_url": settings_of(request).public_url.rstrip("/"),
        "has_feed": await feeds.has_feed(session=session, user_id=user.id),
        "chat_accounts": await chat_links.accounts_of(session=session, user_id=user.id),
        "chat_kinds": chat_kinds(settings_of(request)),
        "notice": notice.take(request),
    }
    status = 422 if problem else 200
    response = render(request, "profile/profile.html", context, status_code=status)
    # A secret shown once must not come back from the browser's cache or history either.
    response.headers["Cache-Control"] = "no-store"
    notice.forget(request, response)
    return response


@router.get("/profile")
async def profile_page(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    return await render_profile(request, session, viewer)


# After a form that shows a secret, the address bar holds the form's URL: reloading it lands here.
@router.get("/profile/api-keys")
@router.get("/profile/calendar-feed")
@router.get("/profile/chat-links/{kind}")
@router.get("/profile/contact-methods")
async def back_to_profile(viewer: ViewerDep) -> Response:
    return RedirectResponse("/profile", status_code=303)


@router.post("/profile/time-zone")
async def set_time_zone(
    request: Request,
    session: SessionDep,
    viewer: CsrfViewerDep,
    time_zone: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    try:
        data = UserUpdate(time_zone=time_zone)
    except ValidationError as exc:
        problem = Problem("time-zone", _message(exc), {"time_zone": time_zone})
        return await render_profile(request, session, viewer, problem=problem)
    await service.update_user(session=session, user_id=viewer.user_id, data=data)
    return notice.redirect_with("/profile", f"Time zone set to {time_zone}.")


@router.post("/profile/contact-methods")
async def add_contact_method(
    request: Request,
    session: SessionDep,
    viewer: CsrfViewerDep,
    type: Annotated[str, Form(max_length=20)] = "",
    address: Annotated[str, Form(max_length=2048)] = "",
    label: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    typed = {"type": type, "address": address.strip(), "label": label.strip()}
    try:
        data = ContactMethodCreate.model_validate(typed)
        settings = settings_of(request)
        method = await service.add_contact_method(
            session=session,
            user_id=viewer.user_id,
            data=data,
            allow_private=bool(settings.allow_private_webhook_targets),
            trusted=settings.contact_verification == "trusted",
        )
    except (ValidationError, AppError) as exc:
        problem = Problem("contact", _message(exc), typed)
        return await render_profile(request, session, viewer, problem=problem)
    name = method.label or method.type
    if not method.signing_secret:
        unverified = " Send it a code to verify it: until then it is not paged."
        return notice.redirect_with(
            "/profile", f"Added {name}." + ("" if method.verified_at else unverified)
        )
    secret = ShownOnce(
        title=f"Signing secret of {name}",
        value=method.signing_secret,
        note="Every page to this webhook is signed with it (X-Stairway-Signature). "
        "It is shown only now: copy it into the receiver.",
    )
    return await render_profile(request, session, viewer, shown_once=secret)


@router.post("/profile/contact-methods/{method_id}/delete")
async def remove_contact_method(
    session: SessionDep, viewer: CsrfViewerDep, method_id: uuid.UUID
) -> Response:
    await service.delete_contact_method(
        session=session, user_id=viewer.user_id, method_id=method_id
    )
    return notice.redirect_with("/profile", "Contact method removed, with its rules.")


@router.post("/profile/contact-methods/{method_id}/test")
async def test_contact_method(
    request: Request, session: SessionDep, viewer: CsrfViewerDep, method_id: uuid.UUID
) -> Response:
    trial = await testpage.send_test_page(
        session=session,
        providers=request.app.state.providers,
        user_id=viewer.user_id,
        method_id=method_id,
        fallback_secret=request.app.state.link_secret,
        now=now_of(request),
    )
    method = await get_or_404(session, ContactMethod, method_id, what="contact method")
    name = method.label or method.type
    message = f"Test page to {name}: {trial.verdict}. {trial.response}"
    return notice.redirect_with("/profile", message)


@router.post("/profile/contact-methods/{method_id}/verification")
async def send_verification_code(
    request: Request, session: SessionDep, viewer: CsrfViewerDep, method_id: uuid.UUID
) -> Response:
    sent = await verification.send_code(
        session=session,
        providers=request.app.state.providers,
        settings=settings_of(request),
        user_id=viewer.user_id,
        method_id=method_id,
        now=now_of(request),
    )
    name = sent.method.label or sent.method.type
    if sent.expires_at is None:
        return notice.redirect_with(
            "/profile", f"No code went to {name}: the provider answered {sent.detail}"
        )
    minutes = settings_of(request).verification_code_ttl_seconds // 60
    return notice.redirect_with(
        f"/profile#contact-{method_id}",
        f"A code went to {name}. Enter it below within {minutes} minutes.",
    )


@router.post("/profile/contact-methods/{method_id}/verify")
async def verify_contact_method(
    request: Request,
    session: SessionDep,
    viewer: CsrfViewerDep,
    method_id: uuid.UUID,
    code: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    confirmation = await verification.confirm_code(
        session=session,
        settings=settings_of(request),
        user_id=viewer.user_id,
        method_id=method_id,
        code=code,
        now=now_of(request),
    )
    if confirmation.refused is not None:
        # Shown, not raised: the attempt it counted is committed with the page.
        problem = Problem(f"verify-{method_id}", f"code: {confirmation.refused}")
        return await render_profile(request, session, viewer, problem=problem)
    method = confirmation.method
    return notice.redirect_with(
        "/profile", f"{method.label or method.type} is verified: pages now go to it."
    )


@router.post("/profile/notification-rules")
async def add_notification_rule(
    request: Request,
    session: SessionDep,
    viewer: CsrfViewerDep,
    contact_method_id: Annotated[str, Form(max_length=40)] = "",
    delay_minutes: Annotated[str, Form(max_length=10)] = "0",
    urgency: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    typed = {
        "contact_method_id": contact_method_id,
        "delay_minutes": delay_minutes,
        "urgency": urgency,
    }
    minutes = delay_minutes.strip()
    try:
        if not (minutes.isdigit() and int(minutes) <= MAX_DELAY_MINUTES):
            raise AppError(f"delay_minutes: a whole number from 0 to {MAX_DELAY_MINUTES}")
        data = NotificationRuleCreate.model_validate(
            {
                "contact_method_id": contact_method_id,
                "delay_seconds": int(minutes) * 60,
                "urgency": urgency or None,
            }
        )
        await service.add_notification_rule(session=session, user_id=viewer.user_id, data=data)
    except (ValidationError, AppError) as exc:
        message = _message(exc).replace("delay_seconds", "delay_minutes")
        problem = Problem("rule", message, typed)
        return await render_profile(request, session, viewer, problem=problem)
    return notice.redirect_with("/profile", "Notification rule added.")


@router.post("/profile/notification-rules/{rule_id}/delete")
async def remove_notification_rule(
    session: SessionDep, viewer: CsrfViewerDep, rule_id: uuid.UUID
) -> Response:
    await service.delete_notification_rule(session=session, user_id=viewer.user_id, rule_id=rule_id)
    return notice.redirect_with("/profile", "Notification rule removed.")


@router.post("/profile/api-keys")
async def create_api_key(
    request: Request,
    session: SessionDep,
    viewer: CsrfViewerDep,
    name: Annotated[str, Form(max_length=200)] = "",
    expires_in_days: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    typed = {"name": name.strip(), "expires_in_days": expires_in_days.strip()}
    days = typed["expires_in_days"]
    try:
        if days and not (days.isdigit() and 1 <= int(days) <= MAX_KEY_DAYS):
            raise AppError(f"expires_in_days: a whole number from 1 to {MAX_KEY_DAYS}, or empty")
        expires_at = now_of(request) + timedelta(days=int(days)) if days else None
        data = ApiKeyCreate.model_validate({"name": typed["name"], "expires_at": expires_at})
    except (ValidationError, AppError) as exc:
        problem = Problem("key", _message(exc), typed)
        return await render_profile(request, session, viewer, problem=problem)
    key, secret = await service.create_api_key(session=session, user_id=viewer.user_id, data=data)
    shown = ShownOnce(
        title=f"API key {key.name}",
        value=secret,
        note=f"It acts as you, with your role ({viewer.role}). "
        "It is shown only now: copy it somewhere safe.",
    )
    return await render_profile(request, session, viewer, shown_once=shown)


@router.post("/profile/api-keys/{key_id}/revoke")
async def revoke_api_key(
    request: Request, session: SessionDep, viewer: CsrfViewerDep, key_id: uuid.UUID
) -> Response:
    key = await service.revoke_api_key(
        session=session, user_id=viewer.user_id, key_id=key_id, at=now_of(request)
    )
    return notice.redirect_with("/profile", f"API key {key.name} revoked; it no longer works.")


@router.post("/profile/sessions/{token_hash}/end")
async def end_session(session: SessionDep, viewer: CsrfViewerDep, token_hash: str) -> Response:
    if token_hash == viewer.token_hash:
        return RedirectResponse("/sign-out", status_code=303)
    if not await sessions.end_one(session=session, user_id=viewer.user_id, token_hash=token_hash):
        raise NotFound("that session has already ended")
    return notice.redirect_with("/profile", "Signed that browser out.")
