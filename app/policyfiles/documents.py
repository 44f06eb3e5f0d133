"""A directory of policy files as one desired configuration, or the problems that prevent it."""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.policyfiles.common import RefKind, Refs, Reporter
from app.policyfiles.loader import Path_, Problem, Source, load_dir
from app.policyfiles.model import (
    policy_doc,
    policy_models,
    schedule_doc,
    schedule_models,
    user_doc,
    user_models,
)
from app.policyfiles.model_services import service_doc, service_models
from app.policyfiles.model_teams import team_doc, team_models

# File section -> what one entry is, and the field that names it.
SECTIONS: dict[str, tuple[str, str]] = {
    "users": ("user", "email"),
    "teams": ("team", "name"),
    "schedules": ("schedule", "name"),
    "escalation_policies": ("escalation policy", "name"),
    "services": ("service", "name"),
}
PLURALS = {
    "users": "users",
    "teams": "teams",
    "schedules": "schedules",
    "escalation_policies": "escalation policies",
    "services": "services",
}
REF_KINDS: dict[str, RefKind] = {
    "users": "user",
    "teams": "team",
    "schedules": "schedule",
    "escalation_policies": "escalation_policy",
}


def _canonical(section: str, raw: Any, refs: Refs, report: Reporter) -> dict[str, Any] | None:
    """One entry of a section, validated, in canonical form."""
    if section == "users":
        user = user_models(raw, report)
        return user_doc(user) if user else None
    if section == "teams":
        team = team_models(raw, refs, report)
        return team_doc(team, refs) if team else None
    if section == "schedules":
        schedule = schedule_models(raw, refs, report)
        return schedule_doc(schedule, refs) if schedule else None
    if section == "escalation_policies":
        policy = policy_models(raw, refs, report)
        return policy_doc(policy, refs) if policy else None
    service = service_models(raw, refs, report)
    return service_doc(service, refs) if service else None


@dataclass
class Desired:
    """What the files say: section -> identity -> canonical document, in file order."""

    docs: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {section: {} for section in SECTIONS}
    )
    # (section, identity) -> "file:line", for messages.
    origins: dict[tuple[str, str], str] = field(default_factory=dict)

    def count(self) -> str:
        """`2 users, 1 schedule, ...` for messages."""
        parts = []
        for section, (what, _) in SECTIONS.items():
            n = len(self.docs[section])
            parts.append(f"{n} {what if n == 1 else PLURALS[section]}")
        return ", ".join(parts)


@dataclass
class _Entry:
    source: Source
    section: str
    index: int
    raw: Any
    key: str | None


def _identity(section: str, name: Any) -> str | None:
    """How an entry is matched: emails case-insensitively, names as written (trimmed)."""
    if not isinstance(name, str) or not name.strip():
        return None
    return name.strip().lower() if section == "users" else name.strip()


def _entries(sources: list[Source], problems: list[Problem]) -> list[_Entry]:
    entries: list[_Entry] = []
    for source in sources:
        if source.data is None:
            continue
        if not isinstance(source.data, dict):
            expected = ", ".join(f"{s}:" for s in SECTIONS)
            problems.append(source.problem((), f"a policy file is a mapping of {expected}"))
            continue
        for section, value in source.data.items():
            if section not in SECTIONS:
                message = f"unknown section; expected one of {', '.join(SECTIONS)}"
                problems.append(source.problem((section,), message))
                continue
            if value is None:
                continue
            if not isinstance(value, list):
                problems.append(source.problem((section,), "must be a list"))
                continue
            naming_field = SECTIONS[section][1]
            for index, raw in enumerate(value):
                name = raw.get(naming_field) if isinstance(raw, dict) else None
                key = _identity(section, name)
                entries.append(_Entry(source, section, index, raw, key))
    return entries


def read_policies(directory: Path) -> tuple[Desired, list[Problem]]:
    """Parse and validate every file under `directory`; references must resolve within them."""
    sources, problems = load_dir(directory)
    entries = _entries(sources, problems)
    desired = Desired()
    refs = Refs()
    first: dict[tuple[str, str], str] = {}
    for entry in entries:
        if entry.key is None:
            continue
        where = f"{entry.source.path}:{entry.source.line((entry.section, entry.index))}"
        what, naming_field = SECTIONS[entry.section]
        if (entry.section, entry.key) in first:
            at: Path_ = (entry.section, entry.index, naming_field)
            message = (
                f'duplicate {what} "{entry.key}" (first at {first[(entry.section, entry.key)]})'
            )
            problems.append(entry.source.problem(at, message))
            entry.key = None
            continue
        first[(entry.section, entry.key)] = where
        if entry.section in REF_KINDS:
            kind = REF_KINDS[entry.section]
            refs.add(kind, entry.key, Refs.placeholder(kind, entry.key))
    # A team the files name but do not declare must be in the database: checked on apply.
    for name in _team_names(entries):
        refs.add("team", name, Refs.placeholder("team", name))
    kept_keys: dict[str, str] = {}
    for entry in entries:
        report = Reporter(_sink(entry, problems))
        doc = _canonical(entry.section, entry.raw, refs, report)
        if doc is not None and entry.key is not None:
            desired.docs[entry.section][entry.key] = doc
            desired.origins[(entry.section, entry.key)] = first[(entry.section, entry.key)]
            if entry.section == "services":
                _one_service_per_kept_key(entry, doc, kept_keys, report)
    return desired, sorted(set(problems))


def _team_names(entries: list[_Entry]) -> set[str]:
    """Every team an object belongs to or a level escalates to, by name."""
    names = set()
    for entry in entries:
        raw = entry.raw if isinstance(entry.raw, dict) else {}
        names.add(raw.get("team"))
        for level in raw.get("levels") or [] if isinstance(raw.get("levels"), list) else []:
            targets = level.get("targets") if isinstance(level, dict) else None
            for target in targets if isinstance(targets, list) else []:
                names.add(target.get("team") if isinstance(target, dict) else None)
    return {name for name in names if isinstance(name, str) and name.strip()}


def _one_service_per_kept_key(
    entry: _Entry, doc: dict[str, Any], seen: dict[str, str], report: Reporter
) -> None:
    """A kept integration key value routes to one service, so it may appear only once."""
    positions = {k.get("name"): i for i, k in enumerate(entry.raw.get("integration_keys") or [])}
    for key in doc["integration_keys"]:
        digest = key.get("key_sha256")
        if digest is None:
            continue
        where = f"{doc['name']}/{key['name']}"
        if digest in seen:
            at: Path_ = ("integration_keys", positions.get(key["name"], 0), "key")
            report(at, f"the same key as integration key {seen[digest]}")
        else:
            seen[digest] = where


def _sink(entry: _Entry, problems: list[Problem]) -> Callable[[Path_, str], None]:
    def add(path: Path_, message: str) -> None:
        problems.append(entry.source.problem((entry.section, entry.index, *path), message))

    return add
