"""Signed, expiring links that let a paged person acknowledge or resolve from the page."""

import secrets
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
    incident, user, expires = str(incident_id), str(user_id), int(now + ttl_seconds)
    links = {}
    for action in ACTIONS:
        claims = {"i": incident, "u": user, "a": action, "exp": expires, "n": secrets.token_hex(4)}
        links[action] = f"{base}/r/{make_token(secret, claims)}"
    return links


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


def read_action(secret: str, token: str, *, now: float) -> dict[str, Any] | None:
    """The claims of a valid action link (an action, an incident id, a user id or null, an
    expiry), or None if tampered with, expired or not shaped as Stairway makes them."""
    claims = read_token(secret, token, now=now) if token.isascii() else None
    if claims is None or claims.get("a") not in ACTIONS or not _is_uuid(claims.get("i")):
        return None
    if claims.get("u") is not None and not _is_uuid(claims["u"]):
        return None
    return claims


def link_token(url: str) -> str:
    """The signed token of an action link (`…/r/<token>`), for callbacks that carry it."""
    return url.rpartition("/r/")[2]
