"""The console's Jinja2 environment: autoescaped templates and the filters they format with."""

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app.models import utcnow

ROOT = Path(__file__).resolve().parent


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(value: datetime | None, tz: str = "UTC", fmt: str = "%Y-%m-%d %H:%M:%S %Z") -> str:
    """An instant in the viewer's time zone."""
    if value is None:
        return ""
    return value.astimezone(_zone(tz)).strftime(fmt)


def duration(seconds: float | timedelta | None) -> str:
    """A span as people say it: 45s, 5m, 1h 30m, 2d 4h."""
    if seconds is None:
        return ""
    total = int(seconds.total_seconds() if isinstance(seconds, timedelta) else seconds)
    sign, total = ("-" if total < 0 else ""), abs(total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        parts = [f"{days}d", f"{hours}h" if hours else ""]
    elif hours:
        parts = [f"{hours}h", f"{minutes}m" if minutes else ""]
    elif minutes:
        parts = [f"{minutes}m", f"{secs}s" if secs else ""]
    else:
        parts = [f"{secs}s"]
    return sign + " ".join(p for p in parts if p)


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """How long before now: "3m ago" (or "in 3m" for a future instant)."""
    if value is None:
        return ""
    delta = (now or utcnow()) - value
    if abs(delta.total_seconds()) < 1:
        return "just now"
    if delta.total_seconds() < 0:
        return f"in {duration(-delta)}"
    return f"{duration(delta)} ago"


def safe_url(value: Any) -> str | None:
    """The value if it is an http(s) URL a link or image may point to, else None."""
    if not isinstance(value, str) or len(value) > 2048:
        return None
    parts = urlsplit(value.strip())
    return value.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def actor_name(actor: dict[str, Any] | None) -> str:
    """Who did something, as the timeline shows them."""
    if not actor:
        return "Stairway"
    name = actor.get("name") or actor.get("type") or "unknown"
    return "Stairway" if actor.get("type") == "system" and name == "stairway" else str(name)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROOT / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(
        local_time=local_time, duration=duration, ago=ago, safe_url=safe_url, actor=actor_name
    )
    return env


templates = Jinja2Templates(env=_environment())


def render(
    request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """A page or fragment; every template sees `request`, `now` and the viewer if signed in."""
    base = {"now": utcnow(), "viewer": None, "notice": None, "nav": ""}
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)
