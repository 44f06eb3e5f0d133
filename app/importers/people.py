"""Users with their contact methods and notification rules, matched by email."""

from dataclasses import dataclass
from typing import Any

from app.importers.plan import Import, normal_email, problem_with, seconds_text
from app.users.schemas import ContactMethodCreate, UserCreate

MAX_RULE_DELAY_SECONDS = 86_400


@dataclass(frozen=True)
class Contact:
    """A source contact method: a Stairway type and its address; or, with no type, the source's
    name for it and why it has no Stairway equivalent."""

    type: str | None
    address: str
    label: str = ""
    why_not: str = ""


@dataclass(frozen=True)
class Rule:
    """'Use contact `contact_id` after `delay_seconds`', for one urgency or (None) both."""

    contact_id: str
    delay_seconds: int
    urgency: str | None = None


class People:
    """The imported users by source id; every reference to a user goes through here."""

    def __init__(self, result: Import) -> None:
        self.result = result
        self._emails: dict[str, str] = {}
        self._names: dict[str, str] = {}

    def email(self, source_id: str) -> str | None:
        """The email an imported user is known by, or None."""
        return self._emails.get(source_id)

    def emails(self, source_ids: list[str]) -> tuple[list[str], list[str]]:
        """Emails of the imported users among `source_ids` (in order), and the ids left out."""
        found = [self._emails[i] for i in source_ids if i in self._emails]
        missing = [self._names.get(i, i) for i in source_ids if i not in self._emails]
        return found, missing

    def add(
        self,
        *,
        source_id: str,
        name: str,
        email: Any,
        role: str,
        time_zone: Any,
        contacts: dict[str, Contact],
        rules: list[Rule],
    ) -> None:
        """A user, unless it has no email or shares one with a user already added."""
        self._names[source_id] = name
        address = normal_email(email)
        if address is None:
            self.result.skipped("user", name, "no email address to match the user by")
            return
        if address in self.result.docs["users"]:
            self._emails[source_id] = address
            self.result.skipped("user", f"{name} <{address}>", "the same email as another user")
            return
        doc: dict[str, Any] = {"name": name.strip()[:200] or address, "email": address}
        doc["role"] = role
        zone, zone_note = str(time_zone or "UTC"), ""
        if problem_with(UserCreate, {**doc, "time_zone": zone}):
            zone, zone_note = "UTC", f"unknown time zone {zone!r}: UTC"
        doc["time_zone"] = zone
        problem = problem_with(UserCreate, doc)
        if problem:
            self.result.skipped("user", f"{name} <{address}>", problem)
            return
        doc["contact_methods"] = self._methods(address, contacts, rules)
        self.result.add("users", address, doc)
        self._emails[source_id] = address
        if zone_note:
            self.result.approximated("user", address, zone_note)
        else:
            self.result.mapped("user", address, f"{role}, {zone}")

    def _methods(
        self, email: str, contacts: dict[str, Contact], rules: list[Rule]
    ) -> list[dict[str, Any]]:
        methods: dict[tuple[str, str, str], dict[str, Any]] = {}
        by_id: dict[str, dict[str, Any]] = {}
        for contact_id, c in contacts.items():
            what = f"{email} {c.type} {c.address}" if c.type else f"{email} {c.address}"
            if c.type is None:
                self.result.skipped("contact method", what, c.why_not)
                continue
            body = {"type": c.type, "address": c.address, "label": c.label[:200]}
            problem = problem_with(ContactMethodCreate, body)
            if problem:
                self.result.skipped("contact method", what, problem)
                continue
            key = (c.type, c.address, body["label"])
            if key not in methods:
                methods[key] = {**body, "notification_rules": []}
                self.result.mapped("contact method", what)
            by_id[contact_id] = methods[key]
        for rule in rules:
            method = by_id.get(rule.contact_id)
            what = f"{email} after {seconds_text(rule.delay_seconds)}"
            if method is None:
                self.result.skipped("notification rule", what, "its contact method was skipped")
                continue
            delay = min(max(rule.delay_seconds, 0), MAX_RULE_DELAY_SECONDS)
            if delay != rule.delay_seconds:
                self.result.approximated("notification rule", what, "delay capped at 24 h")
            else:
                self.result.mapped("notification rule", what, f"{method['type']}")
            _add_rule(method["notification_rules"], delay, rule.urgency)
        return list(methods.values())


def _add_rule(rules: list[dict[str, Any]], delay: int, urgency: str | None) -> None:
    """Add a rule; the same delay for both urgencies becomes one rule for both."""
    for existing in rules:
        if existing["delay_seconds"] != delay:
            continue
        if existing["urgency"] != urgency:
            existing["urgency"] = None
        return
    rules.append({"delay_seconds": delay, "urgency": urgency})
