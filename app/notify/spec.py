"""A channel as a record: everything Stairway knows about one type of contact method.

Each provider module declares one `ProviderSpec` (or two, for Twilio's SMS and voice);
`app/notify/registry.py` lists them, and every list of contact types, every redaction on the
timeline, every default template and rate limit is derived from that list.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.config import Settings
from app.notify.base import Provider
from app.notify.templates import Templates
from app.schemas import check_phone, check_url


@dataclass(frozen=True, slots=True)
class ProviderDeps:
    """What a provider factory is given: the shared outbound client, settings and templates."""

    client: httpx.AsyncClient
    settings: Settings
    templates: Templates


def always(settings: Settings) -> bool:
    """The settings gate of a channel that needs nothing configured."""
    return True


def url_origin(address: str) -> str:
    """`scheme://host[:port]/…`: a URL without its user, path and query, which carry tokens."""
    parts = urlsplit(address)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


def in_full(address: str) -> str:
    """An address that is no secret (a phone number, a mailbox) is shown as it is."""
    return address


def email_address(value: str) -> None:
    """A mailbox; the SMTP server is the judge of the rest."""
    if "@" not in value:
        raise ValueError("must be an email address")


def phone_number(value: str) -> None:
    """An E.164 phone number."""
    check_phone(value)


def http_url(value: str) -> None:
    """An http(s) URL."""
    check_url(value)


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One channel: its type name and how Stairway validates, shows, renders and sends to it."""

    type: str
    # Raises ValueError saying what is wrong with an address for this channel.
    check_address: Callable[[str], None]
    build: Callable[[ProviderDeps], Provider]
    # How the timeline (and previews) show an address: never a token or a secret.
    redact: Callable[[str], str] = in_full
    # Default message templates, `<type>.<part>.j2`; operators override them by file name.
    templates: Mapping[str, str] = field(default_factory=dict)
    # Applied to every expression of this channel's non-HTML templates (e.g. Slack's escaping).
    escape: Callable[[Any], str] | None = None
    # The settings gate; `needs` names what to set when it is closed.
    enabled: Callable[[Settings], bool] = always
    needs: str = ""
    # The default per-destination rate limit (0: none).
    min_interval_seconds: float = 0.0
    # The address is a URL a user supplied: the SSRF rule checks it when it is saved.
    outbound_url: bool = False
    # Pages are signed with a per-contact-method secret, shown once when it is created.
    signing_secret: bool = False
    # Endpoints the operator configured for this channel (an API base URL): not user input, so
    # the SSRF rule lets them reach a private address.
    operator_urls: Callable[[Settings], tuple[str, ...]] = lambda settings: ()
    # The gateways that can carry this channel (values of STAIRWAY_SMS_GATEWAY, default first):
    # each is a provider of its own, and the provider contract test runs every one of them.
    gateways: tuple[str, ...] = ()
