"""Where each registered channel's pages go in the tests, and how to make that far end refuse.

Every channel in `app/notify/registry.py` needs an entry here: the provider contract test
(`test_provider_contract.py`) fails for a channel registered without one.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from app.notify.base import Outcome
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


def _sink_path(address: str) -> str:
    return "/" + address.split("/", 3)[3].split("?")[0]


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
}
