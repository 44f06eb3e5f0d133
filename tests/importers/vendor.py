"""A loopback HTTP(S) server speaking a pager vendor's REST API shape from recorded data.

The importers are synchronous (the `pagerduty` client is), so the server runs in a thread.
"""

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme

Query = dict[str, list[str]]
Route = Callable[[str, Query], Any]


@dataclass
class Seen:
    path: str
    query: Query
    headers: dict[str, str]
    at: float
    status: int


@dataclass
class Vendor:
    """Routes by exact path (and a fallback), a 429 for the first request to some paths."""

    routes: dict[str, Route]
    rate_limit_once: set[str] = field(default_factory=set)
    retry_after_seconds: int = 1
    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, query: Query, headers: dict[str, str]) -> tuple[int, Any]:
        with self.lock:
            limited = path in self.rate_limit_once
            self.rate_limit_once.discard(path)
        if limited:
            status, body = 429, {"error": {"message": "Rate Limit Exceeded", "code": 2020}}
        elif path in self.routes:
            status, body = 200, self.routes[path](self.url, query)
        else:
            status, body = 404, {"error": {"message": "Not Found", "code": 2100}}
        with self.lock:
            self.seen.append(Seen(path, query, headers, time.monotonic(), status))
        return status, body


def _handler(vendor: Vendor) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body = vendor.answer(parts.path, parse_qs(parts.query), headers)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 429:
                self.send_header("Retry-After", str(vendor.retry_after_seconds))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serving(vendor: Vendor, *, tls_dir: Path | None = None) -> Iterator[ssl.SSLContext | None]:
    """Serve `vendor` on a random loopback port (HTTPS with a test CA when `tls_dir` is given);
    yields the client SSL context that trusts it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(vendor))
    client_context = None
    scheme = "http"
    if tls_dir is not None:
        ca = trustme.CA()
        pem = tls_dir / "vendor.pem"
        ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(str(pem))
        server.socket = server_context.wrap_socket(server.socket, server_side=True)
        client_context = ssl.create_default_context()
        ca.configure_trust(client_context)
        scheme = "https"
    vendor.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield client_context
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def page_of(items: list[Any], query: Query, *, size: int) -> tuple[list[Any], int, bool]:
    """The page `offset`/`limit` asks for, never longer than `size`; and whether more follow."""
    offset = int(query.get("offset", ["0"])[0])
    limit = min(int(query.get("limit", [str(size)])[0]), size)
    return items[offset : offset + limit], offset, offset + limit < len(items)
