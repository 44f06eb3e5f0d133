"""Outbound HTTP guard (SSRF): where webhooks may be sent, and how much of an answer is read."""

import asyncio
import codecs
import contextlib
import ipaddress
import re
import socket
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions

from app.errors import field_error

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
USER_AGENT = "Stairway/0.1"


class ForbiddenDestination(httpx.ConnectError):
    """The target resolves to an address webhooks may not reach (private, loopback, ...)."""


class UnsendableURL(ForbiddenDestination):
    """The URL can never be sent (malformed, not http(s), a port out of range, a bad name)."""


class InternalAddress(OSError):
    """The pool's own lookup found an address webhooks may not reach."""


def is_internal(address: IpAddress) -> bool:
    """Loopback, private, link-local (cloud metadata), multicast, reserved or unspecified."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


_IPV4_PART = re.compile(r"^(0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*)$")


def _ipv4_part(part: str) -> int:
    if part.startswith("0x"):
        return int(part[2:] or "0", 16)
    return int(part, 8) if part.startswith("0") else int(part)


def _ipv4_spelling(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address however the resolver would read it: `0177.0.0.1`, `0x7f.1`, `127.1`,
    `2130706433` (inet_aton's octal, hex and shortened forms), or None."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART.match(p) for p in parts):
        return None
    *leading, last = [_ipv4_part(p) for p in parts]
    # The last part fills every byte the leading ones (one byte each) leave.
    if any(n > 255 for n in leading) or last >= 256 ** (4 - len(leading)):
        return None
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _literal(host: str) -> IpAddress | None:
    """The address a host names literally, normalized (brackets, trailing dots, octal, ...)."""
    host = host.strip("[]").rstrip(".").lower()
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return _ipv4_spelling(host)


def _is_localhost(host: str) -> bool:
    host = host.rstrip(".").lower()
    return host == "localhost" or host.endswith(".localhost")


def sendable_url(url: str) -> httpx.URL:
    """The URL as it will be sent, or UnsendableURL if no request can ever be made to it."""
    try:
        parsed = httpx.URL(url)
        host, port = parsed.host, parsed.port  # the host is IDNA-decoded here, and may fail
    except (httpx.InvalidURL, UnicodeError) as exc:  # IDNA errors are UnicodeErrors
        raise UnsendableURL(f"not a URL that can be sent: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not host:
        raise UnsendableURL(
            "not a URL that can be sent: it must be http:// or https:// with a host"
        )
    if port is not None and not 0 < port < 65536:
        raise UnsendableURL(f"not a URL that can be sent: port {port} is out of range")
    return parsed


def check_destination(url: str, *, allow_private: bool, field: str) -> None:
    """The rule for every saved outbound URL (contact methods, subscriptions, policy webhook
    targets, in the API and in policy files): a 422 naming `field` if the URL names an internal
    address or localhost however spelled (unless allowed), or can never be sent."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise field_error(field, f"not a URL that can be sent: {exc}") from exc
    literal = _literal(host)
    if not allow_private and (_is_localhost(host) or (literal and is_internal(literal))):
        raise field_error(field, "must not point at a private, loopback or link-local address")
    try:
        sendable_url(url)
    except UnsendableURL as exc:
        raise field_error(field, str(exc)) from exc


async def _resolve(host: str, port: int) -> list[IpAddress]:
    literal = _literal(host)
    if literal is not None:
        return [literal]
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


class GuardedResolver(AbstractResolver):
    """The outbound pool's name lookups, refusing internal addresses.

    `GuardedTransport` checks a destination before the request; this checks the addresses the
    connection is actually made to, so a name that answers differently a moment later (DNS
    rebinding) cannot slip through. IP literals are never looked up: the transport's check
    covers them.
    """

    def __init__(self, *, allow_private: bool, trusted_hosts: Iterable[str] = ()) -> None:
        self.allow_private = allow_private
        self.trusted_hosts = frozenset(h.lower() for h in trusted_hosts if h)
        self._inner = aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self.allow_private or host.lower() in self.trusted_hosts:
            return results
        if any(is_internal(ipaddress.ip_address(r["host"])) for r in results):
            raise InternalAddress(f"{host} resolves to a private, loopback or link-local address")
        return results

    async def close(self) -> None:
        await self._inner.close()


class _Capped(httpx.AsyncByteStream):
    """A response body that ends after `limit` bytes, so a huge answer cannot exhaust memory."""

    def __init__(self, inner: httpx.AsyncByteStream, limit: int) -> None:
        self.inner = inner
        self.limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        left = self.limit
        async for chunk in self.inner:
            if left <= 0:
                break
            yield chunk[:left]
            left -= len(chunk)

    async def aclose(self) -> None:
        await self.inner.aclose()


@contextlib.contextmanager
def _connection_errors(request: httpx.Request | None) -> Iterator[None]:
    """Say what a failed connection was: httpx-aiohttp reports every aiohttp connection error as
    a connect timeout; a refused connection or a refused lookup is not one, and the timeline
    says so."""
    try:
        yield
    except httpx.ConnectTimeout as exc:
        cause = exc.__cause__
        if isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(cause, TimeoutError):
            if isinstance(cause.__cause__, InternalAddress):
                raise ForbiddenDestination(str(cause.__cause__), request=request) from cause
            raise httpx.ConnectError(str(cause), request=request) from cause
        raise


