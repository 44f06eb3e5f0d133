"""Turn a Redis URL into arq connection settings, or a Redis Sentinel-managed client."""

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import (
    Sentinel,
    SentinelManagedConnection,
    SentinelManagedSSLConnection,
)
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

_SCHEMES = frozenset({"redis", "rediss", "unix"})
_SENTINEL_SCHEMES = frozenset({"redis+sentinel", "rediss+sentinel"})
SENTINEL_PORT = 26379
# A worker's commands reconnect and retry this often (backoff capped at 2 s): about a minute.
WORKER_COMMAND_RETRIES = 40
URL_FORMS = (
    "redis://[user:password@]host[:port][/db], rediss://..., unix:///path.sock?db=N, or "
    "redis+sentinel://[user:password@]host1[:port],host2[:port],.../service-name[/db]"
)


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    """Where a Sentinel-managed Redis is: the sentinels to ask, and which master to ask for."""

    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    database: int
    username: str | None
    password: str | None
    sentinel_password: str | None
    ssl: bool


def is_sentinel_url(redis_url: str) -> bool:
    """True for a redis+sentinel:// (or rediss+sentinel://) URL."""
    return urlsplit(redis_url).scheme in _SENTINEL_SCHEMES


def _host_port(item: str, default_port: int) -> tuple[str, int]:
    if item.startswith("["):  # [::1]:26379
        host, _, rest = item[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
    if not host:
        raise ValueError(f"a Sentinel URL has an empty host in {item!r}")
    try:
        return host, int(port) if port else default_port
    except ValueError:
        raise ValueError(f"a Sentinel URL has a bad port in {item!r}") from None


def parse_sentinel_url(redis_url: str) -> SentinelTarget:
    """Read redis+sentinel://[user:password@]h1:26379,h2:26379/service-name[/db]."""
    parts = urlsplit(redis_url)
    if parts.scheme not in _SENTINEL_SCHEMES:
        raise ValueError(f"not a Sentinel URL: scheme {parts.scheme!r}")
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    sentinels = tuple(_host_port(item, SENTINEL_PORT) for item in hostlist.split(",") if item)
    if not sentinels:
        raise ValueError("a Sentinel URL needs at least one sentinel host:port")
    path = [segment for segment in parts.path.split("/") if segment]
    if not path or len(path) > 2:
        raise ValueError(
            "a Sentinel URL names the monitored master after the hosts: "
            "redis+sentinel://h1:26379,h2:26379/mymaster[/db]"
        )
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    database = path[1] if len(path) == 2 else query.get("db", "0")
    if not database.isdigit():
        raise ValueError(f"a Sentinel URL's database must be a number, not {database!r}")
    return SentinelTarget(
        sentinels=sentinels,
        service_name=unquote(path[0]),
        database=int(database),
        username=unquote(username) or None,
        password=unquote(password) or query.get("password") or None,
        sentinel_password=query.get("sentinel_password") or None,
        ssl=parts.scheme == "rediss+sentinel",
    )


def arq_redis_settings(redis_url: str, *, command_retries: int = 0) -> RedisSettings:
    """arq settings for a redis://, rediss://, unix:///path.sock?db=N or redis+sentinel:// URL.

    `command_retries` > 0 makes every command reconnect and retry with backoff (workers ride
    out a Redis restart or a Sentinel failover this way); the API keeps 0 so a request never
    waits on a dead Redis.
    """
    parts = urlsplit(redis_url)
    if parts.scheme in _SENTINEL_SCHEMES:
        target = parse_sentinel_url(redis_url)
        settings = RedisSettings(
            host=list(target.sentinels),
            sentinel=True,
            sentinel_master=target.service_name,
            database=target.database,
            username=target.username,
            password=target.password,
            ssl=target.ssl,
        )
        return _with_retries(settings, command_retries)
    if parts.scheme not in _SCHEMES:
        raise ValueError(f"unsupported Redis URL scheme {parts.scheme!r} (use {URL_FORMS})")
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    username = unquote(parts.username) if parts.username else query.get("username")
    password = unquote(parts.password) if parts.password else query.get("password")
    database_path = parts.path.strip("/") if parts.scheme != "unix" else ""
    database = int(query.get("db") or database_path or 0)
    settings = RedisSettings(
        host=parts.hostname or "localhost",
        port=parts.port or 6379,
        database=database,
        username=username or None,
        password=password or None,
        ssl=parts.scheme == "rediss",
    )
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("a unix:// Redis URL needs a socket path, e.g. unix:///run/redis.sock")
        settings.unix_socket_path = unquote(parts.path)
    if "ssl_cert_reqs" in query:
        # managed Redis services often need ssl_cert_reqs=none, as redis-py's from_url accepts
        settings.ssl_cert_reqs = query["ssl_cert_reqs"]
    return _with_retries(settings, command_retries)


def _with_retries(settings: RedisSettings, command_retries: int) -> RedisSettings:
    if command_retries:
        settings.retry = Retry(ExponentialBackoff(cap=2.0, base=0.05), command_retries)
        settings.retry_on_error = [RedisConnectionError, RedisTimeoutError, OSError]
        settings.conn_retries = command_retries
    return settings


class _AskAgainOnRetry:
    """One connection attempt per address the sentinels give.

    redis-py retries the socket connect to the same address inside the retry that asks the
    sentinels: with a dead master that inner loop would spend the whole budget on the old
    address and never ask again. With one attempt each, the next retry asks the sentinels and
    reaches the promoted replica.
    """

    retry: Retry

    async def connect_to(self, address: tuple[str, int]) -> None:
        retry, self.retry = self.retry, Retry(NoBackoff(), 0)
        try:
            await super().connect_to(address)  # type: ignore[misc]
        finally:
            self.retry = retry


class _FailoverConnection(_AskAgainOnRetry, SentinelManagedConnection):
    pass


class _FailoverSSLConnection(_AskAgainOnRetry, SentinelManagedSSLConnection):
    pass


def sentinel_client(redis_url: str, *, queue_name: str, command_retries: int = 0) -> ArqRedis:
    """An arq client of the master the sentinels name (asked again after each lost connection).

    arq's own Sentinel support drops the retry and timeout settings; this keeps them, so a
    worker's commands ride out the seconds a failover takes instead of failing.
    """
    target = parse_sentinel_url(redis_url)
    settings = arq_redis_settings(redis_url, command_retries=command_retries)
    connection: dict[str, Any] = {
        "db": target.database,
        "username": target.username,
        "password": target.password,
        "socket_connect_timeout": settings.conn_timeout,
    }
    if settings.retry is not None:
        connection.update(retry=settings.retry, retry_on_error=settings.retry_on_error)
    sentinel_options: dict[str, Any] = {"socket_connect_timeout": settings.conn_timeout}
    if target.sentinel_password:
        sentinel_options["password"] = target.sentinel_password
    if target.ssl:
        sentinel_options["ssl"] = True
    manager = Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels), sentinel_kwargs=sentinel_options, **connection
    )
    client: ArqRedis = manager.master_for(
        target.service_name,
        redis_class=ArqRedis,
        connection_class=_FailoverSSLConnection if target.ssl else _FailoverConnection,
    )
    client.default_queue_name = queue_name
    return client


async def connect_redis(
    redis_url: str, *, queue_name: str, command_retries: int = 0, attempts: int = 5
) -> ArqRedis:
    """An arq client for any supported URL, checked with a PING (a few tries, 1 s apart)."""
    if not is_sentinel_url(redis_url):
        settings = arq_redis_settings(redis_url, command_retries=command_retries)
        return await create_pool(settings, default_queue_name=queue_name)
    client = sentinel_client(redis_url, queue_name=queue_name, command_retries=command_retries)
    attempt = 1
    while True:
        try:
            await client.ping()
            return client
        except (TimeoutError, RedisError, OSError) as exc:
            if attempt >= attempts:
                await client.aclose()
                raise
            attempt += 1
            log.warning("Redis master not reachable yet", extra={"error": repr(exc)})
            await asyncio.sleep(1.0)
