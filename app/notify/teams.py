"""Microsoft Teams pages: an Adaptive Card posted to a Teams Workflows webhook.

The address is the URL of a Workflows flow built from the "Post to a channel when a webhook
request is received" template (Office 365 connectors are retired). The card's buttons open the
page's signed action links; the query string of the URL carries the flow's signature.
"""

from typing import Any

import httpx
from jinja2 import TemplateError

from app.notify import http
from app.notify.base import DeliveryResult, Page
from app.notify.spec import ProviderSpec, http_url, url_origin
from app.notify.templates import Templates, template_failure

CARD = "application/vnd.microsoft.card.adaptive"
# Adaptive Card colours by severity ("attention" is red, "warning" amber).
COLOURS = {"critical": "attention", "error": "attention"}
TEMPLATES = {
    "teams.title.j2": "#{{ incident.number }} {{ incident.title }}",
    "teams.text.j2": (
        "Escalation level {{ level }}"
        "{% if escalation_loop %} (repeat {{ escalation_loop }}){% endif %}"
        "{% if incident.details %}: "
        "{% for key, value in incident.details | dictsort %}{{ key }}={{ value }} {% endfor %}"
        "{% endif %}"
    ),
}


def teams_card(page: Page, *, title: str, text: str) -> dict[str, Any]:
    """The Workflows message: one Adaptive Card with the facts and Acknowledge / Resolve."""
    incident = page.incident
    severity = str(incident.get("severity", ""))
    escalation = incident.get("escalation") or {}
    facts = [
        {"title": "Severity", "value": f"{severity} (urgency {incident.get('urgency')})"},
        {"title": "Source", "value": str(incident.get("source") or "-")},
        {"title": "Policy", "value": str(escalation.get("policy_name") or "-")},
        {"title": "Level", "value": str(page.level)},
    ]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": [
            {
                "type": "TextBlock",
                "text": title,
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
                "color": COLOURS.get(severity, "warning"),
            },
            {"type": "FactSet", "facts": facts},
            {"type": "TextBlock", "text": text, "wrap": True, "isSubtle": True},
        ],
        "actions": [
            {"type": "Action.OpenUrl", "title": action.capitalize(), "url": url}
            for action, url in page.actions.items()
        ],
    }
    return {
        "type": "message",
        "attachments": [{"contentType": CARD, "contentUrl": None, "content": card}],
    }


def teams_detail(response: httpx.Response) -> str:
    """`HTTP 202` when the flow took it, else the flow's error code and message."""
    if response.is_success:
        return f"HTTP {response.status_code}"
    try:
        error = response.json().get("error") or {}
        return f"HTTP {response.status_code} {error.get('code')}: {error.get('message')}"
    except (ValueError, AttributeError):
        return http.default_detail(response)


class TeamsProvider:
    channel = "teams"

    def __init__(self, client: httpx.AsyncClient, templates: Templates) -> None:
        self.client = client
        self.templates = templates

    async def send(self, page: Page) -> DeliveryResult:
        """POST the card to the flow's URL."""
        try:
            title = self.templates.render("teams.title.j2", page)
            text = self.templates.render("teams.text.j2", page)
        except TemplateError as exc:
            return template_failure(exc)
        body = teams_card(page, title=title, text=text)
        return await http.post(self.client, page.address, json=body, detail=teams_detail)


SPEC = ProviderSpec(
    type="teams",
    check_address=http_url,
    build=lambda deps: TeamsProvider(deps.client, deps.templates),
    # The flow's URL carries its signature (`sig=`) in the query.
    redact=url_origin,
    templates=TEMPLATES,
    outbound_url=True,
)
