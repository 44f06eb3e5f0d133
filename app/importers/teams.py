"""Teams and their members, with the team role each member has (docs/teams.md)."""

from collections.abc import Callable
from typing import Any

from app.importers.people import People
from app.importers.plan import Import, unique_name


class Teams:
    """The imported teams by source id; every `team:` an object gets goes through here."""

    def __init__(self, result: Import, people: People) -> None:
        self.result = result
        self.people = people
        self._names: dict[str, str] = {}
        self._taken: set[str] = set()

    def name(self, source_id: Any) -> str | None:
        """The name an imported team is known by, or None."""
        return self._names.get(str(source_id)) if source_id is not None else None

    def add(
        self,
        *,
        source_id: str,
        name: str,
        description: Any,
        members: list[tuple[str, str]],
        how: str = "",
    ) -> None:
        """A team with members given as (source user id, team role); `how` says what was
        approximated. Members who were not imported are left out and reported."""
        name = unique_name(self._taken, name, source_id)
        roles: dict[str, str] = {}
        for user_id, role in members:
            email = self.people.email(user_id)
            if email is None:
                [missing] = self.people.emails([user_id])[1]
                self.result.skipped(
                    "team member", f"{name}: {missing}", "the user was not imported"
                )
                continue
            roles.setdefault(email, role)  # one membership per person, the first role listed
        doc: dict[str, Any] = {"name": name}
        text = str(description or "").strip()[:2000]
        if text:
            doc["description"] = text
        doc["members"] = [{"user": email, "role": roles[email]} for email in sorted(roles)]
        self.result.add("teams", name, doc)
        self._names[str(source_id)] = name
        note = f"{len(roles)} member(s)"
        if how:
            self.result.approximated("team", name, f"{note}; {how}")
        else:
            self.result.mapped("team", name, note)

    def owner(self, doc: dict[str, Any], refs: Any, kind: str) -> None:
        """Give `doc` the first imported team among `refs` (source team ids) as its `team:`."""
        ids = [str(r) for r in refs if r is not None]
        found = [self._names[i] for i in ids if i in self._names]
        if found:
            doc["team"] = found[0]
        if len(set(found)) > 1:
            how = f"owned by several teams ({', '.join(found)}): it belongs to {found[0]}"
            self.result.approximated(kind, str(doc["name"]), how)

    def own(
        self,
        section: str,
        kind: str,
        raws: list[dict[str, Any]],
        names: dict[str, str],
        refs: Callable[[dict[str, Any]], list[Any]],
    ) -> None:
        """Give each imported object of `section` (source id -> name in `names`) its team."""
        for raw in raws:
            name = names.get(str(raw.get("id")))
            doc = self.result.docs[section].get(name) if name else None
            if doc is not None:
                self.owner(doc, refs(raw), kind)
