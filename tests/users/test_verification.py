"""Contact-method verification: a code through the real channel, confirmed through the API; pages
go only to verified methods."""

import json
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col

from app.models import ContactMethod, utcnow
from app.security import hash_key
from tests.factories import Api
from tests.notify.services import TELEGRAM_CHAT, Services
from tests.provider_support import MailSink
from tests.support import HttpSink

pytestmark = pytest.mark.usefixtures("worker")


async def unverified(api: Api, user: dict[str, Any], channel: str, address: str) -> Any:
    return await api.post(
        f"/users/{user['id']}/contact-methods", {"type": channel, "address": address}
    )


def method_path(user: dict[str, Any], method: dict[str, Any]) -> str:
    return f"/users/{user['id']}/contact-methods/{method['id']}"


async def code_from_sink(sink: HttpSink, path: str, count: int = 1) -> str:
    received = await sink.wait_count(path, count)
    body = received[count - 1].json()
    assert body["event"] == "notice.verification"
    match = re.search(r"\b(\d{6})\b", body["notice"]["text"])
    assert match, body
    return match.group(1)


async def confirm(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, code: str
) -> httpx.Response:
    return await client.post(f"/api/v1{path}/verify", json={"code": code}, headers=headers)


async def test_an_unverified_method_is_not_paged_until_its_code_comes_back(
    api: Api, client: httpx.AsyncClient, sink: HttpSink
) -> None:
    ada = await api.user("Ada")
    method = await unverified(api, ada, "webhook", sink.url("/verify-ada"))
    assert method["verified_at"] is None
    bob = await api.user("Bob", webhook=sink.url("/verify-bob"))
    policy = await api.policy([(1800, [ada["id"]]), (600, [bob["id"]])], name="trust")
    service = await api.service(policy["id"])
    first = await api.trigger(service["id"])
    await sink.wait_count("/verify-bob", 1)
    assert sink.at("/verify-ada") == []
    skipped = next(i for i in await api.timeline(first["id"]) if i["type"] == "level_skipped")
    assert skipped["details"]["reasons"][0]["reason"] == "user has no verified contact method"

    # Ada verifies with her own key: the code travels through the channel itself.
    ada_headers = await api.key_for(ada)
    path = method_path(ada, method)
    sent = await client.post(f"/api/v1{path}/verification", headers=ada_headers)
    assert sent.status_code == 200, sent.text
    assert sent.json()["outcome"] == "sent"
    assert sent.json()["expires_at"] is not None
    code = await code_from_sink(sink, "/verify-ada")
    wrong = "000000" if code != "000000" else "111111"
    refused = await confirm(client, ada_headers, path, wrong)
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["field"] == "code"
    assert "wrong code (4 attempts left)" in refused.text
    confirmed = await confirm(client, ada_headers, path, code)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["verified_by"] == "code"
    assert confirmed.json()["verified_at"] is not None

    await api.post(f"/incidents/{first['id']}/resolve", {}, 200)
    second = await api.trigger(service["id"], title="again")
    pages = await sink.wait_count("/verify-ada", 2)
    assert pages[1].json()["incident"]["id"] == second["id"]


async def test_wrong_codes_are_counted_and_a_new_code_replaces_the_old(
    api: Api, client: httpx.AsyncClient, sink: HttpSink, admin_headers: dict[str, str]
) -> None:
    ada = await api.user("Ada")
    method = await unverified(api, ada, "webhook", sink.url("/verify-count"))
    path = method_path(ada, method)
    await api.post(f"{path}/verification", {}, 200)
    first = await code_from_sink(sink, "/verify-count")
    wrong = "000000" if first != "000000" else "111111"
    for left in (4, 3, 2, 1, 0):
        refused = await confirm(client, admin_headers, path, wrong)
        assert f"wrong code ({left} attempts left)" in refused.text
    # The attempts were committed with each refusal: the right code is now refused too.
    used_up = await confirm(client, admin_headers, path, first)
    assert used_up.status_code == 422
    assert "too many wrong codes" in used_up.text

    await api.post(f"{path}/verification", {}, 200)
    second = await code_from_sink(sink, "/verify-count", 2)
    if second != first:
        stale = await confirm(client, admin_headers, path, first)
        assert "wrong code" in stale.text
    assert (await confirm(client, admin_headers, path, second)).status_code == 200


async def test_an_expired_code_is_refused(
    api: Api, client: httpx.AsyncClient, sink: HttpSink, app: Any, admin_headers: dict[str, str]
) -> None:
    ada = await api.user("Ada")
    method = await unverified(api, ada, "webhook", sink.url("/verify-expired"))
    path = method_path(ada, method)
    await api.post(f"{path}/verification", {}, 200)
    code = await code_from_sink(sink, "/verify-expired")
    # The code's lifetime passes (STAIRWAY_VERIFICATION_CODE_TTL_SECONDS).
    async with app.state.sessions.begin() as session:
        await session.execute(
            update(ContactMethod)
            .where(col(ContactMethod.id) == method["id"])
            .values(verification_expires_at=utcnow() - timedelta(seconds=1))
        )
    expired = await confirm(client, admin_headers, path, code)
    assert expired.status_code == 422
    assert "no code is pending" in expired.text
    listed = await api.get(f"/users/{ada['id']}/contact-methods")
    assert listed["items"][0]["verified_at"] is None


