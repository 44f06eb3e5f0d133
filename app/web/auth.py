"""Who is looking at the console: the session cookie, CSRF tokens and roles.

Pages take `ViewerDep` (signed in, any role); state-changing forms take `ActorDep`, which also
checks the form's CSRF token and that the viewer may act on some incident (responder or admin, or a
team's responder or manager, as in the API); each action then checks the incident's team.
"""

import hmac
import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response

from app.accounts import sessions
from app.accounts.sessions import Lifetimes, Viewer
from app.audit_log import set_actor
from app.auth import ROLE_RANK
from app.config import Settings
from app.db import SessionDep
from app.errors import Forbidden
from app.models import utcnow
from app.teams.rules import ACTING_TEAM_ROLES
from app.teams.service import team_roles

SESSION_COOKIE = "stairway_session"
# Forms shown before sign-in carry a token that must match this cookie (double submit).
FORM_COOKIE = "stairway_form"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class SignInRequired(Exception):
    """The request needs a signed-in viewer; the console answers with the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def settings_of(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def now_of(request: Request) -> datetime:
    """The console's clock (tests may put another on app.state.clock)."""
    clock = getattr(request.app.state, "clock", None)
    return clock() if clock is not None else utcnow()


def lifetimes(settings: Settings) -> Lifetimes:
    """Idle and absolute session lifetimes from the settings."""
    return Lifetimes(
        idle=timedelta(seconds=settings.session_idle_seconds),
        absolute=timedelta(seconds=settings.session_absolute_seconds),
    )


def client_ip(request: Request) -> str:
    """The client's address (uvicorn applies X-Forwarded-For from trusted proxies)."""
    return request.client.host if request.client else ""


def secure_cookies(settings: Settings) -> bool:
    """Cookies are Secure when the console is served over https."""
    return settings.public_url.lower().startswith("https://")


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    """The session cookie: HttpOnly, SameSite=Lax, Secure under https."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_absolute_seconds,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(settings),
        path="/",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    """Forget the session in this browser."""
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=secure_cookies(settings), path="/"
    )


def form_token(request: Request) -> str:
    """The double-submit token for forms shown before sign-in (set in FORM_COOKIE)."""
    return request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)


def set_form_cookie(response: Response, settings: Settings, token: str) -> None:
    """Keep the pre-sign-in form token in the browser for an hour."""
    response.set_cookie(
        FORM_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(settings),
        path="/",
    )


def _same(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())


async def check_form_token(request: Request) -> None:
    """Refuse a pre-sign-in form whose token does not match the browser's cookie."""
    form = await request.form()
    cookie = request.cookies.get(FORM_COOKIE)
    if cookie is None or not _same(cookie, _str(form.get(CSRF_FIELD))):
        raise Forbidden("the form has expired or did not come from this site; reload and retry")


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


async def current_viewer(request: Request, session: SessionDep) -> Viewer | None:
    """The signed-in viewer, or None."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    viewer = await sessions.resume(
        session=session,
        token=token,
        now=now_of(request),
        lifetimes=lifetimes(settings_of(request)),
    )
    if viewer is not None:
        set_actor(session, actor_of(viewer))
    return viewer


MaybeViewer = Annotated[Viewer | None, Depends(current_viewer)]


def actor_of(viewer: Viewer) -> dict[str, Any]:
    """How the viewer appears on timelines and in the audit log."""
    return {"type": "user", "id": str(viewer.user_id), "name": viewer.name, "via": "console"}


def _here(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return request.url.path + query


async def get_viewer(
    request: Request, viewer: Annotated[Viewer | None, Depends(current_viewer)]
) -> Viewer:
    """The signed-in viewer; anyone else is sent to the sign-in page."""
    if viewer is None:
        raise SignInRequired(_here(request) if request.method == "GET" else "/incidents")
    return viewer


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def can_act(viewer: Viewer) -> bool:
    """Whether the viewer's global role lets them change incidents (responder or above)."""
    return ROLE_RANK.get(viewer.role, 0) >= ROLE_RANK["responder"]


async def check_csrf(request: Request, viewer: ViewerDep) -> Viewer:
    """Refuse a state-changing request without the session's CSRF token (form field or header)."""
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        given = _str((await request.form()).get(CSRF_FIELD))
    if not _same(viewer.csrf_token, given):
        raise Forbidden("the form's security token is missing or wrong; reload the page and retry")
    return viewer


CsrfViewerDep = Annotated[Viewer, Depends(check_csrf)]


async def require_actor(session: SessionDep, viewer: CsrfViewerDep) -> Viewer:
    """A viewer who may act on some incident, with a valid CSRF token (the action checks which)."""
    if can_act(viewer):
        return viewer
    if not set((await team_roles(session, viewer.user_id)).values()) & set(ACTING_TEAM_ROLES):
        raise Forbidden("this action needs the responder role, or a team's responder role")
    return viewer


ActorDep = Annotated[Viewer, Depends(require_actor)]


def sign_in_url(next_path: str) -> str:
    """The sign-in page that returns to `next_path`."""
    return (
        "/sign-in" if next_path in ("", "/", "/incidents") else f"/sign-in?next={quote(next_path)}"
    )


def safe_next(value: str | None) -> str:
    """A same-site path to return to after sign-in (anything else goes to /incidents)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/incidents"
    return value
