"""Logs: JSON lines with the formatted traceback and the request id of every unexpected error;
STAIRWAY_LOG_JSON chooses the format."""

import json
import logging
from collections.abc import Iterator

import httpx
import pytest
import structlog
from fastapi import FastAPI

from app.errors import install_error_handlers
from app.logs import configure_logging
from app.request_ids import RequestIds


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def _failing_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestIds)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("the disk is on fire")

    return app


@pytest.mark.usefixtures("restore_logging")
async def test_an_unexpected_error_logs_its_traceback_and_request_id_as_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(json_logs=True)
    transport = httpx.ASGITransport(app=_failing_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/boom", headers={"X-Request-ID": "req-1234"})
        fresh = await client.get("/boom")
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-1234"
    assert fresh.headers["x-request-id"] not in ("", "req-1234")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    errors = [line for line in lines if line["level"] == "error"]
    assert [e["request_id"] for e in errors] == ["req-1234", fresh.headers["x-request-id"]]
    assert errors[0]["exception"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: the disk is on fire" in errors[0]["exception"]
    assert "exc_info" not in errors[0]


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(("setting", "as_json"), [("false", False), ("true", True)])
def test_stairway_log_json_chooses_the_format(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    as_json: bool,
) -> None:
    monkeypatch.setenv("STAIRWAY_LOG_JSON", setting)
    configure_logging()
    logging.getLogger("stairway").warning("page sent")
    line = capsys.readouterr().err.strip()
    assert "page sent" in line
    assert line.startswith("{") == as_json
