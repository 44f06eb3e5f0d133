"""Read DATABASE_URL in the forms operators write it, including libpq's multi-host form."""

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

POSTGRES_PORT = 5432
_PLAIN_SCHEMES = frozenset({"postgres", "postgresql"})
_ASYNCPG_SCHEME = "postgresql+asyncpg"


def _host_port(item: str) -> str:
    host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
    if not host or item.startswith("["):
        raise ValueError(
            f"DATABASE_URL: cannot read host {item!r} of a multi-host URL "
            "(write each as name:port, e.g. db1:5432,db2:5432)"
        )
    if port and not port.isdigit():
        raise ValueError(f"DATABASE_URL: bad port in {item!r}")
    return f"{host}:{port or POSTGRES_PORT}"


def normalize_database_url(url: str) -> str:
    """The SQLAlchemy asyncpg form of a PostgreSQL URL.

    `postgresql://` and `postgres://` mean asyncpg here (the only driver Stairway ships), and
    libpq's `postgresql://user@db1:5432,db2:5432/stairway?target_session_attrs=read-write`
    becomes SQLAlchemy's `postgresql+asyncpg://user@/stairway?host=db1:5432&host=db2:5432&...`:
    asyncpg tries the hosts in order and keeps the first that matches `target_session_attrs`.
    """
    if not url:
        return url
    parts = urlsplit(url)
    scheme = _ASYNCPG_SCHEME if parts.scheme in _PLAIN_SCHEMES else parts.scheme
    userinfo, at, hostlist = parts.netloc.rpartition("@")
    if "," not in hostlist:
        return urlunsplit(parts._replace(scheme=scheme))
    hosts = [_host_port(item) for item in hostlist.split(",") if item]
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(name in ("host", "port") for name, _ in query):
        raise ValueError("DATABASE_URL: give the hosts either before the path or as ?host=")
    query += [("host", host) for host in hosts]
    return urlunsplit(
        (
            scheme,
            userinfo + at,
            parts.path,
            urlencode(query, safe=":", quote_via=quote),
            parts.fragment,
        )
    )
