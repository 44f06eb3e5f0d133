"""Slack pages: an incoming-webhook message with Acknowledge / Resolve buttons."""

from typing import Any

import httpx
from jinja2 import TemplateError

from app.notify import http
from app.notify.base import DeliveryResult, Page
from app.notify.spec import ProviderSpec, http_url, url_origin
from app.notify.templates import Templates, template_failure

ACTION_IDS = {"acknowledge": "stairway_acknowledge", "resolve": "stairway_resolve"}
BLOCK_ID = "stairway_actions"

TEMPLATES = {
    "slack.text.j2": (
        "#{{ incident.number }} [{{ incident.severity | upper }}] {{ incident.title }}"
    ),
    "slack.md.j2": (
        "{{ ':rotating_light:' if incident.severity == 'critical' else ':warning:' }} "
        "*#{{ incident.number }} {{ incident.title }}*\n"
        "Severity *{{ incident.severity }}* · urgency {{ incident.urgency }} · "
        "escalation level {{ level }}"
        "{% if escalation_loop %} (repeat {{ escalation_loop }}){% endif %}"
        "{% if incident.source %} · source {{ incident.source }}{% endif %}"
    ),
}


def slack_escape(value: Any) -> str:
    """Slack mrkdwn control characters, escaped as Slack asks (no `<!channel>` from a title)."""
    text = "" if value is None else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def button_value(action: str, incident_id: str) -> str:
    """What a button carries back to the interactivity endpoint: `<action>:<incident id>`."""
    return f"{action}:{incident_id}"


def slack_message(page: Page, *, text: str, body: str) -> dict[str, Any]:
    """The Block Kit message: summary, browser links as a fallback, and the two buttons."""
    incident_id = str(page.incident.get("id", ""))
    links = " · ".join(
        f"<{url}|{action.capitalize()} in the browser>" for action, url in page.actions.items()
    )
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": body}}]
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": links}]})
    if not incident_id:  # a notice: nothing to acknowledge
        return {"text": text, "blocks": blocks}
    blocks.append(
        {
            "type": "actions",
            "block_id": BLOCK_ID,
            "elements": [
                {
                    "type": "button",
                    "action_id": ACTION_IDS[action],
                    "text": {"type": "plain_text", "text": action.capitalize()},
                    "style": "primary" if action == "acknowledge" else "danger",
                    "value": button_value(action, incident_id),
                }
                for action in ("acknowledge", "resolve")
            ],
        }
    )
    return {"text": text, "blocks": blocks}


class SlackProvider:
    channel = "slack"

    def __init__(self, client: httpx.AsyncClient, templates: Templates) -> None:
        self.client = client
        self.templates = templates

    async def send(self, page: Page) -> DeliveryResult:
        """POST the message to the contact method's incoming-webhook URL."""
        try:
            text = self.templates.render("slack.text.j2", page)
            body = self.templates.render("slack.md.j2", page)
        except TemplateError as exc:
            return template_failure(exc)
        return await http.post(
            self.client, page.address, json=slack_message(page, text=text, body=body)
        )


SPEC = ProviderSpec(
    type="slack",
    check_address=http_url,
    build=lambda deps: SlackProvider(deps.client, deps.templates),
    # The incoming-webhook URL is itself the secret.
    redact=url_origin,
    templates=TEMPLATES,
    escape=slack_escape,
    outbound_url=True,
)
