"""The HTTP part of the benchmark: every target under the same gunicorn, driven by wrk.

A target is one WSGI app with one database and one kind of message: the floor (a bare Django
view), the floor plus one INSERT, wxsite in plaintext and safe mode with a small and a
10,000-rule set, on SQLite and PostgreSQL, and the peers (WeRoBot, wechatpy + Flask). For each
round and target: start gunicorn (bench/gunicorn_conf.py), check one signed message gets the
right answer, warm up, sign a fresh batch of distinct messages (timestamps inside wxsite's 300 s
window, each MsgId and nonce used once), run wrk with bench/wrk_post.lua for the round's
duration, count the rows the round stored, and stop the server. Targets are interleaved and
their order rotates between rounds, so a slow minute of the machine does not land on one target.
"""

import contextlib
import http.client
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from bench.common import (
    ACCOUNT,
    AES_KEY,
    APP_ID,
    BENCH_DIR,
    BENCH_SLUG,
    KEYWORD_REPLY,
    PEERS_VENV,
    ROOT,
    TOKEN,
    WORK_DIR,
    pg_url,
    sqlite_url,
    summarize,
    wechat_env,
)
from bench.rulesets import build_ruleset
from replies.protocol import Credentials, decode_aes_key
from replies.protocol.client import build_message_xml, open_reply, sign_request

PORT = int(os.environ.get("BENCH_PORT", "18321"))
HOST = "127.0.0.1"
CONNECTIONS = 32
CREDENTIALS = Credentials(token=TOKEN, app_id=APP_ID, aes_keys=(decode_aes_key(AES_KEY),))
# Variables of the caller's shell that would change what a target serves.
_SCRUBBED_PREFIXES = ("DATABASE_", "CACHE_URL", "DJANGO_", "WECHAT_", "GUNICORN_", "FLOOR_")

MAX_WARMUPS = 6
# The threaded targets (group commit, bench/RESULTS-group-commit.md): 5 processes of 4 threads,
# the best of the shapes tried there; BENCH_THREADED_WORKERS and _THREADS try others.
THREADED_WORKERS = {
    "BENCH_WORKER_CLASS": "gthread",
    "BENCH_WORKERS": os.environ.get("BENCH_THREADED_WORKERS") or "5",
    "BENCH_THREADS": os.environ.get("BENCH_THREADED_THREADS") or "4",
}
WARM_MAX_MS = 1_000

_serial = itertools.count(1)
_MSG_ID_BASE = int(time.time()) * 1_000_000
OPENIDS = [f"oBench{number:022d}" for number in range(1_000)]


@dataclass(frozen=True)
class Database:
    """Where a target stores its rows: an engine, a DATABASE_URL and the table it writes."""

    engine: str  # "sqlite" or "postgresql"
    url: str
    table: str

    @property
    def label(self) -> str:
        return "SQLite" if self.engine == "sqlite" else "PostgreSQL"

    def connect(self):
        if self.engine == "sqlite":
            import sqlite3

            return sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=30)
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def count_rows(self) -> int:
        connection = self.connect()
        try:
            return connection.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0]  # noqa: S608
        finally:
            connection.close()

    def empty(self) -> None:
        """Delete every row the previous round stored, so each round starts alike."""
        connection = self.connect()
        try:
            if self.engine == "sqlite":
                connection.execute(f"DELETE FROM {self.table}")  # noqa: S608
                connection.commit()
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                connection.execute(f"TRUNCATE {self.table} CASCADE")  # the outbox refers to it
                connection.execute(f"VACUUM ANALYZE {self.table}")
        finally:
            connection.close()


@dataclass(frozen=True)
class Target:
    """One thing the benchmark serves and loads: an app, its settings, its messages."""

    key: str
    label: str
    group: str  # "floor", "wxsite" or "peer"
    app: str
    python: Path
    path: str
    mode: str = "plain"
    texts: tuple[str, ...] = ("营业时间",)
    expect: str = ""  # text the answer must contain
    env: dict[str, str] = field(default_factory=dict)
    database: Database | None = None


