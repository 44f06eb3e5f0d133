"""Importers write policy files; these fixtures apply them to the test database and ask who is
on call through the REST API."""

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from app.importers.plan import Import, write_import
from tests.factories import Api
from tests.policies_code.conftest import Files, files  # noqa: F401  (the fixture)


def written(result: Import, out: Path) -> dict[str, bytes]:
    """Write an import (report beside the files) and return every file's bytes."""
    problems = write_import(result, out, out.parent / f"{out.name}-report.md")
    assert problems == [], [str(p) for p in problems]
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def sample_instants(entries: list[tuple[str, datetime, datetime]]) -> list[datetime]:
    """A minute after each entry starts and its middle: every hand-off is checked on both sides."""
    instants = []
    for _, start, end in entries:
        instants += [start + timedelta(minutes=1), start + (end - start) / 2]
    return instants


async def on_call(api: Api, schedule: str, at: datetime) -> str | None:
    """The email of whoever GET /schedules/{id}/oncall says is on call at `at`."""
    schedules = (await api.get("/schedules"))["items"]
    schedule_id = next(s["id"] for s in schedules if s["name"] == schedule)
    answer = await api.get(f"/schedules/{schedule_id}/oncall", params={"at": at.isoformat()})
    if answer["on_call"] is None:
        return None
    user: dict[str, Any] = await api.get(f"/users/{answer['on_call']['user_id']}")
    return str(user["email"])


def expected_at(entries: list[tuple[str, datetime, datetime]], at: datetime) -> str | None:
    """Who the source's own final schedule has on call at `at`."""
    return next((who for who, start, end in entries if start <= at < end), None)
