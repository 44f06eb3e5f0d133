"""Opsgenie request statuses are kept for STAIRWAY_INBOUND_RECEIPT_RETENTION_DAYS, then the
worker's sweeper forgets them."""

import asyncio
from datetime import timedelta
from typing import Any

import opsgenie_sdk  # type: ignore[import-untyped]
import pytest
from sqlalchemy import select, update
from sqlmodel import col

from app.config import Settings
from app.models import InboundReceipt, utcnow
from tests.factories import Api
from tests.faults.harness import eventually
from tests.integrations.conftest import LiveServer
from tests.integrations.helpers import integration_key, paged_service
from tests.integrations.test_opsgenie import _alert_api

pytestmark = pytest.mark.usefixtures("worker")


async def test_the_sweeper_forgets_request_statuses_older_than_the_retention(
    api: Api, live: LiveServer, app: Any, settings: Settings
) -> None:
    assert settings.inbound_receipt_retention_days == 7
    service = await paged_service(api, "http://127.0.0.1:9/unused", name="payments")
    alerts = _alert_api(live, await integration_key(api, service["id"]))

    def create(alias: str) -> str:
        payload = opsgenie_sdk.CreateAlertPayload(message=alias, alias=alias)
        return str(alerts.create_alert(create_alert_payload=payload).request_id)

    old, recent, fresh = [await asyncio.to_thread(create, a) for a in ("old", "recent", "fresh")]
    # Processed 8 days ago (past the retention) and 6 days ago (within it), by the app's clock.
    async with app.state.sessions() as session, session.begin():
        for request_id, age in ((old, timedelta(days=8)), (recent, timedelta(days=6))):
            await session.execute(
                update(InboundReceipt)
                .where(col(InboundReceipt.request_id) == request_id)
                .values(processed_at=utcnow() - age)
            )

    async def kept() -> set[str]:
        async with app.state.sessions() as session:
            rows = await session.scalars(select(col(InboundReceipt.request_id)))
            return {str(r) for r in rows}

    async def old_is_gone() -> bool:
        return old not in await kept()

    await eventually(old_is_gone, what="the sweeper to prune the old receipt")
    assert await kept() == {recent, fresh}

    # The sender asking about the forgotten request hears Opsgenie's "not found".
    with pytest.raises(opsgenie_sdk.ApiException) as raised:
        await asyncio.to_thread(alerts.get_request_status, request_id=old)
    assert raised.value.status == 404
    status = await asyncio.to_thread(alerts.get_request_status, request_id=recent)
    assert status.data.is_success
