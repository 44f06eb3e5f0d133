"""Every route by every kind of caller: the permission matrix, generated from the app's routes.

A route missing from MATRIX fails `test_every_route_has_an_entry`, so a new endpoint cannot ship
without someone deciding who may call it.
"""

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from app.config import Settings
from app.main import create_app
from app.web import is_console
from tests.factories import Api
from tests.security.world import World, build_world, fill

# Callers that may change an object come last: a deletion by an earlier one would turn a later
# caller's 403 into a 404. The team callers (tests/security/world.py): a manager and a responder
# of the team owning the objects (both observers by global role), and a responder who manages
# another team.
CALLERS = (
    "anonymous",
    "integration_other",
    "integration_own",
    "observer",
    "responder",
    "other_manager",
    "team_responder",
    "team_manager",
    "admin",
)
OK = "allowed"  # anything but 401/403 (and never a 5xx)


@dataclass(frozen=True)
class Roles:
    """Expected outcome per caller for a route behind `Authorization: Bearer`."""

    expected: dict[str, int | str]


@dataclass(frozen=True)
class Open:
    """A route that takes no bearer key; `auth` says how it is protected instead."""

    auth: str
    # Status for a request carrying a wrong credential (None: nothing to get wrong).
    refused: int | None = None


def _roles(
    observer: int | str,
    responder: int | str,
    own: int | str,
    other: int | str,
    *,
    team_manager: int | str = 403,
    team_responder: int | str = 403,
    other_manager: int | str = 403,
) -> Roles:
    return Roles(
        {
            "anonymous": 401,
            "observer": observer,
            "responder": responder,
            "admin": OK,
            "integration_own": own,
            "integration_other": other,
            "team_manager": team_manager,
            "team_responder": team_responder,
            "other_manager": other_manager,
        }
    )


EVERY_TEAM_CALLER = {"team_manager": OK, "team_responder": OK, "other_manager": OK}
OBSERVER = _roles(OK, OK, 403, 403, **EVERY_TEAM_CALLER)
# Acting on the team's incident: its manager and responder by team role (observers by global
# role), any responder by global role (team_responders_act_on_other_teams defaults to yes).
RESPONDER = _roles(403, OK, 403, 403, **EVERY_TEAM_CALLER)
ADMIN = _roles(403, 403, 403, 403)
# The team's own objects (and what hangs off them): admins and the team's managers.
TEAM = _roles(403, 403, 403, 403, team_manager=OK)
# Incident reads: an integration key sees its own service's incidents only.
INCIDENT_READ = _roles(OK, OK, OK, 403, **EVERY_TEAM_CALLER)
# The incident list is filtered to the key's service rather than refused.
INCIDENT_LIST = _roles(OK, OK, OK, OK, **EVERY_TEAM_CALLER)
# Triggering and heartbeat pings: responders, admins and the service's own integration key.
SEND = _roles(403, OK, OK, 403, other_manager=OK)

