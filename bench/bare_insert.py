"""The ingest ceiling: a bare FastAPI endpoint doing one asyncpg INSERT per event.

Served on its own by uvicorn (no access log), against the table `bare_events`, which the
ingest benchmark creates:

    BARE_DSN=postgresql://root@127.0.0.1/db python -m uvicorn bench.bare_insert:app --port P
"""

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

INSERT = "INSERT INTO bare_events (dedup_key, summary, body) VALUES ($1, $2, $3)"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    pool_size = int(os.environ.get("BARE_POOL_SIZE", "20"))
    app.state.pool = await asyncpg.create_pool(
        os.environ["BARE_DSN"], min_size=pool_size, max_size=pool_size
    )
    yield
    await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.post("/v2/enqueue", status_code=202)
async def enqueue(request: Request) -> JSONResponse:
    body: dict[str, Any] = await request.json()
    dedup_key = body.get("dedup_key") or ""
    summary = (body.get("payload") or {}).get("summary", "")
    await request.app.state.pool.execute(INSERT, dedup_key, summary, json.dumps(body))
    return JSONResponse(
        {"status": "success", "message": "Event processed", "dedup_key": dedup_key},
        status_code=202,
    )
