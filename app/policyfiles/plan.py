"""What applying the files would change: creates, updates and deletes, readable or as JSON."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from app.policyfiles.documents import SECTIONS, Desired
from app.policyfiles.model import method_key, override_key, rule_key
from app.policyfiles.model_services import window_key
from app.policyfiles.model_teams import member_key
from app.policyfiles.state import Snapshot

Action = Literal["create", "update", "delete", "keep"]
KINDS = {
    "user": "user",
    "contact_method": "contact method",
    "notification_rule": "notification rule",
    "team": "team",
    "team_member": "team member",
    "schedule": "schedule",
    "override": "override",
    "escalation_policy": "escalation policy",
    "service": "service",
    "integration_key": "integration key",
    "maintenance_window": "maintenance window",
    "heartbeat": "heartbeat",
}
PARENT = {
    "contact_method": "user",
    "notification_rule": "contact_method",
    "team_member": "team",
    "override": "schedule",
    "integration_key": "service",
    "maintenance_window": "service",
    "heartbeat": "service",
}
SECTION_KIND = {
    "users": "user",
    "teams": "team",
    "schedules": "schedule",
    "escalation_policies": "escalation_policy",
    "services": "service",
}
# The fields an update compares (and sends); an object's other lists are parts with their own
# identity, planned one by one.
FIELDS = {
    "users": ("name", "role", "time_zone", "slack_user_id"),
    "teams": ("description",),
    "schedules": ("time_zone", "description", "team", "layers"),
    "escalation_policies": ("description", "team", "repeat", "levels"),
    "services": (
        "description",
        "team",
        "escalation_policy",
        "ack_timeout_seconds",
        "auto_resolve_seconds",
        "routing_rules",
    ),
}
PARTS = {
    "users": ("contact_methods",),
    "teams": ("members",),
    "schedules": ("overrides",),
    "escalation_policies": (),
    "services": ("integration_keys", "maintenance_windows", "heartbeats"),
}
SYMBOLS = {"create": "+", "update": "~", "delete": "-", "keep": "="}


@dataclass(frozen=True)
class Change:
    """One step of a plan; `key` is the identity path (user email, contact method, ...)."""

    action: Action
    kind: str
    key: tuple[str, ...]
    doc: dict[str, Any] | None = None
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    reason: str = ""
    origin: str = ""

    @property
    def name(self) -> str:
        """`contact method webhook https://...` for messages."""
        return f"{KINDS[self.kind]} {self.key[-1]}"


@dataclass
class Plan:
    changes: list[Change]
    # Objects only the database has, which apply leaves alone unless --prune is given.
    unmanaged: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many changes of each action."""
        counts = dict.fromkeys(SYMBOLS, 0)
        for change in self.changes:
            counts[change.action] += 1
        return counts

    @property
    def has_changes(self) -> bool:
        """Whether applying would change anything."""
        return any(change.action != "keep" for change in self.changes)


def _diff(fields: tuple[str, ...], have: dict[str, Any], want: dict[str, Any]) -> dict[str, Any]:
    return {f: (have.get(f), want.get(f)) for f in fields if have.get(f) != want.get(f)}


@dataclass
class _Parts:
    """Plans the parts of one object (contact methods, overrides, keys, ...)."""

    snap: Snapshot
    prune: bool
    unmanaged: list[str]
    origin: str = ""
    out: list[Change] = field(default_factory=list)

    def diff(
        self,
        kind: str,
        parent: tuple[str, ...],
        wanted: list[dict[str, Any]],
        have: list[dict[str, Any]],
        key: Callable[[dict[str, Any]], str],
        *,
        exact: bool,
        fields: tuple[str, ...] = (),
    ) -> dict[str, dict[str, Any]]:
        """Deletes, then creates and updates; returns the parts both sides have."""
        want_by = {key(d): d for d in wanted}
        have_by = {key(d): d for d in have}
        for k in have_by:
            if k in want_by or (kind, *parent, k) in self.snap.ended:
                continue
            if exact or self.prune:
                self.out.append(Change("delete", kind, (*parent, k), origin=self.origin))
            else:
                self.unmanaged.append(f"{KINDS[kind]} {' / '.join((*parent, k))}")
        both = {}
        for k, d in want_by.items():
            if k not in have_by:
                self.out.append(Change("create", kind, (*parent, k), doc=d, origin=self.origin))
                continue
            both[k] = d
            # A field the file leaves out (an integration key's kept value) is not compared.
            changed = _diff(tuple(f for f in fields if f in d), have_by[k], d)
            if changed:
                change = Change("update", kind, (*parent, k), d, changed, origin=self.origin)
                self.out.append(change)
        return both

    def of(self, section: str, key: str, want: dict[str, Any], have: dict[str, Any]) -> None:
        """The parts of one object (`have` is empty for a new one)."""
        parent = (key,)
        if section == "users":
            wanted = [{**m, "notification_rules": []} for m in want["contact_methods"]]
            methods = have.get("contact_methods", [])
            kept = self.diff("contact_method", parent, wanted, methods, method_key, exact=True)
            current = {method_key(m): m for m in methods}
            for m in want["contact_methods"]:
                mkey = method_key(m)
                rules = current[mkey]["notification_rules"] if mkey in kept else []
                self.diff(
                    "notification_rule",
                    (key, mkey),
                    m["notification_rules"],
                    rules,
                    rule_key,
                    exact=True,
                )
        elif section == "teams":
            # Like contact methods, a declared team's members are exactly those the files list.
            self.diff(
                "team_member",
                parent,
                want["members"],
                have.get("members", []),
                member_key,
                exact=True,
                fields=("role",),
            )
        elif section == "schedules":
            self.diff(
                "override",
                parent,
                want["overrides"],
                have.get("overrides", []),
                override_key,
                exact=False,
            )
        elif section == "services":
            for kind, part, identity, fields in (
                ("integration_key", "integration_keys", _name, ("alert_grouping", "key_sha256")),
                ("maintenance_window", "maintenance_windows", window_key, ()),
                ("heartbeat", "heartbeats", _name, ("interval_seconds",)),
            ):
                self.diff(
                    kind,
                    parent,
                    want[part],
                    have.get(part, []),
                    identity,
                    exact=False,
                    fields=fields,
                )


