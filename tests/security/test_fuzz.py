"""Schemathesis against a live server: no 5xx, and every response matches the OpenAPI schema."""

import asyncio
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from app.config import Settings
from app.main import create_app
from tests.factories import Api
from tests.security.world import build_world, path_ids

# Examples per operation: about 50 operations, so the whole run stays within a minute or two.
EXAMPLES_PER_OPERATION = 25
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture
def live_url(settings: Settings, app: Any) -> Iterator[str]:
    """A second app instance served by uvicorn on loopback, on its own queue.

    `app` is requested so the tables are emptied first; the jobs this run enqueues stay on the
    fuzz queue, which no worker consumes.
    """
    fuzz_settings = settings.model_copy(update={"queue_name": f"stairway:fuzz:{uuid.uuid4().hex}"})
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = uvicorn.Config(create_app(fuzz_settings), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    # The socket already listens, so requests made before uvicorn is up just wait in the backlog.
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def _check_operation(
    operation: Any, live_url: str, headers: dict[str, str], http: requests.Session, real: Any
) -> None:
    """Fuzz one operation; raises what schemathesis finds."""

    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy())
    def run(case: Any) -> None:
        if case.path_parameters:
            case.path_parameters = {**case.path_parameters, **real}
        response = case.call(base_url=live_url, headers=headers, session=http, timeout=10)
        case.validate_response(response, checks=CHECKS)

    run()


def _fuzz(live_url: str, headers: dict[str, str], ids: dict[str, str]) -> list[str]:
    """Run every operation (deletions last) with real ids in its path; the failures found."""
    openapi = requests.get(f"{live_url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(openapi)
    # An operation schemathesis cannot read fails the test here (Err has no ok()).
    operations: list[Any] = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    failures: list[str] = []
    http = requests.Session()
    for operation in operations:
        try:
            _check_operation(operation, live_url, headers, http, path_ids(operation.path, ids))
        except Exception as exc:
            failures.append(f"{operation.label}: {exc}")
    return failures


async def test_fuzzing_finds_no_server_errors_and_no_schema_violations(
    live_url: str, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    world = await build_world(Api(client, admin_headers))
    failures = await asyncio.to_thread(_fuzz, live_url, admin_headers, world.ids)
    assert failures == [], "\n\n".join(failures)
