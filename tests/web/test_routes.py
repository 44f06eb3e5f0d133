"""Every console route, as a visitor without a session and as an observer sees it."""

import re

import httpx
import pytest
from fastapi.routing import APIRoute

from app.web import ROUTERS
from tests.web.conftest import PASSWORD, Console, make_user

INCIDENT = "00000000-0000-4000-8000-000000000001"
# What a visitor who is not signed in gets: the sign-in page, the public page itself, or 403
# (a POST without the form's token).
ANONYMOUS = {
    ("GET", "/"): 303,
    ("GET", "/incidents"): "sign-in",
    ("POST", "/incidents/bulk"): "sign-in",
    ("GET", "/incidents/events"): 204,
    ("GET", "/incidents/{incident_id}"): "sign-in",
    ("GET", "/incidents/{incident_id}/events"): 204,
    ("POST", "/incidents/{incident_id}/acknowledge"): "sign-in",
    ("POST", "/incidents/{incident_id}/unacknowledge"): "sign-in",
    ("POST", "/incidents/{incident_id}/resolve"): "sign-in",
    ("POST", "/incidents/{incident_id}/snooze"): "sign-in",
    ("POST", "/incidents/{incident_id}/escalate"): "sign-in",
    ("POST", "/incidents/{incident_id}/reassign"): "sign-in",
    ("POST", "/incidents/{incident_id}/notes"): "sign-in",
    ("POST", "/incidents/{incident_id}/merge"): "sign-in",
    ("GET", "/sign-in"): 200,
    ("POST", "/sign-in"): 403,
    ("GET", "/sign-in/link/{token}"): 410,
    ("POST", "/sign-in/link/{token}"): 403,
    ("GET", "/sign-in/sso"): 303,
    ("GET", "/sign-in/sso/callback"): 403,
    ("GET", "/sign-out"): 303,
    ("POST", "/sign-out"): "sign-in",
    ("GET", "/oncall"): "sign-in",
    ("GET", "/profile"): "sign-in",
    ("GET", "/profile/api-keys"): "sign-in",
    ("POST", "/profile/api-keys"): "sign-in",
    ("POST", "/profile/api-keys/{key_id}/revoke"): "sign-in",
    ("GET", "/profile/contact-methods"): "sign-in",
    ("POST", "/profile/contact-methods"): "sign-in",
    ("POST", "/profile/contact-methods/{method_id}/delete"): "sign-in",
    ("POST", "/profile/contact-methods/{method_id}/test"): "sign-in",
    ("POST", "/profile/contact-methods/{method_id}/verification"): "sign-in",
    ("POST", "/profile/contact-methods/{method_id}/verify"): "sign-in",
    ("GET", "/profile/calendar-feed"): "sign-in",
    ("POST", "/profile/calendar-feed"): "sign-in",
    ("POST", "/profile/calendar-feed/delete"): "sign-in",
    ("GET", "/profile/chat-links/{kind}"): "sign-in",
    ("POST", "/profile/chat-links/{kind}"): "sign-in",
    ("POST", "/profile/chat-links/{kind}/delete"): "sign-in",
    ("POST", "/profile/notification-rules"): "sign-in",
    ("POST", "/profile/notification-rules/{rule_id}/delete"): "sign-in",
    ("POST", "/profile/sessions/{token_hash}/end"): "sign-in",
    ("POST", "/profile/time-zone"): "sign-in",
}
# Routes that change incidents: an observer's POST, even with a valid token, is refused.
ACTING = [route for route in ANONYMOUS if route[0] == "POST" and route[1].startswith("/incidents")]


def _routes() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for router in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute):
                assert route.methods is not None  # an APIRoute defaults to {"GET"}
                found += [(method, route.path) for method in route.methods]
    return sorted(found)


def _url(path: str) -> str:
    path = re.sub(r"\{\w+_id\}", INCIDENT, path)  # any object's id: none of them exists
    path = path.replace("{kind}", "telegram")
    return path.replace("{token}", "not-a-token").replace("{token_hash}", "not-a-session")


def test_every_console_route_has_an_entry() -> None:
    assert sorted(ANONYMOUS) == _routes()


@pytest.mark.parametrize(("method", "path"), sorted(ANONYMOUS))
async def test_a_visitor_without_a_session(console: Console, method: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=console.url, timeout=10) as client:
        response = await client.request(method, _url(path))
    expected = ANONYMOUS[(method, path)]
    if expected == "sign-in":
        assert response.status_code == 303
        assert response.headers["location"].startswith("/sign-in")
    else:
        assert response.status_code == expected, response.text[:300]


async def test_an_observer_cannot_act(console: Console) -> None:
    await make_user(console, "watcher@example.com", role="observer")
    async with httpx.AsyncClient(base_url=console.url, timeout=10) as client:
        form = await client.get("/sign-in")
        token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        signed_in = await client.post(
            "/sign-in",
            data={"csrf_token": token, "email": "watcher@example.com", "password": PASSWORD},
        )
        assert signed_in.status_code == 303
        page = await client.get("/incidents")
        csrf = page.text.split('"X-CSRF-Token": "')[1].split('"')[0]
        for method, path in ACTING:
            response = await client.request(method, _url(path), data={"csrf_token": csrf})
            assert response.status_code == 403, (path, response.status_code)
            assert "responder role" in response.text
