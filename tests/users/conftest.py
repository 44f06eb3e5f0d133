import httpx
import pytest

from tests.factories import Api


@pytest.fixture
def api(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> Api:
    return Api(client, admin_headers)
