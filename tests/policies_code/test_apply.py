"""Apply is idempotent and all-or-nothing; diff says what it would do; prune keeps what it must."""

from pathlib import Path
from typing import Any

import httpx
import pytest

from app.policyfiles.apply import ApplyError
from app.policyfiles.plan import render_json, render_text
from tests.factories import Api
from tests.integrations.helpers import events_applied
from tests.policies_code.conftest import TEAM, Files, write
from tests.support import JobTracker

ROOT = Path(__file__).resolve().parents[2]


def by_name(items: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(item for item in items if item["name"] == name)


@pytest.mark.usefixtures("worker")
async def test_the_example_set_applies_on_an_empty_database_and_pages_work(
    files: Files, client: httpx.AsyncClient, api: Api, app: Any, jobs: JobTracker
) -> None:
    result = await files.apply(ROOT / "policies")
    assert result.plan.counts()["create"] > 20
    keys = {i.name: i.value for i in result.issued if i.what == "integration key"}
    assert set(keys) == {
        "payments-api/alertmanager",
        "payments-api/pagerduty",
        "platform-api/alertmanager",
        "platform-api/grafana",
    }

    policies = (await api.get("/escalation-policies"))["items"]
    schedules = (await api.get("/schedules"))["items"]
    users = (await api.get("/users"))["items"]
    payments = by_name(policies, "payments")
    assert payments["levels"][0]["targets"] == [
        {"type": "schedule", "id": by_name(schedules, "payments-primary")["id"], "url": None}
    ]
    margaret = next(u for u in users if u["email"] == "margaret@example.com")
    assert payments["levels"][1]["targets"][0]["id"] == margaret["id"]

    # The key printed once is a working PagerDuty routing key for the example service.
    event = {
        "routing_key": keys["payments-api/pagerduty"],
        "event_action": "trigger",
        "payload": {"summary": "demo", "source": "test", "severity": "critical"},
    }
    response = await client.post("/v2/enqueue", json=event)
    assert response.status_code == 202, response.text
    await events_applied(app, jobs)
    services = (await api.get("/services"))["items"]
    incidents = (await api.get("/incidents"))["items"]
    assert [i["service_id"] for i in incidents] == [by_name(services, "payments-api")["id"]]

    again = await files.apply(ROOT / "policies")
    assert not again.plan.has_changes
    assert render_text(again.plan).startswith("No changes.")


async def test_applying_twice_changes_nothing_the_second_time(files: Files, tmp_path: Path) -> None:
    write(tmp_path, "team.yaml", TEAM)
    first = await files.apply(tmp_path)
    counts = first.plan.counts()
    # 2 users, 2 contact methods, 2 rules, schedule, override, 2 policies, service, 2 keys,
    # a window and a heartbeat.
    assert counts == {"create": 15, "update": 0, "delete": 0, "keep": 0}
    assert [i.what for i in first.issued].count("integration key") == 2

    second = await files.apply(tmp_path)
    assert second.plan.changes == []
    assert second.issued == []
    assert (await files.plan(tmp_path, prune=True)).changes == []


async def test_diff_lists_creates_changes_and_deletes(files: Files, tmp_path: Path) -> None:
    write(tmp_path, "team.yaml", TEAM)
    await files.apply(tmp_path)
    changed = (
        TEAM.replace(
            "time_zone: Europe/London\n    contact_methods",
            "time_zone: Europe/Paris\n    contact_methods",
        )
        .replace('      - type: sms\n        address: "+14155550100"\n', "")
        .replace("escalate_after_seconds: 300", "escalate_after_seconds: 240")
        .replace(
            "      - name: pagerduty\n        alert_grouping: alert\n",
            "      - name: pagerduty\n      - name: grafana\n",
        )
    )
    write(tmp_path, "team.yaml", changed)

    plan = await files.plan(tmp_path)
    assert render_text(plan).splitlines() == [
        "~ user ada@example.com",
        '      time_zone: "Europe/London" -> "Europe/Paris"',
        "    - contact method sms +14155550100",
        "~ escalation policy payments",
        "      levels[0].escalate_after_seconds: 300 -> 240",
        "  service payments-api:",
        "    + integration key grafana",
        "    ~ integration key pagerduty",
        '          alert_grouping: "alert" -> "group"',
        "Plan: 1 to create, 3 to change, 1 to delete.",
    ]
    document = render_json(plan)
    assert document["summary"] == {"create": 1, "update": 3, "delete": 1, "keep": 0}
    update = document["changes"][0]
    assert update["kind"] == "user"
    assert update["fields"] == {"time_zone": {"old": "Europe/London", "new": "Europe/Paris"}}
    assert update["origin"] == f"{tmp_path / 'team.yaml'}:2"

    result = await files.apply(tmp_path)
    assert [i.name for i in result.issued] == ["payments-api/grafana"]
    assert not (await files.plan(tmp_path)).has_changes


async def test_a_failure_part_way_changes_nothing(files: Files, tmp_path: Path, api: Api) -> None:
    # Someone outside the files holds the Slack id the files give Grace: her insert fails after
    # Ada was created, and the whole apply is rolled back.
    await api.post(
        "/users", {"name": "Other", "email": "other@example.com", "slack_user_id": "U0123ABC"}
    )
    text = TEAM.replace("    role: admin\n", "    role: admin\n    slack_user_id: U0123ABC\n")
    write(tmp_path, "team.yaml", text)

    with pytest.raises(ApplyError, match=r"team.yaml:15 user grace@example.com: .* already taken"):
        await files.apply(tmp_path)

    emails = {u["email"] for u in (await api.get("/users"))["items"]}
    assert emails == {"root@example.com", "other@example.com"}
    assert (await api.get("/schedules"))["items"] == []
    assert (await files.plan(tmp_path)).counts()["create"] == 15


async def test_a_dry_run_changes_nothing(files: Files, tmp_path: Path) -> None:
    write(tmp_path, "team.yaml", TEAM)
    dry = await files.apply(tmp_path, dry_run=True)
    assert dry.plan.counts()["create"] == 15
    assert dry.issued == []  # secrets of rolled-back keys would be useless
    assert (await files.plan(tmp_path)).counts()["create"] == 15


async def test_prune_deletes_what_the_files_do_not_mention_but_keeps_what_it_must(
    files: Files, tmp_path: Path, api: Api
) -> None:
    write(tmp_path, "team.yaml", TEAM)
    await files.apply(tmp_path)
    temp = await api.user("Temp")
    legacy = await api.policy([(60, [temp["id"]])], name="legacy")
    await api.service(legacy["id"], name="legacy-api")
    old = await api.policy([(60, [temp["id"]])], name="old")
    old_api = await api.service(old["id"], name="old-api")
    await api.trigger(old_api["id"])
    services = {s["name"]: s for s in (await api.get("/services"))["items"]}
    extra_key = await api.post(
        f"/services/{services['payments-api']['id']}/integration-keys", {"name": "extra"}
    )

    plain = await files.plan(tmp_path)
    assert not plain.has_changes
    assert "integration key payments-api / extra" in plain.unmanaged
    assert "service legacy-api" in plain.unmanaged

    result = await files.apply(tmp_path, prune=True)
    lines = render_text(result.plan, applied=True).splitlines()
    assert lines == [
        "  service payments-api:",
        "    - integration key extra",
        "- service legacy-api",
        "= service old-api  (kept: has incidents)",
        "- escalation policy legacy",
        "= escalation policy old  (kept: used by kept service old-api)",
        "= user root@example.com  (kept: has API keys)",
        "= user temp@example.com  (kept: a target of kept escalation policy old)",
        "Applied: 0 created, 0 changed, 3 deleted.",
    ]
    names = {s["name"] for s in (await api.get("/services"))["items"]}
    assert names == {"payments-api", "old-api"}
    keys = await api.get(f"/services/{services['payments-api']['id']}/integration-keys")
    assert extra_key["id"] not in {k["id"] for k in keys["items"]}
    assert not (await files.plan(tmp_path, prune=True)).has_changes
