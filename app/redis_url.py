"""Turn a Redis URL into arq connection settings."""

from urllib.parse import parse_qs, unquote, urlsplit

from arq.connections import RedisSettings
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

_SCHEMES = frozenset({"redis", "rediss", "unix"})


def arq_redis_settings(redis_url: str, *, command_retries: int = 0) -> RedisSettings:
    """arq settings for a redis://, rediss:// or unix:///path.sock?db=N URL.

    `command_retries` > 0 makes every command reconnect and retry with backoff (workers ride
    out a Redis restart this way); the API keeps 0 so a request never waits on a dead Redis.
    """
    parts = urlsplit(redis_url)
    if parts.scheme not in _SCHEMES:
        raise ValueError(
            f"unsupported Redis URL scheme {parts.scheme!r} (use redis, rediss or unix)"
        )
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
    if command_retries:
        settings.retry = Retry(ExponentialBackoff(cap=2.0, base=0.05), command_retries)
        settings.retry_on_error = [RedisConnectionError, RedisTimeoutError, OSError]
        settings.conn_retries = command_retries
    if "ssl_cert_reqs" in query:
        # managed Redis services often need ssl_cert_reqs=none, as redis-py's from_url accepts
        settings.ssl_cert_reqs = query["ssl_cert_reqs"]
    return settings
