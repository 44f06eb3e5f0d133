"""Where each registered channel's pages go in the tests, and how to make that far end refuse.

Every channel in `app/notify/registry.py` needs an entry here, and so does each other gateway that
can carry it (`"sms@vonage"`): the provider contract test (`test_provider_contract.py`) fails for
a channel or gateway registered without one.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from app.notify.base import Outcome
from tests.notify.services import (
    GOTIFY_TOKEN,
    MATRIX_ROOM,
    PUSHOVER_USER,
    TEAMS_SIG,
    TELEGRAM_CHAT,
    Services,
)
from tests.provider_support import TWILIO_SID, MailSink
from tests.support import HttpSink

# The contract test's providers send SMS and calls here, apart from the end-to-end tests' sink.
TWILIO_BASE_PATH = "/contract-twilio"
TWILIO_ACCOUNT = f"{TWILIO_BASE_PATH}/2010-04-01/Accounts/{TWILIO_SID}"

# accept: the page is taken; busy: try again later; reject: this page will never be taken.
Answer = Literal["accept", "busy", "reject"]


@dataclass(frozen=True)
class Servers:
    sink: HttpSink
    smtp: MailSink
    services: Services


def _http_answer(path: Callable[[str], str]) -> Callable[[Servers, str, Answer], None]:
    def script(servers: Servers, address: str, answer: Answer) -> None:
        code = {"accept": 200, "busy": 503, "reject": 400}[answer]
        servers.sink.script[path(address)] = [code]

    return script


def _smtp_answer(servers: Servers, address: str, answer: Answer) -> None:
    replies = {"busy": "451 4.3.0 try again later", "reject": "550 5.1.1 no such user"}
    if answer in replies:
        servers.smtp.refuse[address] = replies[answer]
    else:
        servers.smtp.refuse.pop(address, None)


def _service_answer(
    destination: Callable[[str], str], busy: int, reject: tuple[int, dict[str, Any]]
) -> Callable[[Servers, str, Answer], None]:
    """Script one of the service stand-ins: busy and rejected answers in the service's shape."""

    def script(servers: Servers, address: str, answer: Answer) -> None:
        if answer == "busy":
            servers.services.answer(destination(address), busy, {"error": "busy"})
        elif answer == "reject":
            servers.services.answer(destination(address), *reject)

    return script


def _sink_path(address: str) -> str:
    return "/" + address.split("/", 3)[3].split("?")[0]


def _vonage_sms_answer(servers: Servers, address: str, answer: Answer) -> None:
    """The SMS API answers 200 and says per message: status 1 is throttled, 6 invalid."""
    status = {"busy": "1", "reject": "6"}.get(answer)
    if status is not None:
        text = {"1": "Throughput Rate Exceeded", "6": "The message was invalid"}[status]
        body = {"message-count": "1", "messages": [{"status": status, "error-text": text}]}
        servers.services.answer(address.removeprefix("+"), 200, body)


@dataclass(frozen=True)
class FarEnd:
    # A valid address whose pages reach the test servers; `tag` keeps tests apart.
    address: Callable[[Servers, str], str]
    # Make the far end give `answer` to the next page to this address.
    answer: Callable[[Servers, str, Answer], None]
    # An address as a user would enter it, and the parts of it that are secrets.
    secret_address: str
    secrets: tuple[str, ...]
    # Where the channel's outcome differs from the usual (accept: sent, busy: transient, reject:
    # permanent), e.g. a channel that only knows "sent" or "failed".
    outcomes: Mapping[Answer, Outcome] = field(default_factory=dict)


