"""Every inbound source in one table: its parser (body → events) and how its events are applied.

A parser only reads: it validates the body (BadPayload naming each bad field) and returns the
events it stands for. Everything after it is shared (`app/integrations/pipeline.py`). Adding a
source is one parser module and one line in `SOURCES`; a webhook source (`webhook=True`) is then
served at `POST /integrations/{name}/{integration_key}` with no route of its own.
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.integrations import alertmanager, generic, grafana, opsgenie, pagerduty
from app.integrations.heartbeats import signals
from app.integrations.ingest import Event, Received


class Delivery(StrEnum):
    # Accepted with one INSERT, applied by the drain in arrival order (answered before applied).
    INBOX = "inbox"
    # Applied in the request through `pipeline.accept` (the answer carries the outcome).
    REQUEST = "request"


Parser = Callable[[Any, Received], list[Event]]


@dataclass(frozen=True, slots=True)
class Source:
    parse: Parser
    delivery: Delivery
    webhook: bool = False  # served at POST /integrations/{name}/{integration_key}


SOURCES: dict[str, Source] = {
    "pagerduty": Source(pagerduty.events, Delivery.INBOX),
    "alertmanager": Source(alertmanager.parse, Delivery.REQUEST, webhook=True),
    "grafana": Source(grafana.parse, Delivery.REQUEST, webhook=True),
    "generic": Source(generic.events, Delivery.REQUEST),
    "heartbeat": Source(signals.events, Delivery.REQUEST),
    "opsgenie": Source(opsgenie.events, Delivery.REQUEST),
}


def parse(name: str, body: Any, received: Received | None = None) -> list[Event]:
    """The events `body` stands for, read by the parser of source `name` (BadPayload if bad)."""
    return SOURCES[name].parse(body, received or Received())