async def test_a_code_that_could_not_be_sent_says_why_and_cannot_be_confirmed(
    api: Api, client: httpx.AsyncClient, sink: HttpSink, admin_headers: dict[str, str]
) -> None:
    ada = await api.user("Ada")
    method = await unverified(api, ada, "webhook", sink.url("/verify-down"))
    sink.script["/verify-down"] = [503]
    sent = await api.post(f"{method_path(ada, method)}/verification", {}, 200)
    assert sent["outcome"] == "transient"
    assert "HTTP 503" in sent["detail"]
    assert sent["expires_at"] is None
    code = await code_from_sink(sink, "/verify-down")
    refused = await confirm(client, admin_headers, method_path(ada, method), code)
    assert "no code is pending" in refused.text


async def test_a_code_by_email_through_the_real_smtp_path(
    api: Api, client: httpx.AsyncClient, smtp: MailSink, admin_headers: dict[str, str]
) -> None:
    ada = await api.user("Ada")
    method = await unverified(api, ada, "email", "ada.verify@example.com")
    sent = await api.post(f"{method_path(ada, method)}/verification", {}, 200)
    assert sent["outcome"] == "sent", sent
    mail = next(m for m in smtp.received if "ada.verify@example.com" in m.recipients).message()
    assert mail["Subject"] == "Stairway verification code"
    body = mail.get_body(("plain",))
    assert body is not None
    code = re.search(r"Your code is (\d{6})", body.get_content())
    assert code
    confirmed = await confirm(client, admin_headers, method_path(ada, method), code.group(1))
    assert confirmed.json()["verified_by"] == "code"


async def test_only_the_owner_or_an_admin_verifies_and_only_an_admin_vouches(
    api: Api, client: httpx.AsyncClient, sink: HttpSink
) -> None:
    ada = await api.user("Ada")
    eve = await api.user("Eve")
    method = await unverified(api, ada, "webhook", sink.url("/verify-owner"))
    path = method_path(ada, method)
    eve_headers = await api.key_for(eve)
    ada_headers = await api.key_for(ada)
    for action in ("verification", "verify", "mark-verified"):
        body = {"code": "123456"} if action == "verify" else {}
        response = await client.post(f"/api/v1{path}/{action}", json=body, headers=eve_headers)
        assert response.status_code == 403, action
    response = await client.post(f"/api/v1{path}/mark-verified", headers=ada_headers)
    assert response.status_code == 403
    assert sink.at("/verify-owner") == []
    marked = await api.post(f"{path}/mark-verified", {}, 200)
    assert marked["verified_by"] == "admin"


async def test_trusted_setting_verifies_new_methods_when_added(
    api: Api, app: Any, sink: HttpSink
) -> None:
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"contact_verification": "trusted"})
    try:
        ada = await api.user("Ada")
        method = await unverified(api, ada, "webhook", sink.url("/verify-trusted"))
    finally:
        app.state.settings = settings
    assert method["verified_by"] == "setting"
    assert method["verified_at"] is not None


async def test_the_code_never_shows_in_reads_or_the_audit_log(
    api: Api, client: httpx.AsyncClient, sink: HttpSink
) -> None:
    ada = await api.user("Ada")
    method = await unverified(api, ada, "webhook", sink.url("/verify-audit"))
    sent = await api.post(f"{method_path(ada, method)}/verification", {}, 200)
    code = await code_from_sink(sink, "/verify-audit")
    stored = hash_key(f"{method['id']}:{code}")
    reads = [sent, await api.get(f"/users/{ada['id']}/contact-methods"), await api.get("/audit")]
    for read in reads:
        text = json.dumps(read)
        assert stored not in text
        assert code not in text.replace(method["id"], "")
    await api.post(f"{method_path(ada, method)}/verify", {"code": code}, 200)
    audit = await api.get("/audit", params={"resource_type": "contact_method"})
    assert stored not in json.dumps(audit)
    changes = [entry["changes"] for entry in audit["items"]]
    assert {"old": "", "new": "code"} in [c.get("verified_by") for c in changes], changes


async def test_a_test_page_goes_through_the_real_provider_and_shows_its_answer(
    api: Api, client: httpx.AsyncClient, services: Services
) -> None:
    ada = await api.user("Ada")
    method = await unverified(api, ada, "telegram", TELEGRAM_CHAT)
    ada_headers = await api.key_for(ada)
    response = await client.post(f"/api/v1{method_path(ada, method)}/test", headers=ada_headers)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "sent"
    assert response.json()["detail"].startswith("HTTP 200 message ")
    [call] = services.about("telegram", "Test page for Ada")
    assert "reply_markup" not in call.json(), "a test page has nothing to acknowledge"
    # The same rate limit and audit as the console's button (one test page, one per 10 s).
    again = await client.post(f"/api/v1{method_path(ada, method)}/test", headers=ada_headers)
    assert again.status_code == 429, again.text
    assert int(again.headers["retry-after"]) >= 1
    audit = await api.get("/audit", params={"resource_type": "contact_method"})
    tested = [e for e in audit["items"] if e["action"] == "tested"]
    assert [(e["resource_id"], e["changes"]["outcome"]) for e in tested] == [(method["id"], "sent")]
    assert tested[0]["actor"]["id"] == ada["id"]

    blocked_chat = "7010099"
    other = await unverified(api, ada, "telegram", blocked_chat)
    services.answer(
        blocked_chat,
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    )
    blocked = await api.post(f"{method_path(ada, other)}/test", {}, 200)
    assert blocked == {
        "outcome": "permanent",
        "detail": "HTTP 403 Forbidden: bot was blocked by the user",
    }
