"""SMS and voice pages through Vonage (formerly Nexmo): the SMS API and the Voice API.

Chosen with `STAIRWAY_SMS_GATEWAY=vonage`; the `sms` and `voice` channels then page through
Vonage instead of Twilio, with the same templates. The SMS API answers 200 even for a refused
message and says why in each message's `status`: 1 (throttled) and 5 (internal error) are
retried, every other non-zero status is permanent. Calls authenticate as a Vonage application
with a short-lived JWT signed with its private key.
"""

import time
import uuid
from typing import Any

import httpx
import jwt
from jinja2 import TemplateError

from app.config import Settings
from app.notify import http
from app.notify.base import DeliveryResult, Outcome, Page, classify_status
from app.notify.templates import Templates, template_failure

TRANSIENT_SMS_STATUSES = frozenset({"1", "5"})
JWT_LIFETIME_SECONDS = 300


def digits(number: str) -> str:
    """Vonage takes E.164 numbers without the leading +."""
    return number.removeprefix("+")


def sms_result(response: httpx.Response) -> DeliveryResult:
    """The message id, or the status and error text of the first refused message part."""
    if not response.is_success:
        return DeliveryResult(
            classify_status(response.status_code),
            http.default_detail(response),
            response.status_code,
        )
    try:
        messages = response.json().get("messages") or []
    except (ValueError, AttributeError):
        return DeliveryResult(Outcome.TRANSIENT, http.default_detail(response), 200)
    for message in messages:
        status = str(message.get("status", ""))
        if status != "0":
            outcome = Outcome.TRANSIENT if status in TRANSIENT_SMS_STATUSES else Outcome.PERMANENT
            detail = f"HTTP 200 status {status}: {message.get('error-text', '')}"[:300]
            return DeliveryResult(outcome, detail, 200)
    ids = ",".join(str(m.get("message-id")) for m in messages)
    return DeliveryResult(Outcome.SENT, f"HTTP 200 message-id {ids}", 200)


class VonageSmsProvider:
    channel = "sms"

    def __init__(self, client: httpx.AsyncClient, settings: Settings, templates: Templates):
        self.client = client
        self.templates = templates
        self.url = settings.vonage_rest_base_url.rstrip("/") + "/sms/json"
        self.key = settings.vonage_api_key
        self.secret = settings.vonage_api_secret
        self.sender = settings.vonage_from_number

    async def send(self, page: Page) -> DeliveryResult:
        """POST the text to the SMS API; its answer is classified per message part."""
        try:
            text = self.templates.render("sms.txt.j2", page)
        except TemplateError as exc:
            return template_failure(exc)
        form = {
            "api_key": self.key,
            "api_secret": self.secret.get_secret_value(),
            "from": digits(self.sender),
            "to": digits(page.address),
            "text": text,
            "client-ref": page.idempotency_key[:100],
        }
        try:
            response = await self.client.post(self.url, data=form)
        except httpx.TimeoutException:
            return DeliveryResult(Outcome.TRANSIENT, "timed out")
        except httpx.HTTPError as exc:
            return DeliveryResult(Outcome.TRANSIENT, f"{type(exc).__name__}: {exc}"[:300])
        return sms_result(response)


def voice_detail(response: httpx.Response) -> str:
    """The call's uuid and status, or the Voice API's error title and detail."""

    def read(data: dict[str, Any]) -> str:
        if response.is_success:
            return f"HTTP {response.status_code} call {data.get('uuid')} {data.get('status')}"
        return f"HTTP {response.status_code} {data.get('title')}: {data.get('detail', '')}"

    return http.json_detail(response, read)


class VonageVoiceProvider:
    channel = "voice"

    def __init__(self, client: httpx.AsyncClient, settings: Settings, templates: Templates):
        self.client = client
        self.templates = templates
        self.url = settings.vonage_api_base_url.rstrip("/") + "/v1/calls"
        self.application_id = settings.vonage_application_id
        self.private_key = settings.vonage_private_key
        self.sender = settings.vonage_from_number

    def token(self) -> str:
        """A short-lived application JWT (RS256), as the Voice API requires."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "application_id": self.application_id,
            "iat": now,
            "exp": now + JWT_LIFETIME_SECONDS,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self.private_key.get_secret_value(), algorithm="RS256")

    async def send(self, page: Page) -> DeliveryResult:
        """POST a call whose NCCO reads the page out twice."""
        try:
            text = self.templates.render("voice.txt.j2", page)
        except TemplateError as exc:
            return template_failure(exc)
        body = {
            "to": [{"type": "phone", "number": digits(page.address)}],
            "from": {"type": "phone", "number": digits(self.sender)},
            "ncco": [{"action": "talk", "text": text, "loop": 2}],
        }
        try:
            headers = {"Authorization": f"Bearer {self.token()}"}
        except (ValueError, jwt.PyJWTError) as exc:
            # A private key that cannot sign will not sign on a retry either.
            return DeliveryResult(Outcome.PERMANENT, f"cannot sign: {type(exc).__name__}")
        return await http.post(
            self.client, self.url, json=body, headers=headers, detail=voice_detail
        )


def configured(settings: Settings) -> bool:
    """Vonage is the gateway and has an API key."""
    return bool(settings.vonage_api_key)
