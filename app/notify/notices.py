"""Notices: messages to a person that are not incident pages (codes, handoffs, coverage gaps).

A notice goes through the channel's real provider, so it reaches the phone or inbox exactly as
a page would; the channel's templates give way to the `notice.*.j2` templates.
"""

import uuid
from typing import Any

from app.notify.base import Notice, Page

# The incident fields some providers read for priority and colour: a notice is low urgency.
NOTICE_INCIDENT: dict[str, Any] = {"severity": "info", "urgency": "low"}


def notice_page(
    notice: Notice,
    *,
    channel: str,
    address: str,
    user: dict[str, Any] | None,
    idempotency_key: str,
    signing_secret: str = "",
) -> Page:
    """The page that carries a notice to one contact method."""
    return Page(
        notification_id=str(uuid.uuid4()),
        idempotency_key=idempotency_key,
        channel=channel,
        address=address,
        attempt=1,
        incident=dict(NOTICE_INCIDENT),
        level=0,
        loop=0,
        user=user,
        actions={},
        signing_secret=signing_secret,
        notice=notice,
    )
