"""The `stairway policies` commands, the first-start load and the demo sink."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings, get_settings
from app.policyfiles.demo import start_sink
from app.policyfiles.runner import load_on_first_start
from tests.policies_code.conftest import TEAM, write

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stairway(app: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """The CLI, pointed at the test database and Redis the way a user would: by URL."""
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def run(runner: CliRunner, *args: str, code: int = 0) -> Any:
    result = runner.invoke(cli, ["policies", *args])
    assert result.exit_code == code, result.output
    return result


def test_diff_apply_and_export_from_the_command_line(stairway: CliRunner, tmp_path: Path) -> None:
    files = tmp_path / "policies"
    write(files, "team.yaml", TEAM)

    plan = json.loads(run(stairway, "diff", str(files), "--json").stdout)
    assert plan["summary"] == {"create": 15, "update": 0, "delete": 0, "keep": 0}
    run(stairway, "diff", str(files), "--exit-code", code=2)

    applied = run(stairway, "apply", str(files)).stdout
    assert "Applied: 15 created, 0 changed, 0 deleted." in applied
    assert "integration key payments-api/alertmanager: " in applied

    assert run(stairway, "apply", str(files)).stdout.strip() == "No changes."
    run(stairway, "diff", str(files), "--exit-code")

    exported = run(stairway, "export", str(tmp_path / "exported")).stdout
    assert "services.yaml" in exported
    assert run(stairway, "diff", str(tmp_path / "exported")).stdout.strip() == "No changes."


def test_a_failing_file_changes_nothing(stairway: CliRunner, tmp_path: Path) -> None:
    write(tmp_path, "team.yaml", TEAM)
    bad = write(
        tmp_path,
        "zz-broken.yaml",
        """
        services:
          - name: broken
            escalation_policy: missing
        """,
    )
    result = run(stairway, "apply", str(tmp_path), code=1)
    assert f'{bad}:3 escalation_policy: unknown escalation policy "missing"' in result.stderr
    assert "nothing was changed" in result.stderr

    bad.unlink()
    plan = json.loads(run(stairway, "diff", str(tmp_path), "--json").stdout)
    assert plan["summary"]["create"] == 15  # still nothing in the database


def test_dry_run_and_rotate_key(stairway: CliRunner, tmp_path: Path) -> None:
    write(tmp_path, "team.yaml", TEAM)
    dry = run(stairway, "apply", str(tmp_path), "--dry-run").stdout
    assert "Plan: 15 to create" in dry
    assert "Shown once" not in dry
    first = run(stairway, "apply", str(tmp_path)).stdout
    old = next(
        line.split(": ")[1]
        for line in first.splitlines()
        if "integration key payments-api/pagerduty" in line
    )
    new = run(stairway, "rotate-key", "payments-api", "pagerduty").stdout.strip()
    assert len(new) == 32
    assert new != old
    assert run(stairway, "apply", str(tmp_path)).stdout.strip() == "No changes."
    run(stairway, "rotate-key", "payments-api", "nope", code=1)


def test_first_start_loads_the_policies_only_into_an_empty_database(
    stairway: CliRunner, settings: Settings
) -> None:
    first_start = settings.model_copy(update={"policies_dir": ROOT / "policies"})
    issued = load_on_first_start(first_start)
    assert issued is not None
    assert "payments-api/pagerduty" in {i.name for i in issued}
    assert load_on_first_start(first_start) is None  # users exist now: never reloaded
    assert run(stairway, "diff", str(ROOT / "policies")).stdout.strip() == "No changes."


async def test_the_demo_sink_prints_each_page() -> None:
    printed: list[str] = []
    server = await start_sink("127.0.0.1", 0, printed.append)
    port = server.sockets[0].getsockname()[1]
    page = {
        "event": "incident.page",
        "incident": {
            "number": 7,
            "title": "p99 > 2s",
            "severity": "critical",
            "status": "triggered",
        },
        "level": 2,
        "loop": 0,
        "user": {"id": "u", "name": "Ada Lovelace"},
        "actions": {"acknowledge": "http://127.0.0.1:8080/r/ack-token"},
    }
    try:
        async with httpx.AsyncClient() as client:
            response = await client.post(f"http://127.0.0.1:{port}/pages/ada", json=page)
    finally:
        server.close()
        await server.wait_closed()
    assert response.status_code == 200
    [text] = printed
    assert "PAGE for Ada Lovelace (/pages/ada): #7 'p99 > 2s' [critical, triggered] level 2" in text
    ack = "curl -sS -X POST -H 'Accept: application/json' 'http://127.0.0.1:8080/r/ack-token'"
    assert f"acknowledge: {ack}" in text


def test_preview_prints_who_would_be_paged_when(stairway: CliRunner, tmp_path: Path) -> None:
    write(tmp_path, "team.yaml", TEAM)
    run(stairway, "apply", str(tmp_path))
    # Ada's two rules (at once and after 5 min) page her webhook; her SMS has no rule.
    # 2099-01-01 12:00 UTC: Grace's override holds the schedule, inside the 09:30 window.
    out = run(stairway, "preview", "payments-urgent", "--at", "2099-01-01T12:00:00+00:00").stdout
    assert out.splitlines()[1:] == [
        "2099-01-01T12:00:00+00:00  level 1 (loop 0)",
        "    2099-01-01T12:00:00+00:00  Ada Lovelace via webhook https://hooks.example.com/…",
        "    2099-01-01T12:05:00+00:00  Ada Lovelace via webhook https://hooks.example.com/…",
        "exhausted at: 2099-01-01T12:01:00+00:00",
    ]
    schedule = run(stairway, "preview", "payments", "--at", "2099-01-01T12:00:00+00:00").stdout
    # Grace (on call through her override) has no contact method: level 1 is skipped at once.
    assert schedule.splitlines()[1:4] == [
        "2099-01-01T12:00:00+00:00  level 1 skipped: user has no contact method",
        "2099-01-01T12:00:00+00:00  level 2 (loop 0)",
        "    2099-01-01T12:00:00+00:00  https://hooks.example.com/… via webhook "
        "https://hooks.example.com/…",
    ]
    assert "2099-01-01T12:10:00+00:00  loop 1: the chain restarts at level 1" in schedule
    assert schedule.splitlines()[-1] == "exhausted at: 2099-01-01T12:20:00+00:00"
    run(stairway, "preview", "no-such-policy", code=1)


def test_apply_refuses_internal_addresses_as_the_api_does(
    stairway: CliRunner, tmp_path: Path
) -> None:
    # DATABASE_URL is set, so private destinations are refused unless explicitly allowed.
    bad = write(
        tmp_path,
        "team.yaml",
        """
        users:
          - name: Ada
            email: ada@example.com
            contact_methods:
              - type: webhook
                address: http://127.0.0.1:8099/pages/ada
        """,
    )
    result = run(stairway, "apply", str(tmp_path), code=1)
    assert f"{bad}:" in result.stderr
    assert "address: must not point at a private, loopback or link-local address" in result.stderr
    assert "nothing was changed" in result.stderr
    plan = json.loads(run(stairway, "diff", str(tmp_path), "--json").stdout)
    assert plan["summary"]["create"] == 2  # the user and the contact method: nothing applied
