"""Gotify pages: a message to a self-hosted Gotify server, sent with an application token.

The address is the push URL Gotify's own documentation gives,
`https://gotify.example.com/message?token=<app token>`; the token travels in the
`X-Gotify-Key` header, not the URL. The message (Markdown) holds the signed action links, and
tapping the notification opens the acknowledge link's confirmation page.
"""

from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx
from jinja2 import TemplateError

from app.notify import http
from app.notify.base import DeliveryResult, Page
from app.notify.spec import ProviderSpec, http_url, url_origin
from app.notify.templates import HEADLINE, Templates, template_failure

# Gotify's Android app: 8 and above is a high-importance notification (sound, pop-up).
PRIORITY = {"high": 8, "low": 5}
TEMPLATES = {
    "gotify.title.j2": HEADLINE,
    "gotify.message.j2": (
        "Severity **{{ incident.severity }}**, urgency {{ incident.urgency }}, "
        "escalation level {{ level }}"
        "{% if escalation_loop %} (repeat {{ escalation_loop }}){% endif %}"
        "{% if incident.source %}, source {{ incident.source }}{% endif %}.\n\n"
        "[Acknowledge]({{ actions.acknowledge }}) · [Resolve]({{ actions.resolve }})"
    ),
}


def _token(address: str) -> str:
    return (parse_qs(urlsplit(address).query).get("token") or [""])[0]


def check_push_url(value: str) -> None:
    """A Gotify push URL with the application token: `https://host/message?token=…`."""
    http_url(value)
    if not _token(value):
        raise ValueError(
            "must be a Gotify push URL such as https://gotify.example.com/message?token=…"
        )


def message_url(address: str) -> str:
    """The server's `/message` endpoint, without the token."""
    parts = urlsplit(address)
    path = parts.path.rstrip("/")
    if not path.endswith("/message"):
        path += "/message"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def gotify_detail(response: httpx.Response) -> str:
    """The message id, or Gotify's error and its description."""

    def read(data: dict[str, Any]) -> str:
        if response.is_success:
            return f"HTTP {response.status_code} id={data.get('id')}"
        return f"HTTP {response.status_code} {data.get('error')}: {data.get('errorDescription')}"[
            :300
        ]

    return http.json_detail(response, read)


def gotify_message(page: Page, *, title: str, message: str) -> dict[str, Any]:
    """The message body, with Markdown display and the click-through link."""
    extras: dict[str, Any] = {"client::display": {"contentType": "text/markdown"}}
    if page.actions.get("acknowledge"):
        extras["client::notification"] = {"click": {"url": page.actions["acknowledge"]}}
    return {
        "title": title,
        "message": message,
        "priority": PRIORITY.get(str(page.incident.get("urgency", "high")), 8),
        "extras": extras,
    }


class GotifyProvider:
    channel = "gotify"

    def __init__(self, client: httpx.AsyncClient, templates: Templates) -> None:
        self.client = client
        self.templates = templates

    async def send(self, page: Page) -> DeliveryResult:
        """POST the message with the contact method's application token."""
        try:
            title = self.templates.render("gotify.title.j2", page)
            message = self.templates.render("gotify.message.j2", page)
        except TemplateError as exc:
            return template_failure(exc)
        return await http.post(
            self.client,
            message_url(page.address),
            json=gotify_message(page, title=title, message=message),
            headers={"X-Gotify-Key": _token(page.address)},
            detail=gotify_detail,
        )


SPEC = ProviderSpec(
    type="gotify",
    check_address=check_push_url,
    build=lambda deps: GotifyProvider(deps.client, deps.templates),
    # The application token is in the query.
    redact=url_origin,
    templates=TEMPLATES,
    outbound_url=True,
)
