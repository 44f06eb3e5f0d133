"""`./scripts/serve` installs on the first start and when pyproject.toml changes, not otherwise."""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Stand-ins for the venv's tools: each records that it ran.
RECORDER = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$(dirname "$0")/../../calls.log"
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "serve", tmp_path / "scripts" / "serve")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "stairway"\n')
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("python", "pip", "stairway"):
        (bin_dir / tool).write_text(RECORDER)
        (bin_dir / tool).chmod(0o755)
    return tmp_path


def _start(project: Path) -> list[str]:
    log = project / "calls.log"
    log.unlink(missing_ok=True)
    subprocess.run([project / "scripts" / "serve", "--port", "9"], check=True, timeout=60)
    return log.read_text().splitlines()


def test_serve_installs_only_when_pyproject_changed(tmp_path: Path) -> None:
    project = _project(tmp_path)
    first = _start(project)
    assert first[0].startswith("pip install")
    assert first[-1] == "stairway serve --port 9"

    assert _start(project) == ["stairway serve --port 9"]  # nothing changed: no install

    with (project / "pyproject.toml").open("a") as f:
        f.write('dependencies = ["typer>=0.12"]\n')
    changed = _start(project)
    assert changed[0].startswith("pip install")
    assert _start(project) == ["stairway serve --port 9"]
