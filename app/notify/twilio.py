"""SMS and voice pages in the Twilio REST API shape (any compatible gateway works too), or
through Vonage when `STAIRWAY_SMS_GATEWAY=vonage`."""

from typing import Any
from xml.sax.saxutils import escape

import httpx
from jinja2 import TemplateError

from app.config import Settings
from app.notify import http, vonage
from app.notify.base import DeliveryResult, Page, Provider
from app.notify.spec import ProviderDeps, ProviderSpec, phone_number
from app.notify.templates import Templates, template_failure

API_VERSION = "2010-04-01"

SMS_TEMPLATES = {
    "sms.txt.j2": (
        "[Stairway] #{{ incident.number }} {{ incident.severity | upper }}: "
        "{{ incident.title | truncate(100) }}. "
        "Reply 'ack {{ incident.number }}' or 'resolve {{ incident.number }}'."
    ),
}
VOICE_TEMPLATES = {
    "voice.txt.j2": (
        "Stairway alert. Incident {{ incident.number }}, severity {{ incident.severity }}: "
        "{{ incident.title | truncate(200) }}. Escalation level {{ level }}. "
        "Acknowledge by replying to the text message, or from the link in your page."
    ),
}


def twilio_detail(response: httpx.Response) -> str:
    """The message sid and status, or Twilio's error code and message (never credentials)."""

    def read(data: dict[str, Any]) -> str:
        if response.is_success:
            return f"HTTP {response.status_code} sid={data.get('sid')} status={data.get('status')}"
        return f"HTTP {response.status_code} error {data.get('code')}: {data.get('message')}"

    return http.json_detail(response, read)


def say_twice(text: str) -> str:
    """TwiML that reads the message, pauses, and reads it again."""
    said = f"<Say>{escape(text)}</Say>"
    prolog = '<?xml version="1.0" encoding="UTF-8"?>'
    return f'{prolog}<Response>{said}<Pause length="1"/>{said}</Response>'


class _Twilio:
    resource = ""
    channel = ""

    def __init__(self, client: httpx.AsyncClient, settings: Settings, templates: Templates) -> None:
        self.client = client
        self.templates = templates
        self.sid = settings.twilio_account_sid
        self.token = settings.twilio_auth_token
        self.sender = settings.twilio_from_number
        base = settings.twilio_base_url.rstrip("/")
        self.url = f"{base}/{API_VERSION}/Accounts/{self.sid}/{self.resource}"

    def form(self, page: Page) -> dict[str, str]:
        raise NotImplementedError

    async def send(self, page: Page) -> DeliveryResult:
        """POST the form to the account's resource with basic auth (sid:token)."""
        try:
            form = self.form(page)
        except TemplateError as exc:
            return template_failure(exc)
        return await http.post(
            self.client,
            self.url,
            data={"To": page.address, "From": self.sender, **form},
            auth=(self.sid, self.token.get_secret_value()),
            detail=twilio_detail,
        )


class SmsProvider(_Twilio):
    channel = "sms"
    resource = "Messages.json"

    def form(self, page: Page) -> dict[str, str]:
        """The text message."""
        return {"Body": self.templates.render("sms.txt.j2", page)}


class VoiceProvider(_Twilio):
    channel = "voice"
    resource = "Calls.json"

    def form(self, page: Page) -> dict[str, str]:
        """A call that reads the page out (inline TwiML)."""
        return {"Twiml": say_twice(self.templates.render("voice.txt.j2", page))}


def _configured(settings: Settings) -> bool:
    if settings.sms_gateway == "vonage":
        return vonage.configured(settings)
    return bool(settings.twilio_account_sid)


def _sms(deps: ProviderDeps) -> Provider:
    if deps.settings.sms_gateway == "vonage":
        return vonage.VonageSmsProvider(deps.client, deps.settings, deps.templates)
    return SmsProvider(deps.client, deps.settings, deps.templates)


def _voice(deps: ProviderDeps) -> Provider:
    if deps.settings.sms_gateway == "vonage":
        return vonage.VonageVoiceProvider(deps.client, deps.settings, deps.templates)
    return VoiceProvider(deps.client, deps.settings, deps.templates)


def _gateway_urls(settings: Settings) -> tuple[str, ...]:
    if settings.sms_gateway == "vonage":
        return (settings.vonage_rest_base_url, settings.vonage_api_base_url)
    return (settings.twilio_base_url,)


NEEDS = "STAIRWAY_TWILIO_ACCOUNT_SID (or STAIRWAY_SMS_GATEWAY=vonage and STAIRWAY_VONAGE_API_KEY)"
# One gateway carries both channels: Twilio, or Vonage (app/notify/vonage.py).
GATEWAYS = ("twilio", "vonage")
SMS = ProviderSpec(
    type="sms",
    check_address=phone_number,
    build=_sms,
    templates=SMS_TEMPLATES,
    enabled=_configured,
    needs=NEEDS,
    min_interval_seconds=30.0,
    operator_urls=_gateway_urls,
    gateways=GATEWAYS,
)
VOICE = ProviderSpec(
    type="voice",
    check_address=phone_number,
    build=_voice,
    templates=VOICE_TEMPLATES,
    enabled=_configured,
    needs=NEEDS,
    min_interval_seconds=60.0,
    operator_urls=_gateway_urls,
    gateways=GATEWAYS,
)
