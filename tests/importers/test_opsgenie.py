"""`stairway import opsgenie` against a loopback Opsgenie API: files that apply, the same on-call
as Opsgenie's final timeline across a DST change, escalation conditions, heartbeats, a report."""

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from app.cli import cli
from app.importers import opsgenie
from app.importers.rotations import parse_instant
from tests.factories import Api
from tests.importers import opsgenie_data as data
from tests.importers.conftest import expected_at, on_call, sample_instants, written
from tests.importers.vendor import Vendor, serving
from tests.policies_code.conftest import Files

NOW = parse_instant(data.NOW)


def run_import(*, rate_limited: bool = False) -> tuple[Any, Vendor]:
    vendor = Vendor(data.routes(), rate_limit_once={"/v2/schedules"} if rate_limited else set())
    with serving(vendor):
        result = opsgenie.read("og-key", base_url=vendor.url, now=NOW)
    return result, vendor


async def test_files_apply_and_each_rotation_matches_opsgenies_final_timeline(
    tmp_path: Path, files: Files, api: Api
) -> None:
    result, vendor = run_import(rate_limited=True)
    schedules = [s for s in vendor.seen if s.path == "/v2/schedules"]
    assert [s.status for s in schedules] == [429, 200]
    assert schedules[1].at - schedules[0].at >= vendor.retry_after_seconds * 0.9
    users = [s for s in vendor.seen if s.path == "/v2/users"]
    assert [s.query.get("offset") for s in users] == [["0"], ["2"], ["4"]]
    assert users[0].headers["authorization"] == "GenieKey og-key"

    out = tmp_path / "og"
    first = written(result, out)
    await files.apply(out)
    for rotation, timeline in data.FINAL_TIMELINE.items():
        entries = [(who, parse_instant(s), parse_instant(e)) for who, s, e in timeline]
        gaps = [end for _, _, end in entries[:-1]]  # just after a shift ends: nobody, or the next
        for at in [*sample_instants(entries), *gaps]:
            assert await on_call(api, f"SRE / {rotation}", at) == expected_at(entries, at), (
                rotation,
                at,
            )

    # Teams, their members and what each owns are in the database; the team target too.
    teams = {t["name"]: t["id"] for t in (await api.get("/teams"))["items"]}
    assert sorted(teams) == ["Databases", "SRE", "Web"]
    members = (await api.get(f"/teams/{teams['SRE']}/members"))["items"]
    assert {m["email"]: m["role"] for m in members} == {
        "erin@example.com": "manager",
        "frank@example.com": "responder",
        "gina@example.com": "responder",
        "hank@example.com": "responder",
    }
    [policy] = (await api.get("/escalation-policies", params={"team_id": teams["SRE"]}))["items"]
    assert {"type": "team", "id": teams["Databases"], "url": None} in policy["levels"][1]["targets"]
    owned = (await api.get("/schedules", params={"team_id": teams["SRE"]}))["items"]
    assert sorted(s["name"] for s in owned) == ["SRE / Nights", "SRE / Weekly"]
    [service] = (await api.get("/services", params={"team_id": teams["SRE"]}))["items"]
    assert service["name"] == "Prometheus"
    team_pages = [s.query.get("offset") for s in vendor.seen if s.path == "/v2/teams"]
    assert team_pages == [["0"], ["2"]]

    again, _ = run_import()
    assert written(again, out) == first
    assert not (await files.apply(out)).plan.has_changes


def test_escalations_keys_heartbeats_and_the_report() -> None:
    result, _ = run_import()
    policy = result.docs["escalation_policies"]["SRE escalation"]
    assert policy["repeat"] == 2
    assert policy["levels"] == [
        {
            "escalate_after_seconds": 600,
            # The next rules fire "if not closed": this level climbs even when acknowledged.
            "condition": "unresolved",
            "targets": [
                {"schedule": "SRE / Weekly"},
                {"schedule": "SRE / Nights"},
                {"user": "ivan@example.com"},
            ],
        },
        {
            "escalate_after_seconds": 300,
            "condition": "unresolved",
            # A team recipient pages the Stairway team (its on-call schedule or its managers).
            "targets": [{"user": "jill@example.com"}, {"team": "Databases"}],
        },
    ]
    service = result.docs["services"]["Prometheus"]
    assert service["escalation_policy"] == "SRE escalation"
    assert service["integration_keys"] == [{"name": "Prometheus", "key": data.PROMETHEUS_KEY}]
    assert service["heartbeats"] == [{"name": "nightly-backup", "interval_seconds": 86400}]
    assert [w["description"] for w in service["maintenance_windows"]] == ["Prometheus upgrade"]

    erin = result.docs["users"]["erin@example.com"]
    assert erin["role"] == "admin"
    assert {
        (m["type"], m["address"]): m["notification_rules"] for m in erin["contact_methods"]
    } == {
        ("email", "erin@example.com"): [{"delay_seconds": 0, "urgency": None}],
        ("sms", "+4915112345678"): [{"delay_seconds": 300, "urgency": None}],
    }
    assert result.docs["users"]["jill@example.com"]["role"] == "observer"

    fates = {(e.kind, e.name): e.outcome for e in result.entries}
    assert fates[("schedule", "SRE")] == "approximated"
    assert fates[("escalation rule", "SRE escalation after 10 min: Databases")] == "approximated"
    assert fates[("routing rule", "Prometheus: Database alerts")] == "skipped"
    assert fates[("integration", "Email")] == "skipped"
    assert fates[("heartbeat", "web-cron")] == "skipped"
    assert fates[("contact method", "erin@example.com mobile Erin's phone")] == "skipped"
    # Team admins manage the team, users respond; a custom role responds (approximated).
    assert fates[("team", "SRE")] == "approximated"
    assert fates[("team", "Web")] == "mapped"
    assert fates[("team member", "Databases: u-gone")] == "skipped"
    assert result.docs["teams"]["Databases"] == {
        "name": "Databases",
        "description": "Postgres and Redis",
        "members": [
            {"user": "frank@example.com", "role": "responder"},
            {"user": "jill@example.com", "role": "manager"},
        ],
    }
    assert policy["team"] == "SRE"
    assert service["team"] == "SRE"


def test_the_command_writes_files_and_a_json_report(tmp_path: Path) -> None:
    vendor = Vendor(data.routes())
    with serving(vendor):
        outcome = CliRunner().invoke(
            cli,
            [
                "import",
                "opsgenie",
                "--api-key",
                "og-key",
                "--base-url",
                vendor.url,
                "--out",
                str(tmp_path / "og"),
                "--report",
                str(tmp_path / "report.json"),
            ],
        )
    assert outcome.exit_code == 0, outcome.output
    assert "Opsgenie: " in outcome.output
    assert sorted(p.name for p in (tmp_path / "og").iterdir()) == [
        "escalation_policies.yaml",
        "schedules.yaml",
        "services.yaml",
        "teams.yaml",
        "users.yaml",
    ]
    report = (tmp_path / "report.json").read_text()
    assert '"outcome": "skipped"' in report

    # An unreachable source writes nothing and says why.
    failed = CliRunner().invoke(
        cli,
        [
            "import",
            "opsgenie",
            "--api-key",
            "k",
            "--base-url",
            "http://127.0.0.1:9",
            "--out",
            str(tmp_path / "none"),
        ],
    )
    assert failed.exit_code == 1
    assert "import failed; nothing was written: Opsgenie: cannot reach" in failed.output
    assert not (tmp_path / "none").exists()
