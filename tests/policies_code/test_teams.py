"""Policy files name the owning team (`team:`) and team targets; export writes them back."""

from pathlib import Path

import pytest

from app.policyfiles.apply import ApplyError
from tests.factories import Api
from tests.policies_code.conftest import Files, write
from tests.policies_code.test_export import export_to

OWNED = """
users:
  - name: Ada Lovelace
    email: ada@example.com
    role: responder
schedules:
  - name: payments-primary
    time_zone: UTC
    team: payments
escalation_policies:
  - name: payments
    team: payments
    levels:
      - escalate_after_seconds: 300
        targets:
          - team: payments
          - user: ada@example.com
services:
  - name: payments-api
    team: {service_team}
    escalation_policy: payments
"""


async def test_files_put_objects_in_teams_and_export_writes_the_team_back(
    files: Files, tmp_path: Path, api: Api
) -> None:
    payments = await api.post("/teams", {"name": "payments"})
    storage = await api.post("/teams", {"name": "storage"})
    source = tmp_path / "source"
    write(source, "owned.yaml", OWNED.format(service_team="payments"))
    await files.apply(source)

    [service] = (await api.get("/services", params={"team_id": payments["id"]}))["items"]
    [policy] = (await api.get("/escalation-policies", params={"team_id": payments["id"]}))["items"]
    [schedule] = (await api.get("/schedules", params={"team_id": payments["id"]}))["items"]
    assert (service["name"], policy["name"], schedule["name"]) == (
        "payments-api",
        "payments",
        "payments-primary",
    )
    assert policy["levels"][0]["targets"][0] == {
        "type": "team",
        "id": payments["id"],
        "url": None,
    }

    exported = tmp_path / "exported"
    await export_to(files, exported)
    for name in ("schedules.yaml", "escalation_policies.yaml", "services.yaml"):
        assert "team: payments" in (exported / name).read_text()
    assert "- team: payments" in (exported / "escalation_policies.yaml").read_text()
    assert not (await files.plan(exported, prune=True)).has_changes

    # Moving the service to another team in the files moves it on apply.
    write(source, "owned.yaml", OWNED.format(service_team="storage"))
    plan = await files.plan(source)
    [change] = plan.changes
    assert (change.action, change.fields) == ("update", {"team": ("payments", "storage")})
    await files.apply(source)
    assert (await api.get(f"/services/{service['id']}"))["team_id"] == storage["id"]


async def test_a_team_the_database_does_not_have_fails_the_apply_and_changes_nothing(
    files: Files, tmp_path: Path, api: Api
) -> None:
    await api.post("/teams", {"name": "payments"})
    write(tmp_path, "owned.yaml", OWNED.format(service_team="nope"))
    with pytest.raises(ApplyError, match='team: unknown team "nope"'):
        await files.apply(tmp_path)
    assert (await api.get("/services"))["items"] == []
    assert (await api.get("/schedules"))["items"] == []
