"""Pushover pages: a push message; high urgency as an emergency that repeats until acknowledged.

The operator registers one Pushover application (`STAIRWAY_PUSHOVER_APP_TOKEN`); a contact
method's address is the user's (or group's) 30-character key. A high-urgency page is sent with
emergency priority: Pushover repeats it every `retry` seconds until someone acknowledges it in
the app or `expire` passes. The acknowledgement calls back `/integrations/pushover/ack/<signed
token>` (app/responders/pushover.py), which acknowledges the incident as the paged user.
"""

import re
from typing import Any

import httpx
from jinja2 import TemplateError

from app.config import Settings
from app.notify import http
from app.notify.base import DeliveryResult, Page
from app.notify.links import link_token
from app.notify.spec import ProviderSpec
from app.notify.templates import HEADLINE, Templates, template_failure

USER_KEY = re.compile(r"^[A-Za-z0-9]{30}$")
EMERGENCY = 2
NORMAL = 0
CALLBACK_PATH = "/integrations/pushover/ack/"
TEMPLATES = {
    "pushover.title.j2": HEADLINE,
    "pushover.html.j2": (
        "Urgency {{ incident.urgency }}, escalation level {{ level }}"
        "{% if escalation_loop %} (repeat {{ escalation_loop }}){% endif %}"
        "{% if incident.source %}, source {{ incident.source }}{% endif %}.<br>"
        '<a href="{{ actions.acknowledge }}">Acknowledge</a> · '
        '<a href="{{ actions.resolve }}">Resolve</a>'
    ),
}


def check_user_key(value: str) -> None:
    """A Pushover user or group key: 30 letters and digits."""
    if not USER_KEY.match(value):
        raise ValueError("must be a Pushover user or group key (30 letters and digits)")


def shown_key(address: str) -> str:
    """The start of the key: enough to tell keys apart, not enough to page with."""
    return address[:5] + "…"


def pushover_detail(response: httpx.Response) -> str:
    """The request id (and emergency receipt), or Pushover's error list."""

    def read(data: dict[str, Any]) -> str:
        if response.is_success and data.get("status") == 1:
            receipt = f" receipt={data['receipt']}" if data.get("receipt") else ""
            return f"HTTP {response.status_code} request={data.get('request')}{receipt}"
        errors = "; ".join(str(e) for e in data.get("errors") or [])
        return f"HTTP {response.status_code} {errors}"

    return http.json_detail(response, read)


class PushoverProvider:
    channel = "pushover"

    def __init__(self, client: httpx.AsyncClient, settings: Settings, templates: Templates):
        self.client = client
        self.templates = templates
        self.url = settings.pushover_base_url.rstrip("/") + "/1/messages.json"
        self.token = settings.pushover_app_token
        self.public_url = settings.public_url.rstrip("/")
        self.retry_seconds = settings.pushover_emergency_retry_seconds
        self.expire_seconds = settings.pushover_emergency_expire_seconds

    def form(self, page: Page) -> dict[str, str]:
        """The message form; high urgency adds emergency priority and the ack callback."""
        form = {
            "token": self.token.get_secret_value(),
            "user": page.address,
            "title": self.templates.render("pushover.title.j2", page)[:250],
            "message": self.templates.render("pushover.html.j2", page)[:1024],
            "html": "1",
            "priority": str(NORMAL),
        }
        if page.actions.get("acknowledge"):
            form["url"] = page.actions["acknowledge"]
            form["url_title"] = "Acknowledge in the browser"
        if page.incident.get("urgency", "high") == "high":
            form["priority"] = str(EMERGENCY)
            form["retry"] = str(self.retry_seconds)
            form["expire"] = str(self.expire_seconds)
            if page.actions.get("acknowledge"):
                token = link_token(page.actions["acknowledge"])
                form["callback"] = f"{self.public_url}{CALLBACK_PATH}{token}"
        return form

    async def send(self, page: Page) -> DeliveryResult:
        """POST the message to Pushover's messages API."""
        try:
            form = self.form(page)
        except TemplateError as exc:
            return template_failure(exc)
        return await http.post(self.client, self.url, data=form, detail=pushover_detail)


SPEC = ProviderSpec(
    type="pushover",
    check_address=check_user_key,
    build=lambda deps: PushoverProvider(deps.client, deps.settings, deps.templates),
    redact=shown_key,
    templates=TEMPLATES,
    enabled=lambda settings: bool(settings.pushover_app_token.get_secret_value()),
    needs="STAIRWAY_PUSHOVER_APP_TOKEN",
    operator_urls=lambda settings: (settings.pushover_base_url,),
)