MATRIX: dict[tuple[str, str], Roles | Open] = {
    ("GET", "/openapi.json"): Open("public API description"),
    ("GET", "/docs"): Open("public API documentation"),
    ("GET", "/docs/oauth2-redirect"): Open("public API documentation"),
    ("GET", "/redoc"): Open("public API documentation"),
    ("GET", "/healthz"): Open("public liveness probe, reveals nothing"),
    ("GET", "/readyz"): Open("public readiness probe, reveals nothing"),
    ("GET", "/metrics"): Open("Prometheus scrape; protect at the network level"),
    ("GET", "/r/{token}"): Open("HMAC-signed, expiring action link token", refused=400),
    ("POST", "/r/{token}"): Open("HMAC-signed, expiring, single-use action link", refused=400),
    ("POST", "/integrations/slack/actions"): Open("Slack signing secret (HMAC)", refused=401),
    ("POST", "/integrations/twilio/sms"): Open("Twilio request signature (HMAC)", refused=403),
    ("POST", "/integrations/pushover/ack/{token}"): Open(
        "HMAC-signed, expiring acknowledge token of the page", refused=403
    ),
    ("POST", "/v2/enqueue"): Open("routing_key in the body", refused=400),
    ("POST", "/v2/change/enqueue"): Open("routing_key in the body", refused=400),
    ("POST", "/integrations/alertmanager/{integration_key}"): Open("key in URL", refused=404),
    ("POST", "/integrations/grafana/{integration_key}"): Open("key in URL", refused=404),
    ("POST", "/v2/alerts"): Open("GenieKey header (integration key)", refused=401),
    ("POST", "/v2/alerts/{identifier}/acknowledge"): Open("GenieKey header", refused=401),
    ("POST", "/v2/alerts/{identifier}/close"): Open("GenieKey header", refused=401),
    ("POST", "/v2/alerts/{identifier}/notes"): Open("GenieKey header", refused=401),
    ("GET", "/v2/alerts/requests/{request_id}"): Open("GenieKey header", refused=401),
    ("GET", "/v2/heartbeats/{name}/ping"): Open("GenieKey header", refused=401),
    ("POST", "/v2/heartbeats/{name}/ping"): Open("GenieKey header", refused=401),
    ("GET", "/api/v1/users"): OBSERVER,
    ("POST", "/api/v1/users"): ADMIN,
    ("GET", "/api/v1/users/{user_id}"): OBSERVER,
    ("PATCH", "/api/v1/users/{user_id}"): ADMIN,
    ("DELETE", "/api/v1/users/{user_id}"): ADMIN,
    ("GET", "/api/v1/users/{user_id}/contact-methods"): OBSERVER,
    ("POST", "/api/v1/users/{user_id}/contact-methods"): ADMIN,
    ("DELETE", "/api/v1/users/{user_id}/contact-methods/{method_id}"): ADMIN,
    # The method's owner may also send and confirm codes (tests/users/test_verification.py);
    # the callers here are other users.
    ("POST", "/api/v1/users/{user_id}/contact-methods/{method_id}/verification"): ADMIN,
    ("POST", "/api/v1/users/{user_id}/contact-methods/{method_id}/verify"): ADMIN,
    ("POST", "/api/v1/users/{user_id}/contact-methods/{method_id}/mark-verified"): ADMIN,
    ("POST", "/api/v1/users/{user_id}/contact-methods/{method_id}/test"): ADMIN,
    ("POST", "/api/v1/users/{user_id}/calendar-feed"): ADMIN,
    ("POST", "/api/v1/users/{user_id}/chat-links/{kind}"): ADMIN,
    ("DELETE", "/api/v1/users/{user_id}/chat-links/{kind}"): ADMIN,
    ("POST", "/integrations/telegram/webhook"): Open("secret token header", refused=401),
    ("POST", "/integrations/mattermost/actions"): Open("signed action token", refused=403),
    ("POST", "/integrations/mattermost/command"): Open("slash command token", refused=401),
    ("GET", "/integrations/vonage/sms"): Open("Vonage message signature", refused=403),
    ("POST", "/integrations/vonage/sms"): Open("Vonage message signature", refused=403),
    ("DELETE", "/api/v1/users/{user_id}/calendar-feed"): ADMIN,
    ("POST", "/api/v1/schedules/{schedule_id}/calendar-feed"): TEAM,
    ("DELETE", "/api/v1/schedules/{schedule_id}/calendar-feed"): TEAM,
    ("GET", "/calendars/{token}.ics"): Open("token in URL", refused=404),
    ("GET", "/api/v1/users/{user_id}/notification-rules"): OBSERVER,
    ("POST", "/api/v1/users/{user_id}/notification-rules"): ADMIN,
    ("DELETE", "/api/v1/users/{user_id}/notification-rules/{rule_id}"): ADMIN,
    ("GET", "/api/v1/users/{user_id}/api-keys"): ADMIN,
    ("POST", "/api/v1/users/{user_id}/api-keys"): ADMIN,
    ("DELETE", "/api/v1/users/{user_id}/api-keys/{key_id}"): ADMIN,
    ("GET", "/api/v1/schedules"): OBSERVER,
    ("POST", "/api/v1/schedules"): TEAM,
    ("GET", "/api/v1/schedules/{schedule_id}"): OBSERVER,
    ("PATCH", "/api/v1/schedules/{schedule_id}"): TEAM,
    ("DELETE", "/api/v1/schedules/{schedule_id}"): TEAM,
    ("GET", "/api/v1/schedules/{schedule_id}/overrides"): OBSERVER,
    ("POST", "/api/v1/schedules/{schedule_id}/overrides"): TEAM,
    ("DELETE", "/api/v1/schedules/{schedule_id}/overrides/{override_id}"): TEAM,
    ("GET", "/api/v1/schedules/{schedule_id}/oncall"): OBSERVER,
    ("GET", "/api/v1/escalation-policies"): OBSERVER,
    ("POST", "/api/v1/escalation-policies"): TEAM,
    ("GET", "/api/v1/escalation-policies/{policy_id}"): OBSERVER,
    ("PATCH", "/api/v1/escalation-policies/{policy_id}"): TEAM,
    ("DELETE", "/api/v1/escalation-policies/{policy_id}"): TEAM,
    ("GET", "/api/v1/escalation-policies/{policy_id}/preview"): OBSERVER,
    ("GET", "/api/v1/services"): OBSERVER,
    ("POST", "/api/v1/services"): TEAM,
    ("GET", "/api/v1/services/{service_id}"): OBSERVER,
    ("PATCH", "/api/v1/services/{service_id}"): TEAM,
    ("DELETE", "/api/v1/services/{service_id}"): TEAM,
    ("GET", "/api/v1/services/{service_id}/integration-keys"): TEAM,
    ("POST", "/api/v1/services/{service_id}/integration-keys"): TEAM,
    ("DELETE", "/api/v1/services/{service_id}/integration-keys/{key_id}"): TEAM,
    ("GET", "/api/v1/services/{service_id}/routing-rules"): OBSERVER,
    ("PUT", "/api/v1/services/{service_id}/routing-rules"): TEAM,
    ("POST", "/api/v1/services/{service_id}/routing-rules"): TEAM,
    ("DELETE", "/api/v1/services/{service_id}/routing-rules/{rule_id}"): TEAM,
    ("GET", "/api/v1/services/{service_id}/maintenance-windows"): OBSERVER,
    ("POST", "/api/v1/services/{service_id}/maintenance-windows"): TEAM,
    ("DELETE", "/api/v1/services/{service_id}/maintenance-windows/{window_id}"): TEAM,
    ("GET", "/api/v1/incidents"): INCIDENT_LIST,
    ("POST", "/api/v1/incidents"): SEND,
    ("GET", "/api/v1/incidents/{incident_id}"): INCIDENT_READ,
    ("GET", "/api/v1/incidents/{incident_id}/timeline"): INCIDENT_READ,
    ("POST", "/api/v1/incidents/{incident_id}/acknowledge"): RESPONDER,
    ("POST", "/api/v1/incidents/{incident_id}/unacknowledge"): RESPONDER,
    ("POST", "/api/v1/incidents/{incident_id}/resolve"): RESPONDER,
    ("POST", "/api/v1/incidents/{incident_id}/snooze"): RESPONDER,
    ("POST", "/api/v1/incidents/{incident_id}/escalate"): RESPONDER,
    ("POST", "/api/v1/incidents/{incident_id}/reassign"): RESPONDER,
    ("POST", "/api/v1/incidents/{incident_id}/notes"): RESPONDER,
    ("POST", "/api/v1/incidents/{incident_id}/merge"): RESPONDER,
    ("GET", "/api/v1/reports/response"): OBSERVER,
    ("GET", "/api/v1/inbound-events"): ADMIN,
    ("POST", "/api/v1/inbound-events/{event_id}/retry"): ADMIN,
    ("DELETE", "/api/v1/inbound-events/{event_id}"): ADMIN,
    ("GET", "/api/v1/heartbeats"): OBSERVER,
    ("POST", "/api/v1/heartbeats"): ADMIN,
    ("GET", "/api/v1/heartbeats/{heartbeat_id}"): OBSERVER,
    ("PATCH", "/api/v1/heartbeats/{heartbeat_id}"): ADMIN,
    ("DELETE", "/api/v1/heartbeats/{heartbeat_id}"): ADMIN,
    ("POST", "/api/v1/heartbeats/{heartbeat_id}/ping"): SEND,
    ("GET", "/api/v1/webhook-subscriptions"): ADMIN,
    ("POST", "/api/v1/webhook-subscriptions"): ADMIN,
    ("GET", "/api/v1/webhook-subscriptions/{subscription_id}"): ADMIN,
    ("PATCH", "/api/v1/webhook-subscriptions/{subscription_id}"): ADMIN,
    ("DELETE", "/api/v1/webhook-subscriptions/{subscription_id}"): ADMIN,
    ("GET", "/api/v1/webhook-subscriptions/{subscription_id}/deliveries"): ADMIN,
    ("GET", "/api/v1/audit"): ADMIN,
    ("GET", "/api/v1/teams"): OBSERVER,
    ("POST", "/api/v1/teams"): ADMIN,
    ("GET", "/api/v1/teams/{team_id}"): OBSERVER,
    ("PATCH", "/api/v1/teams/{team_id}"): TEAM,
    # Refused with 409 here (the team owns the objects): tests/teams/test_teams_api.py.
    ("DELETE", "/api/v1/teams/{team_id}"): ADMIN,
    ("GET", "/api/v1/teams/{team_id}/members"): OBSERVER,
    ("POST", "/api/v1/teams/{team_id}/members"): TEAM,
    ("PATCH", "/api/v1/teams/{team_id}/members/{user_id}"): TEAM,
    ("DELETE", "/api/v1/teams/{team_id}/members/{user_id}"): TEAM,
}


