"""Policy files name the owning team (`team:`) and team targets; export writes them back."""

from pathlib import Path

import pytest

from app.policyfiles.apply import ApplyError
from app.policyfiles.documents import read_policies
from app.policyfiles.model_teams import ONCALL_HINT
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


DECLARED = """
users:
  - name: Ada Lovelace
    email: ada@example.com
  - name: Grace Hopper
    email: grace@example.com
teams:
  - name: payments
    description: card payments
    members:
      - user: ada@example.com
        role: {ada_role}
      - user: Grace@Example.com
        role: responder
escalation_policies:
  - name: payments
    team: payments
    levels:
      - escalate_after_seconds: 300
        targets:
          - team: payments
services:
  - name: payments-api
    team: payments
    escalation_policy: payments
"""


async def members_of(api: Api, team_id: str) -> dict[str, str]:
    listed = (await api.get(f"/teams/{team_id}/members"))["items"]
    return {m["email"]: m["role"] for m in listed}


async def test_files_declare_teams_with_members_and_apply_brings_them_in_line(
    files: Files, tmp_path: Path, api: Api
) -> None:
    source = tmp_path / "source"
    write(source, "payments.yaml", DECLARED.format(ada_role="manager"))
    await files.apply(source)

    [team] = (await api.get("/teams"))["items"]
    assert (team["name"], team["description"]) == ("payments", "card payments")
    assert await members_of(api, team["id"]) == {
        "ada@example.com": "manager",
        "grace@example.com": "responder",
    }
    [service] = (await api.get("/services", params={"team_id": team["id"]}))["items"]
    assert service["name"] == "payments-api"
    assert not (await files.plan(source)).has_changes

    # Export writes the team back; applying the export changes nothing.
    exported = tmp_path / "exported"
    await export_to(files, exported)
    assert "members:" in (exported / "teams.yaml").read_text()
    assert not (await files.plan(exported, prune=True)).has_changes

    # A changed role is updated in place; a member the files no longer list leaves the team.
    changed = DECLARED.format(ada_role="observer").replace(
        "      - user: Grace@Example.com\n        role: responder\n", ""
    )
    write(source, "payments.yaml", changed)
    plan = await files.plan(source)
    assert sorted((c.action, c.kind, c.key) for c in plan.changes) == [
        ("delete", "team_member", ("payments", "grace@example.com")),
        ("update", "team_member", ("payments", "ada@example.com")),
    ]
    await files.apply(source)
    assert await members_of(api, team["id"]) == {"ada@example.com": "observer"}


async def test_prune_deletes_undeclared_teams_unless_the_files_name_them(
    files: Files, tmp_path: Path, api: Api
) -> None:
    await api.post("/teams", {"name": "storage"})
    await api.post("/teams", {"name": "old"})
    write(tmp_path, "payments.yaml", DECLARED.format(ada_role="manager"))
    write(
        tmp_path,
        "storage.yaml",
        """
        schedules:
          - name: storage-primary
            time_zone: UTC
            team: storage
        """,
    )
    plan = await files.plan(tmp_path)
    assert "team old" in plan.unmanaged
    result = await files.apply(tmp_path, prune=True)
    pruned = {(c.action, c.key) for c in result.plan.changes if c.kind == "team"}
    assert ("delete", ("old",)) in pruned
    assert ("keep", ("storage",)) in pruned
    names = sorted(t["name"] for t in (await api.get("/teams"))["items"])
    assert names == ["payments", "storage"]


def test_a_member_who_is_no_user_of_the_files_is_named_with_file_line_and_field(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "teams.yaml",
        """
        teams:
          - name: payments
            members:
              - user: nobody@example.com
                role: manager
              - user: nobody@example.com
                role: captain
            oncall_schedule: primary
        """,
    )
    _, problems = read_policies(tmp_path)
    assert [str(p) for p in problems] == [
        f'{path}:4 members[0].user: unknown user "nobody@example.com"',
        f'{path}:6 members[1].user: unknown user "nobody@example.com"',
        f"{path}:7 members[1].role: Input should be 'manager', 'responder' or 'observer'",
        f"{path}:8 oncall_schedule: unknown field; {ONCALL_HINT}",
    ]
