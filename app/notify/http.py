"""One outbound HTTP call of a provider, classified into a delivery outcome."""

from collections.abc import Callable
from typing import Any

import httpx

from app.notify.base import DeliveryResult, Outcome, classify_status, parse_retry_after
from app.outbound import ForbiddenDestination, sendable_url

MAX_RESPONSE_DETAIL = 300


def refused(exc: ForbiddenDestination) -> DeliveryResult:
    """A destination the SSRF rule refuses, or a URL that can never be sent: a permanent
    failure (neither changes between retries, and the level need not wait for them)."""
    return DeliveryResult(Outcome.PERMANENT, f"refused: {exc}"[:MAX_RESPONSE_DETAIL])


def default_detail(response: httpx.Response) -> str:
    """`HTTP <status> <start of the body>`: what the timeline shows of a provider's answer."""
    return f"HTTP {response.status_code} {response.text[:MAX_RESPONSE_DETAIL]}".strip()


def json_detail(response: httpx.Response, detail: Callable[[dict[str, Any]], str]) -> str:
    """`detail(body)` when the provider answered a JSON object, else the default detail."""
    try:
        data = response.json()
    except ValueError:
        return default_detail(response)
    if not isinstance(data, dict):
        return default_detail(response)
    return detail(data)[:MAX_RESPONSE_DETAIL]


async def post(
    client: httpx.AsyncClient,
    url: str,
    *,
    detail: Callable[[httpx.Response], str] = default_detail,
    **request: Any,
) -> DeliveryResult:
    """POST and classify: 2xx sent, 5xx/429/timeouts transient, other 4xx permanent.

    Details never carry the URL or credentials (a Slack webhook URL is itself a secret).
    """
    return await send(client, "POST", url, detail=detail, **request)


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    detail: Callable[[httpx.Response], str] = default_detail,
    retry_after: Callable[[httpx.Response], float | None] | None = None,
    **request: Any,
) -> DeliveryResult:
    """Make one request and classify its answer like `post`.

    `retry_after` reads a wait from a body when the service sends none in `Retry-After`.
    """
    try:
        response = await client.request(method, sendable_url(url), **request)
    except httpx.TimeoutException:
        return DeliveryResult(Outcome.TRANSIENT, "timed out")
    except ForbiddenDestination as exc:
        return refused(exc)
    except httpx.HTTPError as exc:
        return DeliveryResult(
            Outcome.TRANSIENT, f"{type(exc).__name__}: {exc}"[:MAX_RESPONSE_DETAIL]
        )
    wait = parse_retry_after(response.headers.get("retry-after"))
    if wait is None and retry_after is not None:
        wait = retry_after(response)
    return DeliveryResult(
        classify_status(response.status_code), detail(response), response.status_code, wait
    )
