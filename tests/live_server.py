"""Run wxsite for real, for the load and fault tests: PostgreSQL, gunicorn, HTTP on loopback.

`live_server()` creates a fresh PostgreSQL database (``wxsite_load_<pid>_<n>``), migrates it,
starts ``gunicorn -c gunicorn.conf.py wxsite.wsgi`` on a free loopback port with the test
credentials, waits for ``/healthz`` and yields a `LiveServer`: its address, SQL against its
database, an ORM console (a ``manage.py shell`` kept open, so edits go through the models and
their signals exactly as the admin's do), the worker pids and the server's log. On the way out,
whatever happened, gunicorn gets SIGTERM (then SIGKILL for its process group, which this helper
created) and the database is dropped. `TcpProxy` sits between gunicorn and PostgreSQL when a test
needs to cut the database off and bring it back.

Only PostgreSQL: `postgres_url()` returns the DATABASE_URL of the test run, or None.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from tests.conftest import AES_KEY, APP_ID, TOKEN

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0

_counter = itertools.count(1)


def postgres_url() -> str | None:
    """Return the run's DATABASE_URL when it is PostgreSQL, else None."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://", "pgsql://")) else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _with_database(url: str, name: str, *, host: str | None = None, port: int | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if host is not None:
        credentials = netloc.rpartition("@")[0]
        netloc = f"{credentials}@{host}:{port}" if credentials else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, f"/{name}", parts.query, ""))


def _conninfo(url: str) -> str:
    # psycopg takes postgresql:// URLs; dj-database-url also accepts postgres:// and pgsql://.
    scheme, _, rest = url.partition("://")
    return f"postgresql://{rest}"


# --- a TCP forwarder that can cut the database off ---------------------------------------------


class TcpProxy:
    """Forward 127.0.0.1:<port> to an upstream address.

    `cut()` drops every connection and refuses new ones (accepted, then reset at once): a
    database restart or a crashed host. `freeze()` keeps every connection open but forwards
    nothing, old or new: a network partition or a database host that stopped answering.
    `restore()` forwards again.
    """

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._cut = False
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = False
        self.accepted = 0
        self.refused = 0
        self._thread = threading.Thread(target=self._accept_loop, name="db-proxy", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._cut or self._closed:
                    self.refused += 1
                    _reset(client)
                    continue
                self.accepted += 1
            if not self._flowing.is_set():
                # Frozen: the connection is accepted but nobody answers until restore().
                with self._lock:
                    self._sockets.add(client)
                threading.Thread(target=self._connect_later, args=(client,), daemon=True).start()
                continue
            self._connect(client)

    def _connect_later(self, client: socket.socket) -> None:
        self._flowing.wait()
        with self._lock:
            if client not in self._sockets:
                return  # cut meanwhile
            self._sockets.discard(client)
        self._connect(client)

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
            upstream.settimeout(None)
        except OSError:
            _reset(client)
            return
        with self._lock:
            self._sockets.update((client, upstream))
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                self._flowing.wait()  # frozen: hold the bytes until restore()
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(target)

    def cut(self) -> None:
        """Drop every open connection and refuse new ones until `restore()`."""
        with self._lock:
            self._cut = True
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _reset(sock)

    def freeze(self) -> None:
        """Forward nothing, on open connections and new ones, until `restore()`."""
        self._flowing.clear()

    def restore(self) -> None:
        with self._lock:
            self._cut = False
        self._flowing.set()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._flowing.set()
        with contextlib.suppress(OSError):
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        self._thread.join(timeout=5)


def _reset(sock: socket.socket) -> None:
    # SO_LINGER 0: close with a RST, as a crashed or firewalled database host would look.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with contextlib.suppress(OSError):
        sock.close()


# --- the ORM console -----------------------------------------------------------------------------

_CONSOLE_LOOP = """
import json, sys, time, traceback
namespace = {}
for line in sys.stdin:
    request = json.loads(line)
    namespace.update(request["vars"])
    namespace["result"] = None
    try:
        exec(request["code"], namespace)
        answer = {"ok": True, "result": namespace["result"], "at": time.time()}
    except Exception:
        answer = {"ok": False, "error": traceback.format_exc()}
    print("\\x1e" + json.dumps(answer, default=str), flush=True)
"""


class OrmConsole:
    """A `manage.py shell` kept open against the live database: run model code, get `result`.

    Saving models here fires their signals (the rule-set version bump), as the admin does.
    """

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "shell", "-c", _CONSOLE_LOOP],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._lock = threading.Lock()

    def run(self, code: str, **variables) -> tuple[object, float]:
        """Run `code` (which may set `result`); return (result, time.time() when it returned)."""
        with self._lock:
            self.process.stdin.write(json.dumps({"code": code, "vars": variables}) + "\n")
            self.process.stdin.flush()
            while True:
                line = self.process.stdout.readline()
                if not line:
                    raise RuntimeError("the ORM console exited")
                if line.startswith("\x1e"):
                    break
        answer = json.loads(line[1:])
        if not answer["ok"]:
            raise RuntimeError(f"ORM console error:\n{answer['error']}")
        return answer["result"], answer["at"]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


# --- the server ----------------------------------------------------------------------------------


