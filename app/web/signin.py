"""Signing in and out: /sign-in (password and SSO), sign-in links, /sign-out."""

from datetime import timedelta
from typing import Annotated

import httpx
from authlib.integrations.base_client.errors import OAuthError
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.accounts import links, oidc, passwords, sessions, signin
from app.db import SessionDep
from app.errors import AppError, NotFound
from app.models import User
from app.web.auth import (
    CsrfViewerDep,
    MaybeViewer,
    check_form_token,
    clear_session_cookie,
    client_ip,
    form_token,
    lifetimes,
    now_of,
    safe_next,
    secure_cookies,
    set_form_cookie,
    set_session_cookie,
    settings_of,
)
from app.web.templating import render

router = APIRouter(tags=["console"], include_in_schema=False)
SSO_TIMEOUT_SECONDS = 10.0


def _sso_enabled(request: Request) -> bool:
    settings = settings_of(request)
    return bool(settings.oidc_issuer and settings.oidc_client_id)


def _sign_in_page(
    request: Request,
    *,
    next_path: str,
    email: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    token = form_token(request)
    response = render(
        request,
        "signin/sign_in.html",
        {
            "next_path": next_path,
            "email": email,
            "error": error,
            "csrf_token": token,
            "sso": _sso_enabled(request),
        },
        status_code=status_code,
    )
    set_form_cookie(response, settings_of(request), token)
    return response


async def start_session(
    request: Request, session: SessionDep, user: User, *, method: str, to: str
) -> Response:
    """Sign `user` in on this browser and go to `to`."""
    settings = settings_of(request)
    started = await sessions.start(
        session=session,
        user_id=user.id,
        method=method,
        user_agent=request.headers.get("user-agent", ""),
        ip=client_ip(request),
        now=now_of(request),
        lifetimes=lifetimes(settings),
    )
    response = RedirectResponse(safe_next(to), status_code=303)
    set_session_cookie(response, settings, started.token)
    return response


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/incidents", status_code=303)


@router.get("/sign-in")
async def sign_in_form(request: Request, viewer: MaybeViewer, next: str = "") -> Response:
    if viewer is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _sign_in_page(request, next_path=safe_next(next))


@router.post("/sign-in", dependencies=[Depends(check_form_token)])
async def sign_in(
    request: Request,
    session: SessionDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=passwords.MAX_LENGTH)] = "",
    next: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    settings = settings_of(request)
    limits = signin.Limits(
        failures_allowed=settings.signin_failures_allowed,
        window=timedelta(seconds=settings.signin_failure_window_seconds),
    )
    attempt = await signin.with_password(
        session=session,
        email=email,
        password=password,
        ip=client_ip(request),
        now=now_of(request),
        limits=limits,
    )
    if attempt.user is None:
        assert attempt.refused_because is not None
        status = 429 if attempt.refused_because.startswith("too many") else 401
        return _sign_in_page(
            request,
            next_path=safe_next(next),
            email=email,
            error=attempt.refused_because,
            status_code=status,
        )
    return await start_session(request, session, attempt.user, method="password", to=next)


@router.get("/sign-out")
async def sign_out_form(request: Request, viewer: MaybeViewer) -> Response:
    if viewer is None:
        return RedirectResponse("/sign-in", status_code=303)
    return render(request, "signin/sign_out.html", {"viewer": viewer})


@router.post("/sign-out")
async def sign_out(
    request: Request,
    session: SessionDep,
    viewer: CsrfViewerDep,
    everywhere: Annotated[str, Form()] = "",
) -> Response:
    if everywhere:
        await sessions.end_all(session=session, user_id=viewer.user_id)
    else:
        await sessions.end(session=session, token_hash=viewer.token_hash)
    response = RedirectResponse("/sign-in", status_code=303)
    clear_session_cookie(response, settings_of(request))
    return response


def _link(request: Request, token: str) -> links.Link | None:
    return links.read(secret=links.links_secret(request.app.state.link_secret), token=token)


