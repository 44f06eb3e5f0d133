"""A one-time message shown on the page a form redirects to ("Acknowledged #42.")."""

from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

COOKIE = "stairway_notice"
MAX_LENGTH = 300


def redirect_with(url: str, message: str) -> RedirectResponse:
    """Go to `url` (303: the browser GETs it) and show `message` there once."""
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        COOKIE, quote(message[:MAX_LENGTH]), max_age=60, httponly=True, samesite="lax", path="/"
    )
    return response


def take(request: Request) -> str | None:
    """The message waiting for this page, if any (call `forget` on the response)."""
    value = request.cookies.get(COOKIE)
    return unquote(value)[:MAX_LENGTH] if value else None


def forget(request: Request, response: Response) -> None:
    """Do not show the message again."""
    if COOKIE in request.cookies:
        response.delete_cookie(COOKIE, httponly=True, samesite="lax", path="/")
