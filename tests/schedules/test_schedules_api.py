"""Schedules over the REST API: CRUD, validation, overrides, who is on call, permissions."""

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.factories import Api

MONDAY = "2026-01-05T09:00:00+00:00"


def layer(participants: list[str], **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"participants": participants, "rotation": "weekly", "start": MONDAY}
    if "turn_seconds" in fields:
        del body["rotation"]
    body.update(fields)
    return body


async def schedule(api: Api, layers: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    body = {"name": "primary", "time_zone": "UTC", "layers": layers, **fields}
    result: dict[str, Any] = await api.post("/schedules", body)
    return result


async def invalid(api: Api, path: str, body: Any, method: str = "POST") -> list[dict[str, str]]:
    response = await api.client.request(method, f"/api/v1{path}", json=body, headers=api.headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid"
    details: list[dict[str, str]] = error["details"]
    return details


async def test_create_read_update_and_delete_a_schedule(api: Api) -> None:
    ana = await api.user("Ana")
    ben = await api.user("Ben")
    created = await schedule(
        api,
        [
            layer(
                [ana["id"], ben["id"]],
                rotation="daily",
                restrictions=[{"kind": "daily", "start": "09:00", "duration_seconds": 28800}],
            )
        ],
        description="payments primary",
    )
    assert created["name"] == "primary"
    assert created["description"] == "payments primary"
    [read_layer] = created["layers"]
    assert read_layer["participants"] == [ana["id"], ben["id"]]
    assert read_layer["turn_seconds"] == 86400
    assert read_layer["restrictions"] == [
        {"kind": "daily", "start": "09:00:00", "duration_seconds": 28800, "start_weekday": None}
    ]
    assert await api.get(f"/schedules/{created['id']}") == created
    assert [s["id"] for s in (await api.get("/schedules"))["items"]] == [created["id"]]

    duplicate = await api.client.post(
        "/api/v1/schedules", headers=api.headers, json={"name": "primary", "time_zone": "UTC"}
    )
    assert duplicate.status_code == 409

    response = await api.client.patch(
        f"/api/v1/schedules/{created['id']}",
        headers=api.headers,
        json={
            "name": "secondary",
            "time_zone": "Europe/London",
            "layers": [layer([ben["id"]], turn_seconds=3600), layer([ana["id"]])],
        },
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["name"] == "secondary"
    assert updated["time_zone"] == "Europe/London"
    assert [(lyr["participants"], lyr["turn_seconds"]) for lyr in updated["layers"]] == [
        ([ben["id"]], 3600),
        ([ana["id"]], 604800),
    ]

    response = await api.client.delete(f"/api/v1/schedules/{created['id']}", headers=api.headers)
    assert response.status_code == 204
    await api.get(f"/schedules/{created['id']}", status=404)


async def test_invalid_schedules_are_rejected_naming_the_field(api: Api) -> None:
    ana = await api.user("Ana")
    base = {"name": "bad", "time_zone": "UTC"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"layers": [layer([])]}, "layers[0].participants"),
        ({"layers": [layer([ana["id"]], turn_seconds=0)]}, "layers[0].turn_seconds"),
        ({"layers": [layer([ana["id"]], start="2026-01-05T09:00:00")]}, "layers[0].start"),
        (
            {
                "layers": [
                    layer(
                        [ana["id"]],
                        restrictions=[
                            {"kind": "daily", "start": "22:00", "duration_seconds": 90000}
                        ],
                    )
                ]
            },
            "layers[0].restrictions[0].duration_seconds",
        ),
        (
            {
                "layers": [
                    layer(
                        [ana["id"]],
                        restrictions=[
                            {"kind": "weekly", "start": "09:00", "duration_seconds": 3600}
                        ],
                    )
                ]
            },
            "layers[0].restrictions[0].start_weekday",
        ),
        (
            {"layers": [layer([ana["id"], "7c9e6679-7425-40de-944b-e07fc1f90ae7"])]},
            "layers[0].participants[1]",
        ),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"layers": [layer([ana["id"]], turn_seconds=3600, rotation="daily")]}, "layers.0"),
        ({"colour": "red"}, "colour"),
    ]
    for fields, field in cases:
        details = await invalid(api, "/schedules", {**base, **fields})
        assert field in [d["field"] for d in details], (field, details)
    assert (await api.get("/schedules"))["items"] == []