def _link_page(
    request: Request, link: links.Link | None, *, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    token = form_token(request)
    response = render(
        request,
        "signin/link.html",
        {"link": link, "error": error, "csrf_token": token, "min_length": passwords.MIN_LENGTH},
        status_code=status_code if link is not None else 410,
    )
    set_form_cookie(response, settings_of(request), token)
    return response


@router.get("/sign-in/link/{token}")
async def link_form(request: Request, token: str) -> Response:
    # A GET never uses the link up: mail scanners open links too.
    return _link_page(request, _link(request, token))


@router.post("/sign-in/link/{token}", dependencies=[Depends(check_form_token)])
async def use_link(
    request: Request,
    session: SessionDep,
    token: str,
    password: Annotated[str, Form(max_length=passwords.MAX_LENGTH)] = "",
    confirm: Annotated[str, Form(max_length=passwords.MAX_LENGTH)] = "",
) -> Response:
    link = _link(request, token)
    if link is None:
        return _link_page(request, None)
    if link.purpose.sets_password:
        if password != confirm:
            return _link_page(request, link, error="the two passwords differ", status_code=422)
        try:
            passwords.check_new_password(password)
        except AppError as exc:
            return _link_page(request, link, error=exc.message, status_code=422)
    user = await links.redeem(session=session, link=link)
    if user is None:
        return _link_page(request, None)
    if link.purpose.sets_password:
        await passwords.set_password(session=session, user_id=user.id, password=password)
        await sessions.end_all(session=session, user_id=user.id)  # a reset locks others out
    signin.signed_in(session, user=user, method=f"link:{link.purpose.value}", ip=client_ip(request))
    return await start_session(request, session, user, method="link", to="/incidents")


FLOW_COOKIE = "stairway_sso"


async def _provider(request: Request, http: httpx.AsyncClient) -> oidc.Provider:
    """The provider's discovery document, read once per process."""
    provider: oidc.Provider | None = getattr(request.app.state, "oidc_provider", None)
    if provider is None:
        provider = await oidc.discover(http, settings_of(request).oidc_issuer)
        request.app.state.oidc_provider = provider
    return provider


def _sso_secret(request: Request) -> str:
    return links.links_secret(request.app.state.link_secret) + ":sso"


def _sso_refused(request: Request, reason: str, status_code: int = 403) -> HTMLResponse:
    response = _sign_in_page(
        request,
        next_path="/incidents",
        error=f"SSO sign-in refused: {reason}",
        status_code=status_code,
    )
    response.delete_cookie(FLOW_COOKIE, path="/sign-in/sso")
    return response


@router.get("/sign-in/sso")
async def sso_start(request: Request, next: str = "") -> Response:
    settings = settings_of(request)
    if not _sso_enabled(request):
        raise NotFound("single sign-on is not configured (STAIRWAY_OIDC_ISSUER)")
    try:
        async with httpx.AsyncClient(timeout=SSO_TIMEOUT_SECONDS) as http:
            provider = await _provider(request, http)
    except (httpx.HTTPError, ValueError, KeyError, oidc.SsoRefused) as exc:
        return _sso_refused(request, f"the identity provider cannot be reached ({exc})", 502)
    url, flow = oidc.begin(
        settings, provider, secret=_sso_secret(request), next_path=safe_next(next)
    )
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        flow,
        max_age=oidc.FLOW_TTL_SECONDS,
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back
        secure=secure_cookies(settings),
        path="/sign-in/sso",
    )
    return response


@router.get("/sign-in/sso/callback")
async def sso_callback(request: Request, session: SessionDep) -> Response:
    settings = settings_of(request)
    if not _sso_enabled(request):
        raise NotFound("single sign-on is not configured (STAIRWAY_OIDC_ISSUER)")
    params = {k: v[:2048] for k, v in request.query_params.items()}
    try:
        async with httpx.AsyncClient(timeout=SSO_TIMEOUT_SECONDS) as http:
            provider = await _provider(request, http)
            identity = await oidc.finish(
                settings,
                provider,
                secret=_sso_secret(request),
                flow_cookie=request.cookies.get(FLOW_COOKIE, ""),
                params=params,
            )
        user = await oidc.user_for(session=session, settings=settings, identity=identity)
    except oidc.SsoRefused as exc:
        signin.refuse(
            session, email=exc.email, ip=client_ip(request), method="oidc", reason=str(exc)
        )
        return _sso_refused(request, str(exc))
    except (httpx.HTTPError, OAuthError, ValueError, KeyError) as exc:
        signin.refuse(session, email="", ip=client_ip(request), method="oidc", reason=repr(exc))
        return _sso_refused(request, f"the identity provider's answer was not usable ({exc})", 502)
    signin.signed_in(session, user=user, method="oidc", ip=client_ip(request))
    response = await start_session(request, session, user, method="oidc", to=identity.next_path)
    response.delete_cookie(FLOW_COOKIE, path="/sign-in/sso")
    return response
