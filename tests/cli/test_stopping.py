"""Every long-running command stops cleanly on SIGINT and SIGTERM: exit 0, no traceback,
the work in flight finished (a page being sent is delivered and recorded) or left queued."""

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.bootstrap import create_admin_key
from app.config import Settings
from app.main import create_app
from tests.factories import Api
from tests.faults.harness import Proc, Stairway, eventually, free_port
from tests.policies_code.conftest import Files, write
from tests.support import HttpSink

SIGNALS = [signal.SIGINT, signal.SIGTERM]


@pytest.fixture
def stairway(settings: Settings, tmp_path: Path) -> Any:
    processes = Stairway(settings.database_url, settings.redis_url, tmp_path)
    yield processes
    processes.stop_all()


async def line_in_log(proc: Proc, text: str, timeout: float = 60) -> None:
    async def logged() -> bool:
        assert proc.popen.poll() is None, proc.log()
        return text in proc.log()

    await eventually(logged, timeout, repr(text))


async def stopped_cleanly(proc: Proc, sig: signal.Signals) -> str:
    proc.popen.send_signal(sig)
    code = await asyncio.get_running_loop().run_in_executor(None, proc.popen.wait, 60)
    log = proc.log()
    assert code == 0, log
    assert "Traceback" not in log
    assert "CancelledError" not in log
    return log


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
async def test_the_worker_warns_about_refused_destinations_and_stops_cleanly(
    sig: signal.Signals, stairway: Stairway, files: Files, tmp_path: Path
) -> None:
    write(
        tmp_path / "policies",
        "people.yaml",
        """
        users:
          - name: Ada Lovelace
            email: ada@example.com
            contact_methods:
              - type: webhook
                address: http://127.0.0.1:8099/pages/ada
                label: demo sink
        """,
    )
    await files.apply(tmp_path / "policies")
    # As in production: DATABASE_URL set, private destinations refused.
    stairway.extra_env["STAIRWAY_ALLOW_PRIVATE_WEBHOOK_TARGETS"] = "false"
    worker = stairway.start_worker()
    await line_in_log(worker, "worker started: queue stairway:fault:")
    log = worker.log()
    assert (
        'pages to webhook contact method \\"demo sink\\" of Ada Lovelace will be refused: '
        "http://127.0.0.1:8099/pages/ada" in log
    )
    assert "STAIRWAY_ALLOW_PRIVATE_WEBHOOK_TARGETS" in log
    log = await stopped_cleanly(worker, sig)
    assert "worker stopped" in log


@pytest.fixture
async def slow_sink() -> AsyncIterator[HttpSink]:
    server = HttpSink(hang={"/slow"}, hang_seconds=1.5)
    await server.start()
    yield server
    await server.stop()


async def test_a_page_being_sent_when_the_worker_is_told_to_stop_is_delivered(
    stairway: Stairway, settings: Settings, slow_sink: HttpSink, files: Files
) -> None:
    own = settings.model_copy(update={"queue_name": stairway.env()["STAIRWAY_QUEUE_NAME"]})
    application = create_app(own)
    async with application.router.lifespan_context(application):
        key = await create_admin_key(own, email="root@example.com", name="Root")
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://stairway.test") as c:
            api = Api(c, {"Authorization": f"Bearer {key}"})
            ada = await api.user("Ada", webhook=slow_sink.url("/slow"))
            policy = await api.policy([(300, [ada["id"]])])
            service = await api.service(policy["id"])
            stairway.extra_env["STAIRWAY_DELIVERY_TIMEOUT_SECONDS"] = "5"  # outlasts the sink
            worker = stairway.start_worker()
            await line_in_log(worker, "worker started")
            incident = await api.trigger(service["id"])
            await slow_sink.wait_count("/slow", 1, timeout=30)  # the page is in flight
            log = await stopped_cleanly(worker, signal.SIGTERM)
            timeline = await api.timeline(incident["id"])
    assert [e["type"] for e in timeline if e["type"].startswith("notif")] == ["notified"]
    assert len(slow_sink.at("/slow")) == 1
    assert "cancelling" not in log


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
async def test_the_api_listens_where_told_and_stops_cleanly(
    sig: signal.Signals, stairway: Stairway, files: Files
) -> None:
    port = stairway.api_port
    # The flags win over the environment; the public URL follows the listen address.
    stairway.extra_env.update(STAIRWAY_PORT="1", STAIRWAY_HOST="0.0.0.0", STAIRWAY_PUBLIC_URL="")
    api = stairway._spawn("api", "--host", "127.0.0.1", "--port", str(port))

    async def up() -> bool:
        assert api.popen.poll() is None, api.log()
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
        except httpx.TransportError:
            return False

    await eventually(up, 60, "the API on the port given by --port")
    banner = f"Stairway API listening on 127.0.0.1:{port}; open http://127.0.0.1:{port}/docs"
    assert banner in api.log()
    assert "listens on every interface" not in api.log()
    await stopped_cleanly(api, sig)


async def test_a_worker_started_while_the_database_is_away_keeps_running(
    settings: Settings, tmp_path: Path
) -> None:
    # A primary failing over as the worker starts: the start-up checks are skipped, not fatal.
    away = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/stairway"
    processes = Stairway(away, settings.redis_url, tmp_path)
    try:
        worker = processes.start_worker()
        # line_in_log also asserts the process is still running when the line appears.
        await line_in_log(worker, "start-up checks skipped: the database did not answer")
        assert worker.popen.poll() is None, worker.log()
    finally:
        processes.stop_all()
