"""`stairway import pagerduty` against a loopback PagerDuty API: files that apply, the same on-call
as PagerDuty's final schedule across a DST change, kept routing keys, and a report."""

from pathlib import Path
from typing import Any

import httpx
import pytest

from app.importers import pagerduty
from app.importers.plan import report_text
from app.importers.rotations import parse_instant
from tests.factories import Api
from tests.importers import pagerduty_data as data
from tests.importers.conftest import expected_at, on_call, sample_instants, written
from tests.importers.vendor import Vendor, serving
from tests.integrations.helpers import events_applied
from tests.policies_code.conftest import Files
from tests.support import JobTracker

NOW = parse_instant(data.NOW)
EMAILS = {
    "PALICE": "alice.adams@example.com",
    "PBOB": "bob@example.com",
    "PCAROL": "carol@example.com",
    "PDAVE": "dave@example.com",
}


def run_import(tmp_path: Path, name: str, *, rate_limited: bool = False) -> tuple[Any, Vendor]:
    vendor = Vendor(data.routes(), rate_limit_once={"/users"} if rate_limited else set())
    with serving(vendor, tls_dir=tmp_path) as context:
        result = pagerduty.read("u+test-token", base_url=vendor.url, now=NOW, verify=context)
    return result, vendor


def test_reads_every_page_honours_429_and_sends_the_token(tmp_path: Path) -> None:
    result, vendor = run_import(tmp_path, "first", rate_limited=True)
    users = [s for s in vendor.seen if s.path == "/users"]
    # A 429, then the same first page again after Retry-After, then the other pages (2 a page).
    assert [s.status for s in users] == [429, 200, 200, 200]
    assert users[1].at - users[0].at >= vendor.retry_after_seconds * 0.9
    assert [s.query.get("offset") for s in users] == [["0"], ["0"], ["2"], ["4"]]
    assert users[0].headers["authorization"] == "Token token=u+test-token"
    assert set(result.docs["users"]) == {*EMAILS.values()}
    assert set(result.docs["services"]) == {"Checkout API", "Legacy batch"}
    # Teams and each team's members are paginated too.
    pages = [s.query.get("offset") for s in vendor.seen if s.path == "/teams/PTEAM1/members"]
    assert pages == [["0"], ["2"]]
    assert set(result.docs["teams"]) == {"Data", "Payments", "Platform"}


@pytest.mark.usefixtures("worker")
async def test_files_apply_and_on_call_matches_pagerdutys_final_schedule(
    tmp_path: Path, files: Files, api: Api, client: httpx.AsyncClient, app: Any, jobs: JobTracker
) -> None:
    result, _ = run_import(tmp_path, "first")
    out = tmp_path / "pd"
    first_files = written(result, out)
    applied = await files.apply(out)
    assert applied.plan.counts()["create"] > 15

    entries = [
        (EMAILS[uid], parse_instant(start), parse_instant(end))
        for uid, start, end in data.FINAL_ENTRIES
    ]
    instants = sample_instants(entries)
    assert len(instants) >= 12
    for at in instants:
        assert await on_call(api, "Payments primary", at) == expected_at(entries, at), at

    # The Datadog integration keeps its key: a sender changes only the host.
    event = {
        "routing_key": data.DATADOG_KEY,
        "event_action": "trigger",
        "payload": {"summary": "checkout 5xx", "source": "datadog", "severity": "warning"},
    }
    assert (await client.post("/v2/enqueue", json=event)).status_code == 202
    await events_applied(app, jobs)
    [incident] = (await api.get("/incidents"))["items"]
    assert incident["urgency"] == "low"  # PagerDuty's severity-based urgency came along
    assert "Datadog" not in [i.name for i in applied.issued]

    # Teams came with their members' roles, and own what they owned in PagerDuty.
    teams = {t["name"]: t for t in (await api.get("/teams"))["items"]}
    assert sorted(teams) == ["Data", "Payments", "Platform"]
    members = (await api.get(f"/teams/{teams['Payments']['id']}/members"))["items"]
    assert {m["email"]: m["role"] for m in members} == {
        "alice.adams@example.com": "manager",
        "carol@example.com": "responder",
        "dave@example.com": "observer",
    }
    owned = {
        kind: {o["name"]: o["team_id"] for o in (await api.get(f"/{kind}"))["items"]}
        for kind in ("services", "escalation-policies", "schedules")
    }
    assert owned == {
        "services": {
            "Checkout API": teams["Payments"]["id"],
            "Legacy batch": teams["Platform"]["id"],
        },
        "escalation-policies": {"Payments": teams["Payments"]["id"], "Ops": None},
        "schedules": {"Payments primary": teams["Payments"]["id"]},
    }

    # A second run reads the same account and writes the same bytes; applying changes nothing.
    again, _ = run_import(tmp_path, "second")
    assert written(again, out) == first_files
    assert not (await files.apply(out)).plan.has_changes


def test_the_report_says_what_was_approximated_and_skipped(tmp_path: Path) -> None:
    result, _ = run_import(tmp_path, "first")
    fates = {(e.kind, e.name): (e.outcome, e.note) for e in result.entries}
    assert fates[("team", "Payments")] == ("mapped", "3 member(s)")
    assert fates[("team member", "Payments: PGONE")] == ("skipped", "the user was not imported")
    assert "| team | Platform | 1 member(s) |" in report_text(result)
    assert fates[("contact method", "bob@example.com push_notification iPhone")] == (
        "skipped",
        "no such channel in Stairway (push notifications need the PagerDuty app)",
    )
    assert fates[("integration", "Checkout API/Email")][0] == "skipped"
    assert fates[("integration key", "Checkout API/Nagios")] == (
        "mapped",
        "Events API v1: senders move to /v2/enqueue",
    )
    assert fates[("schedule layer", "Payments primary / Old weekends")] == (
        "skipped",
        "ended 2025-12-31T00:00:00-05:00",
    )
    assert fates[("escalation target", "Payments level 2: Deleted user")][0] == "skipped"
    assert fates[("escalation policy", "Ops")][0] == "approximated"
    assert fates[("service", "Legacy batch")][0] == "approximated"
    assert fates[("user", "dave@example.com")] == (
        "approximated",
        "unknown time zone 'Not/AZone': UTC",
    )
    assert fates[("user", "Alice (old account) <alice.adams@example.com>")][0] == "skipped"
    assert (
        fates[
            ("override", "Payments primary 2026-04-01T09:00:00-04:00 to 2026-04-02T09:00:00-04:00")
        ][0]
        == "skipped"
    )
    text = report_text(result)
    assert text.startswith("# Import from PagerDuty\n")
    assert "## Skipped" in text
    assert "## Approximated" in text

    # Users are matched by email, trimmed and in lower case; rules keep delays and urgencies.
    alice = result.docs["users"]["alice.adams@example.com"]
    assert alice["role"] == "admin"
    rules = {m["type"]: m["notification_rules"] for m in alice["contact_methods"]}
    assert rules == {
        "email": [{"delay_seconds": 0, "urgency": None}],
        "sms": [{"delay_seconds": 120, "urgency": "high"}],
        "voice": [{"delay_seconds": 300, "urgency": "high"}],
    }
    policy = result.docs["escalation_policies"]["Payments"]
    assert policy["repeat"] == 2
    assert [level["targets"] for level in policy["levels"]] == [
        [{"schedule": "Payments primary"}, {"user": "carol@example.com"}],
        [{"user": "dave@example.com"}],
    ]
    assert [level["escalate_after_seconds"] for level in policy["levels"]] == [900, 1800]
