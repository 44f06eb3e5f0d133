"""The routing matcher is pure: table tests over rules and alerts."""

import time
import uuid
from typing import Any

import pytest

from app.escalation.snapshot import LevelSnapshot, PolicySnapshot, TargetSnapshot
from app.routing import matcher
from app.routing.matcher import Alert, Condition, Rule

DEFAULT = uuid.uuid4()
OTHER = uuid.uuid4()
ALERT = Alert(
    severity="critical",
    summary="p99 latency > 2s on checkout",
    source="prom-eu-1",
    details={
        "labels": {"team": "payments", "env": "prod"},
        "custom_details": {"region": {"name": "eu-west-1"}, "hosts": ["a", "b"], "count": 3},
        "flag": True,
    },
)


def rule(*conditions: tuple[str, str, Any], **actions: Any) -> Rule:
    parsed = tuple(
        Condition(f, op, tuple(v) if isinstance(v, list) else (v,)) for f, op, v in conditions
    )
    return Rule(uuid.uuid4(), parsed, **actions)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (("severity", "equals", "critical"), True),
        (("severity", "equals", ["warning", "critical"]), True),
        (("severity", "equals", "warning"), False),
        (("summary", "regex", r"latency > \d+s"), True),
        (("summary", "regex", "^checkout"), False),
        (("source", "regex", "^prom-(eu|us)-"), True),
        (("source", "equals", "prom"), False),
        (("labels.team", "equals", "payments"), True),
        (("labels.team", "regex", "^pay"), True),
        (("labels.missing", "regex", ".*"), False),
        (("details.custom_details.region.name", "equals", "eu-west-1"), True),
        (("details.custom_details.hosts.1", "equals", "b"), True),
        (("details.custom_details.hosts.7", "equals", "b"), False),
        (("details.custom_details.count", "equals", "3"), True),
        (("details.flag", "equals", "true"), True),
        (("details.custom_details.region", "regex", ".*"), False),  # an object is not text
    ],
)
def test_a_condition_holds_only_when_its_field_matches(
    condition: tuple[str, str, Any], expected: bool
) -> None:
    assert (matcher.first_match([rule(condition)], ALERT) is not None) is expected


def test_every_condition_of_a_rule_must_hold() -> None:
    both = rule(("severity", "equals", "critical"), ("labels.env", "equals", "prod"))
    one = rule(("severity", "equals", "critical"), ("labels.env", "equals", "staging"))
    assert matcher.first_match([both], ALERT) is both
    assert matcher.first_match([one], ALERT) is None


def test_the_first_matching_rule_wins_and_an_empty_rule_matches_everything() -> None:
    low = rule(("severity", "equals", "info"), urgency="low")
    route = rule(("labels.team", "equals", "payments"), escalation_policy_id=OTHER)
    catch_all = rule(suppress=True)
    assert matcher.first_match([low, route, catch_all], ALERT) is route
    assert matcher.first_match([low, catch_all, route], ALERT) is catch_all
    assert matcher.first_match([low], ALERT) is None


def test_decide_applies_the_rule_or_the_defaults() -> None:
    route = rule(("labels.team", "equals", "payments"), escalation_policy_id=OTHER, urgency="low")
    decided = matcher.decide([route], ALERT, default_policy_id=DEFAULT, urgency="high")
    assert (decided.policy_id, decided.urgency, decided.rule) == (OTHER, "low", route)
    assert decided.pages

    none = matcher.decide([], ALERT, default_policy_id=DEFAULT, urgency="high")
    assert (none.policy_id, none.urgency, none.rule, none.suppressed) == (
        DEFAULT,
        "high",
        None,
        False,
    )

    quiet = matcher.decide([rule(suppress=True)], ALERT, default_policy_id=DEFAULT, urgency="high")
    assert quiet.suppressed
    assert not quiet.pages
    assert quiet.policy_id == DEFAULT

    window = uuid.uuid4()
    held = matcher.decide(
        [], ALERT, default_policy_id=DEFAULT, urgency="high", maintenance_window_id=window
    )
    assert not held.pages
    assert held.maintenance_window_id == window


def test_low_urgency_freezes_only_level_one_without_repeat() -> None:
    level = LevelSnapshot(escalate_after_seconds=60, targets=(TargetSnapshot("user", "u"),))
    policy = PolicySnapshot(levels=(level, level, level), repeat=3, id="p", name="payments")
    low = matcher.for_urgency(policy, "low")
    assert (len(low.levels), low.repeat, low.name) == (1, 0, "payments")
    assert matcher.for_urgency(policy, "high") is policy


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("^ok$", None),
        ("(unclosed", "not a valid regular expression"),
        ("a" * 257, "at most 256 characters"),
    ],
)
def test_patterns_are_validated(pattern: str, problem: str | None) -> None:
    found = matcher.check_pattern(pattern)
    assert (found is None) if problem is None else (problem in (found or ""))


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("severity", True),
        ("labels.team", True),
        ("details.a.b.0", True),
        ("details.", False),
        ("labels..x", False),
        ("title", False),
    ],
)
def test_fields_are_validated(name: str, ok: bool) -> None:
    assert (matcher.check_field(name) is None) is ok


def test_a_catastrophic_pattern_gives_up_quickly_and_does_not_match() -> None:
    evil = Alert(severity="error", summary="a" * 4000 + "!", source="", details={})
    started = time.perf_counter()
    hit = matcher.first_match([rule(("summary", "regex", r"^(a+)+$"))], evil)
    assert hit is None
    assert time.perf_counter() - started < 1.0


def test_rules_read_back_from_their_stored_form() -> None:
    stored = [{"field": "severity", "op": "equals", "value": ["critical", "error"]}]
    parsed = matcher.rule_from_json(
        uuid.uuid4(), stored, escalation_policy_id=None, urgency="low", suppress=False
    )
    assert parsed.conditions == (Condition("severity", "equals", ("critical", "error")),)
    assert matcher.first_match([parsed], ALERT) is parsed
    assert matcher.describe(parsed)["urgency"] == "low"
