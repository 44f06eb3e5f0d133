"""Error responses: one shape, never a stack trace or SQL, unknown fields refused."""

import httpx
from fastapi import FastAPI

from app.errors import install_error_handlers
from tests.factories import Api

LEAKS = ("Traceback", "SELECT", "INSERT", "asyncpg", "sqlalchemy", 'File "')


async def test_an_unexpected_exception_is_a_bare_internal_error() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError('SELECT key_hash FROM api_keys -- File "app/auth.py", line 1')

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal", "message": "internal error", "details": None}
    }


async def test_values_the_database_cannot_store_are_a_422_without_sql(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    api = Api(client, admin_headers)
    user = await api.user("Ada")
    for path, body in [
        ("/users", {"name": "nul\u0000byte", "email": "nul@example.com"}),
        (f"/users/{user['id']}/api-keys", {"name": "nul\u0000"}),
    ]:
        response = await client.post(f"/api/v1{path}", json=body, headers=admin_headers)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid"
        assert not [leak for leak in LEAKS if leak in response.text]
    response = await client.get(
        f"/api/v1/webhook-subscriptions/{user['id']}/deliveries",
        params={"cursor": str(2**70)},
        headers=admin_headers,
    )
    assert response.status_code == 422


async def test_unknown_fields_are_rejected_naming_the_field(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/users",
        json={"name": "Ada", "email": "ada@example.com", "is_superuser": True},
        headers=admin_headers,
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "is_superuser"
