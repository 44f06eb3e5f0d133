"""The team permission rules, pure: who may manage an object and who may act on an incident."""

import uuid
from collections.abc import Mapping

# Team roles that may act on the team's incidents (whatever the person's global role).
ACTING_TEAM_ROLES = ("manager", "responder")
GLOBAL_RESPONDERS = ("responder", "admin")


def may_manage(
    *, global_role: str, team_roles: Mapping[uuid.UUID, str], team_id: uuid.UUID | None
) -> bool:
    """Admins manage everything, a team's managers its objects; global objects are admins'."""
    if global_role == "admin":
        return True
    return team_id is not None and team_roles.get(team_id) == "manager"


def refusal_to_act(
    *,
    name: str,
    global_role: str,
    team_roles: Mapping[uuid.UUID, str],
    owner_team_id: uuid.UUID | None,
    others_allowed: bool,
) -> str | None:
    """Why this person may not act on an incident of a service owned by `owner_team_id`; None if
    they may.

    A team's managers and responders act on its incidents even with the observer global role;
    anyone else needs the global responder role, and on another team's incident also
    `others_allowed` (STAIRWAY_TEAM_RESPONDERS_ACT_ON_OTHER_TEAMS).
    """
    if global_role == "admin":
        return None
    if owner_team_id is not None and team_roles.get(owner_team_id) in ACTING_TEAM_ROLES:
        return None
    if global_role not in GLOBAL_RESPONDERS:
        return (
            f"{name} is an {global_role} in Stairway and not a responder of the team that owns "
            "this incident's service; only responders and admins can act on it."
        )
    if owner_team_id is not None and not others_allowed:
        return (
            f"{name} is not a responder of the team that owns this incident's service, and "
            "responders may act only on their own teams' incidents here."
        )
    return None
