"""Reading a source's REST API: JSON pages, with 429 / Retry-After honoured and retries bounded."""

import email.utils
import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx
import httpx2
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    wait_exponential,
)

# Statuses that mean "come back later"; anything else is an answer.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_ATTEMPTS = 8
# A source that cannot be reached at all is reported soon rather than after minutes.
MAX_NETWORK_ATTEMPTS = 3
# A Retry-After longer than this is a source asking for more than an import should wait.
MAX_WAIT_SECONDS = 120.0
_BACKOFF = wait_exponential(multiplier=0.5, max=30)


class SourceError(Exception):
    """The source refused or failed a request; the message says which and why."""


class _Response(Protocol):
    status_code: int
    headers: Any


def retry_after_seconds(response: _Response, *, now: float | None = None) -> float | None:
    """The wait a 429/503 asks for: `Retry-After` (seconds or an HTTP date) or a reset header."""
    value = response.headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value) if value else None
            if when is not None:
                return max(0.0, when.timestamp() - (time.time() if now is None else now))
    # PagerDuty's and others' rate-limit headers: seconds until the window resets.
    for name in ("ratelimit-reset", "x-ratelimit-reset-after"):
        reset = response.headers.get(name)
        if reset:
            try:
                return max(0.0, float(reset))
            except ValueError:
                continue
    return None


def _wait(state: RetryCallState) -> float:
    outcome = state.outcome
    if outcome is not None and not outcome.failed:
        asked = retry_after_seconds(outcome.result())
        if asked is not None:
            return min(asked, MAX_WAIT_SECONDS)
    return float(_BACKOFF(state))


def _stop(state: RetryCallState) -> bool:
    failed = state.outcome is not None and state.outcome.failed
    limit = MAX_NETWORK_ATTEMPTS if failed else MAX_ATTEMPTS
    return state.attempt_number >= limit


def _retrying(transport_error: type[BaseException]) -> Retrying:
    return Retrying(
        retry=retry_if_result(lambda r: r.status_code in RETRY_STATUSES)
        | retry_if_exception_type(transport_error),
        wait=_wait,
        stop=_stop,
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        reraise=True,
    )


class RetryAfterTransport(httpx2.HTTPTransport):
    """An httpx2 transport (what the `pagerduty` client uses) that waits out 429s as told."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        def attempt() -> httpx2.Response:
            response = super(RetryAfterTransport, self).handle_request(request)
            if response.status_code in RETRY_STATUSES:
                response.read()
                response.close()
            return response

        result: httpx2.Response = _retrying(httpx2.TransportError)(attempt)
        return result


class JsonApi:
    """GETs JSON from one API with a fixed set of headers; retries what is worth retrying."""

    def __init__(
        self, base_url: str, headers: dict[str, str], *, verify: Any = True, what: str
    ) -> None:
        self.what = what
        self.client = httpx.Client(
            base_url=base_url.rstrip("/") + "/", headers=headers, verify=verify, timeout=30.0
        )

    def get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        """The JSON body of a GET to a path under the base URL, or to a full URL (a next page)."""
        send: Callable[[], httpx.Response] = lambda: self.client.get(  # noqa: E731
            url.lstrip("/") if "://" not in url else url, params=params
        )
        try:
            response: httpx.Response = _retrying(httpx.TransportError)(send)
        except httpx.TransportError as exc:
            raise SourceError(f"{self.what}: cannot reach {self.client.base_url}: {exc}") from exc
        if response.status_code >= 400:
            detail = response.text[:300].strip()
            raise SourceError(
                f"{self.what} answered {response.status_code} to GET {response.request.url}: "
                f"{detail}"
            )
        try:
            return response.json()
        except ValueError as exc:
            raise SourceError(
                f"{self.what}: GET {response.request.url} did not answer JSON"
            ) from exc

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()
