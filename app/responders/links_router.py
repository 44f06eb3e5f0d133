"""Acting from a page: GET shows a confirmation (link scanners must not act), POST acts once."""

import hashlib
import html
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import SessionDep
from app.errors import error_body
from app.models import User, utcnow
from app.notify.links import read_action
from app.responders.actions import act, refusal
from app.responders.nonces import is_used, use_once
from app.store.incidents import get_incident
from app.teams.access import others_allowed

router = APIRouter(tags=["action links"])
# The POST answers HTML to a browser and JSON to a client that asks for it (`Accept`).
ACTED = {
    "content": {
        "text/html": {},
        "application/json": {
            "example": {"changed": True, "message": "Incident #42 acknowledged: disk full"}
        },
    },
    "description": "The outcome, as a page or (Accept: application/json) as JSON",
}
REFUSED = {
    "description": "Invalid, expired or used link; the paged user no longer exists or may no "
    "longer respond (demoted to observer)"
}

# Pages that hold a capability: not cached, not indexed, no referrer leaking the token.
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _answer(
    request: Request, title: str, body: str, status: int = 200, code: str = "ok"
) -> Response:
    """The outcome as a page, or as JSON to a client that asks for JSON (e.g. curl)."""
    if not _wants_json(request):
        return _page(title, body, status)
    if status >= 400:
        return JSONResponse(error_body(code, title), status_code=status, headers=HEADERS)
    return JSONResponse({"changed": code == "changed", "message": title}, headers=HEADERS)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (
        f"<!doctype html><html><head><meta charset='utf-8'><meta name='robots' content='noindex'>"
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>{body}"
        "</body></html>"
    )
    return HTMLResponse(doc, status_code=status, headers=HEADERS)


# Why a link cannot be used: (title, body, status, error code).
Refusal = tuple[str, str, int, str]


def _claims(request: Request, token: str) -> tuple[dict[str, Any] | None, Refusal | None]:
    """The link's claims, or why it cannot be used."""
    # Signature first, with expiry judged here so an expired link gets its own page.
    claims = read_action(request.app.state.link_secret, token, now=0.0)
    if claims is None:
        body = "<p>This link is not one Stairway issued (it may be cut short or altered).</p>"
        return None, ("Link invalid", body + "<p>Nothing was changed.</p>", 400, "link_invalid")
    if float(claims.get("exp", 0)) < time.time():
        body = "<p>This link has expired. Nothing was changed.</p>"
        return None, ("Link expired", body, 410, "link_expired")
    return claims, None


def _used() -> Refusal:
    body = "<p>This link was used already; each link works once. Nothing was changed.</p>"
    return ("Link already used", body, 410, "link_used")


def _key(token: str) -> str:
    return "link:" + hashlib.sha256(token.encode()).hexdigest()


def _paged_user_id(claims: dict[str, Any]) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(claims.get("u")))
    except ValueError:
        return None


def _cannot_respond(message: str) -> Refusal:
    body = f"<p>{html.escape(message)}</p>"
    return ("You cannot respond to this incident", body, 403, "forbidden")


async def _responder_refusal(
    session: AsyncSession, claims: dict[str, Any], *, others_allowed: bool
) -> Refusal | None:
    """Why the link's person may not act now (deleted, demoted, or nobody), if so."""
    user_id = _paged_user_id(claims)
    if user_id is None:
        body = "<p>This link does not name a person who may respond. Nothing was changed.</p>"
        return ("Link not usable", body, 403, "forbidden")
    incident = await get_incident(session, uuid.UUID(str(claims["i"])))
    if incident is None:
        return None  # the caller says the incident is gone
    user = await session.get(User, user_id)
    message = await refusal(session, user, incident, others_allowed=others_allowed)
    return None if message is None else _cannot_respond(message)


@router.get(
    "/r/{token}",
    response_class=HTMLResponse,
    summary="Confirmation page of an action link",
    description="Shows what the link would do and a button that POSTs it; a GET changes "
    "nothing, so link scanners cannot acknowledge.",
    responses={400: REFUSED, 403: REFUSED, 404: REFUSED, 410: REFUSED},
)
async def confirm(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    claims, refusal = _claims(request, token)
    if claims is None:
        assert refusal is not None
        return _page(*refusal[:3])
    if await is_used(session, _key(token)):
        return _page(*_used()[:3])
    refused = await _responder_refusal(
        session,
        claims,
        others_allowed=others_allowed(request),
    )
    if refused is not None:
        return _page(*refused[:3])
    incident = await get_incident(session, uuid.UUID(claims["i"]))
    if incident is None:
        return _page("Incident not found", "<p>Nothing was changed.</p>", 404)
    action = html.escape(str(claims["a"]).capitalize())
    body = (
        f"<p>#{incident.number} {html.escape(incident.title)} (now {incident.status})</p>"
        f"<form method='post'><button type='submit'>{action} incident #{incident.number}"
        "</button></form>"
    )
    return _page(f"{action} incident #{incident.number}?", body)


@router.post(
    "/r/{token}",
    response_class=HTMLResponse,
    summary="Act on an action link (acknowledge or resolve)",
    description="Each link works once, as the paged user. The body is ignored (the page's "
    "form posts none).",
    responses={200: ACTED, 400: REFUSED, 403: REFUSED, 404: REFUSED, 410: REFUSED},
)
async def act_on(token: str, request: Request, session: SessionDep) -> Response:
    claims, refusal = _claims(request, token)
    if claims is None:
        assert refusal is not None
        return _answer(request, *refusal)
    refused = await _responder_refusal(
        session,
        claims,
        others_allowed=others_allowed(request),
    )
    if refused is not None:
        return _answer(request, *refused)  # before the link is used up: it works if they may again
    user_id = _paged_user_id(claims)
    assert user_id is not None
    expires_at = datetime.fromtimestamp(float(claims["exp"]), UTC)
    if not await use_once(session, _key(token), expires_at=expires_at):
        return _answer(request, *_used())
    result = await act(
        session=session,
        incident_id=uuid.UUID(claims["i"]),
        action=claims["a"],
        user_id=user_id,
        via="action_link",
        now=utcnow(),
        others_allowed=others_allowed(request),
    )
    if result.refused:  # demoted or deleted while this request ran
        return _answer(request, *_cannot_respond(result.message))
    status = 200 if result.incident else 404
    code = "changed" if result.changed else ("unchanged" if result.incident else "not_found")
    return _answer(request, result.message, "<p>You can close this page.</p>", status, code)
