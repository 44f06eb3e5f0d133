"""PostgreSQL that cannot take a request (too many clients, every pooled connection busy) is a
503 with Retry-After, as for an outage: senders retry, and no alert is lost to a 500."""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from sqlalchemy import text

from app.config import Settings
from app.main import create_app
from tests.factories import Api
from tests.integrations.helpers import integration_key, paged_service


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """Another API process (its own pools) on the suite's database."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://stairway.test") as c:
            yield application, c


def _alert(key: str) -> dict[str, Any]:
    return {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": "db-trouble",
        "payload": {"summary": "disk full", "source": "db-1", "severity": "critical"},
    }


async def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()


@pytest.fixture
async def one_connection_role(app: Any, settings: Settings) -> AsyncIterator[str]:
    """The database URL of a role allowed one connection at a time (CONNECTION LIMIT 1)."""
    role = f"stairway_tight_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    async with app.state.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        database = (await conn.execute(text("SELECT current_database()"))).scalar_one()
        for sql in (
            f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 1",
            f'GRANT CONNECT ON DATABASE "{database}" TO {role}',
            f"GRANT USAGE ON SCHEMA public TO {role}",
            f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}",
            f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}",
        ):
            await conn.execute(text(sql))
    parts = urlsplit(settings.database_url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{role}@{host}" + (f":{parts.port}" if parts.port else "")
    try:
        yield parts._replace(netloc=netloc).geturl()
    finally:
        async with app.state.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f"DROP OWNED BY {role}"))
            await conn.execute(text(f"DROP ROLE {role}"))


async def test_too_many_clients_is_a_503_with_retry_after(
    api: Api, settings: Settings, one_connection_role: str
) -> None:
    service = await paged_service(api, "http://127.0.0.1:9/unused")
    key = await integration_key(api, service["id"])
    incident = await api.trigger(service["id"], title="disk full")
    tight = settings.model_copy(
        update={"database_url": one_connection_role, "secret_key": "tight-secret"}
    )
    # The role's one connection, held elsewhere: every new one is refused ("too many clients").
    held = await asyncpg.connect(one_connection_role.replace("+asyncpg", ""))
    try:
        async with serving(tight) as (_, client):
            await _assert_unavailable(await client.post("/v2/enqueue", json=_alert(key)))
            await _assert_unavailable(
                await client.post(f"/integrations/alertmanager/{key}", json={})
            )
            await _assert_unavailable(await client.get("/api/v1/users", headers=api.headers))
            ack = f"/api/v1/incidents/{incident['id']}/acknowledge"
            await _assert_unavailable(await client.post(ack, headers=api.headers))
    finally:
        await held.close()
    assert (await api.get(f"/incidents/{incident['id']}"))["status"] == "triggered"
    # With the connection free again, the same alert is accepted.
    async with serving(tight) as (_, client):
        assert (await client.post("/v2/enqueue", json=_alert(key))).status_code == 202


async def test_a_pool_with_every_connection_busy_is_a_503_with_retry_after(
    api: Api, settings: Settings
) -> None:
    service = await paged_service(api, "http://127.0.0.1:9/unused")
    key = await integration_key(api, service["id"])
    tiny = settings.model_copy(
        update={"db_pool_size": 1, "db_max_overflow": 0, "db_pool_timeout_seconds": 0.2}
    )
    async with serving(tiny) as (application, client):
        # Both pools' only connections, held busy by someone else.
        async with application.state.engine.connect(), application.state.pg.connection():
            await _assert_unavailable(await client.post("/v2/enqueue", json=_alert(key)))
            await _assert_unavailable(await client.get("/api/v1/users", headers=api.headers))
        assert (await client.post("/v2/enqueue", json=_alert(key))).status_code == 202
        assert (await client.get("/api/v1/users", headers=api.headers)).status_code == 200


async def test_an_acknowledgement_without_a_free_connection_is_a_503_and_changes_nothing(
    api: Api, settings: Settings
) -> None:
    service = await paged_service(api, "http://127.0.0.1:9/unused")
    incident = await api.trigger(service["id"], title="disk full")
    ack = f"/api/v1/incidents/{incident['id']}/acknowledge"
    tiny = settings.model_copy(update={"db_pool_size": 1, "db_pool_timeout_seconds": 0.2})
    async with serving(tiny) as (application, client):
        # The plain pool's only connection, which acknowledging runs on, held by someone else.
        async with application.state.pg.connection():
            await _assert_unavailable(await client.post(ack, headers=api.headers))
        assert (await api.get(f"/incidents/{incident['id']}"))["status"] == "triggered"
        assert "acknowledged" not in [e["type"] for e in await api.timeline(incident["id"])]
        answer = await client.post(ack, headers=api.headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["incident"]["status"] == "acknowledged"
