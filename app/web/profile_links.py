"""/profile, the links to elsewhere: the calendar feed of the person's shifts and their chat
accounts (Telegram, Mattermost), each made with a secret shown once."""

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from app.db import SessionDep
from app.errors import NotFound
from app.schedules import feeds
from app.users import chat_links
from app.web import notice
from app.web.auth import CsrfViewerDep, now_of, settings_of
from app.web.profile import ShownOnce, chat_kinds, render_profile

router = APIRouter(tags=["console"], include_in_schema=False)
Kind = Annotated[str, Path(max_length=20)]


@router.post("/profile/calendar-feed")
async def make_calendar_feed(
    request: Request, session: SessionDep, viewer: CsrfViewerDep
) -> Response:
    token = await feeds.rotate_feed(session=session, user_id=viewer.user_id)
    shown = ShownOnce(
        title="Calendar feed URL",
        value=feeds.feed_url(settings_of(request).public_url, token),
        note="Subscribe to it in your calendar app: your shifts for the coming weeks, overrides "
        "included. It is shown only now; anyone with it sees your shifts, and a new URL "
        "replaces it.",
    )
    return await render_profile(request, session, viewer, shown_once=shown)


@router.post("/profile/calendar-feed/delete")
async def delete_calendar_feed(session: SessionDep, viewer: CsrfViewerDep) -> Response:
    await feeds.delete_feed(session=session, user_id=viewer.user_id)
    return notice.redirect_with("/profile", "Calendar feed turned off: its URL no longer works.")


def _kind(request: Request, kind: str) -> str:
    if kind not in chat_kinds(settings_of(request)):
        raise NotFound(f"no chat service {kind!r} to link here")
    return kind


@router.post("/profile/chat-links/{kind}")
async def start_chat_link(
    request: Request, session: SessionDep, viewer: CsrfViewerDep, kind: Kind
) -> Response:
    link = await chat_links.start_link(
        session=session,
        user_id=viewer.user_id,
        kind=_kind(request, kind),
        now=now_of(request),
        ttl_seconds=settings_of(request).chat_link_code_ttl_seconds,
    )
    minutes = settings_of(request).chat_link_code_ttl_seconds // 60
    shown = ShownOnce(
        title=f"{kind.capitalize()} link code",
        value=link.code,
        note=f"{chat_links.how_to_link(kind, link.code)} It works once, within {minutes} minutes; "
        "the account that sends it then acts as you when it presses a button.",
    )
    return await render_profile(request, session, viewer, shown_once=shown)


@router.post("/profile/chat-links/{kind}/delete")
async def unlink_chat_account(
    request: Request, session: SessionDep, viewer: CsrfViewerDep, kind: Kind
) -> Response:
    await chat_links.unlink(session=session, user_id=viewer.user_id, kind=_kind(request, kind))
    return notice.redirect_with(
        "/profile", f"{kind.capitalize()} account unlinked: its buttons act as nobody."
    )