FAR_ENDS: dict[str, FarEnd] = {
    "webhook": FarEnd(
        address=lambda s, tag: s.sink.url(f"/contract/webhook/{tag}"),
        answer=_http_answer(_sink_path),
        secret_address="https://user:pa55@hooks.example.com/in/s3cret-path?token=s3cret-query",
        secrets=("pa55", "s3cret-path", "s3cret-query", "user"),
    ),
    "slack": FarEnd(
        address=lambda s, tag: s.sink.url(f"/contract/slack/T0/B0/{tag}"),
        answer=_http_answer(_sink_path),
        secret_address="https://hooks.slack.com/services/T0001/B0001/XXXXs3cretXXXX",
        secrets=("T0001", "B0001", "XXXXs3cretXXXX"),
    ),
    "email": FarEnd(
        address=lambda s, tag: f"contract.{tag}@example.com",
        answer=_smtp_answer,
        secret_address="ada@example.com",
        secrets=(),
    ),
    "sms": FarEnd(
        address=lambda s, tag: "+14155550170",
        answer=_http_answer(lambda address: f"{TWILIO_ACCOUNT}/Messages.json"),
        secret_address="+14155550123",
        secrets=(),
    ),
    "voice": FarEnd(
        address=lambda s, tag: "+14155550171",
        answer=_http_answer(lambda address: f"{TWILIO_ACCOUNT}/Calls.json"),
        secret_address="+14155550123",
        secrets=(),
    ),
    "ntfy": FarEnd(
        address=lambda s, tag: s.services.url(f"/ntfy/{tag}"),
        answer=_service_answer(
            lambda address: address.rsplit("/", 1)[1],
            429,
            (403, {"code": 40301, "http": 403, "error": "forbidden"}),
        ),
        secret_address="https://:tk_s3cretToken@ntfy.example.com/s3cret-topic",
        secrets=("tk_s3cretToken", "s3cret-topic"),
    ),
    "discord": FarEnd(
        address=lambda s, tag: s.services.url(f"/discord/api/webhooks/{tag}/token-{tag}"),
        answer=_service_answer(
            lambda address: address.rsplit("/", 2)[1],
            502,
            (404, {"message": "Unknown Webhook", "code": 10015}),
        ),
        secret_address="https://discord.com/api/webhooks/123456789/s3cretWebhookToken",
        secrets=("123456789", "s3cretWebhookToken"),
    ),
    "teams": FarEnd(
        address=lambda s, tag: s.services.url(
            f"/teams/workflows/{tag}/triggers/manual/paths/invoke"
            f"?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={TEAMS_SIG}"
        ),
        answer=_service_answer(
            lambda address: address.split("/workflows/")[1].split("/")[0],
            503,
            (404, {"error": {"code": "WorkflowNotFound", "message": "not found"}}),
        ),
        secret_address=(
            "https://prod-12.westeurope.logic.azure.com:443/workflows/0a1b2c3d/triggers/"
            "manual/paths/invoke?api-version=2016-06-01&sig=S3cretSignature"
        ),
        secrets=("0a1b2c3d", "S3cretSignature"),
    ),
    "gotify": FarEnd(
        address=lambda s, tag: s.services.url(f"/gotify/message?token={GOTIFY_TOKEN}"),
        answer=_service_answer(
            lambda address: GOTIFY_TOKEN,
            500,
            (401, {"error": "Unauthorized", "errorCode": 401, "errorDescription": "no"}),
        ),
        secret_address="https://gotify.example.com/message?token=AS3cretAppToken",
        secrets=("AS3cretAppToken",),
    ),
    "matrix": FarEnd(
        address=lambda s, tag: MATRIX_ROOM,
        answer=_service_answer(
            lambda address: MATRIX_ROOM,
            429,
            (403, {"errcode": "M_FORBIDDEN", "error": "not in room"}),
        ),
        secret_address="!abcdef123:example.org",
        secrets=(),
    ),
    "pushover": FarEnd(
        address=lambda s, tag: PUSHOVER_USER,
        answer=_service_answer(
            lambda address: PUSHOVER_USER,
            500,
            (400, {"user": "invalid", "errors": ["user key is invalid"], "status": 0}),
        ),
        secret_address="uQiRzpo4DXghDmr9QzzfQu27cmVRsG",
        secrets=("DXghDmr9QzzfQu27cmVRsG",),
    ),
    "telegram": FarEnd(
        address=lambda s, tag: TELEGRAM_CHAT,
        answer=_service_answer(
            lambda address: address,
            429,
            (
                403,
                {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked"},
            ),
        ),
        secret_address="-1001234567890",
        secrets=(),
    ),
    "mattermost": FarEnd(
        address=lambda s, tag: s.services.url(f"/mattermost/hooks/{tag}"),
        answer=_service_answer(
            lambda address: address.rsplit("/", 1)[1],
            503,
            (400, {"id": "web.incoming_webhook.invalid.app_error", "status_code": 400}),
        ),
        secret_address="https://chat.example.com/hooks/s3cretHookId",
        secrets=("s3cretHookId",),
    ),
    # The same channels through the other gateway (STAIRWAY_SMS_GATEWAY=vonage): "<type>@<gateway>".
    "sms@vonage": FarEnd(
        address=lambda s, tag: "+14155550181",
        answer=_vonage_sms_answer,
        secret_address="+14155550123",
        secrets=(),
    ),
    "voice@vonage": FarEnd(
        address=lambda s, tag: "+14155550182",
        answer=_service_answer(
            lambda address: address.removeprefix("+"),
            429,
            (400, {"title": "Bad Request", "detail": "to is not a valid number"}),
        ),
        secret_address="+14155550123",
        secrets=(),
    ),
    "apprise": FarEnd(
        address=lambda s, tag: f"json://127.0.0.1:{s.sink.port}/contract/apprise/{tag}",
        answer=_http_answer(lambda address: "/" + address.split("/", 3)[3]),
        secret_address="tgram://123456789:AAS3cretBotToken/-1001234567890",
        secrets=("123456789", "AAS3cretBotToken", "1001234567890"),
        # Apprise only says whether it worked: a refusal is a failure to retry.
        outcomes={"reject": Outcome.TRANSIENT},
    ),
}
