"""API keys and roles: who may read, respond and configure."""

import httpx

from tests.factories import Api


async def test_requests_without_a_valid_key_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/users")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    response = await client.get("/api/v1/users", headers={"Authorization": "Bearer sw_nope"})
    assert response.status_code == 401
    response = await client.get("/api/v1/users", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401


async def test_roles_gate_reading_responding_and_configuring(api: Api) -> None:
    observer = await api.key_for(await api.user("Olive", role="observer"))
    responder = await api.key_for(await api.user("Rita", role="responder"))
    ada = await api.user("Ada")
    pol = await api.policy([(60, [ada["id"]])], name="roles")
    svc = await api.service(pol["id"])
    incident = await api.trigger(svc["id"])
    c = api.client

    assert (await c.get("/api/v1/users", headers=observer)).status_code == 200
    assert (await c.get(f"/api/v1/incidents/{incident['id']}", headers=observer)).status_code == 200
    new_user = {"name": "X", "email": "x@example.com"}
    assert (await c.post("/api/v1/users", json=new_user, headers=observer)).status_code == 403
    assert (await c.post("/api/v1/users", json=new_user, headers=responder)).status_code == 403
    ack = f"/api/v1/incidents/{incident['id']}/acknowledge"
    refused = await c.post(ack, headers=observer)
    assert refused.status_code == 403
    assert "responder" in refused.json()["error"]["message"]
    assert (await c.post(ack, headers=responder)).status_code == 200
    body = {"service_id": svc["id"], "title": "by a person"}
    assert (await c.post("/api/v1/incidents", json=body, headers=observer)).status_code == 403
    assert (await c.post("/api/v1/incidents", json=body, headers=responder)).status_code == 201


async def test_a_revoked_key_stops_working(api: Api) -> None:
    user = await api.user("Rita")
    created = await api.post(f"/users/{user['id']}/api-keys", {"name": "laptop"})
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert created["key"].startswith(created["prefix"])
    assert (await api.client.get("/api/v1/incidents", headers=headers)).status_code == 200
    listed = await api.get(f"/users/{user['id']}/api-keys")
    assert "key" not in listed["items"][0]
    await api.client.delete(
        f"/api/v1/users/{user['id']}/api-keys/{created['id']}", headers=api.headers
    )
    assert (await api.client.get("/api/v1/incidents", headers=headers)).status_code == 401


async def test_an_integration_key_only_reaches_its_own_service(api: Api) -> None:
    ada = await api.user("Ada")
    pol = await api.policy([(60, [ada["id"]])], name="integ")
    mine = await api.service(pol["id"], name="mine")
    other = await api.service(pol["id"], name="other")
    key = await api.post(f"/services/{mine['id']}/integration-keys", {"name": "alertmanager"})
    assert len(key["key"]) == 32
    headers = {"Authorization": f"Bearer {key['key']}"}
    c = api.client

    created = await c.post("/api/v1/incidents", json={"title": "cpu"}, headers=headers)
    assert created.status_code == 201
    assert created.json()["service_id"] == mine["id"]
    elsewhere = await c.post(
        "/api/v1/incidents", headers=headers, json={"service_id": other["id"], "title": "cpu"}
    )
    assert elsewhere.status_code == 403
    foreign = await api.trigger(other["id"])
    assert (await c.get(f"/api/v1/incidents/{foreign['id']}", headers=headers)).status_code == 403
    listed = await c.get("/api/v1/incidents", headers=headers)
    assert [i["service_id"] for i in listed.json()["items"]] == [mine["id"]]
    assert (
        await c.get("/api/v1/incidents", headers=headers, params={"service_id": other["id"]})
    ).status_code == 403
    assert (await c.get("/api/v1/users", headers=headers)).status_code == 403
    ack = await c.post(f"/api/v1/incidents/{created.json()['id']}/acknowledge", headers=headers)
    assert ack.status_code == 403
