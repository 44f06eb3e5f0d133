"""Teams through the API: members, ownership, moving objects, deleting, filtering, audit."""

from typing import Any

import pytest

from tests.factories import Api
from tests.teams.conftest import as_user, join, owned_policy, team


async def _manager(api: Api, name: str, *teams: dict[str, Any]) -> Api:
    """An observer by global role who manages `teams`: what they may change, the teams grant."""
    person = await api.user(name, role="observer")
    for one in teams:
        await join(api, one["id"], person, "manager")
    return as_user(api, await api.key_for(person))


async def test_members_have_a_team_role_and_every_change_is_audited(api: Api) -> None:
    payments = await team(api, "payments", description="card payments")
    ada = await api.user("Ada", role="observer")
    mia = await api.user("Mia", role="observer")
    added = await join(api, payments["id"], ada, "responder")
    assert (added["user_name"], added["role"], added["global_role"]) == (
        "Ada",
        "responder",
        "observer",
    )
    await join(api, payments["id"], mia, "manager")
    duplicate = await api.post(
        f"/teams/{payments['id']}/members", {"user_id": ada["id"], "role": "manager"}, 409
    )
    assert duplicate["error"]["details"] == {"field": "user_id"}
    bad_role = await api.post(
        f"/teams/{payments['id']}/members", {"user_id": ada["id"], "role": "owner"}, 422
    )
    assert bad_role["error"]["details"][0]["field"] == "role"

    # The team's manager changes its membership; another observer may not.
    mia_api = as_user(api, await api.key_for(mia))
    promoted = await mia_api.patch(
        f"/teams/{payments['id']}/members/{ada['id']}", {"role": "manager"}
    )
    assert promoted["role"] == "manager"
    outsider = as_user(api, await api.key_for(await api.user("Olive", role="observer")))
    await outsider.patch(f"/teams/{payments['id']}/members/{ada['id']}", {"role": "observer"}, 403)
    removed = await mia_api.client.delete(
        f"/api/v1/teams/{payments['id']}/members/{ada['id']}", headers=mia_api.headers
    )
    assert removed.status_code == 204
    members = await api.get(f"/teams/{payments['id']}/members")
    assert [(m["user_name"], m["role"]) for m in members["items"]] == [("Mia", "manager")]
    mine = await api.get("/teams", params={"user_id": mia["id"]})
    assert [t["name"] for t in mine["items"]] == ["payments"]
    assert (await api.get("/teams", params={"user_id": ada["id"]}))["items"] == []

    audit = (await api.get("/audit", params={"resource_type": "team_member"}))["items"]
    actions = [(e["action"], e["actor"]["name"]) for e in reversed(audit)]
    assert actions == [
        ("create", "Root"),
        ("create", "Root"),
        ("update", "Mia"),
        ("delete", "Mia"),
    ]
    assert audit[1]["changes"]["role"] == {"old": "responder", "new": "manager"}
    [created] = (await api.get("/audit", params={"resource_id": payments["id"]}))["items"]
    assert (created["resource_type"], created["changes"]["name"]) == ("team", {"new": "payments"})


async def test_a_manager_creates_and_edits_their_teams_objects_and_nothing_of_others(
    api: Api,
) -> None:
    payments = await team(api, "payments")
    storage = await team(api, "storage")
    someone = await api.user("Sam")
    mia = await _manager(api, "Mia", payments)
    level = {"escalate_after_seconds": 60, "targets": [{"type": "user", "id": someone["id"]}]}
    policy = await mia.post(
        "/escalation-policies", {"name": "payments", "team_id": payments["id"], "levels": [level]}
    )
    assert policy["team_id"] == payments["id"]
    service = await mia.service(policy["id"], team_id=payments["id"])
    schedule = await mia.post(
        "/schedules", {"name": "payments", "time_zone": "UTC", "team_id": payments["id"]}
    )
    await mia.post(f"/services/{service['id']}/integration-keys", {"name": "prometheus"})
    await mia.patch(f"/schedules/{schedule['id']}", {"description": "primary"})

    # Another team's objects, global objects, and creating for another team: refused.
    theirs = await api.post(
        "/escalation-policies", {"name": "storage", "team_id": storage["id"], "levels": [level]}
    )
    await mia.patch(f"/escalation-policies/{theirs['id']}", {"repeat": 2}, 403)
    global_policy = await api.policy([(60, [someone["id"]])], name="global")
    await mia.patch(f"/escalation-policies/{global_policy['id']}", {"repeat": 2}, 403)
    refused = await mia.post(
        "/schedules", {"name": "s", "time_zone": "UTC", "team_id": storage["id"]}, 403
    )
    assert "manager role of team" in refused["error"]["message"]
    await mia.post("/schedules", {"name": "global", "time_zone": "UTC"}, 403)

    # A team that does not exist is bad input, not a server error.
    missing = await api.post(
        "/schedules",
        {"name": "x", "time_zone": "UTC", "team_id": "00000000-0000-4000-8000-000000000000"},
        422,
    )
    assert missing["error"]["details"][0]["field"] == "team_id"


