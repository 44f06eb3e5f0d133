"""DATABASE_URL and REDIS_URL in the forms operators write them, HA forms included."""

import pytest
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import make_url

from app.config import Settings
from app.database_url import normalize_database_url
from app.redis_url import arq_redis_settings, parse_sentinel_url


def _connect_args(url: str) -> dict[str, object]:
    # SQLAlchemy's dialect classes are unannotated.
    dialect = asyncpg_dialect()  # type: ignore[no-untyped-call]
    _, options = dialect.create_connect_args(make_url(normalize_database_url(url)))  # type: ignore[no-untyped-call]
    return dict(options)


def test_a_libpq_multi_host_url_reaches_asyncpg_as_a_host_list() -> None:
    url = (
        "postgresql://stairway:s%40cret@db1:5432,db2:6432,db3/pager?target_session_attrs=read-write"
    )
    assert _connect_args(url) == {
        "user": "stairway",
        "password": "s@cret",
        "database": "pager",
        "host": ["db1", "db2", "db3"],
        "port": [5432, 6432, 5432],
        "target_session_attrs": "read-write",
    }


def test_sqlalchemys_own_multi_host_form_is_kept() -> None:
    url = "postgresql+asyncpg://root@/postgres?host=a:5433&host=b:5434&target_session_attrs=primary"
    assert normalize_database_url(url) == url
    assert _connect_args(url)["host"] == ["a", "b"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u@db/x", "postgresql+asyncpg://u@db/x"),
        ("postgresql://u@db:5433/x", "postgresql+asyncpg://u@db:5433/x"),
        ("postgresql+asyncpg://u@db/x", "postgresql+asyncpg://u@db/x"),
        ("", ""),
    ],
)
def test_single_host_urls_use_asyncpg(url: str, expected: str) -> None:
    assert normalize_database_url(url) == expected


def test_settings_read_database_url_through_the_same_rules() -> None:
    settings = Settings(database_url="postgresql://root@h1,h2/stairway")
    assert settings.database_url == "postgresql+asyncpg://root@/stairway?host=h1:5432&host=h2:5432"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://u@db1:x,db2/s", "bad port"),
        ("postgresql://u@db1,db2/s?host=db3", "either before the path or as"),
    ],
)
def test_unreadable_multi_host_urls_say_why(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize_database_url(url)


def test_a_sentinel_url_names_sentinels_master_and_database() -> None:
    target = parse_sentinel_url(
        "redis+sentinel://:pw@s1:26379,s2,[::1]:26380/mymaster/2?sentinel_password=spw"
    )
    assert target.sentinels == (("s1", 26379), ("s2", 26379), ("::1", 26380))
    assert (target.service_name, target.database) == ("mymaster", 2)
    assert (target.password, target.sentinel_password, target.ssl) == ("pw", "spw", False)


def test_arq_gets_sentinel_settings_for_a_sentinel_url() -> None:
    settings = arq_redis_settings("rediss+sentinel://h1:26379,h2:26379/cache", command_retries=3)
    assert settings.sentinel is True
    assert settings.host == [("h1", 26379), ("h2", 26379)]
    assert (settings.sentinel_master, settings.database, settings.ssl) == ("cache", 0, True)
    assert settings.retry is not None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://h1:26379", "names the monitored master"),
        ("redis+sentinel:///mymaster", "at least one sentinel"),
        ("redis+sentinel://h1:port/mymaster", "bad port"),
        ("redis+sentinel://h1/mymaster/zero", "must be a number"),
        ("memcached://h1", "redis\\+sentinel://"),
    ],
)
def test_unreadable_redis_urls_say_why(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        arq_redis_settings(url)