async def test_a_schedule_that_a_policy_targets_cannot_be_deleted(api: Api) -> None:
    ana = await api.user("Ana")
    created = await schedule(api, [layer([ana["id"]])])
    await api.post(
        "/escalation-policies",
        {
            "name": "p",
            "levels": [
                {
                    "escalate_after_seconds": 60,
                    "targets": [{"type": "schedule", "id": created["id"]}],
                }
            ],
        },
    )
    response = await api.client.delete(f"/api/v1/schedules/{created['id']}", headers=api.headers)
    assert response.status_code == 409
    details = await invalid(
        api,
        "/escalation-policies",
        {
            "name": "q",
            "levels": [
                {
                    "escalate_after_seconds": 60,
                    "targets": [{"type": "schedule", "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7"}],
                }
            ],
        },
    )
    assert details[0]["field"] == "levels[0].targets[0].id"


async def test_on_call_at_an_instant_follows_layers_and_overrides(api: Api) -> None:
    ana, ben, cy = [await api.user(n) for n in ("Ana", "Ben", "Cy")]
    created = await schedule(api, [layer([ana["id"], ben["id"]])])
    path = f"/schedules/{created['id']}"

    now = await api.get(f"{path}/oncall", params={"at": "2026-01-06T06:00:00Z"})
    assert now["on_call"] == {
        "user_id": ana["id"],
        "user_name": "Ana",
        "start": "2026-01-05T09:00:00Z",
        "end": "2026-01-12T09:00:00Z",
        "source": "layer",
        "layer": 0,
        "override_id": None,
    }
    second_week = await api.get(f"{path}/oncall", params={"at": "2026-01-13T00:00:00Z"})
    assert second_week["on_call"]["user_id"] == ben["id"]
    before = await api.get(f"{path}/oncall", params={"at": "2026-01-01T00:00:00Z"})
    assert before["on_call"] is None

    override = await api.post(
        f"{path}/overrides",
        {"user_id": cy["id"], "start": "2026-01-06T00:00:00Z", "end": "2026-01-06T12:00:00Z"},
    )
    during = await api.get(f"{path}/oncall", params={"at": "2026-01-06T06:00:00Z"})
    assert during["on_call"]["user_id"] == cy["id"]
    assert during["on_call"]["source"] == "override"
    assert during["on_call"]["override_id"] == override["id"]
    assert (during["on_call"]["start"], during["on_call"]["end"]) == (
        "2026-01-06T00:00:00Z",
        "2026-01-06T12:00:00Z",
    )
    after = await api.get(f"{path}/oncall", params={"at": "2026-01-06T12:00:00Z"})
    assert after["on_call"]["user_id"] == ana["id"]

    window = await api.get(
        f"{path}/oncall", params={"from": "2026-01-05T00:00:00Z", "until": "2026-01-13T00:00:00Z"}
    )
    assert window["from"] == "2026-01-05T00:00:00Z"
    assert [(s["user_name"], s["start"], s["end"], s["source"]) for s in window["shifts"]] == [
        ("Ana", "2026-01-05T09:00:00Z", "2026-01-06T00:00:00Z", "layer"),
        ("Cy", "2026-01-06T00:00:00Z", "2026-01-06T12:00:00Z", "override"),
        ("Ana", "2026-01-06T12:00:00Z", "2026-01-12T09:00:00Z", "layer"),
        ("Ben", "2026-01-12T09:00:00Z", "2026-01-13T00:00:00Z", "layer"),
    ]

    listed = await api.get(f"{path}/overrides")
    assert [o["id"] for o in listed["items"]] == [override["id"]]
    later = await api.get(f"{path}/overrides", params={"since": "2026-01-07T00:00:00Z"})
    assert later["items"] == []
    response = await api.client.delete(
        f"/api/v1{path}/overrides/{override['id']}", headers=api.headers
    )
    assert response.status_code == 204
    again = await api.get(f"{path}/oncall", params={"at": "2026-01-06T06:00:00Z"})
    assert again["on_call"]["user_id"] == ana["id"]
    response = await api.client.delete(
        f"/api/v1{path}/overrides/{override['id']}", headers=api.headers
    )
    assert response.status_code == 404


