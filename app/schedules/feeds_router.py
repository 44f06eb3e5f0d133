"""The iCalendar feed URLs calendar apps poll: the secret token in the path is the credential."""

from fastapi import APIRouter, Request, Response

from app.db import SessionDep
from app.errors import NotFound
from app.models import utcnow
from app.schedules import feeds

router = APIRouter(tags=["calendars"])


@router.get(
    feeds.PATH + "{token}.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, 404: {"description": "Unknown token"}},
)
async def calendar_feed(token: str, request: Request, session: SessionDep) -> Response:
    """A person's or a schedule's on-call shifts as iCalendar (RFC 5545)."""
    feed = await feeds.feed_for_token(session=session, token=token)
    if feed is None:
        raise NotFound("no calendar feed has this URL (it may have been rotated)")
    settings = request.app.state.settings
    body = await feeds.render_feed(
        session=session,
        feed=feed,
        now=utcnow(),
        past_days=settings.calendar_feed_past_days,
        future_days=settings.calendar_feed_future_days,
    )
    headers = {
        "Cache-Control": "private, max-age=300",
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex",
    }
    return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)
