"""`stairway doctor`: each problem that would stop pages is named with its fix, and exits 1."""

import asyncio
import os
from pathlib import Path

from app.config import Settings
from tests.faults.harness import ROOT, STAIRWAY, free_port
from tests.policies_code.conftest import Files, write

PEOPLE = """
users:
  - name: Ada Lovelace
    email: ada@example.com
    contact_methods:
      - type: webhook
        address: http://127.0.0.1:8099/pages/ada
        label: desk bridge
      - type: webhook
        address: https://hooks.example.com/ada
escalation_policies:
  - name: ops
    levels:
      - escalate_after_seconds: 60
        targets:
          - user: ada@example.com
          - webhook: http://10.1.2.3/hook
"""

EMAIL = """
users:
  - name: Grace Hopper
    email: grace@example.com
    contact_methods:
      - type: email
        address: grace@example.com
"""


async def doctor(settings: Settings, **env: str) -> tuple[int, str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STAIRWAY_", "DATABASE_", "REDIS_"))
    }
    environment.update(
        {
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "STAIRWAY_PUBLIC_URL": "https://pager.example.com",
            **env,
        }
    )
    process = await asyncio.create_subprocess_exec(
        STAIRWAY,
        "doctor",
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def test_a_healthy_installation_is_ready_to_page(files: Files, settings: Settings) -> None:
    code, out = await doctor(settings)
    assert code == 0, out
    for check in ("database", "clock", "redis", "migrations", "public URL", "destinations"):
        assert f"ok    {check}: " in out
    assert out.strip().endswith("Ready to page.")


async def test_destinations_the_url_rule_refuses_stop_paging(
    files: Files, settings: Settings, tmp_path: Path
) -> None:
    write(tmp_path, "people.yaml", PEOPLE)
    await files.apply(tmp_path)

    code, out = await doctor(settings)  # DATABASE_URL set: private destinations are refused
    assert code == 1, out
    assert (
        'FAIL  destinations: webhook contact method "desk bridge" of Ada Lovelace: '
        "http://127.0.0.1:8099/pages/ada is refused" in out
    )
    assert 'FAIL  destinations: webhook target of policy "ops" level 1: http://10.1.2.3/hook' in out
    assert "hooks.example.com" not in out  # a public destination is fine
    assert "fix: point it at an address other machines can reach" in out
    assert "STAIRWAY_ALLOW_PRIVATE_WEBHOOK_TARGETS=true" in out

    code, out = await doctor(settings, STAIRWAY_ALLOW_PRIVATE_WEBHOOK_TARGETS="true")
    assert code == 0, out
    assert "ok    destinations: every saved destination may be sent to" in out


async def test_a_channel_in_use_without_its_provider_stops_paging(
    files: Files, settings: Settings, tmp_path: Path
) -> None:
    write(tmp_path, "people.yaml", EMAIL)
    await files.apply(tmp_path)
    code, out = await doctor(settings)
    assert code == 1, out
    assert "FAIL  providers: 1 email contact method(s) but no email provider" in out
    assert "fix: configure STAIRWAY_SMTP_HOST" in out

    code, out = await doctor(settings, STAIRWAY_SMTP_HOST="127.0.0.1")
    assert code == 0, out
    assert "ok    providers: email: 1 contact method(s)" in out


async def test_unreachable_redis_and_a_loopback_public_url_are_named(
    files: Files, settings: Settings
) -> None:
    code, out = await doctor(
        settings,
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        STAIRWAY_PUBLIC_URL="http://127.0.0.1:8080",
    )
    assert code == 1, out
    assert "FAIL  redis: unreachable" in out
    assert "fix: check REDIS_URL" in out
    assert "WARN  public URL: http://127.0.0.1:8080 is this machine only" in out
    assert "1 problem(s) would stop pages" in out
