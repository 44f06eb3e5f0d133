"""On-call notices through two real arq workers: a handoff notice arrives once per shift, a
reminder before it, and a schedule's owners (its team's managers, else the admins) get one
coverage-gap warning a day."""

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import col

from app.config import Settings
from app.models import OncallNotice
from tests.factories import Api
from tests.support import HttpSink
from tests.teams.conftest import join, team
from workers.main import make_worker

CRON = "cron:oncall_notices"
DASH = "\N{EN DASH}"


class Runs:
    """How many notice sweeps each worker has finished."""

    def __init__(self) -> None:
        self.count: Counter[int] = Counter()
        self.changed = asyncio.Condition()

    def hook(self, worker: int) -> Callable[[dict[str, Any]], Awaitable[None]]:
        async def finished(ctx: dict[str, Any]) -> None:
            if str(ctx.get("job_id", "")).startswith(CRON):
                async with self.changed:
                    self.count[worker] += 1
                    self.changed.notify_all()

        return finished

    async def more(self, runs: int, timeout: float = 30.0) -> None:
        """Until every worker has finished `runs` more sweeps than now."""
        target = {w: self.count[w] + runs for w in (0, 1)}
        async with self.changed:
            await asyncio.wait_for(
                self.changed.wait_for(lambda: all(self.count[w] >= target[w] for w in target)),
                timeout,
            )


@contextlib.asynccontextmanager
async def two_workers(settings: Settings, **changes: Any) -> AsyncIterator[Runs]:
    """Two arq workers on a queue of their own, with on-call notices on."""
    own = settings.model_copy(
        update={
            "queue_name": f"{settings.queue_name}:notices:{uuid.uuid4().hex[:6]}",
            "oncall_notices": True,
            "oncall_notice_interval_seconds": 1,
            **changes,
        }
    )
    runs = Runs()
    workers = [make_worker(own, after_job_end=runs.hook(i)) for i in (0, 1)]
    tasks = [asyncio.create_task(w.async_run()) for w in workers]
    try:
        yield runs
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for worker in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker.close()


def iso(moment: datetime) -> str:
    return moment.isoformat()


async def rotation(
    api: Api, name: str, users: list[dict[str, Any]], start: datetime
) -> dict[str, Any]:
    layer = {"participants": [u["id"] for u in users], "rotation": "daily", "start": iso(start)}
    body = {"name": name, "time_zone": "Europe/Berlin", "layers": [layer]}
    schedule: dict[str, Any] = await api.post("/schedules", body)
    return schedule


async def notices(app: Any) -> list[OncallNotice]:
    async with app.state.sessions() as session:
        return list(await session.scalars(select(OncallNotice).order_by(col(OncallNotice.kind))))


async def test_a_handoff_notice_arrives_once_per_shift_through_two_workers(
    api: Api, app: Any, settings: Settings, sink: HttpSink
) -> None:
    ana = await api.user("Ana", webhook=sink.url("/handoff-ana"))
    changed = await api.client.patch(
        f"/api/v1/users/{ana['id']}", json={"time_zone": "Europe/Berlin"}, headers=api.headers
    )
    assert changed.status_code == 200
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    await rotation(api, "primary", [ana, await api.user("Ben")], start)
    async with two_workers(settings) as runs:
        [received] = await sink.wait_count("/handoff-ana", 1, timeout=30)
        await runs.more(3)
    body = received.json()
    assert body["event"] == "notice.handoff"
    assert body["notice"]["title"] == "On call: primary"
    local = start.astimezone(ZoneInfo("Europe/Berlin"))
    until = (start + timedelta(days=1)).astimezone(ZoneInfo("Europe/Berlin"))
    assert body["notice"]["text"] == (
        f"You are on call for primary from {local:%a %d %b %H:%M} "
        f"until {until:%a %d %b %H:%M} (Europe/Berlin)."
    )
    assert len(sink.at("/handoff-ana")) == 1, "both workers swept three more times: still one"
    [row] = await notices(app)
    assert (row.kind, row.status, row.attempts) == ("handoff", "sent", 1)


