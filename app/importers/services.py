"""A service's policy document built piece by piece, each piece reported."""

import re
from datetime import datetime
from typing import Any

from app.importers.plan import Import, problem_with, seconds_text
from app.importers.rotations import parse_instant
from app.integrations.heartbeats.schemas import MAX_INTERVAL_SECONDS
from app.routing.schemas import RuleIn
from app.services.schemas import DAY

MAX_ACK_TIMEOUT_SECONDS = 7 * DAY
MAX_AUTO_RESOLVE_SECONDS = 30 * DAY


class ServiceBuilder:
    """Collects a service's keys, routing rules, windows and heartbeats, then adds it."""

    def __init__(self, result: Import, name: str, policy: str, description: str) -> None:
        self.result = result
        self.name = name
        self.doc: dict[str, Any] = {
            "name": name,
            "description": description[:2000],
            "escalation_policy": policy,
            "integration_keys": [],
            "routing_rules": [],
            "maintenance_windows": [],
            "heartbeats": [],
        }
        self.approximations: list[str] = []
        self._key_names: set[str] = set()

    def timers(self, ack_timeout: Any, auto_resolve: Any) -> None:
        """Acknowledgement and auto-resolve timeouts in seconds (None: off), capped."""
        for field, value, cap in (
            ("ack_timeout_seconds", ack_timeout, MAX_ACK_TIMEOUT_SECONDS),
            ("auto_resolve_seconds", auto_resolve, MAX_AUTO_RESOLVE_SECONDS),
        ):
            if not value:
                continue
            seconds = int(value)
            if seconds > cap:
                self.approximations.append(f"{field} {seconds_text(seconds)} capped at {cap} s")
                seconds = cap
            self.doc[field] = seconds

    def disabled(self, why: str) -> None:
        """The source does not page for this service: neither will Stairway (a suppress rule)."""
        self.rule(name=why, suppress=True)
        self.approximations.append(f"{why}: imported with a rule that suppresses every alert")

    def key(self, label: str, value: Any, *, pattern: str, note: str = "", **extra: Any) -> None:
        """An integration key, keeping the source's value when it fits Stairway's keys."""
        name = label.strip()[:200] or "events"
        if name in self._key_names:
            name = f"{name} {len(self._key_names) + 1}"
        self._key_names.add(name)
        doc: dict[str, Any] = {"name": name, **extra}
        where = f"{self.name}/{name}"
        if isinstance(value, str) and re.fullmatch(pattern, value):
            doc["key"] = value
            self.result.mapped("integration key", where, note or "value kept: senders change host")
        else:
            how = "a new key is issued on apply (the source's value cannot be kept)"
            self.result.approximated(
                "integration key", where, f"{how}{'; ' + note if note else ''}"
            )
        self.doc["integration_keys"].append(doc)

    def skip_key(self, label: str, why: str) -> None:
        """An integration that does not come across."""
        self.result.skipped("integration", f"{self.name}/{label}", why)

    def rule(self, **fields: Any) -> None:
        """A routing rule (the API's fields, policy by name), checked by the API's schema."""
        body = {k: v for k, v in fields.items() if k != "escalation_policy"}
        problem = problem_with(RuleIn, body)
        if problem:
            self.result.skipped("routing rule", f"{self.name}: {fields.get('name')}", problem)
            return
        self.doc["routing_rules"].append(fields)

    def map_urgency(self, note: str) -> None:
        """An urgency rule that came across as routing rules."""
        self.result.mapped("urgency rule", self.name, note)

    def approximate_urgency(self, how: str) -> None:
        """An urgency rule that came across changed."""
        self.result.approximated("urgency rule", self.name, how)

    def window(self, start: Any, end: Any, description: Any, now: datetime) -> None:
        """A maintenance window, unless it is over."""
        what = f"{self.name} {start} to {end}"
        try:
            ends = parse_instant(str(end))
            parse_instant(str(start))
        except ValueError:
            self.result.skipped("maintenance window", what, "no start or end")
            return
        if ends <= now:
            return  # over: history
        text = description.get("description") if isinstance(description, dict) else description
        doc = {"starts_at": str(start), "ends_at": str(end), "description": str(text or "")}
        self.doc["maintenance_windows"].append(doc)
        self.result.mapped("maintenance window", what)

    def heartbeat(self, name: str, interval_seconds: int) -> None:
        """A heartbeat expected every `interval_seconds`, capped to what Stairway allows."""
        where = f"{self.name}/{name}"
        if interval_seconds > MAX_INTERVAL_SECONDS:
            self.result.approximated(
                "heartbeat", where, f"interval capped at {seconds_text(MAX_INTERVAL_SECONDS)}"
            )
            interval_seconds = MAX_INTERVAL_SECONDS
        else:
            self.result.mapped("heartbeat", where, f"every {seconds_text(interval_seconds)}")
        self.doc["heartbeats"].append({"name": name[:200], "interval_seconds": interval_seconds})

    def done(self) -> None:
        """Add the service and report it."""
        windows = sorted(
            self.doc["maintenance_windows"], key=lambda w: (w["starts_at"], w["ends_at"])
        )
        self.doc["maintenance_windows"] = windows
        self.result.add("services", self.name, self.doc)
        if self.approximations:
            self.result.approximated("service", self.name, "; ".join(self.approximations))
        else:
            self.result.mapped(
                "service", self.name, f"escalates by {self.doc['escalation_policy']}"
            )