def _wxsite_db(engine: str, ruleset: str) -> Database:
    if engine == "sqlite":
        url = sqlite_url(f"wxsite-{ruleset}.sqlite3")
    else:
        url = pg_url(f"bench_wxsite_{ruleset}")
    return Database(engine=engine, url=url, table="replies_message")


def _floor_db(engine: str) -> Database:
    url = sqlite_url("floor.sqlite3") if engine == "sqlite" else pg_url("bench_floor")
    return Database(engine=engine, url=url, table="floor_floormessage")


def all_targets() -> list[Target]:
    """Return every target, in the order the tables show them."""
    python = Path(sys.executable)
    peers_python = PEERS_VENV / "bin" / "python"
    small_texts = tuple(build_ruleset("small")[1])
    ten_k_texts = tuple(build_ruleset("10k")[1])
    targets = [
        Target(
            key="floor",
            label="floor: bare Django view, constant XML",
            group="floor",
            app="bench.floor.wsgi",
            python=python,
            path="/floor/",
            expect="floor",
            env={"FLOOR_DATABASE_URL": _floor_db("sqlite").url},
        )
    ]
    for engine in ("sqlite", "postgresql"):
        floor_db = _floor_db(engine)
        # The one-INSERT floor; and, for issue 13's stretch (group commit,
        # bench/RESULTS-group-commit.md), the same under threaded workers (what threads alone
        # change) and with the rows stored by group commit (what one INSERT and one commit for
        # concurrent requests change).
        for key, label, path, workers in (
            ("floor-insert", "floor + one INSERT", "/floor-insert/", {}),
            (
                "floor-insert-threaded",
                "floor + one INSERT, threaded workers",
                "/floor-insert/",
                THREADED_WORKERS,
            ),
            (
                "floor-group-commit",
                "floor + group commit, threaded workers",
                "/floor-group-insert/",
                THREADED_WORKERS,
            ),
        ):
            targets.append(
                Target(
                    key=f"{key}-{engine}",
                    label=f"{label} ({floor_db.label})",
                    group="floor",
                    app="bench.floor.wsgi",
                    python=python,
                    path=path,
                    expect="floor",
                    env={"FLOOR_DATABASE_URL": floor_db.url, **workers},
                    database=floor_db,
                )
            )
        for key, mode, ruleset, texts, expect, label, path in (
            ("", "plain", "small", small_texts, KEYWORD_REPLY, "plaintext, keyword rule", ""),
            ("", "aes", "small", small_texts, KEYWORD_REPLY, "safe mode (AES), keyword rule", ""),
            ("", "plain", "10k", ten_k_texts, "<Content>", "plaintext, 10,000 rules", ""),
            (
                "account-",
                "plain",
                "small",
                small_texts,
                KEYWORD_REPLY,
                f"/wechat/{BENCH_SLUG}/ (a stored account), plaintext, keyword rule",
                f"/wechat/{BENCH_SLUG}/",
            ),
        ):
            database = _wxsite_db(engine, ruleset)
            targets.append(
                Target(
                    key=f"wxsite-{key}{mode}-{ruleset}-{engine}",
                    label=f"wxsite {label} ({database.label})",
                    group="wxsite",
                    app="wxsite.wsgi",
                    python=python,
                    path=path or "/wechat/",
                    mode=mode,
                    texts=texts,
                    expect=expect,
                    # As the production endpoint pool runs (gunicorn.conf.py, WXSITE_POOL=endpoint).
                    env={
                        **wechat_env(),
                        "DATABASE_URL": database.url,
                        "DATABASE_CONN_HEALTH_CHECKS": "false",
                    },
                    database=database,
                )
            )
    for key, label, app in (
        ("werobot", "WeRoBot 1.13 (default SQLite session)", "bench.peers.werobot_app:app"),
        ("wechatpy-flask", "wechatpy 1.8 + Flask", "bench.peers.wechatpy_flask_app:app"),
    ):
        targets.append(
            Target(
                key=key,
                label=label,
                group="peer",
                app=app,
                python=peers_python,
                path="/wechat/",
                expect=KEYWORD_REPLY,
                env={"BENCH_TOKEN": TOKEN, "BENCH_REPLY": KEYWORD_REPLY},
            )
        )
    return targets


