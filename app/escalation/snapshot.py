"""The policy frozen onto an incident when it triggers."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Condition(StrEnum):
    """While this holds at a level's due time, the incident climbs to the next level."""

    UNACKNOWLEDGED = "unacknowledged"
    UNRESOLVED = "unresolved"


@dataclass(frozen=True)
class TargetSnapshot:
    type: str
    id: str | None = None
    url: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form stored on the incident."""
        out: dict[str, Any] = {"type": self.type}
        if self.id is not None:
            out["id"] = self.id
        if self.url is not None:
            out["url"] = self.url
        return out


@dataclass(frozen=True)
class LevelSnapshot:
    escalate_after_seconds: int
    targets: tuple[TargetSnapshot, ...]
    condition: Condition = Condition.UNACKNOWLEDGED


@dataclass(frozen=True)
class PolicySnapshot:
    levels: tuple[LevelSnapshot, ...]
    repeat: int = 0
    id: str | None = None
    name: str = ""

    def level(self, number: int) -> LevelSnapshot:
        """The level by its 1-based number."""
        return self.levels[number - 1]

    def to_json(self) -> dict[str, Any]:
        """The JSON form stored on the incident."""
        return {
            "id": self.id,
            "name": self.name,
            "repeat": self.repeat,
            "levels": [
                {
                    "escalate_after_seconds": lvl.escalate_after_seconds,
                    "condition": lvl.condition.value,
                    "targets": [t.to_json() for t in lvl.targets],
                }
                for lvl in self.levels
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "PolicySnapshot":
        """Read back the JSON form."""
        return cls(
            id=data.get("id"),
            name=data.get("name", ""),
            repeat=int(data.get("repeat", 0)),
            levels=tuple(
                LevelSnapshot(
                    escalate_after_seconds=int(lvl["escalate_after_seconds"]),
                    condition=Condition(lvl.get("condition", Condition.UNACKNOWLEDGED)),
                    targets=tuple(
                        TargetSnapshot(type=t["type"], id=t.get("id"), url=t.get("url"))
                        for t in lvl["targets"]
                    ),
                )
                for lvl in data["levels"]
            ),
        )
