"""The database's configuration written as policy files that re-apply with no changes."""

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from app.policyfiles.documents import SECTIONS
from app.policyfiles.loader import policy_files
from app.policyfiles.model import override_key
from app.policyfiles.model_services import window_key
from app.policyfiles.state import Snapshot
from app.schedules.schemas import ROTATION_SECONDS

# Lists that stay even when empty (the schema requires them).
_KEEP_EMPTY = frozenset({"participants", "targets", "levels", "value"})
HEADER = (
    "# Exported by `stairway policies export` on {date}.\n"
    "# Integration keys are listed by name only: their secrets are never exported, and\n"
    "# `stairway policies apply` prints the secret of a key it creates, once.\n"
)


class ExportError(Exception):
    """The export would overwrite files it did not write."""


def _trim(value: Any) -> Any:
    """Leave out what the schema's defaults say anyway: nulls, empty text and lists."""
    if isinstance(value, list):
        return [_trim(v) for v in value]
    if not isinstance(value, dict):
        return value
    kept = {}
    for key, v in value.items():
        if key not in _KEEP_EMPTY and (v is None or v == "" or v == []):
            continue
        if key == "suppress" and v is False:
            continue
        kept[key] = _trim(v)
    return kept


def _local(text: str, zone: ZoneInfo) -> str:
    return datetime.fromisoformat(text).astimezone(zone).isoformat()


def _schedule(doc: dict[str, Any], ended: set[tuple[str, ...]]) -> dict[str, Any]:
    """Instants in the schedule's own time zone and preset rotations by name, for people."""
    zone = ZoneInfo(doc["time_zone"])
    presets = {seconds: rotation.value for rotation, seconds in ROTATION_SECONDS.items()}
    layers = []
    for layer in doc["layers"]:
        turn = layer["turn_seconds"]
        length = {"rotation": presets[turn]} if turn in presets else {"turn_seconds": turn}
        layers.append(
            {
                "participants": layer["participants"],
                **length,
                "start": _local(layer["start"], zone),
                "restrictions": layer["restrictions"],
            }
        )
    overrides = [
        {**o, "start": _local(o["start"], zone), "end": _local(o["end"], zone)}
        for o in doc["overrides"]
        if ("override", doc["name"], override_key(o)) not in ended
    ]
    return {**doc, "layers": layers, "overrides": overrides}


def _service(doc: dict[str, Any], ended: set[tuple[str, ...]]) -> dict[str, Any]:
    windows = [
        w
        for w in doc["maintenance_windows"]
        if ("maintenance_window", doc["name"], window_key(w)) not in ended
    ]
    # A key's hash says nothing to a person and cannot be applied back: keys go by name only.
    keys = [
        {k: v for k, v in key.items() if not k.startswith("key_")}
        for key in doc["integration_keys"]
    ]
    return {**doc, "integration_keys": keys, "maintenance_windows": windows}


def export_files(snap: Snapshot, *, now: datetime) -> dict[str, str]:
    """File name -> YAML text, one file per section that has anything."""
    files = {}
    for section in SECTIONS:
        docs = list(snap.docs[section].values())
        if section == "schedules":
            docs = [_schedule(d, snap.ended) for d in docs]
        elif section == "services":
            docs = [_service(d, snap.ended) for d in docs]
        if not docs:
            continue
        body = yaml.safe_dump(
            {section: _trim(docs)}, sort_keys=False, allow_unicode=True, width=100
        )
        files[f"{section}.yaml"] = HEADER.format(date=now.date().isoformat()) + body
    return files


def write_export(directory: Path, files: dict[str, str], *, force: bool) -> list[Path]:
    """Write the files; refuses to mix them with existing policy files unless forced."""
    if directory.exists() and not directory.is_dir():
        raise ExportError(f"{directory} is not a directory")
    existing = policy_files(directory) if directory.exists() else []
    if existing and not force:
        names = ", ".join(str(p) for p in existing[:3])
        raise ExportError(
            f"{directory} already holds policy files ({names}); export into an empty "
            "directory, or pass --force to overwrite"
        )
    directory.mkdir(parents=True, exist_ok=True)
    for section in SECTIONS:
        stale = directory / f"{section}.yaml"
        if stale.name not in files and stale.exists():
            stale.unlink()  # an earlier export's section that is empty now
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
