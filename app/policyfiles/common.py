"""Shared pieces of the policy-file format: name references, reporting, canonical values."""

import re
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, time
from enum import Enum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from app.policyfiles.loader import Path_

RefKind = Literal["user", "schedule", "escalation_policy", "team"]
LABELS = {
    "user": "user",
    "schedule": "schedule",
    "escalation_policy": "escalation policy",
    "team": "team",
}
# Teams are made through the API (docs/teams.md); files name them with `team:`.
TEAM_BY_NAME = "use team (a team name)"
# Filled into id fields that a file gives by name, until the name is resolved.
UNRESOLVED = uuid.UUID(int=0)
_PLACEHOLDERS = uuid.UUID("5f0c7e7a-93a4-4c65-9a44-3f4f0b3c2d10")

M = TypeVar("M", bound=BaseModel)


class Reporter:
    """Collects problems at paths inside one object and counts them."""

    def __init__(self, sink: Callable[[Path_, str], None]) -> None:
        self.sink = sink
        self.count = 0

    def __call__(self, path: Path_, message: str) -> None:
        self.count += 1
        self.sink(path, message)


class Refs:
    """Users (by email), schedules, escalation policies and teams (by name) and their ids."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], uuid.UUID] = {}
        self._names: dict[uuid.UUID, str] = {}

    @staticmethod
    def normal(kind: str, name: str) -> str:
        """The form a name is compared in (emails are case-insensitive)."""
        return name.strip().lower() if kind == "user" else name.strip()

    @staticmethod
    def placeholder(kind: str, name: str) -> uuid.UUID:
        """A stable stand-in id for an object the files define but the database may not hold."""
        return uuid.uuid5(_PLACEHOLDERS, f"{kind}:{Refs.normal(kind, name)}")

    def add(self, kind: RefKind, name: str, id_: uuid.UUID) -> None:
        """Remember that `name` is the object `id_`."""
        self._ids[(kind, self.normal(kind, name))] = id_
        self._names[id_] = self.normal(kind, name)

    def id(self, kind: RefKind, name: str) -> uuid.UUID | None:
        """The id of the named object, if known."""
        return self._ids.get((kind, self.normal(kind, name)))

    def name(self, kind: RefKind, id_: uuid.UUID | None) -> str | None:
        """The name of an object by id; a dangling id is shown as such."""
        if id_ is None:
            return None
        return self._names.get(id_, f"{id_} (deleted {LABELS[kind]})")

    def resolve(
        self, kind: RefKind, value: Any, at: Path_, report: Reporter, *, optional: bool = False
    ) -> uuid.UUID | None:
        """The id a reference names; unknown or malformed ones are reported."""
        if value is None and optional:
            return None
        what = "email" if kind == "user" else "name"
        if not isinstance(value, str) or not value.strip():
            report(at, f"must be the {what} of a {LABELS[kind]}")
            return UNRESOLVED
        found = self.id(kind, value)
        if found is None:
            report(at, f'unknown {LABELS[kind]} "{value}"')
            return UNRESOLVED
        return found


def owner_team(doc: dict[str, Any], refs: Refs, report: Reporter) -> dict[str, Any]:
    """The `team_id` body field for an object's `team:` (absent: a global object)."""
    reject(doc, (), report, team_id=TEAM_BY_NAME)
    return {"team_id": refs.resolve("team", doc.get("team"), ("team",), report, optional=True)}


_NAMED = re.compile(r"^([a-z_]+): (.+)$", re.DOTALL)


def _message(error: ErrorDetails) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "required"
    return str(error["msg"]).removeprefix("Value error, ")


def validate(
    model: type[M],
    data: Any,
    at: Path_,
    report: Reporter,
    rename: Callable[[Path_], Path_] | None = None,
) -> M | None:
    """`data` validated by the API's own schema; each error reported at its field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc: Path_ = tuple(error["loc"])
            message = _message(error)
            # A whole-object check that names its field ("address: ...") points at that field.
            named = _NAMED.match(message)
            if named and error["type"] == "value_error":
                loc, message = (*loc, named[1]), named[2]
            report((*at, *(rename(loc) if rename else loc)), message)
        return None


def renamed(old: str, new: str) -> Callable[[Path_], Path_]:
    """A rename of the first path element, from the API's field to the file's."""
    return lambda loc: (new, *loc[1:]) if loc[:1] == (old,) else loc


def mapping(value: Any, at: Path_, report: Reporter) -> dict[str, Any] | None:
    """`value` if it is a mapping, else reported."""
    if isinstance(value, dict):
        return value
    report(at, "must be a mapping (key: value lines)")
    return None


def items(value: Any, at: Path_, report: Reporter) -> list[Any]:
    """`value` as a list (absent means empty), else reported."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    report(at, "must be a list")
    return []


def without(doc: dict[str, Any], *keys: str) -> dict[str, Any]:
    """A copy of `doc` without some keys."""
    return {k: v for k, v in doc.items() if k not in keys}


def reject(doc: dict[str, Any], at: Path_, report: Reporter, **fields: str) -> None:
    """Report API-only fields (ids) that a file writes another way; the value says how."""
    for field, hint in fields.items():
        if field in doc:
            report((*at, field), f"unknown field; {hint}")


def by_user_email(model: type[M], raw: Any, at: Path_, refs: Refs, report: Reporter) -> M | None:
    """A part that names its user by email (`user`), validated with the user's id filled in."""
    doc = mapping(raw, at, report)
    if doc is None:
        return None
    reject(doc, at, report, user_id="use user (an email)")
    body = without(doc, "user", "user_id")
    if "user" in doc:
        body["user_id"] = refs.resolve("user", doc["user"], (*at, "user"), report)
    return validate(model, body, at, report, renamed("user_id", "user"))


def nested(
    model: type[M], raw: Any, at: Path_, report: Reporter, *, parent_field: str, hint: str
) -> M | None:
    """A part listed under its parent, so it names no parent; the id is filled in on apply."""
    doc = mapping(raw, at, report)
    if doc is None:
        return None
    reject(doc, at, report, **{parent_field: hint})
    body = {**without(doc, parent_field), parent_field: UNRESOLVED}
    return validate(model, body, at, report)


def duplicates(keys: Iterable[tuple[str | None, Path_]], what: str, report: Reporter) -> None:
    """Report every repeated identity after its first occurrence."""
    seen: set[str] = set()
    for key, at in keys:
        if key is None:
            continue
        if key in seen:
            report(at, f'duplicate {what} "{key}"')
        seen.add(key)


def utc_text(moment: datetime) -> str:
    """An instant as ISO 8601 in UTC (so equal instants compare equal)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def plain(value: Any) -> Any:
    """A JSON/YAML-ready copy: enums as values, instants in UTC, times as HH:MM:SS."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return utc_text(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_field(text: str) -> Path_:
    """`layers[0].restrictions[1].start` as a path."""
    return tuple(int(index) if index else name for name, index in _PART.findall(text))
