"""Signed, expiring links that let a paged person acknowledge or resolve from the page."""

import uuid
from typing import Any

from app.security import make_token, read_token

ACTIONS = ("acknowledge", "resolve")


def action_links(
    *,
    secret: str,
    public_url: str,
    incident_id: uuid.UUID,
    user_id: uuid.UUID,
    now: float,
    ttl_seconds: int,
) -> dict[str, str]:
    """One link per action, acting as the paged user."""
    base = public_url.rstrip("/")
    links = {}
    for action in ACTIONS:
        claims = {
            "i": str(incident_id),
            "u": str(user_id),
            "a": action,
            "exp": int(now + ttl_seconds),
            "n": uuid.uuid4().hex[:8],
        }
        links[action] = f"{base}/r/{make_token(secret, claims)}"
    return links


def read_action(secret: str, token: str, *, now: float) -> dict[str, Any] | None:
    """The claims of a valid action link, or None if tampered with or expired."""
    claims = read_token(secret, token, now=now)
    if claims is None or claims.get("a") not in ACTIONS:
        return None
    return claims
