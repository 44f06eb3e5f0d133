"""Only a live responder is paged: deleting a user cancels their pages, a policy keeps its users."""

import asyncio
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from app.models import Notification
from app.policies import service as policies
from app.policies.schemas import PolicyCreate
from tests.factories import Api
from tests.notify.helpers import until_waiting_on_a_lock
from tests.support import HttpSink, JobTracker

pytestmark = pytest.mark.usefixtures("worker")


async def _pages_of(app: Any, incident_id: str) -> list[Notification]:
    async with app.state.sessions() as session:
        query = (
            select(Notification)
            .where(col(Notification.incident_id) == incident_id)
            .order_by(col(Notification.due_at))
        )
        return list((await session.scalars(query)).all())


async def test_deleting_a_paged_user_cancels_their_pending_rules_on_the_timeline(
    api: Api, sink: HttpSink, app: Any
) -> None:
    bob = await api.user("Bob", webhook=sink.url("/del-bob"))
    policy = await api.policy([(600, [bob["id"]])], name="del")
    service = await api.service(policy["id"], name="del")
    incident = await api.trigger(service["id"])
    await sink.wait_count("/del-bob", 1)
    # Ada is paged straight (no policy names her): a webhook now, another in ten minutes.
    ada = await api.user("Ada", webhook=sink.url("/del-ada"), rules=[0, 600])
    await api.post(f"/incidents/{incident['id']}/reassign", {"user_id": ada["id"]}, status=200)
    await sink.wait_count("/del-ada", 1)

    response = await api.client.delete(f"/api/v1/users/{ada['id']}", headers=api.headers)
    assert response.status_code == 204
    ada_pages = [p for p in await _pages_of(app, incident["id"]) if p.channel == "webhook"]
    assert sorted(p.status for p in ada_pages if p.user_id is None) == ["cancelled", "sent"]
    [entry] = [
        e
        for e in await api.timeline(incident["id"])
        if e["type"] == "notification_cancelled" and e["details"]["reason"] == "user deleted"
    ]
    assert (entry["details"]["user_id"], entry["details"]["channel"]) == (ada["id"], "webhook")
    assert entry["details"]["level"] == 1


async def test_a_user_a_policy_names_is_not_deleted_and_the_policies_are_listed(
    api: Api,
) -> None:
    ada = await api.user("Ada")
    bob = await api.user("Bob")
    first = await api.policy([(600, [bob["id"]]), (600, [ada["id"]])], name="first")
    second = await api.policy([(600, [ada["id"], bob["id"]])], name="second")
    refused = await api.client.delete(f"/api/v1/users/{ada['id']}", headers=api.headers)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["message"] == (
        "user ada@example.com is a target of escalation policies first, second; "
        "remove them from those policies first"
    )
    assert error["details"] == [
        {"id": first["id"], "name": "first"},
        {"id": second["id"], "name": "second"},
    ]
    assert (await api.get(f"/users/{ada['id']}"))["name"] == "Ada"

    for policy in (first, second):
        levels = [{"escalate_after_seconds": 600, "targets": [{"type": "user", "id": bob["id"]}]}]
        response = await api.client.patch(
            f"/api/v1/escalation-policies/{policy['id']}",
            json={"levels": levels},
            headers=api.headers,
        )
        assert response.status_code == 200
    response = await api.client.delete(f"/api/v1/users/{ada['id']}", headers=api.headers)
    assert response.status_code == 204


async def test_a_page_to_a_policy_webhook_target_carries_no_action_links(
    api: Api, sink: HttpSink, jobs: JobTracker
) -> None:
    policy = await api.post(
        "/escalation-policies",
        {
            "name": "hook",
            "levels": [
                {
                    "escalate_after_seconds": 600,
                    "targets": [{"type": "webhook", "url": sink.url("/hook-target")}],
                }
            ],
        },
    )
    service = await api.service(policy["id"], name="hook")
    incident = await api.trigger(service["id"])
    [page] = await sink.wait_count("/hook-target", 1)
    body = page.json()
    assert body["incident"]["id"] == incident["id"]
    # Nobody is paged, so nobody can act from it: no anonymous acknowledge or resolve link.
    assert (body["user"], body["actions"]) == (None, {})


async def test_a_policy_saved_while_its_user_is_deleted_keeps_the_user(api: Api, app: Any) -> None:
    ada = await api.user("Ada")
    data = PolicyCreate.model_validate(
        {
            "name": "racing",
            "levels": [
                {"escalate_after_seconds": 60, "targets": [{"type": "user", "id": ada["id"]}]}
            ],
        }
    )
    async with app.state.sessions() as admin, admin.begin():
        # Saved but not committed while the user is deleted: the delete waits, then sees it.
        await policies.create_policy(session=admin, data=data, allow_private=True)
        deleting = asyncio.ensure_future(
            api.client.delete(f"/api/v1/users/{ada['id']}", headers=api.headers)
        )
        await until_waiting_on_a_lock(app)
    response = await deleting
    assert response.status_code == 409
    assert "racing" in response.json()["error"]["message"]
    assert (await api.get(f"/users/{ada['id']}"))["name"] == "Ada"
