"""A newcomer's first run: `demo` and `serve` share one example set, one key that keeps
working, and a page sink that is there."""

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.faults.harness import ROOT, STAIRWAY, eventually, free_port

ROUTING_KEY = re.compile(r'"routing_key": "([0-9a-f]{32})"')
ACK_LINE = re.compile(r"acknowledge: curl -sS -X POST -H 'Accept: application/json' '([^']+)'")


class Run:
    """One `stairway` command in the newcomer's directory, its output in a file."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.port = free_port()
        self.output = workdir / f"{args[0]}-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
        env.update(PYTHONPATH=str(ROOT), STAIRWAY_DATA_DIR=str(workdir / ".stairway"))
        with self.output.open("wb") as out:
            self.popen = subprocess.Popen(
                [STAIRWAY, *args, "--port", str(self.port)],
                cwd=workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    async def until(self, pattern: str, timeout: float = 120) -> None:
        async def printed() -> bool:
            assert self.popen.poll() is None, self.text()
            return pattern in self.text()

        await eventually(printed, timeout, repr(pattern))

    async def ready(self) -> None:
        """The sink is listening and the API answers."""
        await self.until("Page sink on http://127.0.0.1:8099")

        async def answers() -> bool:
            assert self.popen.poll() is None, self.text()
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(f"{self.base}/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(answers, 60, "the API to answer")

    def stop(self) -> str:
        self.popen.send_signal(signal.SIGINT)
        assert self.popen.wait(60) == 0, self.text()
        text = self.text()
        assert "Traceback" not in text
        return text


@pytest.fixture
def newcomer(server_tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "policies", server_tmp_path / "policies")
    return server_tmp_path


async def test_demo_then_serve_page_the_example_set_with_one_key(newcomer: Path) -> None:
    demo = Run(newcomer, "demo")
    try:
        await demo.ready()
        [key] = set(ROUTING_KEY.findall(demo.text()))
        async with httpx.AsyncClient(base_url=demo.base) as client:
            event = {
                "routing_key": key,
                "event_action": "trigger",
                "dedup_key": "first-run",
                "payload": {"summary": "Checkout slow", "source": "test", "severity": "critical"},
            }
            assert (await client.post("/v2/enqueue", json=event)).status_code == 202
            await demo.until("PAGE for ")
            [ack] = ACK_LINE.findall(demo.text())[:1]
            # The printed curl line asks for JSON and gets it.
            acked = await client.post(ack, headers={"Accept": "application/json"})
        assert acked.status_code == 200
        assert acked.json()["changed"] is True
        assert acked.json()["message"].startswith("Incident #1 acknowledged")
    finally:
        demo.stop()

    serve = Run(newcomer, "serve")
    try:
        await serve.ready()
        text = serve.text()
        assert set(ROUTING_KEY.findall(text)) == {key}  # the demo's key still works
        assert "old one is void" not in text
        assert "page not delivered" not in text
    finally:
        serve.stop()
    kept = json.loads((newcomer / ".stairway" / "example-keys.json").read_text())
    assert kept["payments-api/pagerduty"] == key
    assert (newcomer / ".stairway" / "example-keys.json").stat().st_mode & 0o077 == 0


async def test_serve_offers_the_admin_key_command_until_an_admin_exists(newcomer: Path) -> None:
    serve = Run(newcomer, "serve")
    try:
        await serve.ready()
        assert "First admin key: stairway keys create-admin" in serve.text()
        created = subprocess.run(
            [STAIRWAY, "keys", "create-admin", "--email", "ops@example.com"],
            cwd=newcomer,
            env={**os.environ, "PYTHONPATH": str(ROOT), "STAIRWAY_DATA_DIR": ".stairway"},
            capture_output=True,
            text=True,
            check=False,
        )
        assert created.returncode == 0, created.stderr
    finally:
        serve.stop()
    again = Run(newcomer, "serve")
    try:
        await again.ready()
        assert "Stairway API listening on" in again.text()
        assert "First admin key" not in again.text()
    finally:
        again.stop()
