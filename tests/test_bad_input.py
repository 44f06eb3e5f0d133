"""Bad input gets a clear JSON error naming the field, and nothing is written."""

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.models import EscalationLevel, EscalationPolicy, Incident
from tests.factories import Api


async def _count(app: Any, model: Any) -> int:
    async with app.state.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def _fields(response: httpx.Response) -> list[str]:
    return [d["field"] for d in response.json()["error"]["details"]]


async def test_unknown_service_is_a_422_naming_service_id(api: Api, app: Any) -> None:
    response = await api.client.post(
        "/api/v1/incidents",
        headers=api.headers,
        json={"service_id": "00000000-0000-0000-0000-000000000001", "title": "x"},
    )
    assert response.status_code == 422
    assert _fields(response) == ["service_id"]
    assert await _count(app, Incident) == 0


async def test_malformed_json_and_wrong_types(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/incidents",
        headers={**api.headers, "Content-Type": "application/json"},
        content=b'{"title": ',
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid"
    response = await api.client.post(
        "/api/v1/incidents",
        headers=api.headers,
        json={"service_id": "not-a-uuid", "title": "", "severity": "apocalyptic", "colour": "red"},
    )
    assert response.status_code == 422
    assert set(_fields(response)) == {"service_id", "title", "severity", "colour"}


async def test_oversize_bodies_are_refused_with_413(api: Api, app: Any) -> None:
    huge = {
        "service_id": "00000000-0000-0000-0000-000000000001",
        "title": "x",
        "details": {"blob": "a" * 300_000},
    }
    response = await api.client.post("/api/v1/incidents", headers=api.headers, json=huge)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    ada = await api.user("Ada")
    pol = await api.policy([(60, [ada["id"]])])
    svc = await api.service(pol["id"])
    too_detailed = {"service_id": svc["id"], "title": "x", "details": {"blob": "a" * 70_000}}
    response = await api.client.post("/api/v1/incidents", headers=api.headers, json=too_detailed)
    assert response.status_code == 422
    assert _fields(response) == ["details"]
    assert await _count(app, Incident) == 0


@pytest.mark.parametrize(
    ("levels", "field"),
    [
        ([], "levels"),
        (
            [{"escalate_after_seconds": -5, "targets": [{"type": "user", "id": "{ada}"}]}],
            "levels.0.escalate_after_seconds",
        ),
        (
            [
                {
                    "escalate_after_seconds": 60,
                    "targets": [{"type": "user", "id": "00000000-0000-0000-0000-00000000dead"}],
                }
            ],
            "levels[0].targets[0].id",
        ),
        ([{"escalate_after_seconds": 60, "targets": []}], "levels.0.targets"),
        (
            [
                {
                    "escalate_after_seconds": 60,
                    "condition": "whenever",
                    "targets": [{"type": "user", "id": "{ada}"}],
                }
            ],
            "levels.0.condition",
        ),
        ([{"escalate_after_seconds": 60, "targets": [{"type": "webhook"}]}], "levels.0.targets.0"),
    ],
)
async def test_invalid_policies_are_refused_and_nothing_is_written(
    api: Api, app: Any, levels: list[dict[str, Any]], field: str
) -> None:
    ada = await api.user("Ada")
    for level in levels:
        for target in level["targets"]:
            if target.get("id") == "{ada}":
                target["id"] = ada["id"]
    response = await api.client.post(
        "/api/v1/escalation-policies", headers=api.headers, json={"name": "bad", "levels": levels}
    )
    assert response.status_code == 422, response.text
    assert field in _fields(response)
    assert await _count(app, EscalationPolicy) == 0
    assert await _count(app, EscalationLevel) == 0


async def test_conflicts_and_missing_things(api: Api) -> None:
    await api.user("Ada")
    response = await api.client.post(
        "/api/v1/users", headers=api.headers, json={"name": "Ada 2", "email": "ADA@example.com"}
    )
    assert response.status_code == 409
    response = await api.client.get(
        "/api/v1/users/00000000-0000-0000-0000-000000000009", headers=api.headers
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    response = await api.client.post(
        "/api/v1/users",
        headers=api.headers,
        json={"name": "Tz", "email": "tz@example.com", "time_zone": "Mars/Olympus"},
    )
    assert response.status_code == 422
    assert _fields(response) == ["time_zone"]
