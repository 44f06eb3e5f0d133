"""Telegram pages: a Bot API `sendMessage` with an inline keyboard.

The operator creates a bot (`STAIRWAY_TELEGRAM_BOT_TOKEN`) and points its webhook at
`/integrations/telegram/webhook` with a `secret_token` (`STAIRWAY_TELEGRAM_WEBHOOK_SECRET`).
A contact method's address is the chat id the bot writes to (the user's private chat with the
bot, or a group). The Acknowledge / Resolve buttons come back to the webhook as callback queries
and act as the Stairway user linked to the Telegram account that pressed them
(app/responders/telegram.py).
"""

import html
import re
from typing import Any

import httpx
from jinja2 import TemplateError

from app.config import Settings
from app.notify import http
from app.notify.base import DeliveryResult, Page
from app.notify.spec import ProviderSpec
from app.notify.templates import Templates, template_failure

CHAT_ID = re.compile(r"^-?[0-9]{1,20}$")
ACTION_CODES = {"acknowledge": "a", "resolve": "r"}
TEMPLATES = {
    "telegram.text.j2": (
        "<b>#{{ incident.number }} [{{ incident.severity | upper }}] {{ incident.title }}</b>\n"
        "Urgency {{ incident.urgency }}, escalation level {{ level }}"
        "{% if escalation_loop %} (repeat {{ escalation_loop }}){% endif %}"
        "{% if incident.source %}, source {{ incident.source }}{% endif %}."
    ),
}


def telegram_escape(value: Any) -> str:
    """Telegram's HTML mode knows few tags: every value is escaped, so a title is only text."""
    return html.escape("" if value is None else str(value), quote=False)


def check_chat_id(value: str) -> None:
    """A Telegram chat id: a number, negative for groups."""
    if not CHAT_ID.match(value):
        raise ValueError("must be a Telegram chat id (a number, negative for a group)")


def callback_data(action: str, incident_id: str) -> str:
    """What a button carries back (at most 64 bytes): `a:<incident id>` or `r:<incident id>`."""
    return f"{ACTION_CODES[action]}:{incident_id}"


def telegram_detail(response: httpx.Response) -> str:
    """The message id, or the Bot API's error code and description (never the bot token)."""

    def read(data: dict[str, Any]) -> str:
        if data.get("ok"):
            result = data.get("result") or {}
            return f"HTTP {response.status_code} message {result.get('message_id')}"
        return f"HTTP {response.status_code} {data.get('description')}"

    return http.json_detail(response, read)


def retry_after(response: httpx.Response) -> float | None:
    """A 429 says how long to wait in `parameters.retry_after` (seconds)."""
    try:
        waited = (response.json().get("parameters") or {}).get("retry_after")
    except (ValueError, AttributeError):
        return None
    return max(0.0, float(waited)) if isinstance(waited, int | float) else None


class TelegramProvider:
    channel = "telegram"

    def __init__(self, client: httpx.AsyncClient, settings: Settings, templates: Templates):
        self.client = client
        self.templates = templates
        token = settings.telegram_bot_token.get_secret_value()
        self.url = f"{settings.telegram_base_url.rstrip('/')}/bot{token}/sendMessage"

    def message(self, page: Page) -> dict[str, Any]:
        """The sendMessage body: HTML text and, for an incident, the two buttons."""
        body: dict[str, Any] = {
            "chat_id": page.address,
            "text": self.templates.render("telegram.text.j2", page)[:4096],
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": True},
        }
        incident_id = str(page.incident.get("id") or "")
        if incident_id:
            buttons = [
                {"text": action.capitalize(), "callback_data": callback_data(action, incident_id)}
                for action in ACTION_CODES
            ]
            body["reply_markup"] = {"inline_keyboard": [buttons]}
        return body

    async def send(self, page: Page) -> DeliveryResult:
        """POST sendMessage to the Bot API."""
        try:
            body = self.message(page)
        except TemplateError as exc:
            return template_failure(exc)
        return await http.send(
            self.client,
            "POST",
            self.url,
            json=body,
            detail=telegram_detail,
            retry_after=retry_after,
        )


SPEC = ProviderSpec(
    type="telegram",
    check_address=check_chat_id,
    # The address is a chat id, not a secret; the bot token never leaves the settings.
    build=lambda deps: TelegramProvider(deps.client, deps.settings, deps.templates),
    templates=TEMPLATES,
    escape=telegram_escape,
    enabled=lambda settings: bool(settings.telegram_bot_token.get_secret_value()),
    needs="STAIRWAY_TELEGRAM_BOT_TOKEN",
    operator_urls=lambda settings: (settings.telegram_base_url,),
)
