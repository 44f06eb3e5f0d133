"""Policy files on disk and the database they are applied to."""

from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.policyfiles.apply import ApplyResult, apply_policies, plan_policies
from app.policyfiles.documents import Desired, read_policies
from app.policyfiles.plan import Plan


def write(directory: Path, name: str, text: str) -> Path:
    """A policy file with `text` (dedented) under `directory`."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def desired_of(directory: Path) -> Desired:
    desired, problems = read_policies(directory)
    assert problems == [], [str(p) for p in problems]
    return desired


class Files:
    """Applies and plans a directory against the test database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    async def apply(
        self, directory: Path, *, prune: bool = False, dry_run: bool = False
    ) -> ApplyResult:
        return await apply_policies(
            self.sessions,
            desired_of(directory),
            prune=prune,
            dry_run=dry_run,
            public_url=self.settings.public_url,
            allow_private=bool(self.settings.allow_private_webhook_targets),
        )

    async def plan(self, directory: Path, *, prune: bool = False) -> Plan:
        return await plan_policies(self.sessions, desired_of(directory), prune=prune)


@pytest.fixture
def files(app: Any, settings: Settings) -> Files:
    return Files(app.state.sessions, settings)


TEAM = """
users:
  - name: Ada Lovelace
    email: ada@example.com
    time_zone: Europe/London
    contact_methods:
      - type: webhook
        address: https://hooks.example.com/ada
        label: pager
        notification_rules:
          - delay_seconds: 0
          - delay_seconds: 300
            urgency: high
      - type: sms
        address: "+14155550100"
  - name: Grace Hopper
    email: grace@example.com
    role: admin
schedules:
  - name: payments-primary
    time_zone: Europe/London
    layers:
      - participants: [ada@example.com, grace@example.com]
        rotation: weekly
        start: "2026-03-02T09:00:00+00:00"
        restrictions:
          - kind: daily
            start: 09:30
            duration_seconds: 36000
    overrides:
      - user: grace@example.com
        start: "2099-01-01T00:00:00Z"
        end: "2099-01-02T00:00:00Z"
escalation_policies:
  - name: payments
    repeat: 1
    levels:
      - escalate_after_seconds: 300
        targets:
          - schedule: payments-primary
      - escalate_after_seconds: 600
        condition: unresolved
        targets:
          - user: grace@example.com
          - webhook: https://hooks.example.com/escalated
  - name: payments-urgent
    levels:
      - escalate_after_seconds: 60
        targets:
          - user: ada@example.com
services:
  - name: payments-api
    escalation_policy: payments
    ack_timeout_seconds: 1800
    integration_keys:
      - name: alertmanager
      - name: pagerduty
        alert_grouping: alert
    routing_rules:
      - name: critical pages the urgent policy
        conditions:
          - field: severity
            value: critical
          - field: labels.team
            op: regex
            value: "^pay"
        escalation_policy: payments-urgent
      - conditions:
          - field: summary
            op: regex
            value: "(?i)test"
        suppress: true
    maintenance_windows:
      - starts_at: "2099-06-01T00:00:00Z"
        ends_at: "2099-06-01T02:00:00+01:00"
        description: database upgrade
    heartbeats:
      - name: nightly-batch
        interval_seconds: 86400
"""
