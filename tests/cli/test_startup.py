"""Start-up warnings that do not need a running process."""

import logging

import pytest

from app.config import Settings
from app.startup import warn_public_url


@pytest.mark.parametrize(
    ("host", "public_url", "warned"),
    [
        ("0.0.0.0", "", True),
        ("0.0.0.0", "http://localhost:8080", True),
        ("0.0.0.0", "https://pager.example.com", False),
        ("127.0.0.1", "", False),
        ("10.0.0.5", "", False),
    ],
)
def test_a_loopback_public_url_on_every_interface_is_warned_about(
    host: str, public_url: str, warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(host=host, port=9000, public_url=public_url)
    with caplog.at_level(logging.WARNING, logger="stairway"):
        assert warn_public_url(settings) is warned
    assert ("STAIRWAY_PUBLIC_URL" in caplog.text) is warned