def _name(doc: dict[str, Any]) -> str:
    return str(doc["name"])


def _targets(policy: dict[str, Any], kind: str) -> set[str]:
    return {t[kind] for level in policy["levels"] for t in level["targets"] if kind in t}


def _kept(
    gone: dict[str, list[str]], snap: Snapshot, named_teams: set[str]
) -> dict[tuple[str, str], str]:
    """What --prune must keep: users with API keys, services with incidents, what those use,
    and teams that kept objects belong to or that the files name without declaring."""
    kept = {(s, k): snap.blockers[(s, k)] for s in gone for k in gone[s] if (s, k) in snap.blockers}
    services = [snap.docs["services"][k] for s, k in list(kept) if s == "services"]
    for name in gone["escalation_policies"]:
        for svc in services:
            rules = {r["escalation_policy"] for r in svc["routing_rules"]}
            if name == svc["escalation_policy"] or name in rules:
                kept[("escalation_policies", name)] = f"used by kept service {svc['name']}"
    policies = [snap.docs["escalation_policies"][k] for s, k in kept if s == "escalation_policies"]
    for name in gone["schedules"]:
        for policy in policies:
            if name in _targets(policy, "schedule"):
                kept[("schedules", name)] = f"a target of kept escalation policy {policy['name']}"
    schedules = [snap.docs["schedules"][k] for s, k in kept if s == "schedules"]
    for name in gone["teams"]:
        for section, key in list(kept):
            doc = snap.docs[section][key]
            if section != "users" and doc.get("team") == name:
                kept.setdefault(("teams", name), f"owns kept {KINDS[SECTION_KIND[section]]} {key}")
        for policy in policies:
            if name in _targets(policy, "team"):
                kept.setdefault(
                    ("teams", name), f"a target of kept escalation policy {policy['name']}"
                )
        if name in named_teams:
            kept.setdefault(("teams", name), "named by the files")
    for email in gone["users"]:
        for policy in policies:
            if email in _targets(policy, "user"):
                kept.setdefault(
                    ("users", email), f"a target of kept escalation policy {policy['name']}"
                )
        for schedule in schedules:
            people = {p for layer in schedule["layers"] for p in layer["participants"]}
            if email in people:
                kept.setdefault(("users", email), f"on kept schedule {schedule['name']}")
    return kept


def _named_teams(desired: Desired) -> set[str]:
    """Teams the files' objects belong to or escalate to."""
    names = set()
    for section in ("schedules", "escalation_policies", "services"):
        for doc in desired.docs[section].values():
            names.add(doc.get("team"))
            if section == "escalation_policies":
                names |= _targets(doc, "team")
    return {n for n in names if n}


def _prune(desired: Desired, snap: Snapshot, *, prune: bool, unmanaged: list[str]) -> list[Change]:
    gone = {s: [k for k in snap.docs[s] if k not in desired.docs[s]] for s in SECTIONS}
    if not prune:
        unmanaged.extend(f"{KINDS[SECTION_KIND[s]]} {k}" for s in SECTIONS for k in gone[s])
        return []
    kept = _kept(gone, snap, _named_teams(desired))
    changes = []
    # Dependents first: services use policies, policies target schedules and users.
    for section in ("services", "escalation_policies", "schedules", "teams", "users"):
        for key in gone[section]:
            reason = kept.get((section, key))
            action: Action = "keep" if reason else "delete"
            changes.append(Change(action, SECTION_KIND[section], (key,), reason=reason or ""))
    return changes


