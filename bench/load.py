"""A closed-loop HTTP load for the benchmarks: N connections, one request after another."""

import asyncio
import resource
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.common import summary_ms

# One request on the session; its status, or None when there is nothing left to send.
Send = Callable[[aiohttp.ClientSession], Awaitable[int | None]]


@dataclass
class Load:
    """What a closed loop saw: answers by status, latencies of the 2xx, wall and client CPU."""

    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    client_cpu_seconds: float = 0.0
    ran_out: bool = False

    def add(self, other: "Load") -> None:
        """Count another run's answers in with these (interleaved rounds of one measurement)."""
        self.seconds += other.seconds
        self.statuses.update(other.statuses)
        self.errors += other.errors
        self.latencies_ms += other.latencies_ms
        self.client_cpu_seconds += other.client_cpu_seconds
        self.ran_out = self.ran_out or other.ran_out

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    def report(self) -> dict[str, Any]:
        """The figures of the run, for the result file."""
        return {
            "seconds": round(self.seconds, 2),
            "ok": self.ok,
            "per_second": round(self.ok / self.seconds, 1) if self.seconds else 0.0,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "transport_errors": self.errors,
            "ran_out_of_work": self.ran_out,
            "latency": summary_ms(self.latencies_ms),
            "client_cpu_cores": round(self.client_cpu_seconds / self.seconds, 2)
            if self.seconds
            else 0.0,
        }


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def closed_loop(
    send: Send,
    *,
    base_url: str,
    connections: int,
    seconds: float,
    headers: dict[str, str] | None = None,
) -> Load:
    """Run `send` on `connections` concurrent loops for `seconds` (or until it runs out)."""
    load = Load()
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(base_url, connector=connector, headers=headers) as http:
        stop_at = time.monotonic() + seconds

        async def loop() -> None:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    status = await send(http)
                except aiohttp.ClientError:
                    load.errors += 1
                    continue
                if status is None:
                    load.ran_out = True
                    return
                load.statuses[status] += 1
                if 200 <= status < 300:
                    load.latencies_ms.append((time.perf_counter() - started) * 1000)

        cpu_before = _own_cpu_seconds()
        started = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(connections)))
        load.seconds = time.monotonic() - started
        load.client_cpu_seconds = _own_cpu_seconds() - cpu_before
    return load
