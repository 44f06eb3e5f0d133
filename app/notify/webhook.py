"""Webhook pages: a signed JSON POST per page."""

from typing import Any

import httpx

from app.jsonsafe import encode
from app.notify.base import DeliveryResult, Outcome, Page, classify_status, parse_retry_after
from app.notify.http import refused
from app.notify.spec import ProviderSpec, http_url, url_origin
from app.outbound import ForbiddenDestination, post_bytes
from app.security import sign_payload

MAX_RESPONSE_DETAIL = 300


def page_body(page: Page) -> bytes:
    """The JSON document a webhook receives."""
    if page.notice is not None:
        notice = {"kind": page.notice.kind, "title": page.notice.title, "text": page.notice.text}
        document: dict[str, Any] = {
            "event": f"notice.{page.notice.kind}",
            "notice": notice,
            "user": page.user,
        }
        return encode(document)
    document = {
        "event": "incident.page",
        "incident": page.incident,
        "level": page.level,
        "loop": page.loop,
        "user": page.user,
        "actions": page.actions,
    }
    return encode(document)


class WebhookProvider:
    channel = "webhook"

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, page: Page) -> DeliveryResult:
        """POST the page, signed with the contact method's secret."""
        body = page_body(page)
        headers = {
            "Content-Type": "application/json",
            "X-Stairway-Signature": sign_payload(page.signing_secret, body),
            "X-Stairway-Delivery": page.idempotency_key,
            "Idempotency-Key": page.idempotency_key,
        }
        try:
            response = await post_bytes(self.client, page.address, content=body, headers=headers)
        except httpx.TimeoutException:
            return DeliveryResult(Outcome.TRANSIENT, "timed out")
        except ForbiddenDestination as exc:
            return refused(exc)
        except httpx.HTTPError as exc:
            return DeliveryResult(Outcome.TRANSIENT, f"{type(exc).__name__}: {exc}")
        detail = f"HTTP {response.status_code} {response.text[:MAX_RESPONSE_DETAIL]}".strip()
        return DeliveryResult(
            classify_status(response.status_code),
            detail,
            response.status_code,
            parse_retry_after(response.headers.get("retry-after")),
        )


SPEC = ProviderSpec(
    type="webhook",
    check_address=http_url,
    build=lambda deps: WebhookProvider(deps.client),
    redact=url_origin,
    outbound_url=True,
    signing_secret=True,
)