@dataclass
class LiveServer:
    host: str
    port: int
    database: str
    database_url: str  # direct, never through a proxy
    spool_dir: Path
    log_path: Path
    process: subprocess.Popen
    env: dict[str, str]
    _console: OrmConsole | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def sql(self, query: str, params: tuple | dict | None = None) -> list[tuple]:
        """Run one statement on the live database (own connection, autocommit); return rows."""
        with psycopg.connect(_conninfo(self.database_url), autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def connect(self) -> psycopg.Connection:
        """Return a new connection to the live database (the caller closes it)."""
        return psycopg.connect(_conninfo(self.database_url))

    @property
    def console(self) -> OrmConsole:
        if self._console is None:
            env = dict(self.env, DATABASE_URL=self.database_url)
            self._console = OrmConsole(env)
        return self._console

    def manage(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a manage.py command against the live database (directly, not via a proxy)."""
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=dict(self.env, DATABASE_URL=self.database_url),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )

    def worker_pids(self) -> list[int]:
        """Return the pids of gunicorn's workers (the master's children)."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def spooled(self) -> list[Path]:
        if not self.spool_dir.is_dir():
            return []
        return sorted(p for p in self.spool_dir.iterdir() if p.suffix == ".json")

    def healthz(self, timeout: float = 5) -> int:
        try:
            with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=timeout) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code


def server_env(database_url: str, spool_dir: Path, **extra: str) -> dict[str, str]:
    """Return the environment of a gunicorn (or manage.py) run against `database_url`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "CACHE_", "WECHAT_", "GUNICORN_", "DJANGO_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="wxsite.settings",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_LOG_LEVEL="INFO",
        DATABASE_URL=database_url,
        WECHAT_TOKEN=TOKEN,
        WECHAT_APP_ID=APP_ID,
        WECHAT_ENCODING_AES_KEY=AES_KEY,
        WECHAT_SPOOL_DIR=str(spool_dir),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def live_server(
    tmp_path: Path,
    *,
    workers: int = 4,
    timeout: int | None = None,
    through: TcpProxy | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[LiveServer]:
    """Run gunicorn against a fresh PostgreSQL database; stop it and drop the database after.

    `through`: a TcpProxy that gunicorn's database connections go through (migrations and the
    test's own queries go straight to PostgreSQL).
    """
    base_url = postgres_url()
    if base_url is None:
        raise RuntimeError("live_server needs DATABASE_URL pointing at PostgreSQL")
    name = f"wxsite_load_{os.getpid()}_{next(_counter)}"
    direct_url = _with_database(base_url, name)
    served_url = (
        _with_database(base_url, name, host="127.0.0.1", port=through.port)
        if through is not None
        else direct_url
    )
    tmp_path.mkdir(parents=True, exist_ok=True)
    spool_dir = tmp_path / "spool"
    log_path = tmp_path / "gunicorn.log"
    port = free_port()
    gunicorn_env = {
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_ACCESS_LOG": "-",
    }
    if timeout is not None:
        gunicorn_env["GUNICORN_TIMEOUT"] = str(timeout)
    env = server_env(served_url, spool_dir, **gunicorn_env, **(extra_env or {}))

    # The maintenance database: the run's own database need not exist (pytest-django uses a
    # test_ copy of it).
    admin_url = _with_database(base_url, "postgres")
    with psycopg.connect(_conninfo(admin_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    server = None
    process = None
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=dict(env, DATABASE_URL=direct_url),
            check=True,
            timeout=120,
        )
        with open(log_path, "wb") as log:
            # A new session: the group holds gunicorn's master and workers and nothing else, so
            # the last-resort SIGKILL reaches exactly the processes started here.
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wxsite.wsgi"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = LiveServer(
            host="127.0.0.1",
            port=port,
            database=name,
            database_url=direct_url,
            spool_dir=spool_dir,
            log_path=log_path,
            process=process,
            env=env,
        )
        _wait_until_healthy(server, workers=workers)
        yield server
    finally:
        if server is not None and server._console is not None:
            server._console.close()
        if process is not None:
            _stop(process)
        with psycopg.connect(_conninfo(admin_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _wait_until_healthy(server: LiveServer, *, workers: int) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited at start-up:\n{server.log_tail()}")
        with contextlib.suppress(OSError):
            if server.healthz(timeout=2) == 200 and len(server.worker_pids()) >= workers:
                return
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn not healthy after {STARTUP_TIMEOUT} s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the master and wait; then SIGKILL whatever of its session is left."""
    group = process.pid
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        # The workers finish their requests and exit at once; the master then idles a few
        # seconds before it exits. Once only the master is left, it has nothing more to do.
        while time.monotonic() < deadline and process.poll() is None:
            if _members_of_group(group) == [process.pid]:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=0.5)
                break
            time.sleep(0.05)
    # The session created at start holds only gunicorn's master and its workers.
    for pid in _members_of_group(group):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def _members_of_group(group: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ")".
        # Zombies (state Z) have exited already; they only wait for the master to reap them.
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == group:
            members.append(int(entry.name))
    return members


def wait_for(predicate, *, timeout: float, interval: float = 0.1, message: str = "") -> None:
    """Poll `predicate` until it is true; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(message or f"condition not met within {timeout} s")
