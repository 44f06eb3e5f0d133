"""Matrix pages: a message to a room through the client-server API, as Stairway's own account.

The operator gives the homeserver and the access token of an account that has joined the rooms
(`STAIRWAY_MATRIX_HOMESERVER_URL`, `STAIRWAY_MATRIX_ACCESS_TOKEN`); a contact method's address
is a room id (`!abc123:example.org`). Each page is sent with a transaction id derived from its
idempotency key, so a retry after a lost answer does not post the message twice.
"""

import hashlib
import re
from typing import Any
from urllib.parse import quote

import httpx
from jinja2 import TemplateError

from app.config import Settings
from app.notify import http
from app.notify.base import DeliveryResult, Page
from app.notify.spec import ProviderSpec
from app.notify.templates import Templates, template_failure

ROOM_ID = re.compile(r"^![^:\s]+:[^\s]+$")
TEMPLATES = {
    "matrix.txt.j2": (
        "#{{ incident.number }} [{{ incident.severity | upper }}] {{ incident.title }}\n"
        "Urgency {{ incident.urgency }}, escalation level {{ level }}"
        "{% if escalation_loop %} (repeat {{ escalation_loop }}){% endif %}"
        "{% if incident.source %}, source {{ incident.source }}{% endif %}.\n"
        "Acknowledge: {{ actions.acknowledge }}\nResolve: {{ actions.resolve }}"
    ),
    "matrix.html.j2": (
        "<p><strong>#{{ incident.number }} [{{ incident.severity | upper }}] "
        "{{ incident.title }}</strong><br>"
        "Urgency {{ incident.urgency }}, escalation level {{ level }}"
        "{% if escalation_loop %} (repeat {{ escalation_loop }}){% endif %}"
        "{% if incident.source %}, source {{ incident.source }}{% endif %}.</p>"
        '<p><a href="{{ actions.acknowledge }}">Acknowledge</a> · '
        '<a href="{{ actions.resolve }}">Resolve</a></p>'
    ),
}


def check_room_id(value: str) -> None:
    """A Matrix room id such as `!abc123:example.org` (aliases are not resolved)."""
    if not ROOM_ID.match(value):
        raise ValueError("must be a Matrix room id such as !abc123:example.org")


def transaction_id(page: Page) -> str:
    """The same for every attempt of a page: the homeserver sends a repeated one only once."""
    return "stairway-" + hashlib.sha256(page.idempotency_key.encode()).hexdigest()[:32]


def matrix_detail(response: httpx.Response) -> str:
    """The event id, or the homeserver's errcode and error."""

    def read(data: dict[str, Any]) -> str:
        if response.is_success:
            return f"HTTP {response.status_code} event {data.get('event_id')}"
        return f"HTTP {response.status_code} {data.get('errcode')}: {data.get('error')}"

    return http.json_detail(response, read)


def retry_after_ms(response: httpx.Response) -> float | None:
    """A homeserver's `M_LIMIT_EXCEEDED` says how long to wait in the body, in milliseconds."""
    try:
        waited = response.json().get("retry_after_ms")
    except (ValueError, AttributeError):
        return None
    return max(0.0, float(waited) / 1000) if isinstance(waited, int | float) else None


class MatrixProvider:
    channel = "matrix"

    def __init__(self, client: httpx.AsyncClient, settings: Settings, templates: Templates):
        self.client = client
        self.templates = templates
        self.base = settings.matrix_homeserver_url.rstrip("/")
        self.token = settings.matrix_access_token

    async def send(self, page: Page) -> DeliveryResult:
        """PUT the message event into the room."""
        try:
            body: dict[str, Any] = {
                "msgtype": "m.text",
                "body": self.templates.render("matrix.txt.j2", page),
                "format": "org.matrix.custom.html",
                "formatted_body": self.templates.render("matrix.html.j2", page),
            }
        except TemplateError as exc:
            return template_failure(exc)
        room = quote(page.address, safe="")
        url = (
            f"{self.base}/_matrix/client/v3/rooms/{room}/send/m.room.message/{transaction_id(page)}"
        )
        headers = {"Authorization": f"Bearer {self.token.get_secret_value()}"}
        return await http.send(
            self.client,
            "PUT",
            url,
            json=body,
            headers=headers,
            detail=matrix_detail,
            retry_after=retry_after_ms,
        )


SPEC = ProviderSpec(
    type="matrix",
    check_address=check_room_id,
    build=lambda deps: MatrixProvider(deps.client, deps.settings, deps.templates),
    templates=TEMPLATES,
    enabled=lambda settings: bool(
        settings.matrix_homeserver_url and settings.matrix_access_token.get_secret_value()
    ),
    needs="STAIRWAY_MATRIX_HOMESERVER_URL and STAIRWAY_MATRIX_ACCESS_TOKEN",
    operator_urls=lambda settings: (settings.matrix_homeserver_url,),
)
