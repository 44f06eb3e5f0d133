"""Which routing rule an alert matches, and what that means for paging. Pure: no I/O, no clock.

Regular expressions run on the `regex` engine with a per-search timeout, on inputs capped in
length, so a pathological pattern costs at most a few milliseconds and counts as "no match".
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import regex

from app.escalation.snapshot import PolicySnapshot

MAX_PATTERN_LENGTH = 256
MAX_SUBJECT_LENGTH = 4096
REGEX_TIMEOUT_SECONDS = 0.05
FIELDS = ("severity", "summary", "source")
PATH_PREFIXES = ("labels.", "details.")


def check_pattern(pattern: str) -> str | None:
    """Why a pattern is unusable, or None when it compiles within the limits."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"must be at most {MAX_PATTERN_LENGTH} characters"
    try:
        regex.compile(pattern, regex.VERSION0)
    except regex.error as exc:
        return f"not a valid regular expression: {exc}"
    return None


def check_field(name: str) -> str | None:
    """Why a condition field is unusable, or None."""
    if name in FIELDS:
        return None
    for prefix in PATH_PREFIXES:
        if name.startswith(prefix):
            parts = name[len(prefix) :].split(".")
            if all(parts):
                return None
            return "a dot path must not have empty segments"
    return "must be severity, summary, source, labels.<name> or details.<dot.path>"


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    id: uuid.UUID
    conditions: tuple[Condition, ...]
    escalation_policy_id: uuid.UUID | None = None
    urgency: str | None = None
    suppress: bool = False
    name: str = ""


@dataclass(frozen=True)
class Alert:
    """What rules look at: the summary is the incident title."""

    severity: str
    summary: str
    source: str
    details: dict[str, Any] = field(default_factory=dict)


def _scalar(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _walk(root: Any, path: Sequence[str]) -> Any:
    node = root
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def subject(alert: Alert, name: str) -> str | None:
    """The text a condition field names in this alert, or None when it is absent."""
    if name == "severity":
        return alert.severity
    if name == "summary":
        return alert.summary
    if name == "source":
        return alert.source
    if name.startswith("labels."):
        return _scalar(_walk(alert.details, ["labels", *name[len("labels.") :].split(".")]))
    if name.startswith("details."):
        return _scalar(_walk(alert.details, name[len("details.") :].split(".")))
    return None


def _search(pattern: str, text: str) -> bool:
    try:
        found = regex.search(
            pattern, text[:MAX_SUBJECT_LENGTH], regex.VERSION0, timeout=REGEX_TIMEOUT_SECONDS
        )
    except (TimeoutError, regex.error):
        return False  # a runaway or broken pattern never matches
    return found is not None


def holds(condition: Condition, alert: Alert) -> bool:
    """Whether one condition holds for the alert (an absent field never matches)."""
    text = subject(alert, condition.field)
    if text is None:
        return False
    if condition.op == "equals":
        return text in condition.values
    return any(_search(p, text) for p in condition.values)


def first_match(rules: Sequence[Rule], alert: Alert) -> Rule | None:
    """The first rule (in order) whose every condition holds; a rule without any matches all."""
    for rule in rules:
        if all(holds(c, alert) for c in rule.conditions):
            return rule
    return None


@dataclass(frozen=True)
class Route:
    """How a new incident is paged: by which policy, at which urgency, or not at all."""

    policy_id: uuid.UUID
    urgency: str
    suppressed: bool
    maintenance_window_id: uuid.UUID | None
    rule: Rule | None

    @property
    def pages(self) -> bool:
        """Whether escalation starts."""
        return not self.suppressed and self.maintenance_window_id is None


def decide(
    rules: Sequence[Rule],
    alert: Alert,
    *,
    default_policy_id: uuid.UUID,
    urgency: str,
    maintenance_window_id: uuid.UUID | None = None,
) -> Route:
    """The route of a new incident: the first matching rule's actions, else the defaults."""
    rule = first_match(rules, alert)
    if rule is None:
        return Route(default_policy_id, urgency, False, maintenance_window_id, None)
    return Route(
        policy_id=rule.escalation_policy_id or default_policy_id,
        urgency=rule.urgency or urgency,
        suppressed=rule.suppress,
        maintenance_window_id=maintenance_window_id,
        rule=rule,
    )


def for_urgency(snapshot: PolicySnapshot, urgency: str) -> PolicySnapshot:
    """Low urgency pages level 1 once: only the first level is frozen, with no repeat."""
    if urgency != "low":
        return snapshot
    return replace(snapshot, levels=snapshot.levels[:1], repeat=0)


def rule_from_json(
    id_: uuid.UUID,
    conditions: Sequence[dict[str, Any]],
    *,
    escalation_policy_id: uuid.UUID | None,
    urgency: str | None,
    suppress: bool,
    name: str = "",
) -> Rule:
    """A rule from its stored form (conditions as JSON objects)."""
    parsed = tuple(
        Condition(
            field=str(c["field"]),
            op=str(c.get("op", "equals")),
            values=tuple(str(v) for v in c["value"])
            if isinstance(c["value"], list)
            else (str(c["value"]),),
        )
        for c in conditions
    )
    return Rule(id_, parsed, escalation_policy_id, urgency, suppress, name)


def describe(rule: Rule) -> dict[str, Any]:
    """The rule as the timeline shows it."""
    policy = rule.escalation_policy_id
    return {
        "id": str(rule.id),
        "name": rule.name,
        "escalation_policy_id": str(policy) if policy else None,
        "urgency": rule.urgency,
        "suppress": rule.suppress,
    }
