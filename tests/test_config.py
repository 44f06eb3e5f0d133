"""Settings: the public URL follows the listen address unless it is set."""

import pytest

from app.config import Settings, is_loopback_url


@pytest.mark.parametrize(
    ("host", "port", "public_url"),
    [
        ("127.0.0.1", 8080, "http://127.0.0.1:8080"),
        ("127.0.0.1", 9000, "http://127.0.0.1:9000"),
        ("10.1.2.3", 8443, "http://10.1.2.3:8443"),
        ("pager.internal", 80, "http://pager.internal:80"),
        ("0.0.0.0", 9000, "http://127.0.0.1:9000"),
        ("::", 9000, "http://127.0.0.1:9000"),
        ("::1", 9000, "http://[::1]:9000"),
    ],
)
def test_the_public_url_defaults_to_the_listen_address(
    host: str, port: int, public_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STAIRWAY_PUBLIC_URL", raising=False)
    assert Settings(host=host, port=port).public_url == public_url


def test_a_public_url_that_is_set_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAIRWAY_PUBLIC_URL", "https://pager.example.com")
    settings = Settings(host="0.0.0.0", port=9000)
    assert settings.public_url == "https://pager.example.com"
    assert settings.listens_everywhere


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://127.3.4.5", True),
        ("http://localhost:8080", True),
        ("http://[::1]:8080", True),
        ("https://pager.example.com", False),
        ("http://10.0.0.5:8080", False),
    ],
)
def test_loopback_urls(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback
