"""The image installs exact, hashed versions that satisfy the package's bounds; compose
restarts, health-checks and stops the services gracefully."""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", re.MULTILINE)


def _locked() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text()
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


def test_the_lock_pins_every_dependency_within_its_bounds() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = _locked()
    for line in project["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in requirements.lock: run ./scripts/lock"
        assert requirement.specifier.contains(locked[name]), f"{name}=={locked[name]}: {line}"
    assert "httptools" in locked  # uvicorn[standard]'s extras are resolved too
    # Every pin carries its hashes (the image installs with --require-hashes).
    blocks = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / "requirements.lock").read_text())
    pinned = [block for block in blocks if PIN.match(block)]
    assert len(pinned) == len(locked)
    assert all("--hash=sha256:" in block for block in pinned)


def test_the_image_installs_from_the_lock() -> None:
    steps = [
        line
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("RUN pip install")
    ]
    assert steps == [
        "RUN pip install --no-cache-dir --require-hashes -r requirements.lock",
        "RUN pip install --no-cache-dir --no-deps .",
    ]


def test_compose_restarts_checks_and_stops_gracefully() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    grace = Settings().worker_stop_grace_seconds
    for name in ("api", "worker"):
        service = services[name]
        assert service["restart"] == "unless-stopped"
        assert int(service["stop_grace_period"].removesuffix("s")) > grace
    check = " ".join(services["api"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8080/readyz" in check
    assert services["migrate"]["restart"] == "no"
