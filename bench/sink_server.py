"""A page sink in its own process: answers 200 to every POST and remembers when it came.

    python -m uvicorn bench.sink_server:app --port P --no-access-log

`GET /count` is the number of pages so far; `GET /receipts` lists `[receive time (Unix s),
X-Stairway-Delivery]` for each.
"""

import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

receipts: list[tuple[float, str]] = []
OK = b'{"ok":true}'


async def page(request: Request) -> Response:
    at = time.time()
    await request.body()
    receipts.append((at, request.headers.get("x-stairway-delivery", "")))
    return Response(OK, media_type="application/json")


async def count(request: Request) -> Response:
    return JSONResponse({"count": len(receipts)})


async def listing(request: Request) -> Response:
    return JSONResponse(receipts)


app = Starlette(
    routes=[
        Route("/count", count, methods=["GET"]),
        Route("/receipts", listing, methods=["GET"]),
        Route("/{path:path}", page, methods=["POST"]),
    ]
)
