"""An integration key's value kept in the files: senders moving in keep their routing key."""

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import text

from app.models import utcnow
from app.policyfiles.apply import ApplyError
from app.policyfiles.documents import read_policies
from app.policyfiles.export import export_files
from app.policyfiles.plan import render_json, render_text
from app.policyfiles.state import read_state
from tests.integrations.helpers import events_applied
from tests.policies_code.conftest import Files, write
from tests.support import JobTracker

PD_KEY = "e93facc04764012d7bfb002500d5d1a6"
OTHER_KEY = "0123456789abcdef0123456789abcdef"

FILES = """
users:
  - name: Ada Lovelace
    email: ada@example.com
escalation_policies:
  - name: payments
    levels:
      - escalate_after_seconds: 300
        targets: [{{user: ada@example.com}}]
services:
  - name: payments-api
    escalation_policy: payments
    integration_keys:
      - name: datadog
        key: "{key}"
      - name: fresh
"""


def event(routing_key: str) -> dict[str, Any]:
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "payload": {"summary": "disk full", "source": "db-1", "severity": "critical"},
    }


@pytest.mark.usefixtures("worker")
async def test_a_kept_key_routes_alerts_and_reapplying_changes_nothing(
    files: Files, tmp_path: Path, client: httpx.AsyncClient, app: Any, jobs: JobTracker
) -> None:
    write(tmp_path, "team.yaml", FILES.format(key=PD_KEY))
    first = await files.apply(tmp_path)
    # The kept key is not shown: its senders have it already. The new one is shown once.
    assert [i.name for i in first.issued] == ["payments-api/fresh"]
    assert PD_KEY not in render_text(first.plan)
    assert PD_KEY not in str(render_json(first.plan))

    response = await client.post("/v2/enqueue", json=event(PD_KEY))
    assert response.status_code == 202, response.text
    await events_applied(app, jobs)
    async with app.state.sessions() as session:
        rows = await session.scalars(
            text("SELECT s.name FROM incidents i JOIN services s ON s.id = i.service_id")
        )
        assert rows.all() == ["payments-api"]

    again = await files.apply(tmp_path)
    assert not again.plan.has_changes


@pytest.mark.usefixtures("worker")
async def test_a_changed_value_replaces_the_key_and_the_old_one_stops(
    files: Files, tmp_path: Path, client: httpx.AsyncClient
) -> None:
    write(tmp_path, "team.yaml", FILES.format(key=PD_KEY))
    await files.apply(tmp_path)
    write(tmp_path, "team.yaml", FILES.format(key=OTHER_KEY))
    plan = await files.plan(tmp_path)
    [change] = [c for c in plan.changes if c.action != "keep"]
    assert (change.action, change.kind, change.key) == (
        "update",
        "integration_key",
        ("payments-api", "datadog"),
    )
    assert "key_sha256" in render_text(plan)
    await files.apply(tmp_path)
    assert (await client.post("/v2/enqueue", json=event(PD_KEY))).status_code == 404
    assert (await client.post("/v2/enqueue", json=event(OTHER_KEY))).status_code == 202
    # Leaving the value out again keeps whatever the key is now.
    write(tmp_path, "team.yaml", FILES.format(key=OTHER_KEY).replace(f'key: "{OTHER_KEY}"', ""))
    assert not (await files.plan(tmp_path)).has_changes


async def test_export_never_carries_a_key_value_or_its_hash(
    files: Files, tmp_path: Path, app: Any
) -> None:
    write(tmp_path, "team.yaml", FILES.format(key=PD_KEY))
    await files.apply(tmp_path)
    async with app.state.sessions() as session:
        now = utcnow()
        exported = export_files(await read_state(session=session, now=now), now=now)
    [service] = yaml.safe_load(exported["services.yaml"])["services"]
    assert service["integration_keys"] == [
        {"name": "datadog", "alert_grouping": "group"},
        {"name": "fresh", "alert_grouping": "group"},
    ]
    assert PD_KEY[:8] not in exported["services.yaml"]


async def test_a_key_another_service_uses_is_refused_by_name(files: Files, tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", FILES.format(key=PD_KEY))
    await files.apply(tmp_path)
    other = tmp_path / "other"
    write(
        other,
        "b.yaml",
        FILES.format(key=PD_KEY)
        .replace("payments-api", "billing-api")
        .replace("name: fresh", "name: other"),
    )
    with pytest.raises(ApplyError, match="integration key datadog: this integration key is"):
        await files.apply(other)


def test_bad_and_repeated_values_name_the_field(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", FILES.format(key="short"))
    problems = [str(p) for p in read_policies(tmp_path)[1]]
    assert problems == [
        f"{tmp_path}/a.yaml:14 integration_keys[0].key: must be 16 to 64 letters, digits, - or _ "
        "(such as a PagerDuty integration key)"
    ]

    write(tmp_path, "a.yaml", FILES.format(key=PD_KEY))
    write(
        tmp_path,
        "b.yaml",
        f"""
        services:
          - name: billing-api
            escalation_policy: payments
            integration_keys:
              - name: events
                key: "{PD_KEY}"
        """,
    )
    problems = [str(p) for p in read_policies(tmp_path)[1]]
    assert problems == [
        f"{tmp_path}/b.yaml:6 integration_keys[0].key: the same key as integration key "
        "payments-api/datadog"
    ]
