"""Export writes files that re-apply with no changes, and never a secret."""

from pathlib import Path

import pytest

from app.models import utcnow
from app.policyfiles.export import ExportError, export_files, write_export
from app.policyfiles.state import read_state
from tests.factories import Api
from tests.policies_code.conftest import TEAM, Files, desired_of, write


async def export_to(files: Files, directory: Path, *, force: bool = False) -> list[Path]:
    async with files.sessions() as session:
        now = utcnow()
        exported = export_files(await read_state(session=session, now=now), now=now)
    return write_export(directory, exported, force=force)


async def test_export_then_apply_changes_nothing(files: Files, tmp_path: Path, api: Api) -> None:
    source = tmp_path / "source"
    write(source, "team.yaml", TEAM)
    applied = await files.apply(source)
    secrets = [i.value for i in applied.issued]

    # Things made through the API, in the shapes the API allows, also round-trip.
    extra = await api.user("Linus", webhook="https://hooks.example.com/linus", rules=[0, 90])
    await api.post(
        f"/users/{extra['id']}/contact-methods",
        {"type": "email", "address": "linus@example.com", "label": "mail"},
    )
    schedule = await api.post(
        "/schedules",
        {
            "name": "night",
            "time_zone": "Asia/Tokyo",
            "layers": [
                {
                    "participants": [extra["id"]],
                    "turn_seconds": 43200,
                    "start": "2026-01-05T21:00:00+09:00",
                }
            ],
        },
    )
    await api.post(
        f"/schedules/{schedule['id']}/overrides",
        {
            "user_id": extra["id"],
            "start": "2099-03-01T09:00:00+09:00",
            "end": "2099-03-01T18:00:00+09:00",
        },
    )
    await api.post(
        f"/schedules/{schedule['id']}/overrides",
        {
            "user_id": extra["id"],
            "start": "2020-03-01T09:00:00+09:00",
            "end": "2020-03-01T18:00:00+09:00",
        },
    )
    policy = await api.post(
        "/escalation-policies",
        {
            "name": "night",
            "levels": [
                {
                    "escalate_after_seconds": 120,
                    "targets": [{"type": "schedule", "id": schedule["id"]}],
                }
            ],
        },
    )
    await api.service(policy["id"], name="batch")

    exported = tmp_path / "exported"
    written = await export_to(files, exported)
    assert sorted(p.name for p in written) == [
        "escalation_policies.yaml",
        "schedules.yaml",
        "services.yaml",
        "users.yaml",
    ]
    text = "".join(p.read_text() for p in written)
    assert all(secret not in text for secret in secrets)
    assert "rotation: weekly" in text
    assert "turn_seconds: 43200" in text
    assert "'2099-03-01T09:00:00+09:00'" in text  # in the schedule's own time zone
    assert "2020-03-01" not in text  # an override that is over is history, not configuration

    desired = desired_of(exported)
    assert len(desired.docs["users"]) == 4  # the admin of the test client is exported too
    assert not (await files.plan(exported, prune=True)).has_changes
    again = await files.apply(exported, prune=True)
    assert again.plan.changes == []


async def test_export_refuses_to_mix_with_existing_files(files: Files, tmp_path: Path) -> None:
    write(tmp_path, "team.yaml", TEAM)
    await files.apply(tmp_path)
    with pytest.raises(ExportError, match="already holds policy files"):
        await export_to(files, tmp_path)
    written = await export_to(files, tmp_path, force=True)
    assert (tmp_path / "team.yaml").exists()
    assert len(written) == 4
