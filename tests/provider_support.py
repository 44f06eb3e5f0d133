"""Real local servers and settings for the notification providers and responders."""

import asyncio
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.notify.services import (
    MATRIX_TOKEN,
    MATTERMOST_COMMAND_TOKEN,
    PUSHOVER_APP_TOKEN,
    TELEGRAM_TOKEN,
    TELEGRAM_WEBHOOK_SECRET,
    VONAGE_SIGNATURE_SECRET,
    Services,
)
from tests.support import HttpSink

SLACK_SIGNING_SECRET = "slack-test-signing-secret"
TWILIO_SID = "AC00000000000000000000000000000001"
TWILIO_TOKEN = "twilio-test-auth-token"
TWILIO_FROM = "+15005550006"


def notify_settings(sink: HttpSink, smtp: "MailSink", services: Services) -> dict[str, Any]:
    """Provider settings pointing at the loopback sink (Twilio), the SMTP server and the
    stand-ins for the push and chat services (Matrix, Pushover)."""
    return {
        "matrix_homeserver_url": services.url("/matrix"),
        "matrix_access_token": MATRIX_TOKEN,
        "pushover_base_url": services.url("/pushover"),
        "pushover_app_token": PUSHOVER_APP_TOKEN,
        "telegram_base_url": services.url("/telegram"),
        "telegram_bot_token": TELEGRAM_TOKEN,
        "telegram_webhook_secret": TELEGRAM_WEBHOOK_SECRET,
        "mattermost_command_token": MATTERMOST_COMMAND_TOKEN,
        "vonage_signature_secret": VONAGE_SIGNATURE_SECRET,
        "apprise_enabled": True,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_starttls": False,
        "smtp_username": smtp.username,
        "smtp_password": smtp.password,
        "smtp_from": "Stairway <pager@stairway.test>",
        "smtp_timeout_seconds": 5.0,
        "twilio_base_url": sink.url("/twilio"),
        "twilio_account_sid": TWILIO_SID,
        "twilio_auth_token": TWILIO_TOKEN,
        "twilio_from_number": TWILIO_FROM,
        "slack_signing_secret": SLACK_SIGNING_SECRET,
        "destination_min_interval_seconds": {"sms": 1.0, "voice": 1.0},
        "event_backoff_base_seconds": 0.05,
        "event_backoff_max_seconds": 0.2,
        "event_max_attempts": 3,
    }


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: bytes

    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class MailSink:
    """Accepts mail after AUTH with the given credentials; RCPT replies are scriptable."""

    username: str
    password: str
    port: int = 0
    received: list[Mail] = field(default_factory=list)
    # recipient address -> SMTP reply to its RCPT TO (e.g. "550 5.1.1 no such user")
    refuse: dict[str, str] = field(default_factory=dict)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    server: asyncio.Server | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        async with self.changed:
            self.received.append(Mail(envelope.mail_from or "", list(envelope.rcpt_tos), content))
            self.changed.notify_all()
        return "250 2.0.0 queued as test"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == self.username
            and data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: SMTP(
                self,
                hostname="smtp.test",
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=False,
            ),
            host="127.0.0.1",
            port=0,
        )
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def to(self, address: str) -> list[Mail]:
        return [m for m in self.received if address in m.recipients]

    async def wait_for(self, address: str, count: int = 1, timeout: float = 15.0) -> list[Mail]:
        """Until `count` mails to `address` arrived (woken by each mail, no polling)."""
        async with self.changed:
            await asyncio.wait_for(
                self.changed.wait_for(lambda: len(self.to(address)) >= count), timeout
            )
        return self.to(address)
