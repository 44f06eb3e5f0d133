"""The delivery ceiling: COUNT POSTs of a page-sized body to a sink, 100 in flight (aiohttp).

    python -m bench.bare_post URL COUNT   # prints {"posts": ..., "seconds": ..., ...}

The delivery benchmark runs it in a process of its own at the worker's CPU priority.
"""

import json
import sys

import aiohttp

from bench.load import closed_loop

CONNECTIONS = 100
BODY = json.dumps({"event": "incident.page", "padding": "x" * 1400})


async def posts(url: str, count: int) -> dict[str, float]:
    left = [count]

    async def send(http: aiohttp.ClientSession) -> int | None:
        if left[0] <= 0:
            return None
        left[0] -= 1
        headers = {"Content-Type": "application/json"}
        async with http.post("/bare", data=BODY, headers=headers) as response:
            await response.read()
            return response.status

    load = await closed_loop(send, base_url=url, connections=CONNECTIONS, seconds=3600)
    return {
        "posts": load.ok,
        "seconds": round(load.seconds, 2),
        "posts_per_second": round(load.ok / load.seconds, 1),
        "cpu_cores": round(load.client_cpu_seconds / load.seconds, 2),
    }


if __name__ == "__main__":
    import uvloop

    print(json.dumps(uvloop.run(posts(sys.argv[1], int(sys.argv[2])))))