async def test_moving_a_service_between_teams_needs_both_teams_and_changes_who_edits_it(
    api: Api,
) -> None:
    payments = await team(api, "payments")
    storage = await team(api, "storage")
    policy = await api.policy([(60, [(await api.user("Sam"))["id"]])])
    service = await api.service(policy["id"], name="ledger", team_id=payments["id"])
    mia = await _manager(api, "Mia", payments)
    both = await _manager(api, "Bo", payments, storage)
    stan = await _manager(api, "Stan", storage)

    await mia.patch(f"/services/{service['id']}", {"team_id": storage["id"]}, 403)
    await mia.patch(f"/services/{service['id']}", {"team_id": None}, 403)
    await stan.patch(f"/services/{service['id']}", {"team_id": storage["id"]}, 403)
    moved = await both.patch(f"/services/{service['id']}", {"team_id": storage["id"]})
    assert moved["team_id"] == storage["id"]

    def names(page: dict[str, Any]) -> list[str]:
        return [item["name"] for item in page["items"]]

    assert names(await api.get("/services", params={"team_id": storage["id"]})) == ["ledger"]
    assert names(await api.get("/services", params={"team_id": payments["id"]})) == []
    await mia.patch(f"/services/{service['id']}", {"description": "mine?"}, 403)
    edited = await stan.patch(f"/services/{service['id']}", {"description": "storage's now"})
    assert edited["description"] == "storage's now"
    made_global = await api.patch(f"/services/{service['id']}", {"team_id": None})
    assert made_global["team_id"] is None
    await stan.patch(f"/services/{service['id']}", {"description": "still mine?"}, 403)

    audit = (await api.get("/audit", params={"resource_id": service["id"]}))["items"]
    moves = [e["changes"]["team_id"] for e in reversed(audit) if "team_id" in e["changes"]]
    assert moves[1:] == [
        {"old": payments["id"], "new": storage["id"]},
        {"old": storage["id"], "new": None},
    ]


async def test_deleting_a_team_that_owns_objects_is_refused_with_what_it_owns(api: Api) -> None:
    payments = await team(api, "payments")
    sam = await api.user("Sam")
    policy = await owned_policy(
        api, "payments", payments["id"], {"type": "team", "id": payments["id"]}
    )
    service = await api.service(policy["id"], name="ledger", team_id=payments["id"])
    schedule = await api.post(
        "/schedules", {"name": "payments primary", "time_zone": "UTC", "team_id": payments["id"]}
    )
    await join(api, payments["id"], sam, "manager")

    response = await api.client.delete(f"/api/v1/teams/{payments['id']}", headers=api.headers)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["details"] == {
        "services": [{"id": service["id"], "name": "ledger"}],
        "escalation_policies": [{"id": policy["id"], "name": "payments"}],
        "schedules": [{"id": schedule["id"], "name": "payments primary"}],
        "escalating_policies": [{"id": policy["id"], "name": "payments"}],
    }
    assert "ledger" in error["message"]
    assert (await api.get(f"/teams/{payments['id']}"))["name"] == "payments"

    # The team's on-call schedule cannot go while the team points at it.
    await api.patch(f"/teams/{payments['id']}", {"oncall_schedule_id": schedule["id"]})
    kept = await api.client.delete(f"/api/v1/schedules/{schedule['id']}", headers=api.headers)
    assert kept.status_code == 409
    assert "on-call schedule of team(s) payments" in kept.json()["error"]["message"]
    await api.patch(f"/teams/{payments['id']}", {"oncall_schedule_id": None})

    for path in (f"/services/{service['id']}", f"/escalation-policies/{policy['id']}"):
        assert (await api.client.delete(f"/api/v1{path}", headers=api.headers)).status_code == 204
    await api.patch(f"/schedules/{schedule['id']}", {"team_id": None})
    deleted = await api.client.delete(f"/api/v1/teams/{payments['id']}", headers=api.headers)
    assert deleted.status_code == 204
    await api.get(f"/teams/{payments['id']}", 404)
    # Its memberships went with it.
    assert (await api.get("/teams", params={"user_id": sam["id"]}))["items"] == []


