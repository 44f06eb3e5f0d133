"""Acting from a page: GET shows a confirmation (link scanners must not act), POST acts."""

import html
import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.db import SessionDep
from app.incidents import service
from app.models import User, utcnow
from app.notify.links import read_action

router = APIRouter(tags=["action links"], include_in_schema=False)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(doc, status_code=status)


def _invalid() -> HTMLResponse:
    return _page(
        "Link invalid or expired",
        "<p>This link was altered or has expired. Nothing was changed.</p>",
        400,
    )


@router.get("/r/{token}")
async def confirm(token: str, request: Request) -> HTMLResponse:
    claims = read_action(request.app.state.link_secret, token, now=time.time())
    if claims is None:
        return _invalid()
    action = html.escape(claims["a"])
    form = (
        f"<form method='post'><button type='submit'>{action.capitalize()} incident</button></form>"
    )
    return _page(f"{action.capitalize()} this incident?", form)


@router.post("/r/{token}")
async def act(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    claims = read_action(request.app.state.link_secret, token, now=time.time())
    if claims is None:
        return _invalid()
    incident = await service.lock_incident(session, uuid.UUID(claims["i"]))
    if incident is None:
        return _page("Incident not found", "<p>Nothing was changed.</p>", 404)
    user = await session.get(User, uuid.UUID(claims["u"])) if claims.get("u") else None
    actor = (
        {"type": "user", "id": str(user.id), "name": user.name, "via": "action_link"}
        if user
        else {"type": "link", "name": "action link", "via": "action_link"}
    )
    if claims["a"] == "acknowledge":
        if incident.status == "resolved":
            return _page("Already resolved", "<p>Nothing was changed.</p>", 409)
        changed = await service.acknowledge(
            session=session, incident=incident, actor=actor, now=utcnow()
        )
    else:
        changed = await service.resolve(
            session=session, incident=incident, actor=actor, now=utcnow()
        )
    done = "acknowledged" if claims["a"] == "acknowledge" else "resolved"
    title = f"Incident #{incident.number} {done}" if changed else f"Already {done}"
    return _page(title, f"<p>{html.escape(incident.title)}</p>")
