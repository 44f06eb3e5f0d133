"""How users are reached: their contact methods and notification rules, read for paging."""

import uuid
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import driver_connection


class Method(NamedTuple):
    id: uuid.UUID
    type: str
    address: str


class Rule(NamedTuple):
    id: uuid.UUID
    contact_method_id: uuid.UUID
    delay_seconds: int
    urgency: str | None


@dataclass
class Reach:
    user_id: uuid.UUID
    methods: dict[uuid.UUID, Method] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    # Methods never paged until verified (app/users/verification.py).
    unverified: int = 0


_METHODS = """
SELECT u.id, m.id, m.type, m.address, m.verified_at IS NOT NULL
FROM users u LEFT JOIN contact_methods m ON m.user_id = u.id
WHERE u.id = ANY($1::uuid[])
"""
_RULES = """
SELECT user_id, id, contact_method_id, delay_seconds, urgency
FROM notification_rules WHERE user_id = ANY($1::uuid[]) ORDER BY delay_seconds
"""


async def read_reach(session: AsyncSession, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, Reach]:
    """Each user's verified contact methods (and count of unverified ones) and notification
    rules, by delay; a user who no longer exists is left out."""
    if not user_ids:
        return {}
    conn = await driver_connection(session)
    ids = list(user_ids)
    reach: dict[uuid.UUID, Reach] = {}
    for user_id, method_id, type_, address, verified in await conn.fetch(_METHODS, ids):
        user = reach.get(user_id) or reach.setdefault(user_id, Reach(user_id))
        if method_id is not None and verified:
            user.methods[method_id] = Method(method_id, type_, address)
        elif method_id is not None:
            user.unverified += 1
    for user_id, *rule in await conn.fetch(_RULES, ids):
        reach[user_id].rules.append(Rule(*rule))
    return reach
