"""Acting from a page: GET shows a confirmation (link scanners must not act), POST acts once."""

import hashlib
import html
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.db import SessionDep
from app.models import Incident, User, utcnow
from app.notify.links import read_action
from app.responders.actions import act, user_actor
from app.responders.nonces import is_used, use_once

router = APIRouter(tags=["action links"], include_in_schema=False)

# Pages that hold a capability: not cached, not indexed, no referrer leaking the token.
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (
        f"<!doctype html><html><head><meta charset='utf-8'><meta name='robots' content='noindex'>"
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>{body}"
        "</body></html>"
    )
    return HTMLResponse(doc, status_code=status, headers=HEADERS)


def _claims(request: Request, token: str) -> tuple[dict[str, Any] | None, HTMLResponse | None]:
    """The link's claims, or the page explaining why it cannot be used."""
    # Signature first, with expiry judged here so an expired link gets its own page.
    claims = read_action(request.app.state.link_secret, token, now=0.0)
    if claims is None:
        body = "<p>This link is not one Stairway issued (it may be cut short or altered).</p>"
        return None, _page("Link invalid", body + "<p>Nothing was changed.</p>", 400)
    if float(claims.get("exp", 0)) < time.time():
        body = "<p>This link has expired. Nothing was changed.</p>"
        return None, _page("Link expired", body, 410)
    return claims, None


def _used() -> HTMLResponse:
    body = "<p>This link was used already; each link works once. Nothing was changed.</p>"
    return _page("Link already used", body, 410)


def _key(token: str) -> str:
    return "link:" + hashlib.sha256(token.encode()).hexdigest()


@router.get("/r/{token}")
async def confirm(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    claims, refusal = _claims(request, token)
    if claims is None:
        assert refusal is not None
        return refusal
    if await is_used(session, _key(token)):
        return _used()
    incident = await session.get(Incident, uuid.UUID(claims["i"]))
    if incident is None:
        return _page("Incident not found", "<p>Nothing was changed.</p>", 404)
    action = html.escape(str(claims["a"]).capitalize())
    body = (
        f"<p>#{incident.number} {html.escape(incident.title)} (now {incident.status})</p>"
        f"<form method='post'><button type='submit'>{action} incident #{incident.number}"
        "</button></form>"
    )
    return _page(f"{action} incident #{incident.number}?", body)


@router.post("/r/{token}")
async def act_on(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    claims, refusal = _claims(request, token)
    if claims is None:
        assert refusal is not None
        return refusal
    user = await session.get(User, uuid.UUID(claims["u"])) if claims.get("u") else None
    if claims.get("u") and user is None:
        return _page("User not found", "<p>The paged user no longer exists.</p>", 403)
    expires_at = datetime.fromtimestamp(float(claims["exp"]), UTC)
    if not await use_once(session, _key(token), expires_at=expires_at):
        return _used()
    actor = (
        user_actor(user, "action_link")
        if user
        else {"type": "link", "name": "action link", "via": "action_link"}
    )
    result = await act(
        session=session,
        incident_id=uuid.UUID(claims["i"]),
        action=claims["a"],
        actor=actor,
        now=utcnow(),
    )
    return _page(result.message, "<p>You can close this page.</p>", 200 if result.incident else 404)