async def test_a_reminder_comes_before_the_shift_and_the_handoff_not_yet(
    api: Api, app: Any, settings: Settings, sink: HttpSink
) -> None:
    ben = await api.user("Ben", webhook=sink.url("/handoff-ben"))
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=30)
    await rotation(api, "secondary", [ben, await api.user("Cleo")], start)
    async with two_workers(settings, oncall_reminder_minutes=60) as runs:
        [received] = await sink.wait_count("/handoff-ben", 1, timeout=30)
        await runs.more(2)
    assert received.json()["event"] == "notice.reminder"
    assert received.json()["notice"]["text"].startswith("You will be on call for secondary")
    assert len(sink.at("/handoff-ben")) == 1
    assert [n.kind for n in await notices(app)] == ["reminder"]


async def test_admins_get_one_coverage_gap_warning_a_day(
    api: Api, app: Any, settings: Settings, sink: HttpSink
) -> None:
    await api.user("Olga", webhook=sink.url("/gap-olga"), role="admin")
    ana = await api.user("Ana", webhook=sink.url("/gap-ana"))
    now = datetime.now(UTC).replace(microsecond=0)
    schedule = await api.post("/schedules", {"name": "thin", "time_zone": "UTC", "layers": []})
    # Ana covers the next 12 hours (from an hour ago: no handoff notice), then 4 hours later on.
    for start, end in ((-1, 12), (30, 34)):
        await api.post(
            f"/schedules/{schedule['id']}/overrides",
            {
                "user_id": ana["id"],
                "start": iso(now + timedelta(hours=start)),
                "end": iso(now + timedelta(hours=end)),
            },
        )
    async with two_workers(settings, coverage_gap_days=2, coverage_gap_hour_utc=0) as runs:
        [received] = await sink.wait_count("/gap-olga", 1, timeout=30)
        await runs.more(3)
    notice = received.json()["notice"]
    assert received.json()["event"] == "notice.coverage_gap"
    assert notice["title"] == "Nobody on call: thin"
    expected_gaps = [
        (now + timedelta(hours=12), now + timedelta(hours=30)),
        (now + timedelta(hours=34), None),
    ]
    text = notice["text"]
    for gap_start, gap_end in expected_gaps:
        assert f"{gap_start:%a %d %b %H:%M} {DASH} " in text
        if gap_end is not None:
            assert f" {DASH} {gap_end:%a %d %b %H:%M}" in text
    assert len(sink.at("/gap-olga")) == 1
    assert sink.at("/gap-ana") == []  # responders get no gap warnings


async def test_a_team_schedules_gaps_go_to_its_managers_and_global_ones_to_admins(
    api: Api, app: Any, settings: Settings, sink: HttpSink
) -> None:
    await api.user("Olga", webhook=sink.url("/owner-gap-olga"), role="admin")
    mia = await api.user("Mia", webhook=sink.url("/owner-gap-mia"))
    rui = await api.user("Rui", webhook=sink.url("/owner-gap-rui"))
    payments = await team(api, "payments")
    await join(api, payments["id"], mia, "manager")
    await join(api, payments["id"], rui, "responder")
    leaderless = await team(api, "search")  # no manager: its schedule's gaps go to admins
    for name, team_id in (("pay", payments["id"]), ("find", leaderless["id"]), ("all", None)):
        body: dict[str, Any] = {"name": name, "time_zone": "UTC", "layers": [], "team_id": team_id}
        await api.post("/schedules", body)  # nobody on call at all: one gap, the whole window
    pay_text = "pay has nobody on call at: "
    async with two_workers(settings, coverage_gap_days=1, coverage_gap_hour_utc=0) as runs:
        await sink.wait_count("/owner-gap-mia", 1, timeout=30)
        await sink.wait_count("/owner-gap-olga", 1, timeout=30)
        await runs.more(3)

    def titles(path: str) -> list[str]:
        return sorted(r.json()["notice"]["title"] for r in sink.at(path))

    assert titles("/owner-gap-mia") == ["Nobody on call: pay"]
    assert sink.at("/owner-gap-mia")[0].json()["notice"]["text"].startswith(pay_text)
    # Admins hear of global schedules and of teams without a manager, not of every team's gaps:
    # one warning listing both.
    assert titles("/owner-gap-olga") == ["Nobody on call: all, find"]
    text = sink.at("/owner-gap-olga")[0].json()["notice"]["text"]
    assert text.startswith("all has nobody on call at: ")
    assert ". find has nobody on call at: " in text
    assert "pay" not in text
    assert sink.at("/owner-gap-rui") == []  # a team's responders are not its schedule's owners
