"""ntfy pages: a push notification to a topic, with Acknowledge / Resolve buttons that act.

The contact method's address is the topic URL (`https://ntfy.sh/<topic>` or a self-hosted
server), with an access token, if the server needs one, as the URL's password
(`https://:tk_…@ntfy.example.com/<topic>`, as ntfy itself accepts it) or a user and password.
The message is published as JSON to the server's root. Its two `http` action buttons POST the
page's signed action links, so a responder acknowledges from the notification itself.
"""

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from jinja2 import TemplateError

from app.notify import http
from app.notify.base import DeliveryResult, Page
from app.notify.spec import ProviderSpec, http_url, url_origin
from app.notify.templates import HEADLINE, Templates, template_failure

TOPIC = re.compile(r"^[-_A-Za-z0-9]{1,64}$")
# ntfy's priorities: 5 (urgent) rings through Do Not Disturb on Android; 3 is the default.
PRIORITY = {"high": 5, "low": 3}
TEMPLATES = {
    "ntfy.title.j2": HEADLINE,
    "ntfy.message.j2": (
        "Severity {{ incident.severity }}, urgency {{ incident.urgency }}, "
        "escalation level {{ level }}"
        "{% if escalation_loop %} (repeat {{ escalation_loop }}){% endif %}"
        "{% if incident.source %}, source {{ incident.source }}{% endif %}."
    ),
}


def check_topic_url(value: str) -> None:
    """An http(s) URL whose last path segment is an ntfy topic name."""
    http_url(value)
    topic = urlsplit(value).path.rstrip("/").rpartition("/")[2]
    if not TOPIC.match(topic):
        raise ValueError("must be an ntfy topic URL such as https://ntfy.sh/my-topic")


def publish_target(address: str) -> tuple[str, str, dict[str, str], tuple[str, str] | None]:
    """(server root URL, topic, headers, basic auth) of a topic URL; credentials leave the URL."""
    parts = urlsplit(address)
    root, _, topic = parts.path.rstrip("/").rpartition("/")
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    url = urlunsplit((parts.scheme, netloc, root + "/", "", ""))
    headers: dict[str, str] = {}
    auth = None
    if parts.password and not parts.username:
        headers["Authorization"] = f"Bearer {parts.password}"
    elif parts.username:
        auth = (parts.username, parts.password or "")
    return url, topic, headers, auth


def ntfy_detail(response: httpx.Response) -> str:
    """The message id, or ntfy's error code and text."""

    def read(data: dict[str, Any]) -> str:
        if response.is_success:
            return f"HTTP {response.status_code} id={data.get('id')}"
        return f"HTTP {response.status_code} error {data.get('code')}: {data.get('error')}"

    return http.json_detail(response, read)


def ntfy_message(page: Page, topic: str, *, title: str, message: str) -> dict[str, Any]:
    """The JSON publish body: text, priority from urgency, tags, and the two action buttons."""
    severity = str(page.incident.get("severity", ""))
    urgency = str(page.incident.get("urgency", "high"))
    return {
        "topic": topic,
        "title": title,
        "message": message,
        "priority": PRIORITY.get(urgency, 5),
        "tags": ["rotating_light" if severity == "critical" else "warning", severity],
        # Tapping the notification opens the acknowledge link's confirmation page.
        "click": page.actions.get("acknowledge", ""),
        "actions": [
            {
                "action": "http",
                "label": action.capitalize(),
                "url": url,
                "method": "POST",
                "clear": True,
            }
            for action, url in page.actions.items()
        ],
    }


class NtfyProvider:
    channel = "ntfy"

    def __init__(self, client: httpx.AsyncClient, templates: Templates) -> None:
        self.client = client
        self.templates = templates

    async def send(self, page: Page) -> DeliveryResult:
        """Publish the page to the contact method's topic."""
        try:
            title = self.templates.render("ntfy.title.j2", page)
            message = self.templates.render("ntfy.message.j2", page)
        except TemplateError as exc:
            return template_failure(exc)
        url, topic, headers, auth = publish_target(page.address)
        request: dict[str, Any] = {
            "json": ntfy_message(page, topic, title=title, message=message),
            "headers": headers,
        }
        if auth is not None:
            request["auth"] = auth
        return await http.post(self.client, url, detail=ntfy_detail, **request)


SPEC = ProviderSpec(
    type="ntfy",
    check_address=check_topic_url,
    build=lambda deps: NtfyProvider(deps.client, deps.templates),
    # On a public server the topic name is the password; a token may sit in the URL too.
    redact=url_origin,
    templates=TEMPLATES,
    outbound_url=True,
)
