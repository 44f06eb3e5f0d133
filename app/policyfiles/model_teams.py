"""Teams in policy files: a name, a description and members (by email) with a team role."""

from dataclasses import dataclass
from typing import Any

from app.policyfiles.common import (
    Refs,
    Reporter,
    by_user_email,
    duplicates,
    items,
    mapping,
    reject,
    validate,
    without,
)
from app.policyfiles.loader import Path_
from app.teams.schemas import MemberCreate, TeamCreate

# The on-call schedule of a team points at a schedule that may itself belong to the team, so
# it stays with the API (PATCH /api/v1/teams/{id}); apply leaves it as it is.
ONCALL_HINT = "a team's on-call schedule is set through the API (PATCH /api/v1/teams/{id})"


@dataclass
class TeamModels:
    team: TeamCreate
    members: list[MemberCreate]


def member_key(doc: dict[str, Any]) -> str:
    """A member is told apart by the user's email."""
    return str(doc["user"])


def member(raw: Any, at: Path_, refs: Refs, report: Reporter) -> MemberCreate | None:
    """`user` (an email) is in the team with `role` manager, responder or observer."""
    return by_user_email(MemberCreate, raw, at, refs, report)


def team_models(raw: Any, refs: Refs, report: Reporter) -> TeamModels | None:
    """A team with its members."""
    start = report.count
    doc = mapping(raw, (), report)
    if doc is None:
        return None
    reject(doc, (), report, oncall_schedule_id=ONCALL_HINT, oncall_schedule=ONCALL_HINT)
    team = validate(
        TeamCreate, without(doc, "members", "oncall_schedule_id", "oncall_schedule"), (), report
    )
    members: list[tuple[MemberCreate, Path_]] = []
    for i, item in enumerate(items(doc.get("members"), ("members",), report)):
        found = member(item, ("members", i), refs, report)
        if found is not None:
            members.append((found, ("members", i)))
    keys = [(refs.name("user", m.user_id), (*at, "user")) for m, at in members]
    duplicates(keys, "member", report)
    if team is None or report.count > start:
        return None
    return TeamModels(team, [m for m, _ in members])


def member_doc(data: MemberCreate, refs: Refs) -> dict[str, Any]:
    """A member in canonical form."""
    return {"user": refs.name("user", data.user_id), "role": data.role}


def team_doc(models: TeamModels, refs: Refs) -> dict[str, Any]:
    """A team in canonical file form, members by email."""
    members = [member_doc(m, refs) for m in models.members]
    return {
        "name": models.team.name,
        "description": models.team.description,
        "members": sorted(members, key=member_key),
    }
