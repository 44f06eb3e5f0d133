"""`stairway serve` on a fresh machine: embedded PostgreSQL and Redis, then a page end to end."""

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults.harness import ROOT, STAIRWAY, eventually, free_port
from tests.support import HttpSink


@pytest.fixture
def serve_dir(
    server_tmp_path: Path,
) -> Iterator[tuple[Path, dict[str, str], int, subprocess.Popen[bytes]]]:
    tmp_path = server_tmp_path
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        PYTHONPATH=str(ROOT), STAIRWAY_PORT=str(port), STAIRWAY_DATA_DIR=str(tmp_path / ".stairway")
    )
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [STAIRWAY, "serve"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    yield tmp_path, env, port, process
    process.terminate()
    process.wait(30)
    log.close()


async def test_serve_with_no_urls_runs_embedded_servers_and_pages(
    serve_dir: tuple[Path, dict[str, str], int, subprocess.Popen[bytes]], sink: HttpSink
) -> None:
    workdir, env, port, process = serve_dir
    base = f"http://127.0.0.1:{port}"

    async def ready() -> bool:
        try:
            async with httpx.AsyncClient() as c:
                return (await c.get(f"{base}/readyz")).status_code == 200
        except httpx.TransportError:
            return False

    await eventually(ready, 90, "stairway serve to be ready")
    assert (workdir / ".stairway" / "pg").is_dir()
    created = subprocess.run(
        [STAIRWAY, "keys", "create-admin", "--email", "ops@example.com"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = created.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers) as c:
        user = (
            await c.post("/api/v1/users", json={"name": "Ada", "email": "ada@example.com"})
        ).json()
        method = (
            await c.post(
                f"/api/v1/users/{user['id']}/contact-methods",
                json={"type": "webhook", "address": sink.url("/serve")},
            )
        ).json()
        await c.post(f"/api/v1/users/{user['id']}/contact-methods/{method['id']}/mark-verified")
        policy = (
            await c.post(
                "/api/v1/escalation-policies",
                json={
                    "name": "p",
                    "levels": [
                        {
                            "escalate_after_seconds": 60,
                            "targets": [{"type": "user", "id": user["id"]}],
                        }
                    ],
                },
            )
        ).json()
        service = (
            await c.post(
                "/api/v1/services", json={"name": "s", "escalation_policy_id": policy["id"]}
            )
        ).json()
        incident = await c.post(
            "/api/v1/incidents", json={"service_id": service["id"], "title": "disk full"}
        )
        assert incident.status_code == 201
    [page] = await sink.wait_count("/serve", 1, timeout=30)
    assert page.json()["incident"]["title"] == "disk full"
    # Ctrl-C (or SIGTERM) stops the API and the worker cleanly.
    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0
    assert "Traceback" not in (workdir / "serve.log").read_text()
