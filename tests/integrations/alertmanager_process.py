"""Run a real Prometheus Alertmanager (Debian's prometheus-alertmanager) for one test."""

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CONFIG = """
global:
  resolve_timeout: 5s
route:
  receiver: stairway
  group_by: [alertname]
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: stairway
    webhook_configs:
      - url: {url}
        send_resolved: true
"""


def binary() -> str:
    """The alertmanager executable; fails (never skips) when it is not installed."""
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if found is None:
        pytest.fail(
            "prometheus-alertmanager is not installed: "
            "apt-get install -y prometheus-alertmanager (.ci/run does this)"
        )
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Alertmanager:
    url: str
    log: list[str] = field(default_factory=list)


@asynccontextmanager
async def running_alertmanager(workdir: Path, webhook_url: str) -> AsyncIterator[Alertmanager]:
    """Alertmanager on a free loopback port, sending every group to `webhook_url`."""
    config = workdir / "alertmanager.yml"
    config.write_text(CONFIG.format(url=webhook_url))
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        binary(),
        f"--config.file={config}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=info",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    manager = Alertmanager(f"http://127.0.0.1:{port}")
    ready = asyncio.Event()

    async def read_log() -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            manager.log.append(line)
            if "Listening on" in line:
                ready.set()

    reader = asyncio.create_task(read_log())
    try:
        try:
            await asyncio.wait_for(ready.wait(), 15)
        except TimeoutError:
            pytest.fail("alertmanager did not start:\n" + "\n".join(manager.log))
        yield manager
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()
        await reader
