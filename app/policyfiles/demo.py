"""The example set on a development installation: the page sink that the example users'
webhooks point at, the test key, and how to trigger and acknowledge a page."""

import asyncio
import json
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

# policies/people.yaml points every example user's webhook here.
SINK_HOST = "127.0.0.1"
SINK_PORT = 8099
EXAMPLE_SERVICE = "payments-api"
EXAMPLE_KEY = "pagerduty"
# The example integration keys issued into the embedded database, kept beside its data (which
# holds everything else in the clear anyway) so that every start can show the same key.
KEYS_FILE = "example-keys.json"

MAX_BODY_BYTES = 1024 * 1024
_OK = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
    b"Connection: close\r\n\r\nok"
)
_BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def describe(path: str, body: bytes, *, at: datetime) -> str:
    """A page (or any other JSON POST) as a few readable lines."""
    stamp = at.strftime("%H:%M:%S")
    try:
        doc: Any = json.loads(body)
    except ValueError:
        return f"[{stamp}] {path}: {len(body)} bytes (not JSON)"
    if not isinstance(doc, dict) or doc.get("event") != "incident.page":
        event = doc.get("event") or doc.get("type") if isinstance(doc, dict) else None
        return f"[{stamp}] {path}: {event or 'a JSON document'}"
    incident = doc.get("incident") or {}
    user = (doc.get("user") or {}).get("name") or "?"
    lines = [
        f"[{stamp}] PAGE for {user} ({path}): #{incident.get('number')} "
        f"{incident.get('title')!r} [{incident.get('severity')}, {incident.get('status')}] "
        f"level {doc.get('level')}, loop {doc.get('loop')}"
    ]
    for action, url in (doc.get("actions") or {}).items():
        lines.append(f"           {action}: curl -sS -X POST -H 'Accept: application/json' '{url}'")
    return "\n".join(lines)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, bytes] | None:
    head = await reader.readuntil(b"\r\n\r\n")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3:
        return None
    length = 0
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip() or 0)
    if length > MAX_BODY_BYTES:
        return None
    body = await reader.readexactly(length) if length else b""
    return parts[1], body


def sink_handler(
    write: Callable[[str], None],
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
    """An HTTP/1.1 handler that answers 200 to every request and describes what it got."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            if request is None:
                writer.write(_BAD)
            else:
                writer.write(_OK)
                write(describe(request[0], request[1], at=datetime.now()))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            writer.write(_BAD)
        except ConnectionError:
            pass  # the sender went away; nothing to answer
        finally:
            writer.close()

    return handle


async def start_sink(host: str, port: int, write: Callable[[str], None]) -> asyncio.Server:
    """Listen on host:port; the caller closes the server."""
    return await asyncio.start_server(sink_handler(write), host, port)


def instructions(*, public_url: str, routing_key: str | None, service: str, key: str) -> str:
    """How to trigger, watch and acknowledge a test incident."""
    base = public_url.rstrip("/")
    if routing_key is None:
        return f"No integration key {service}/{key} to trigger with (see docs/policies.md)."
    event = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": "demo-checkout-latency",
        "payload": {
            "summary": "Checkout p99 latency above 2s",
            "source": "demo",
            "severity": "critical",
        },
    }
    resolve = {**event, "event_action": "resolve"}
    del resolve["payload"]
    return "\n".join(
        [
            f"Trigger a test incident on {service} (PagerDuty Events API v2):",
            f"  curl -sS {base}/v2/enqueue -H 'Content-Type: application/json' \\",
            f"    -d '{json.dumps(event)}'",
            "Pages print below as they arrive; acknowledge with the curl line under a page.",
            "Resolve it from the monitoring side:",
            f"  curl -sS {base}/v2/enqueue -H 'Content-Type: application/json' \\",
            f"    -d '{json.dumps(resolve)}'",
        ]
    )


def remember_keys(data_dir: Path, keys: dict[str, str]) -> None:
    """Keep example integration keys ("service/key": secret) for later starts (mode 0600)."""
    path = data_dir / KEYS_FILE
    kept = {**remembered_keys(data_dir), **keys}
    data_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(kept, out, indent=2)


def remembered_keys(data_dir: Path) -> dict[str, str]:
    """The example keys kept by `remember_keys` ({} when none)."""
    try:
        kept = json.loads((data_dir / KEYS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in kept.items()} if isinstance(kept, dict) else {}
