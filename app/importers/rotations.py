"""Turning another pager's rotation (an anchor and a turn length) into a Stairway layer."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

DAY_SECONDS = 86_400


@dataclass(frozen=True)
class Anchored:
    """A layer's `start` and participant order equivalent to the source's rotation."""

    start: datetime
    participants: list[str]
    # The layer is on call from `start`, earlier than the source's own layer start.
    early_by: timedelta


def _boundary(anchor: datetime, turn_seconds: int, index: int, zone: ZoneInfo) -> datetime:
    """Start of turn `index` counted from `anchor` (negative indexes count back).

    Whole-day turns hand off at the anchor's local wall-clock time, like Stairway's layers
    (and PagerDuty's and Opsgenie's rotations) across DST; other turns are elapsed seconds.
    """
    if turn_seconds % DAY_SECONDS:
        return anchor + timedelta(seconds=turn_seconds * index)
    wall = anchor.astimezone(zone).replace(tzinfo=None) + timedelta(seconds=turn_seconds * index)
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def anchor_layer(
    participants: list[str],
    *,
    turn_seconds: int,
    rotation_start: datetime,
    layer_start: datetime,
    zone: ZoneInfo,
) -> Anchored:
    """The turn that holds `layer_start`, counted from `rotation_start`, as the layer's start.

    A source may anchor its turns at one instant and start the layer at another (PagerDuty's
    `rotation_virtual_start` and `start`); a Stairway layer's start is both. Starting the layer
    at the beginning of the turn in progress at the source's start, with the participants
    rotated to match, gives the same hand-offs from then on.
    """
    estimate = (layer_start - rotation_start) // timedelta(seconds=turn_seconds)
    index = int(estimate)
    while _boundary(rotation_start, turn_seconds, index, zone) > layer_start:
        index -= 1
    while _boundary(rotation_start, turn_seconds, index + 1, zone) <= layer_start:
        index += 1
    start = _boundary(rotation_start, turn_seconds, index, zone)
    shift = index % len(participants) if participants else 0
    return Anchored(start, participants[shift:] + participants[:shift], layer_start - start)


def local_text(moment: datetime, zone: ZoneInfo) -> str:
    """An instant as ISO 8601 in a zone, as people read a schedule's times."""
    return moment.astimezone(zone).isoformat()


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant with an offset (`Z` allowed), as the sources write them."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
