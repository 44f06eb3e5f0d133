"""The API documentation works without internet access and covers every public route."""

import re
from typing import Any

import httpx


async def test_docs_and_redoc_load_their_assets_from_stairway(client: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        html = (await client.get(page)).text
        sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
        assert sources, html
        external = [s for s in sources if s.startswith(("http:", "https:", "//"))]
        assert external == [], f"{page} loads {external}"
        for source in sources:
            asset = await client.get(source)
            assert asset.status_code == 200, source
            assert len(asset.content) > 1000, source
    swagger = (await client.get("/docs")).text
    assert "/docs/assets/swagger-ui-bundle.js" in swagger
    assert "'/openapi.json'" in swagger or '"/openapi.json"' in swagger
    assert "/docs/assets/redoc.standalone.js" in (await client.get("/redoc")).text


def _form_fields(operation: dict[str, Any]) -> set[str]:
    schema = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    return set(schema["properties"])


async def test_the_callbacks_and_action_links_are_in_the_openapi(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    slack = paths["/integrations/slack/actions"]["post"]
    assert _form_fields(slack) == {"payload"}
    assert {p["name"] for p in slack["parameters"]} == {
        "X-Slack-Signature",
        "X-Slack-Request-Timestamp",
    }
    twilio = paths["/integrations/twilio/sms"]["post"]
    assert {"From", "Body", "MessageSid"} <= _form_fields(twilio)
    assert "text/xml" in twilio["responses"]["200"]["content"]
    pushover = paths["/integrations/pushover/ack/{token}"]["post"]
    assert {"acknowledged", "acknowledged_by", "receipt"} <= _form_fields(pushover)
    assert {"200", "403", "422"} <= set(pushover["responses"])
    links = paths["/r/{token}"]
    assert set(links) == {"get", "post"}
    assert "application/json" in links["post"]["responses"]["200"]["content"]
