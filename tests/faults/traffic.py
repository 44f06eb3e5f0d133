"""Steady traffic through faults: a monitoring system sending alerts, a responder acknowledging.

The sender behaves like Alertmanager or a PagerDuty client: each alert has its own dedup key and
is sent again until one API answers 2xx; a 503 must carry `Retry-After`, and a refused
connection goes to the next API process (what a load balancer does for a stopped backend).
"""

import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from tests.faults.scenario import Storm
from tests.support import HttpSink, Received

# The sender waits what Retry-After says, but no longer than this, so a test stays short.
MAX_RETRY_WAIT_SECONDS = 0.25
PAUSE_SECONDS = 0.05


@dataclass
class Answer:
    at: float
    status: int  # 0: no HTTP answer (connection refused or reset, timed out)
    retry_after: str | None


@dataclass
class Sender:
    """Sends alerts (half through /v2/enqueue, half through /api/v1/incidents) until stopped."""

    storm: Storm
    routing_key: str
    api_urls: list[str]
    name: str = "alert"
    accepted: dict[str, float] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    running: bool = True
    sent: int = 0
    _turn: int = 0

    def _next_url(self) -> str:
        self._turn += 1
        return self.api_urls[self._turn % len(self.api_urls)]

    async def _post(self, client: httpx.AsyncClient, number: int, dedup_key: str) -> Answer:
        url = self._next_url()
        if number % 2:
            request = client.post(
                f"{url}/api/v1/incidents",
                json={
                    "service_id": self.storm.service_id,
                    "title": dedup_key,
                    "dedup_key": dedup_key,
                },
                headers=self.storm.headers,
            )
        else:
            request = client.post(
                f"{url}/v2/enqueue",
                json={
                    "routing_key": self.routing_key,
                    "event_action": "trigger",
                    "dedup_key": dedup_key,
                    "payload": {"summary": dedup_key, "source": "sender", "severity": "critical"},
                },
            )
        try:
            response = await request
        except httpx.TransportError:
            return Answer(time.monotonic(), 0, None)
        return Answer(time.monotonic(), response.status_code, response.headers.get("retry-after"))

    async def _send(self, client: httpx.AsyncClient, number: int) -> None:
        dedup_key = f"{self.name}-{number}"
        while True:
            answer = await self._post(client, number, dedup_key)
            self.answers.append(answer)
            if 200 <= answer.status < 300:
                self.accepted[dedup_key] = answer.at
                return
            wait = PAUSE_SECONDS
            if answer.status == 503 and answer.retry_after:
                wait = min(float(answer.retry_after), MAX_RETRY_WAIT_SECONDS)
            await asyncio.sleep(wait)

    async def run(self, *, concurrency: int = 2, pause_seconds: float = PAUSE_SECONDS) -> None:
        async def loop() -> None:
            async with httpx.AsyncClient(timeout=10) as client:
                while self.running:
                    number = self.sent
                    self.sent += 1
                    await self._send(client, number)
                    await asyncio.sleep(pause_seconds)

        await asyncio.gather(*(loop() for _ in range(concurrency)))

    async def wait_accepted(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.accepted) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(self.accepted)} of {count} alerts accepted")
            await asyncio.sleep(PAUSE_SECONDS)

    def statuses(self) -> Counter[int]:
        return Counter(answer.status for answer in self.answers)

    def refusals_without_retry_after(self) -> list[Answer]:
        return [a for a in self.answers if a.status == 503 and not a.retry_after]

    def longest_gap_seconds(self) -> float:
        """The longest time between two accepted alerts: the time without service."""
        times = sorted(self.accepted.values())
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


@dataclass
class Responder:
    """Acknowledges, at its first page, every incident whose alert number is even."""

    storm: Storm
    sink: HttpSink
    api_urls: list[str]
    acked_at: dict[str, float] = field(default_factory=dict)
    running: bool = True
    _seen: int = 0

    def _to_ack(self) -> list[str]:
        new = self.sink.received[self._seen :]
        self._seen += len(new)
        wanted = []
        for page in new:
            if page.path != self.storm.path(1):
                continue
            incident = page.json()["incident"]
            number = incident["dedup_key"].rpartition("-")[2]
            if number.isdigit() and int(number) % 2 == 0:
                wanted.append(incident["id"])
        return wanted

    async def _ack(self, client: httpx.AsyncClient, incident_id: str) -> None:
        for turn in itertools.count():
            url = self.api_urls[turn % len(self.api_urls)]
            try:
                response = await client.post(
                    f"{url}/api/v1/incidents/{incident_id}/acknowledge", headers=self.storm.headers
                )
            except httpx.TransportError:
                continue
            if response.status_code == 200:
                self.acked_at[incident_id] = time.time()
                return
            assert response.status_code == 503, response.text
            await asyncio.sleep(PAUSE_SECONDS)

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            while self.running:
                for incident_id in self._to_ack():
                    await self._ack(client, incident_id)
                await asyncio.sleep(PAUSE_SECONDS)

    def pages_after_ack(self) -> list[Received]:
        """Pages that reached the sink after their incident's acknowledgement committed."""
        return [
            page
            for page in self.sink.received
            if page.path.startswith(f"/{self.storm.name}/")
            and page.at > self.acked_at.get(page.json()["incident"]["id"], float("inf"))
        ]