def make_plan(desired: Desired, snap: Snapshot, *, prune: bool) -> Plan:
    """The changes that make the database say what the files say."""
    unmanaged: list[str] = []
    changes: list[Change] = []
    for section in SECTIONS:
        kind = SECTION_KIND[section]
        for key, want in desired.docs[section].items():
            origin = desired.origins.get((section, key), "")
            have = snap.docs[section].get(key)
            top = {k: v for k, v in want.items() if k not in PARTS[section]}
            if have is None:
                changes.append(Change("create", kind, (key,), doc=top, origin=origin))
            elif changed := _diff(FIELDS[section], have, want):
                changes.append(Change("update", kind, (key,), top, changed, origin=origin))
            parts = _Parts(snap, prune, unmanaged, origin)
            parts.of(section, key, want, have or {})
            changes.extend(parts.out)
    changes.extend(_prune(desired, snap, prune=prune, unmanaged=unmanaged))
    return Plan(changes, unmanaged)


def _ancestors(change: Change) -> list[tuple[str, tuple[str, ...]]]:
    chain: list[tuple[str, tuple[str, ...]]] = []
    kind, key = change.kind, change.key
    while kind in PARENT:
        kind, key = PARENT[kind], key[:-1]
        chain.insert(0, (kind, key))
    return chain


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


_ABSENT = "(none)"


def _leaves(path: str, old: Any, new: Any) -> list[tuple[str, str, str]]:
    """The innermost differences between two values, as (path, old, new) texts."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in [*old, *(k for k in new if k not in old)]:
            if old.get(key) != new.get(key):
                found.extend(_leaves(f"{path}.{key}", old.get(key), new.get(key)))
        return found
    if isinstance(old, list) and isinstance(new, list) and old and new:
        found = []
        for i in range(max(len(old), len(new))):
            was, now = old[i] if i < len(old) else _ABSENT, new[i] if i < len(new) else _ABSENT
            if was != now:
                found.extend(_leaves(f"{path}[{i}]", was, now))
        return found
    return [(path, old if old is _ABSENT else _value(old), new if new is _ABSENT else _value(new))]


def render_text(plan: Plan, *, applied: bool = False) -> str:
    """The plan as an indented list (+ create, ~ change, - delete, = kept) and a summary."""
    lines: list[str] = []
    context: list[tuple[str, tuple[str, ...]]] = []
    for change in plan.changes:
        chain = _ancestors(change)
        same = 0
        while same < min(len(chain), len(context)) and chain[same] == context[same]:
            same += 1
        for depth in range(same, len(chain)):
            kind, key = chain[depth]
            lines.append(f"{'    ' * depth}  {KINDS[kind]} {key[-1]}:")
        context = [*chain, (change.kind, change.key)]
        indent = "    " * len(chain)
        note = f"  (kept: {change.reason})" if change.action == "keep" else ""
        lines.append(f"{indent}{SYMBOLS[change.action]} {change.name}{note}")
        for name, (old, new) in change.fields.items():
            for path, was, now in _leaves(name, old, new):
                lines.append(f"{indent}      {path}: {was} -> {now}")
    counts = plan.counts()
    made, changed, deleted = counts["create"], counts["update"], counts["delete"]
    if not plan.has_changes:
        lines.append("No changes.")
    elif applied:
        lines.append(f"Applied: {made} created, {changed} changed, {deleted} deleted.")
    else:
        lines.append(f"Plan: {made} to create, {changed} to change, {deleted} to delete.")
    if plan.unmanaged:
        shown = ", ".join(plan.unmanaged[:5]) + (", ..." if len(plan.unmanaged) > 5 else "")
        lines.append(
            f"{len(plan.unmanaged)} object(s) only in the database, left alone "
            f"(--prune deletes them): {shown}"
        )
    return "\n".join(lines)


def render_json(plan: Plan) -> dict[str, Any]:
    """The plan as a JSON document."""
    return {
        "changes": [
            {
                "action": c.action,
                "kind": c.kind,
                "key": list(c.key),
                "name": c.name,
                "fields": {f: {"old": old, "new": new} for f, (old, new) in c.fields.items()},
                "desired": c.doc if c.action == "create" else None,
                "reason": c.reason or None,
                "origin": c.origin or None,
            }
            for c in plan.changes
        ],
        "summary": plan.counts(),
        "unmanaged": plan.unmanaged,
    }
