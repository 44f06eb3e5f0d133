"""The web console: server-rendered pages under `/`, beside the API under `/api/v1`.

`install(app)` mounts the static files and every page router, and renders errors on console
paths as pages instead of JSON. docs/console.md says how a page is added.
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import AppError
from app.web import incident_actions, incidents, oncall, profile, profile_links, signin
from app.web.auth import SignInRequired, sign_in_url
from app.web.templating import ROOT, render

# Paths the console owns (besides "/"): errors there are pages, and they get the headers below.
CONSOLE_PREFIXES = ("/sign-in", "/sign-out", "/incidents", "/oncall", "/profile", "/static/")
# Page routers, in order; a new page family is one module here and its prefix above.
ROUTERS = (
    signin.router,
    incidents.router,
    incident_actions.router,
    oncall.router,
    profile.router,
    profile_links.router,
)

# No inline script or style anywhere: htmx is configured from a <meta> tag. Alert images may
# come from any http(s) host (a Grafana inside the network is often plain http), never from
# data: URLs; event streams and forms stay on this site.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' http: https:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


def is_console(path: str) -> bool:
    """Whether the console serves this path."""
    return path == "/" or path.startswith(CONSOLE_PREFIXES)


class ConsoleHeaders:
    """Security headers on every console response (pure ASGI, so event streams pass through)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(k.encode(), v.encode()) for k, v in HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_console(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, with_headers)


def _error_page(request: Request, status: int, message: str) -> HTMLResponse:
    titles = {403: "Not allowed", 404: "Not found", 409: "Conflict", 429: "Slow down"}
    title = titles.get(status, "Something is wrong")
    return render(request, "error.html", {"title": title, "message": message}, status_code=status)


def install(app: FastAPI) -> None:
    """Serve the console from `app`."""
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(ConsoleHeaders)
    json_handlers: dict[Any, Any] = dict(app.exception_handlers)

    def html_or_json(kind: Any) -> Any:
        async def handle(request: Request, exc: Exception) -> Response:
            if not is_console(request.url.path):
                response: Response = await json_handlers[kind](request, exc)
                return response
            if isinstance(exc, AppError):
                return _error_page(request, exc.status_code, exc.message)
            if isinstance(exc, StarletteHTTPException):
                return _error_page(request, exc.status_code, str(exc.detail))
            assert isinstance(exc, RequestValidationError)
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'form'}: {e.get('msg')}"
                for e in exc.errors()
            )
            return _error_page(request, 422, problems or "invalid request")

        return handle

    for kind in (AppError, StarletteHTTPException, RequestValidationError):
        app.add_exception_handler(kind, html_or_json(kind))

    async def sign_in_first(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        url = sign_in_url(exc.next_path)
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)

    app.add_exception_handler(SignInRequired, sign_in_first)
