"""Helpers for benchmarks that run their own helper processes: CPU time, readiness, stopping."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from tests.faults.harness import free_port

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def postgres_cpu() -> dict[int, float]:
    """CPU seconds so far of every PostgreSQL process on this machine, by pid."""
    return {
        int(entry.name): cpu_seconds(int(entry.name))
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _command(entry).startswith("postgres")
    }


def cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two `postgres_cpu` readings by processes alive at both."""
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())


def _command(proc_dir: Path) -> str:
    try:
        return (proc_dir / "comm").read_text().strip()
    except OSError:
        return ""


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Until something accepts connections on 127.0.0.1:`port` (or `proc` died)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"helper process exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def serve(app: str, env: Mapping[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Serve `module:app` with uvicorn in a process of its own on a free loopback port (no
    access log), once it listens; returns the process and its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", app),
            *("--host", "127.0.0.1", "--port", str(port)),
            *("--no-access-log", "--log-level", "warning"),
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        cwd=ROOT,
    )
    wait_listening(port, proc)
    return proc, f"http://127.0.0.1:{port}"
