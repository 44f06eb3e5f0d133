"""Discord pages: a webhook message with an embed and Acknowledge / Resolve link buttons.

A link button opens the page's signed action link in the browser (its confirmation page);
Discord webhooks cannot carry buttons that call back into Stairway.
"""

from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from jinja2 import TemplateError

from app.notify import http
from app.notify.base import DeliveryResult, Page
from app.notify.spec import ProviderSpec, http_url, url_origin
from app.notify.templates import HEADLINE, Templates, template_failure

# Embed colours: red for critical, amber for the rest.
COLOURS = {"critical": 0xD93F0B, "error": 0xE99695}
DEFAULT_COLOUR = 0xFBCA04
LINK_BUTTON = 5
TEMPLATES = {
    "discord.title.j2": HEADLINE,
    "discord.description.j2": (
        "Severity **{{ incident.severity }}** · urgency {{ incident.urgency }} · "
        "escalation level {{ level }}"
        "{% if escalation_loop %} (repeat {{ escalation_loop }}){% endif %}"
        "{% if incident.source %} · source {{ incident.source }}{% endif %}\n"
        "[Acknowledge]({{ actions.acknowledge }}) · [Resolve]({{ actions.resolve }})"
    ),
}


def check_webhook_url(value: str) -> None:
    """A Discord webhook URL: `…/api/webhooks/<id>/<token>`."""
    http_url(value)
    segments = urlsplit(value).path.strip("/").split("/")
    if len(segments) < 4 or segments[-4:-2] != ["api", "webhooks"]:
        raise ValueError("must be a Discord webhook URL such as https://discord.com/api/webhooks/…")


def execute_url(address: str) -> str:
    """The webhook URL asking Discord to answer with the message and to keep link buttons."""
    parts = urlsplit(address)
    return urlunsplit(parts._replace(query=urlencode({"wait": "true", "with_components": "true"})))


def discord_detail(response: httpx.Response) -> str:
    """The message id, or Discord's error code and message."""

    def read(data: dict[str, Any]) -> str:
        if response.is_success:
            return f"HTTP {response.status_code} message {data.get('id')}"
        return f"HTTP {response.status_code} error {data.get('code')}: {data.get('message')}"

    return http.json_detail(response, read)


def discord_message(page: Page, *, title: str, description: str) -> dict[str, Any]:
    """The webhook body: one embed and a row of link buttons; no mentions ever ping."""
    severity = str(page.incident.get("severity", ""))
    embed: dict[str, Any] = {
        "title": title[:256],
        "description": description[:4096],
        "color": COLOURS.get(severity, DEFAULT_COLOUR),
    }
    return {
        "username": "Stairway",
        "allowed_mentions": {"parse": []},
        "embeds": [embed],
        "components": [
            {
                "type": 1,
                "components": [
                    {"type": 2, "style": LINK_BUTTON, "label": action.capitalize(), "url": url}
                    for action, url in page.actions.items()
                ],
            }
        ],
    }


class DiscordProvider:
    channel = "discord"

    def __init__(self, client: httpx.AsyncClient, templates: Templates) -> None:
        self.client = client
        self.templates = templates

    async def send(self, page: Page) -> DeliveryResult:
        """Execute the contact method's webhook."""
        try:
            title = self.templates.render("discord.title.j2", page)
            description = self.templates.render("discord.description.j2", page)
        except TemplateError as exc:
            return template_failure(exc)
        body = discord_message(page, title=title, description=description)
        return await http.post(
            self.client, execute_url(page.address), json=body, detail=discord_detail
        )


SPEC = ProviderSpec(
    type="discord",
    check_address=check_webhook_url,
    build=lambda deps: DiscordProvider(deps.client, deps.templates),
    # The webhook token is the last path segment.
    redact=url_origin,
    templates=TEMPLATES,
    outbound_url=True,
)
