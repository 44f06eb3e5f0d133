"""Mattermost pages: an incoming-webhook post with Acknowledge / Resolve interactive buttons.

Each button calls `/integrations/mattermost/actions` back through the Mattermost server, with
the page's signed action token in its context; the press acts as the Stairway user linked to the
Mattermost account that pressed it (app/responders/mattermost.py).
"""

from typing import Any

import httpx
from jinja2 import TemplateError

from app.config import Settings
from app.notify import http
from app.notify.base import DeliveryResult, Page
from app.notify.links import link_token
from app.notify.spec import ProviderSpec, http_url, url_origin
from app.notify.templates import HEADLINE, Templates, template_failure

ACTIONS_PATH = "/integrations/mattermost/actions"
COLOURS = {"critical": "#D93F0B", "error": "#E99695"}
DEFAULT_COLOUR = "#FBCA04"
TEMPLATES = {
    "mattermost.title.j2": HEADLINE,
    "mattermost.text.j2": (
        "Severity **{{ incident.severity }}** · urgency {{ incident.urgency }} · "
        "escalation level {{ level }}"
        "{% if escalation_loop %} (repeat {{ escalation_loop }}){% endif %}"
        "{% if incident.source %} · source {{ incident.source }}{% endif %}"
    ),
}


def check_webhook_url(value: str) -> None:
    """A Mattermost incoming-webhook URL: `https://<server>/hooks/<id>`."""
    http_url(value)
    if "/hooks/" not in value:
        raise ValueError("must be a Mattermost incoming webhook URL such as https://chat/hooks/…")


class MattermostProvider:
    channel = "mattermost"

    def __init__(self, client: httpx.AsyncClient, settings: Settings, templates: Templates):
        self.client = client
        self.templates = templates
        self.callback_url = settings.public_url.rstrip("/") + ACTIONS_PATH

    def post(self, page: Page) -> dict[str, Any]:
        """The webhook body: one attachment with the summary and, for an incident, two buttons."""
        severity = str(page.incident.get("severity", ""))
        attachment: dict[str, Any] = {
            "fallback": self.templates.render("mattermost.title.j2", page),
            "title": self.templates.render("mattermost.title.j2", page),
            "text": self.templates.render("mattermost.text.j2", page),
            "color": COLOURS.get(severity, DEFAULT_COLOUR),
        }
        attachment["actions"] = [
            {
                "id": action,
                "name": action.capitalize(),
                "style": "primary" if action == "acknowledge" else "danger",
                "integration": {
                    "url": self.callback_url,
                    "context": {"action": action, "token": link_token(url)},
                },
            }
            for action, url in page.actions.items()
        ]
        return {"text": attachment["title"], "attachments": [attachment]}

    async def send(self, page: Page) -> DeliveryResult:
        """POST the post to the incoming webhook."""
        try:
            body = self.post(page)
        except TemplateError as exc:
            return template_failure(exc)
        return await http.post(self.client, page.address, json=body)


SPEC = ProviderSpec(
    type="mattermost",
    check_address=check_webhook_url,
    build=lambda deps: MattermostProvider(deps.client, deps.settings, deps.templates),
    redact=url_origin,
    templates=TEMPLATES,
    outbound_url=True,
)
