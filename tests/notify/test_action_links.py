"""Action links: GET only confirms, POST acts once as the paged user; bad links change nothing."""

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col

from app.models import User, utcnow
from app.notify.links import action_links
from app.security import make_token
from app.users import service as users
from tests.factories import Api
from tests.notify.helpers import status, types, until_waiting_on_a_lock
from tests.support import HttpSink

pytestmark = pytest.mark.usefixtures("worker")


async def _paged(api: Api, sink: HttpSink, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    ada = await api.user("Ada", webhook=sink.url(path))
    policy = await api.policy([(600, [ada["id"]])], name=path.strip("/"))
    service = await api.service(policy["id"], name=path.strip("/"))
    incident = await api.trigger(service["id"], title="checkout errors")
    [page] = await sink.wait_count(path, 1)
    return incident, {"user": ada, **page.json()["actions"]}


async def test_get_only_confirms_and_post_acknowledges_once_as_the_paged_user(
    api: Api, sink: HttpSink, client: httpx.AsyncClient
) -> None:
    incident, links = await _paged(api, sink, "/links-ack")
    for _ in range(2):  # a link scanner fetching the page twice
        shown = await client.get(links["acknowledge"])
        assert shown.status_code == 200
        assert f"Acknowledge incident #{incident['number']}?" in shown.text
        assert "<form method='post'>" in shown.text
        assert shown.headers["cache-control"] == "no-store"
        assert shown.headers["referrer-policy"] == "no-referrer"
    assert await status(api, incident) == "triggered"

    acted = await client.post(links["acknowledge"])
    assert acted.status_code == 200
    assert f"Incident #{incident['number']} acknowledged" in acted.text
    current = await api.get(f"/incidents/{incident['id']}")
    assert current["status"] == "acknowledged"
    assert current["acknowledged_by"] == {
        "type": "user",
        "id": links["user"]["id"],
        "name": "Ada",
        "via": "action_link",
    }

    again = await client.post(links["acknowledge"])
    assert again.status_code == 410
    assert "Link already used" in again.text
    assert (await client.get(links["acknowledge"])).status_code == 410
    assert types(await api.timeline(incident["id"])).count("acknowledged") == 1

    resolved = await client.post(links["resolve"])
    assert resolved.status_code == 200
    assert await status(api, incident) == "resolved"


async def test_a_tampered_link_changes_nothing(
    api: Api, sink: HttpSink, client: httpx.AsyncClient
) -> None:
    incident, links = await _paged(api, sink, "/links-tampered")
    url = links["acknowledge"]
    payload, _, mac = url.rpartition("/")[2].partition(".")
    forged_claims = url.rpartition("/")[0] + "/" + payload[:-2] + "AA." + mac
    flipped_mac = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    base = url.rpartition("/")[0]
    for bad in (forged_claims, flipped_mac, base + "/garbage", base + "/a.%C3%A9"):
        for method in ("GET", "POST"):
            response = await client.request(method, bad)
            assert response.status_code == 400
            assert "Link invalid" in response.text
    assert await status(api, incident) == "triggered"
    # The genuine link still works: failures did not burn it.
    assert (await client.post(url)).status_code == 200


async def test_an_expired_link_gets_its_own_page_and_changes_nothing(
    api: Api, sink: HttpSink, client: httpx.AsyncClient, app: Any
) -> None:
    incident, links = await _paged(api, sink, "/links-expired")
    expired = action_links(
        secret=app.state.link_secret,
        public_url="http://stairway.test",
        incident_id=uuid.UUID(incident["id"]),
        user_id=uuid.UUID(links["user"]["id"]),
        now=time.time() - 7200,
        ttl_seconds=3600,
    )
    for method in ("GET", "POST"):
        response = await client.request(method, expired["acknowledge"])
        assert response.status_code == 410
        assert "Link expired" in response.text
    assert await status(api, incident) == "triggered"


async def test_a_link_for_a_deleted_user_or_unknown_action_is_refused(
    api: Api, sink: HttpSink, client: httpx.AsyncClient, app: Any
) -> None:
    incident, _ = await _paged(api, sink, "/links-odd")
    claims = {"i": incident["id"], "u": None, "a": "delete", "exp": int(time.time()) + 60, "n": "x"}
    odd = f"/r/{make_token(app.state.link_secret, claims)}"
    assert (await client.post(odd)).status_code == 400
    ghost = {**claims, "a": "acknowledge", "u": str(uuid.uuid4())}
    response = await client.post(f"/r/{make_token(app.state.link_secret, ghost)}")
    assert response.status_code == 403
    assert "The paged user no longer exists" in response.text
    # A link naming nobody (as pages to webhook targets once carried) acts for nobody.
    anonymous = {**claims, "a": "acknowledge"}
    for method in ("GET", "POST"):
        response = await client.request(
            method, f"/r/{make_token(app.state.link_secret, anonymous)}"
        )
        assert response.status_code == 403
        assert "does not name a person who may respond" in response.text
    assert await status(api, incident) == "triggered"


async def test_two_simultaneous_posts_of_one_link_act_once(
    api: Api, sink: HttpSink, client: httpx.AsyncClient
) -> None:
    incident, links = await _paged(api, sink, "/links-race")
    first, second = await asyncio.gather(
        client.post(links["resolve"]), client.post(links["resolve"])
    )
    assert sorted([first.status_code, second.status_code]) == [200, 410]
    assert types(await api.timeline(incident["id"])).count("resolved") == 1


async def test_a_client_asking_for_json_gets_json(
    api: Api, sink: HttpSink, client: httpx.AsyncClient
) -> None:
    incident, links = await _paged(api, sink, "/links-json")
    as_json = {"Accept": "application/json"}
    acted = await client.post(links["acknowledge"], headers=as_json)
    assert acted.status_code == 200
    assert acted.headers["content-type"] == "application/json"
    assert acted.json() == {
        "changed": True,
        "message": f"Incident #{incident['number']} acknowledged: checkout errors",
    }
    again = await client.post(links["acknowledge"], headers=as_json)
    assert again.status_code == 410
    assert again.json()["error"]["code"] == "link_used"
    invalid = await client.post(links["resolve"] + "x", headers=as_json)
    assert invalid.status_code == 400
    assert invalid.json()["error"] == {
        "code": "link_invalid",
        "message": "Link invalid",
        "details": None,
    }
    resolved = await client.post(links["resolve"], headers=as_json)
    assert resolved.json()["changed"] is True
    assert await status(api, incident) == "resolved"


async def test_a_link_of_a_user_demoted_to_observer_is_refused_until_they_may_respond_again(
    api: Api, sink: HttpSink, client: httpx.AsyncClient
) -> None:
    incident, links = await _paged(api, sink, "/links-demoted")
    ada = links["user"]
    await api.client.patch(
        f"/api/v1/users/{ada['id']}", json={"role": "observer"}, headers=api.headers
    )
    for method in ("GET", "POST"):
        response = await client.request(method, links["acknowledge"])
        assert response.status_code == 403
        assert "You cannot respond to this incident" in response.text
        assert "Ada is an observer in Stairway" in response.text
        assert "Nothing was changed." in response.text
    assert await status(api, incident) == "triggered"
    as_json = await client.post(links["acknowledge"], headers={"Accept": "application/json"})
    assert as_json.status_code == 403
    assert as_json.json()["error"]["code"] == "forbidden"
    # Refusing did not use the link up.
    await api.client.patch(
        f"/api/v1/users/{ada['id']}", json={"role": "responder"}, headers=api.headers
    )
    assert (await client.post(links["acknowledge"])).status_code == 200
    assert await status(api, incident) == "acknowledged"


@pytest.mark.parametrize("change", ["demote", "delete"])
async def test_a_demotion_or_deletion_committing_while_a_link_acts_is_seen(
    api: Api, sink: HttpSink, client: httpx.AsyncClient, app: Any, change: str
) -> None:
    incident, links = await _paged(api, sink, f"/links-race-{change}")
    ada_id = uuid.UUID(links["user"]["id"])
    if change == "delete":  # a user a policy names cannot be deleted: page someone else there
        bob = await api.user(f"Bob {change}")
        policy_id = (await api.get(f"/incidents/{incident['id']}"))["escalation"]["policy_id"]
        levels = [{"escalate_after_seconds": 600, "targets": [{"type": "user", "id": bob["id"]}]}]
        response = await api.client.patch(
            f"/api/v1/escalation-policies/{policy_id}", json={"levels": levels}, headers=api.headers
        )
        assert response.status_code == 200, response.text
    async with app.state.sessions() as admin, admin.begin():
        # Uncommitted while the link is posted: the action must wait for it, then see it.
        if change == "demote":
            await admin.execute(update(User).where(col(User.id) == ada_id).values(role="observer"))
        else:
            await users.delete_user(session=admin, user_id=ada_id, now=utcnow())
        acting = asyncio.ensure_future(client.post(links["acknowledge"]))
        await until_waiting_on_a_lock(app)
    response = await acting
    assert response.status_code == 403
    assert await status(api, incident) == "triggered"