async def test_a_daily_handoff_stays_at_local_time_across_dst(api: Api) -> None:
    ana, ben = [await api.user(n) for n in ("Ana", "Ben")]
    created = await schedule(
        api,
        [layer([ana["id"], ben["id"]], rotation="daily", start="2026-03-27T09:00:00+00:00")],
        time_zone="Europe/London",
    )
    window = await api.get(
        f"/schedules/{created['id']}/oncall",
        params={"from": "2026-03-28T00:00:00Z", "until": "2026-03-31T00:00:00Z"},
    )
    # Clocks go forward on 29 March: 09:00 local is 09:00Z before and 08:00Z after.
    assert [s["start"] for s in window["shifts"][1:]] == [
        "2026-03-28T09:00:00Z",
        "2026-03-29T08:00:00Z",
        "2026-03-30T08:00:00Z",
    ]


async def test_override_and_window_errors(api: Api) -> None:
    ana = await api.user("Ana")
    created = await schedule(api, [])
    path = f"/schedules/{created['id']}"
    start, end = "2026-01-06T00:00:00Z", "2026-01-06T12:00:00Z"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"user_id": ana["id"], "start": end, "end": start}, "end"),
        ({"user_id": ana["id"], "start": "2026-01-06T00:00:00", "end": end}, "start"),
        (
            {"user_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "start": start, "end": end},
            "user_id",
        ),
    ]
    for body, field in cases:
        details = await invalid(api, f"{path}/overrides", body)
        assert [d["field"] for d in details] == [field], details
    assert (await api.get(f"{path}/overrides"))["items"] == []

    for params, field in [
        ({"from": "2026-01-01T00:00:00Z", "until": "2026-04-02T00:00:00Z"}, "until"),
        ({"from": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"from": "2026-01-02T00:00:00Z"}, "until"),
        ({"at": "2026-01-02T00:00:00"}, "at"),
        ({"at": "2026-01-02T00:00:00Z", "from": "2026-01-02T00:00:00Z"}, "from"),
    ]:
        response = await api.client.get(f"/api/v1{path}/oncall", params=params, headers=api.headers)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["error"]["details"][0]["field"] == field
    ninety = await api.get(
        f"{path}/oncall", params={"from": "2026-01-01T00:00:00Z", "until": "2026-04-01T00:00:00Z"}
    )
    assert ninety["shifts"] == []
    current = await api.get(f"{path}/oncall")
    assert abs(datetime.fromisoformat(current["at"]) - datetime.now(UTC)) < timedelta(minutes=1)
    await api.get("/schedules/7c9e6679-7425-40de-944b-e07fc1f90ae7/oncall", status=404)


async def test_observers_read_schedules_and_only_admins_write(api: Api) -> None:
    ana = await api.user("Ana")
    created = await schedule(api, [layer([ana["id"]])])
    path = f"/api/v1/schedules/{created['id']}"
    override = {"user_id": ana["id"], "start": MONDAY, "end": "2026-01-06T09:00:00Z"}
    for role in ("observer", "responder"):
        person = await api.user(f"{role} person", role=role)
        headers = await api.key_for(person)
        for read in ("", "/oncall", "/overrides"):
            response = await api.client.get(f"{path}{read}", headers=headers)
            assert response.status_code == 200, (role, read)
        writes = [
            api.client.post(
                "/api/v1/schedules", headers=headers, json={"name": role, "time_zone": "UTC"}
            ),
            api.client.patch(path, headers=headers, json={"name": role}),
            api.client.post(f"{path}/overrides", headers=headers, json=override),
            api.client.delete(path, headers=headers),
        ]
        for write in writes:
            assert (await write).status_code == 403, role
    response = await api.client.get(path)
    assert response.status_code == 401
