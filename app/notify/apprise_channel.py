"""Apprise pages: the long tail of services, through the `apprise` library and any apprise URL.

Apprise makes its own connections, outside Stairway's outbound client and its SSRF rule, so the
channel is off until the operator turns it on (`STAIRWAY_APPRISE_ENABLED`). Apprise only says
whether a notification went out: the outcome is "sent" or a failure that is retried like any
transient one; the timeline shows no status code or response. The message holds the links.
"""

import asyncio
from urllib.parse import urlsplit

import apprise
from jinja2 import TemplateError

from app.config import Settings
from app.notify.base import DeliveryResult, Outcome, Page
from app.notify.spec import ProviderSpec
from app.notify.templates import HEADLINE, Templates, template_failure

TEMPLATES = {
    "apprise.title.j2": HEADLINE,
    "apprise.body.j2": (
        "Urgency {{ incident.urgency }}, escalation level {{ level }}"
        "{% if escalation_loop %} (repeat {{ escalation_loop }}){% endif %}"
        "{% if incident.source %}, source {{ incident.source }}{% endif %}.\n"
        "Acknowledge: {{ actions.acknowledge }}\nResolve: {{ actions.resolve }}"
    ),
}


def check_apprise_url(value: str) -> None:
    """A URL of a service apprise supports (`tgram://…`, `mailto://…`, `json://…`, …)."""
    if "://" not in value or apprise.Apprise.instantiate(value) is None:
        raise ValueError("must be an apprise URL of a supported service, such as tgram://…")


def shown_scheme(address: str) -> str:
    """Only the service: apprise URLs carry tokens and passwords in every other part."""
    return f"{urlsplit(address).scheme}://…"


class AppriseProvider:
    channel = "apprise"

    def __init__(self, settings: Settings, templates: Templates) -> None:
        self.templates = templates
        self.timeout_seconds = settings.delivery_timeout_seconds

    async def send(self, page: Page) -> DeliveryResult:
        """Notify through the one apprise URL of the contact method."""
        try:
            title = self.templates.render("apprise.title.j2", page)
            body = self.templates.render("apprise.body.j2", page)
        except TemplateError as exc:
            return template_failure(exc)
        notifier = apprise.Apprise()
        if not notifier.add(page.address):
            return DeliveryResult(Outcome.PERMANENT, "apprise does not support this URL")
        try:
            async with asyncio.timeout(self.timeout_seconds):
                sent = await notifier.async_notify(body=body, title=title)
        except TimeoutError:
            return DeliveryResult(Outcome.TRANSIENT, "timed out")
        if sent:
            return DeliveryResult(Outcome.SENT, "apprise: sent")
        return DeliveryResult(Outcome.TRANSIENT, "apprise: failed (apprise does not say why)")


SPEC = ProviderSpec(
    type="apprise",
    check_address=check_apprise_url,
    build=lambda deps: AppriseProvider(deps.settings, deps.templates),
    redact=shown_scheme,
    templates=TEMPLATES,
    enabled=lambda settings: settings.apprise_enabled,
    needs="STAIRWAY_APPRISE_ENABLED=true",
)