# --- signed requests --------------------------------------------------------------------------


def make_request_lines(target: Target, count: int) -> list[str]:
    """Return `count` distinct signed requests for `target`, as "path?query\\tbody" lines.

    Every request has its own MsgId and nonce (so each is a new row, never a dedup hit or a
    replayed signature) and the current time as timestamp and CreateTime.
    """
    now = int(time.time())
    timestamp = str(now)
    lines = []
    for number in itertools.islice(_serial, count):
        openid = OPENIDS[number % len(OPENIDS)]
        xml = build_message_xml(
            msg_type="text",
            from_user=openid,
            to_user=ACCOUNT,
            create_time=now,
            Content=target.texts[number % len(target.texts)],
            MsgId=_MSG_ID_BASE + number,
        )
        query, body = sign_request(
            xml=xml,
            credentials=CREDENTIALS,
            mode=target.mode,
            timestamp=timestamp,
            nonce=str(1_000_000_000 + number),
            openid=openid,
        )
        lines.append(f"{target.path}?{urlencode(query)}\t{body.decode('utf-8')}")
    return lines


def write_request_file(target: Target, count: int, name: str) -> tuple[Path, list[str]]:
    lines = make_request_lines(target, count)
    path = WORK_DIR / "requests" / f"{target.key}-{name}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, lines


# --- servers ----------------------------------------------------------------------------------


def server_env(target: Target) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_SCRUBBED_PREFIXES) and name != "PYTHONPATH"
    }
    env.update(target.env)
    env["PYTHONPATH"] = str(ROOT)
    env["BENCH_BIND"] = f"{HOST}:{PORT}"
    return env


class Server:
    """A gunicorn master serving one target on PORT, with its log in bench/.work/logs/."""

    def __init__(self, target: Target):
        self.target = target
        self.log_path = WORK_DIR / "logs" / f"{target.key}.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        _wait_port_free()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        command = [
            str(self.target.python),
            "-m",
            "gunicorn",
            "-c",
            str(BENCH_DIR / "gunicorn_conf.py"),
            "--chdir",
            str(ROOT),
            self.target.app,
        ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=server_env(self.target), stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.target.key}: gunicorn exited at start; see {self.log_path}"
                )
            try:
                with socket.create_connection((HOST, PORT), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError(f"{self.target.key}: gunicorn did not listen within 60 s")

    def __exit__(self, *exc_info) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0


def _wait_port_free() -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, PORT), timeout=0.2):
                pass
        except OSError:
            return
        time.sleep(0.2)
    raise RuntimeError(f"port {PORT} is still in use by something else")


def check_answer(target: Target) -> str:
    """POST one signed message and check the answer is what WeChat should get; return it."""
    line = make_request_lines(target, 1)[0]
    path, body = line.split("\t", 1)
    deadline = time.monotonic() + 60
    while True:
        connection = http.client.HTTPConnection(HOST, PORT, timeout=30)
        try:
            connection.request(
                "POST", path, body=body.encode(), headers={"Content-Type": "text/xml"}
            )
            response = connection.getresponse()
            status, answer = response.status, response.read()
            break
        except (ConnectionError, http.client.HTTPException):
            # A worker can still be booting when the master already listens.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        finally:
            connection.close()
    if status != 200:
        raise RuntimeError(f"{target.key}: HTTP {status}: {answer[:300]!r}")
    reply = open_reply(body=answer, credentials=CREDENTIALS, encrypted=target.mode != "plain")
    text = reply.decode("utf-8")
    if target.expect not in text:
        raise RuntimeError(f"{target.key}: answer lacks {target.expect!r}: {text[:300]!r}")
    return text