def app_routes() -> list[tuple[str, str]]:
    """(method, path) of every API route the app serves, HEAD aside.

    The console's pages sign in with a session cookie, not a key: tests/web/test_routes.py
    holds their matrix.
    """
    app = create_app(Settings(database_url="postgresql+asyncpg://unused/unused"))
    found = set()
    for route in iter_route_contexts(app.routes):
        for method in route.methods or ():
            if method != "HEAD" and route.path and not is_console(route.path):
                found.add((method, route.path))
    return sorted(found, key=lambda r: (r[1], r[0]))


ROUTES = app_routes()


def test_every_route_has_an_entry() -> None:
    missing = [r for r in ROUTES if r not in MATRIX]
    stale = [r for r in MATRIX if r not in ROUTES]
    assert missing == [], f"routes without a permission entry: {missing}"
    assert stale == [], f"entries for routes that no longer exist: {stale}"


@pytest.fixture
async def world(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> World:
    return await build_world(Api(client, admin_headers))


def _body(method: str, path: str, world: World) -> dict[str, Any] | None:
    if method not in ("POST", "PUT", "PATCH"):
        return None
    if path == "/api/v1/incidents":
        # The role check happens after validation here, so send a valid trigger.
        return {"service_id": world.ids["service"], "title": "matrix check"}
    if path.endswith("/verify"):
        return {"code": "123456"}
    # Creating in the team: its manager may, a manager of another team may not.
    team = {"name": f"matrix-{uuid.uuid4().hex[:8]}", "team_id": world.ids["teams"]}
    if path == "/api/v1/services":
        return {**team, "escalation_policy_id": world.ids["escalation-policies"]}
    if path == "/api/v1/schedules":
        return {**team, "time_zone": "UTC"}
    if path == "/api/v1/escalation-policies":
        target = {"type": "user", "id": world.ids["users"]}
        return {**team, "levels": [{"escalate_after_seconds": 60, "targets": [target]}]}
    return {}


def _expected_matches(expected: int | str, status: int) -> bool:
    if expected == OK:
        return status not in (401, 403) and status < 500
    return status == expected


def _order(route: tuple[str, str]) -> tuple[int, int, str]:
    """Reads and updates first, then deletions of leaves before parents, the service last.

    One set of objects serves the whole matrix, so a deletion must not remove what later
    routes (or the integration keys of the service) still need.
    """
    method, path = route
    if method != "DELETE":
        return (0, 0, path)
    if path == "/api/v1/services/{service_id}":
        return (2, 0, path)
    return (1, -path.count("/"), path)


async def _check(method: str, path: str, world: World, client: httpx.AsyncClient) -> str | None:
    """What is wrong with this route's permissions, if anything."""
    entry = MATRIX[(method, path)]
    url = fill(path, world.ids)
    body = _body(method, path, world)
    if isinstance(entry, Open):
        response = await client.request(method, url, json=body)
        expected = "< 400" if entry.refused is None else str(entry.refused)
        ok = (
            response.status_code < 400
            if entry.refused is None
            else (response.status_code == entry.refused)
        )
        return None if ok else f"{method} {path}: got {response.status_code}, expected {expected}"
    results = {}
    for caller in CALLERS:
        response = await client.request(method, url, json=body, headers=world.headers[caller])
        results[caller] = response.status_code
    if all(_expected_matches(entry.expected[c], status) for c, status in results.items()):
        return None
    return f"{method} {path}: got {results}, expected {entry.expected}"


async def test_every_route_admits_exactly_the_expected_callers(
    world: World, client: httpx.AsyncClient
) -> None:
    assert all(entry.auth for entry in MATRIX.values() if isinstance(entry, Open))
    wrong = []
    for method, path in sorted((r for r in ROUTES if r in MATRIX), key=_order):
        problem = await _check(method, path, world, client)
        if problem:
            wrong.append(problem)
    assert wrong == [], "\n".join(wrong)