class GuardedTransport(httpx.AsyncBaseTransport):
    """Checks each destination's addresses at send time and caps response bodies."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        allow_private: bool,
        trusted_hosts: Iterable[str] = (),
        max_response_bytes: int,
    ) -> None:
        self.inner = inner
        self.allow_private = allow_private
        # Operator-configured provider endpoints (e.g. a Twilio base URL) are not user input.
        self.trusted_hosts = frozenset(h.lower() for h in trusted_hosts if h)
        self.max_response_bytes = max_response_bytes

    async def check(self, host: str, port: int | None, request: httpx.Request | None) -> None:
        """Refuse a destination that is, or resolves to, an address webhooks may not reach."""
        host = host.lower()
        if self.allow_private or host in self.trusted_hosts:
            return
        if _is_localhost(host):
            raise ForbiddenDestination("destination is localhost", request=request)
        try:
            addresses = await _resolve(host, port or 443)
        except OSError as exc:
            raise httpx.ConnectError(f"cannot resolve {host}", request=request) from exc
        if any(is_internal(a) for a in addresses):
            raise ForbiddenDestination(
                "destination resolves to a private, loopback or link-local address",
                request=request,
            )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self.check(request.url.host, request.url.port, request)
        with _connection_errors(request):
            response = await self.inner.handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Capped(response.stream, self.max_response_bytes)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class OutboundClient(httpx.AsyncClient):
    """A process's outbound HTTP client: httpx over aiohttp's pool, behind the SSRF guard.

    `post_bytes` hands its prepared POSTs (every webhook page and event) to the aiohttp pool
    directly, under the same guard, timeouts and response cap: building an httpx request and
    response around each one cost as much CPU as the rest of a page's delivery.
    """

    def __init__(
        self, *, guard: GuardedTransport, pool: AiohttpTransport, timeout: httpx.Timeout
    ) -> None:
        # A redirect is never followed: it could lead anywhere, including inside the network.
        super().__init__(
            timeout=timeout,
            transport=guard,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )
        self.guard = guard
        self.pool = pool
        # As httpx-aiohttp maps an httpx timeout onto aiohttp's.
        self.pool_timeout = aiohttp.ClientTimeout(
            sock_connect=timeout.connect, sock_read=timeout.read, connect=timeout.pool
        )

    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session under the client (made on first use, shared with httpx's path)."""
        if not isinstance(self.pool.client, aiohttp.ClientSession):
            self.pool.client = self.pool.get_client()
        return self.pool.client


@dataclass(frozen=True, slots=True)
class Answer:
    """A destination's answer to a POST: its status, the start of its body, its headers."""

    status_code: int
    text: str
    headers: Mapping[str, str]

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


@lru_cache(maxsize=4096)
def _target(url: str) -> tuple[str, str, int | None]:
    """A sendable URL as sent, its host and port (UnsendableURL is raised, never cached)."""
    parsed = sendable_url(url)
    return str(parsed), parsed.host, parsed.port


def _text(body: bytes, charset: str | None) -> str:
    """The body as httpx would decode it: the declared charset if known, else UTF-8."""
    encoding = "utf-8"
    if charset:
        try:
            encoding = codecs.lookup(charset).name
        except LookupError:
            pass
    return body.decode(encoding, errors="replace")


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit
    async for chunk in response.content.iter_chunked(16 * 1024):
        if left <= 0:
            break
        chunks.append(chunk[:left])
        left -= len(chunk)
    return b"".join(chunks)


async def _post_pooled(
    client: OutboundClient, url: str, *, content: bytes, headers: dict[str, str]
) -> Answer:
    target, host, port = _target(url)
    await client.guard.check(host, port, None)
    request_headers = {"User-Agent": USER_AGENT, **headers}
    session = client.session()
    # Errors become the httpx errors the httpx path raises, so callers classify them alike.
    with _connection_errors(None), map_aiohttp_exceptions():
        response = await session.request(
            "POST",
            target,
            data=content,
            headers=request_headers,
            allow_redirects=False,
            compress=False,
            timeout=client.pool_timeout,
        ).__aenter__()
    try:
        with map_aiohttp_exceptions():
            body = await _read_capped(response, client.guard.max_response_bytes)
    finally:
        response.release()
    return Answer(response.status, _text(body, response.charset), response.headers)


async def post_bytes(
    client: httpx.AsyncClient, url: str, *, content: bytes, headers: dict[str, str]
) -> Answer:
    """POST a prepared body through `client`'s pool, read the answer (up to the response cap),
    and return it.

    With an `OutboundClient` the request goes to its aiohttp pool directly. Any other client
    (a test's mock transport) gets the request built here rather than by `client.post`, which
    would merge the client's base URL, headers, cookies and parameters into every request.
    """
    if isinstance(client, OutboundClient):
        return await _post_pooled(client, url, content=content, headers=headers)
    request = httpx.Request(
        "POST",
        sendable_url(url),
        content=content,
        headers={"User-Agent": USER_AGENT, **headers},
        extensions={"timeout": client.timeout.as_dict()},
    )
    response = await client.send(request, follow_redirects=False)
    return Answer(response.status_code, response.text, response.headers)
