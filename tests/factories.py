"""Building users, policies and services through the public API."""

from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Api:
    client: httpx.AsyncClient
    headers: dict[str, str]

    async def post(self, path: str, body: Any, status: int = 201, **kw: Any) -> Any:
        response = await self.client.post(f"/api/v1{path}", json=body, headers=self.headers, **kw)
        assert response.status_code == status, response.text
        return response.json()

    async def get(self, path: str, status: int = 200, **kw: Any) -> Any:
        response = await self.client.get(f"/api/v1{path}", headers=self.headers, **kw)
        assert response.status_code == status, response.text
        return response.json()

    async def patch(self, path: str, body: Any, status: int = 200) -> Any:
        response = await self.client.patch(f"/api/v1{path}", json=body, headers=self.headers)
        assert response.status_code == status, response.text
        return response.json()

    async def user(
        self,
        name: str,
        *,
        webhook: str | None = None,
        role: str = "responder",
        rules: list[int] | None = None,
    ) -> dict[str, Any]:
        """A user, with a webhook contact method at `webhook` and optional rule delays."""
        slug = name.lower().replace(" ", ".")
        user: dict[str, Any] = await self.post(
            "/users", {"name": name, "email": f"{slug}@example.com", "role": role}
        )
        if webhook:
            method = await self.post(
                f"/users/{user['id']}/contact-methods", {"type": "webhook", "address": webhook}
            )
            # An admin vouches for it, so it is paged at once.
            verified = await self.post(
                f"/users/{user['id']}/contact-methods/{method['id']}/mark-verified", {}, 200
            )
            method = {**method, **verified}
            user["contact_method"] = method
            for delay in rules or []:
                await self.post(
                    f"/users/{user['id']}/notification-rules",
                    {"contact_method_id": method["id"], "delay_seconds": delay},
                )
        return user

    async def key_for(self, user: dict[str, Any]) -> dict[str, str]:
        key = await self.post(f"/users/{user['id']}/api-keys", {"name": "test"})
        return {"Authorization": f"Bearer {key['key']}"}

    async def policy(
        self, levels: list[tuple[int, list[str]]], *, repeat: int = 0, name: str = "payments"
    ) -> dict[str, Any]:
        """A policy whose levels page the given user ids after the given seconds."""
        body = {
            "name": name,
            "repeat": repeat,
            "levels": [
                {
                    "escalate_after_seconds": delay,
                    "targets": [{"type": "user", "id": uid} for uid in users],
                }
                for delay, users in levels
            ],
        }
        result: dict[str, Any] = await self.post("/escalation-policies", body)
        return result

    async def service(
        self, policy_id: str, name: str = "payments-api", **fields: Any
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self.post(
            "/services", {"name": name, "escalation_policy_id": policy_id, **fields}
        )
        return result

    async def trigger(self, service_id: str, status: int = 201, **fields: Any) -> dict[str, Any]:
        body = {
            "service_id": service_id,
            "title": "p99 latency > 2s",
            "severity": "critical",
            **fields,
        }
        result: dict[str, Any] = await self.post("/incidents", body, status=status)
        return result

    async def timeline(self, incident_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await self.get(f"/incidents/{incident_id}/timeline"))[
            "items"
        ]
        return items