async def test_every_list_filters_by_team(api: Api) -> None:
    payments = await team(api, "payments")
    sam = await api.user("Sam")
    ours = await owned_policy(api, "ours", payments["id"], {"type": "user", "id": sam["id"]})
    await api.policy([(60, [sam["id"]])], name="global")
    await api.post("/schedules", {"name": "ours", "time_zone": "UTC", "team_id": payments["id"]})
    await api.post("/schedules", {"name": "global", "time_zone": "UTC"})
    our_service = await api.service(ours["id"], name="ours", team_id=payments["id"])
    global_service = await api.service(ours["id"], name="global")
    our_incident = await api.trigger(our_service["id"])
    await api.trigger(global_service["id"])

    by_team = {"team_id": payments["id"]}
    for path in ("/escalation-policies", "/schedules", "/services"):
        listed = (await api.get(path, params=by_team))["items"]
        assert [(i["name"], i["team_id"]) for i in listed] == [("ours", payments["id"])]
        assert len((await api.get(path))["items"]) == 2
    await join(api, payments["id"], sam, "responder")
    members = (await api.get("/users", params=by_team))["items"]
    assert [u["name"] for u in members] == ["Sam"]
    for service in (our_service, global_service):
        body = {"service_id": service["id"], "name": service["name"], "interval_seconds": 3600}
        await api.post("/heartbeats", body)
    beats = (await api.get("/heartbeats", params=by_team))["items"]
    assert [b["service_id"] for b in beats] == [our_service["id"]]
    incidents = (await api.get("/incidents", params=by_team))["items"]
    assert [i["id"] for i in incidents] == [our_incident["id"]]
    both = {"team_id": payments["id"], "service_id": global_service["id"]}
    assert (await api.get("/incidents", params=both))["items"] == []


@pytest.mark.parametrize("others_allowed", [True, False])
async def test_team_responders_act_on_their_teams_incidents_and_others_by_the_setting(
    api: Api, app: Any, others_allowed: bool
) -> None:
    payments = await team(api, "payments")
    storage = await team(api, "storage")
    sam = await api.user("Sam")
    policy = await api.policy([(600, [sam["id"]])])
    service = await api.service(policy["id"], team_id=payments["id"])
    # Observers by global role: the team role is what lets them act on the team's incidents.
    theo = await api.user("Theo", role="observer")
    await join(api, payments["id"], theo, "responder")
    olga = await api.user("Olga", role="observer")
    await join(api, payments["id"], olga, "observer")
    # A responder by global role, of another team.
    rex = await api.user("Rex", role="responder")
    await join(api, storage["id"], rex, "responder")

    settings = app.state.settings
    app.state.settings = settings.model_copy(
        update={"team_responders_act_on_other_teams": others_allowed}
    )
    try:
        first = await api.trigger(service["id"], dedup_key="one")
        second = await api.trigger(service["id"], dedup_key="two")
        theo_api = as_user(api, await api.key_for(theo))
        acked = await theo_api.post(f"/incidents/{first['id']}/acknowledge", {}, 200)
        assert acked["incident"]["acknowledged_by"]["name"] == "Theo"
        await theo_api.post(f"/incidents/{first['id']}/notes", {"text": "on it"}, 201)
        olga_api = as_user(api, await api.key_for(olga))
        await olga_api.post(f"/incidents/{second['id']}/acknowledge", {}, 403)
        rex_api = as_user(api, await api.key_for(rex))
        expected = 200 if others_allowed else 403
        answer = await rex_api.post(f"/incidents/{second['id']}/resolve", {}, expected)
        if not others_allowed:
            assert "own teams' incidents" in answer["error"]["message"]
    finally:
        app.state.settings = settings
