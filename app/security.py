"""API key generation and hashing, HMAC signatures and signed action tokens."""

import base64
import hashlib
import hmac
import json
import math
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson


@dataclass(frozen=True)
class NewKey:
    """A freshly generated key: the secret is shown once, only the hash is stored."""

    secret: str
    key_hash: str
    prefix: str


def hash_key(secret: str) -> str:
    """The stored form of a key (keys are high-entropy, so a plain SHA-256 is enough)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_key() -> NewKey:
    """A user API key: `sw_` and 43 url-safe characters (32 random bytes)."""
    secret = "sw_" + secrets.token_urlsafe(32)
    return NewKey(secret=secret, key_hash=hash_key(secret), prefix=secret[:10])


def new_integration_key() -> NewKey:
    """An integration (routing) key: 32 hex characters, as PagerDuty's routing keys are."""
    secret = secrets.token_hex(16)
    return NewKey(secret=secret, key_hash=hash_key(secret), prefix=secret[:8])


def new_secret() -> str:
    """A signing secret."""
    return secrets.token_hex(32)


def sign_payload(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The X-Stairway-Signature header: t=<unix>,v1=<hex hmac-sha256(secret, "<t>.<body>")>."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@lru_cache(maxsize=8)
def _keyed(secret: str) -> hmac.HMAC:
    """An HMAC-SHA256 keyed with `secret`, to copy per token: keying it is half the cost of
    signing a short token, and a worker signs two per page."""
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def make_token(secret: str, claims: dict[str, Any]) -> str:
    """A compact signed token `<payload>.<mac>` carrying `claims` (which should include `exp`)."""
    payload = _b64(orjson.dumps(claims, option=orjson.OPT_SORT_KEYS))
    keyed = _keyed(secret).copy()
    keyed.update(payload.encode())
    return f"{payload}.{_b64(keyed.digest())}"


def read_token(secret: str, token: str, *, now: float) -> dict[str, Any] | None:
    """The claims of a valid, unexpired token, else None."""
    payload, _, mac = token.partition(".")
    expected = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    if not mac or not hmac.compare_digest(expected, mac):
        return None
    try:
        claims = json.loads(_unb64(payload))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(claims, dict):
        return None
    expires = claims.get("exp", 0)
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        return None
    if not math.isfinite(expires) or expires < now:
        return None
    return claims
