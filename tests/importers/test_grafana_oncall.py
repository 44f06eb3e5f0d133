"""`stairway import grafana-oncall` against a loopback OnCall API: files that apply, the same
on-call as OnCall's final shifts across a DST change, chains, kept tokens and a report."""

from pathlib import Path
from typing import Any

from app.importers import grafana_oncall
from app.importers.rotations import parse_instant
from tests.factories import Api
from tests.importers import grafana_oncall_data as data
from tests.importers.conftest import expected_at, on_call, sample_instants, written
from tests.importers.vendor import Vendor, serving
from tests.policies_code.conftest import Files

NOW = parse_instant(data.NOW)


def run_import(*, rate_limited: bool = False) -> tuple[Any, Vendor]:
    limited = {"/api/v1/on_call_shifts/"} if rate_limited else set()
    vendor = Vendor(data.routes(), rate_limit_once=limited)
    with serving(vendor):
        result = grafana_oncall.read("oncall-token", base_url=vendor.url, now=NOW)
    return result, vendor


async def test_files_apply_and_on_call_matches_oncalls_final_shifts(
    tmp_path: Path, files: Files, api: Api
) -> None:
    result, vendor = run_import(rate_limited=True)
    shifts = [s for s in vendor.seen if s.path == "/api/v1/on_call_shifts/"]
    assert [(s.status, s.query.get("page")) for s in shifts] == [
        (429, None),
        (200, None),
        (200, ["2"]),
    ]
    assert shifts[1].at - shifts[0].at >= vendor.retry_after_seconds * 0.9
    assert shifts[0].headers["authorization"] == "oncall-token"

    out = tmp_path / "oncall"
    first = written(result, out)
    await files.apply(out)
    entries = [(who, parse_instant(s), parse_instant(e)) for who, s, e in data.FINAL_SHIFTS]
    for at in sample_instants(entries):
        assert await on_call(api, "Platform", at) == expected_at(entries, at), at

    # Teams (paginated) with members from the users' teams; the schedule and chain are theirs.
    assert [s.query.get("page") for s in vendor.seen if s.path == "/api/v1/teams/"] == [None, ["2"]]
    teams = {t["name"]: t["id"] for t in (await api.get("/teams"))["items"]}
    assert sorted(teams) == ["Data", "Empty", "Platform"]
    members = (await api.get(f"/teams/{teams['Platform']}/members"))["items"]
    assert {m["email"]: m["role"] for m in members} == {
        "kim@example.com": "manager",
        "lee@example.com": "responder",
        "ned@example.com": "observer",
    }
    [schedule] = (await api.get("/schedules", params={"team_id": teams["Platform"]}))["items"]
    [chain] = (await api.get("/escalation-policies", params={"team_id": teams["Platform"]}))[
        "items"
    ]
    assert (schedule["name"], chain["name"]) == ("Platform", "Platform chain")
    [service] = (await api.get("/services"))["items"]
    assert service["team_id"] is None  # the integration belongs to no team in OnCall

    again, _ = run_import()
    assert written(again, out) == first
    assert not (await files.apply(out)).plan.has_changes


def test_chains_tokens_rules_and_the_report() -> None:
    result, _ = run_import()
    policy = result.docs["escalation_policies"]["Platform chain"]
    assert policy == {
        "name": "Platform chain",
        "description": "",
        "team": "Platform",
        "repeat": 5,
        "levels": [
            {
                "escalate_after_seconds": 900,
                "targets": [
                    {"schedule": "Platform"},
                    {"user": "kim@example.com"},
                    {"user": "lee@example.com"},
                ],
            },
            {"escalate_after_seconds": 600, "targets": [{"user": "ned@example.com"}]},
        ],
    }
    [key] = result.docs["services"]["Alertmanager"]["integration_keys"]
    assert key == {"name": "alertmanager", "key": data.TOKEN}
    kim = result.docs["users"]["kim@example.com"]
    assert kim["contact_methods"] == [
        {
            "type": "email",
            "address": "Kim@Example.com",
            "label": "",
            "notification_rules": [
                {"delay_seconds": 0, "urgency": None},
                {"delay_seconds": 900, "urgency": None},
            ],
        }
    ]
    fates = {(e.kind, e.name): e.outcome for e in result.entries}
    assert fates[("schedule", "Support")] == "skipped"
    assert fates[("shift", "Platform / Month end")] == "skipped"
    assert fates[("escalation step", "Platform chain step 5: trigger_webhook")] == "skipped"
    assert fates[("escalation chain", "Platform chain")] == "approximated"
    assert fates[("notification rule", "kim@example.com notify_by_sms")] == "skipped"
    assert fates[("route", "CALERT route 0")] == "skipped"
    # The report says what OnCall's teams could not say: their members' roles.
    [team] = [e for e in result.entries if (e.kind, e.name) == ("team", "Data")]
    assert (team.outcome, team.note) == (
        "approximated",
        "1 member(s); members from the users' teams; OnCall has no team roles: admins are "
        "managers, editors responders, viewers observers",
    )
    assert result.docs["schedules"]["Platform"]["team"] == "Platform"
