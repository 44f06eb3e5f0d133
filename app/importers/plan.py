"""What an import makes: policy documents and a report of every source object's fate.

Importers map a source's objects onto policy-file documents (docs/policies.md) and say, for each
object, whether it was mapped as is, approximated (and how) or skipped (and why). Nothing is
written to the database: the files go through `stairway policies diff/apply` like any others.
"""

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from app.policyfiles.documents import SECTIONS, read_policies
from app.policyfiles.loader import Problem

Outcome = Literal["mapped", "approximated", "skipped"]
OUTCOMES: tuple[Outcome, ...] = ("approximated", "skipped", "mapped")
HEADER = (
    "# Imported from {source} by `stairway import {command}`.\n"
    "# Review: `stairway policies diff {directory}`; then `stairway policies apply {directory}`.\n"
)


@dataclass(frozen=True, order=True)
class Entry:
    """One source object and what became of it."""

    kind: str
    name: str
    outcome: Outcome
    note: str = ""


@dataclass
class Import:
    """Policy documents by section and identity, and the report entries, from one source."""

    source: str
    command: str
    docs: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {section: {} for section in SECTIONS}
    )
    entries: list[Entry] = field(default_factory=list)

    def mapped(self, kind: str, name: str, note: str = "") -> None:
        """`name` came across as it is."""
        self.entries.append(Entry(kind, name, "mapped", note))

    def approximated(self, kind: str, name: str, how: str) -> None:
        """`name` came across, changed as `how` says."""
        self.entries.append(Entry(kind, name, "approximated", how))

    def skipped(self, kind: str, name: str, why: str) -> None:
        """`name` did not come across, for the reason `why`."""
        self.entries.append(Entry(kind, name, "skipped", why))

    def came_across(self, kind: str, name: str, notes: list[str], note: str) -> None:
        """`name` approximated as the `notes` say, or mapped (with `note`) when there are none."""
        if notes:
            self.approximated(kind, name, "; ".join(notes))
        else:
            self.mapped(kind, name, note)

    def add(self, section: str, identity: str, doc: dict[str, Any]) -> None:
        """A policy document for `section` (users by email, the others by name)."""
        self.docs[section][identity] = doc

    def counts(self) -> dict[str, int]:
        """How many entries of each outcome."""
        counts = dict.fromkeys(("mapped", "approximated", "skipped"), 0)
        for entry in self.entries:
            counts[entry.outcome] += 1
        return counts


def unique_name(taken: set[str], name: str, source_id: str) -> str:
    """`name`, or `name (source_id)` when another object already has it (names are unique)."""
    wanted = " ".join(name.split())[:180] or source_id
    if wanted in taken:
        wanted = f"{wanted} ({source_id})"
    taken.add(wanted)
    return wanted


def normal_email(value: Any) -> str | None:
    """An email as users are matched: trimmed, lower case; None when it is not one."""
    if not isinstance(value, str) or "@" not in value:
        return None
    return value.strip().lower()


def problem_with(model: type[BaseModel], data: dict[str, Any]) -> str | None:
    """Why the API's own schema refuses `data`, in one line, or None."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        return f"{where}: {message}" if where else message
    return None


def seconds_text(seconds: int) -> str:
    """`90 s`, `5 min`, `2 h` for notes."""
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"


# --- writing ------------------------------------------------------------------------------------


def _yaml(section: str, docs: Iterable[dict[str, Any]]) -> str:
    return yaml.safe_dump({section: list(docs)}, sort_keys=False, allow_unicode=True, width=100)


def policy_files(result: Import, directory: str) -> dict[str, str]:
    """File name -> YAML text; identical for identical source data (sorted by identity)."""
    header = HEADER.format(source=result.source, command=result.command, directory=directory)
    files = {}
    for section in SECTIONS:
        docs = result.docs[section]
        if docs:
            ordered = (docs[identity] for identity in sorted(docs))
            files[f"{section}.yaml"] = header + _yaml(section, ordered)
    return files


def report_text(result: Import) -> str:
    """The plan report as Markdown: approximated and skipped first, then everything mapped."""
    counts = result.counts()
    lines = [
        f"# Import from {result.source}",
        "",
        f"{counts['mapped']} mapped, {counts['approximated']} approximated, "
        f"{counts['skipped']} skipped.",
    ]
    titles = {"approximated": "how", "skipped": "why", "mapped": "note"}
    for outcome in OUTCOMES:
        entries = sorted(e for e in result.entries if e.outcome == outcome)
        if not entries:
            continue
        lines += ["", f"## {outcome.capitalize()}", "", f"| kind | name | {titles[outcome]} |"]
        lines.append("| --- | --- | --- |")
        for e in entries:
            name, note = (text.replace("|", "\\|") for text in (e.name, e.note))
            lines.append(f"| {e.kind} | {name} | {note} |")
    return "\n".join(lines) + "\n"


def report_json(result: Import) -> str:
    """The plan report as JSON."""
    entries = [asdict(e) for e in sorted(result.entries)]
    body = {"source": result.source, "summary": result.counts(), "entries": entries}
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def write_import(result: Import, out: Path, report: Path | None) -> list[Problem]:
    """Write the policy files and the report; the files are then read back as `apply` would.

    Returns the problems found reading them back (none, unless a mapping is wrong).
    """
    out.mkdir(parents=True, exist_ok=True)
    files = policy_files(result, str(out))
    for section in SECTIONS:
        stale = out / f"{section}.yaml"
        if stale.name not in files and stale.exists():
            stale.unlink()  # a section an earlier run wrote and this one has nothing for
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        text = report_json(result) if report.suffix == ".json" else report_text(result)
        report.write_text(text, encoding="utf-8")
    return read_policies(out)[1]