# --- load -------------------------------------------------------------------------------------


def wrk_available() -> bool:
    """Return whether wrk is installed, installing Debian's package when apt-get can."""
    if shutil.which("wrk"):
        return True
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("wrk is missing: installing it with apt-get", flush=True)
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
            subprocess.run(command, capture_output=True, check=False, timeout=600)
    return bool(shutil.which("wrk"))


def run_wrk(request_file: Path, *, duration: float, connections: int, threads: int) -> dict:
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "5s",
        "-s",
        str(BENCH_DIR / "wrk_post.lua"),
        f"http://{HOST}:{PORT}",
        "--",
        str(request_file),
        str(threads),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line.removeprefix("BENCH_JSON "))
    raise RuntimeError(f"wrk gave no result:\n{done.stdout}\n{done.stderr}")


def run_load(
    target: Target,
    *,
    duration: float,
    connections: int,
    loadgen: str,
    estimate_rps: float,
    monitor=None,
) -> dict:
    """Sign enough requests for `duration` at about `estimate_rps`, send them, return numbers.

    `monitor`, a context manager, is entered only while the load runs (not while signing).
    """
    count = int(estimate_rps * duration * 1.5) + 2_000
    request_file, lines = write_request_file(target, count, "round")
    with monitor or contextlib.nullcontext():
        if loadgen == "wrk":
            result = run_wrk(request_file, duration=duration, connections=connections, threads=2)
        else:
            from bench.loadgen import run_load as python_load

            result = python_load(
                host=HOST, port=PORT, lines=lines, connections=connections, duration=duration
            )
    seconds = result["duration_us"] / 1_000_000
    errors = sum(
        result.get(name, 0)
        for name in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return {
        "rps": result["requests"] / seconds,
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "max_ms": result["max_us"] / 1000,
        "requests": result["requests"],
        "errors": errors,
        "reused": result.get("reused", 0),
        "signed": count,
    }


def measure_round(
    target: Target,
    *,
    duration: float,
    warmup: float,
    connections: int,
    loadgen: str,
    monitor=None,
) -> dict:
    """Serve `target`, check it, warm it up, load it for `duration` s; return the round.

    `monitor` (a context manager) is entered for the measured load only.
    """
    if target.database:
        target.database.empty()
    with Server(target):
        check_answer(target)
        # Warm up until the rate is steady and no request waited a second: each wxsite worker
        # builds its rule index on its first message (seconds, with 10,000 rules), which is
        # start-up, not steady state. A request still waiting when a warm-up ends is not counted
        # in its latency, so a steady rate between two warm-ups is the other half of the test.
        warmups, previous = 0, None
        while True:
            warmups += 1
            warm = run_load(
                target,
                duration=warmup,
                connections=connections,
                loadgen=loadgen,
                estimate_rps=4_000,  # warm-up requests may be reused: retries warm up too
            )
            steady = previous is not None and abs(warm["rps"] - previous) <= 0.2 * previous
            if (steady and warm["max_ms"] < WARM_MAX_MS) or warmups == MAX_WARMUPS:
                break
            previous = warm["rps"]
        if target.database:
            target.database.empty()
        result = run_load(
            target,
            duration=duration,
            connections=connections,
            loadgen=loadgen,
            estimate_rps=max(warm["rps"], 200),
            monitor=monitor,
        )
    result["warmups"] = warmups
    if target.database:
        result["rows"] = target.database.count_rows()
    return result


def summarize_target(rounds: list[dict]) -> dict:
    """Return the medians (with min and max) of a target's rounds."""
    return {
        "rps": summarize([r["rps"] for r in rounds]),
        "p50_ms": summarize([r["p50_ms"] for r in rounds]),
        "p99_ms": summarize([r["p99_ms"] for r in rounds]),
        "errors": sum(r["errors"] for r in rounds),
        "reused": sum(r["reused"] for r in rounds),
        "requests": sum(r["requests"] for r in rounds),
        "rows": sum(r.get("rows", 0) for r in rounds),
    }
