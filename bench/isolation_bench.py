"""The admin cannot starve /wechat/: both production pools, a million messages, heavy admin work.

Production runs two gunicorns from the same code (gunicorn.conf.py, WXSITE_POOL=endpoint and
WXSITE_POOL=admin; nginx routes by path). This benchmark starts both exactly so, each on its own
port, against a PostgreSQL database holding N messages (default 1,000,000, written with one
INSERT … SELECT generate_series), and measures:

  a. the endpoint alone: distinct signed text messages at a steady rate → req/s, p50, p99, max;
  b. the same load while 2–4 logged-in staff clients repeatedly ask the admin pool for its
     heaviest pages (the message log searched, the full CSV export — twice per cycle — and the
     insight pages): the endpoint's p99 and max must stay about the same and every message must
     be answered within 1 s;
  c. the full export alone, under the admin pool's production settings (120 s timeout): time,
     rows/s, CSV lines (header + N) and whether the last line is complete.

The machine may be shared: every phase records the CPU other processes took meanwhile.

    .venv/bin/python bench/isolation_bench.py                     # 1,000,000 rows, ~6 minutes
    .venv/bin/python bench/isolation_bench.py --rows 50000 --seconds 10 --no-write

It writes bench/RESULTS-isolation.md (unless --no-write) and drops its database at the end
(unless --keep-db). Needs PostgreSQL at BENCH_PG_DSN (default postgres://postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import http.client
import io
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    ACCOUNT,
    AES_KEY,
    APP_ID,
    ROOT,
    TOKEN,
    WORK_DIR,
    machine_info,
    pg_url,
)

HOST = "127.0.0.1"
ADMIN_USER = "bench"
ADMIN_PASSWORD = "bench-isolation-password-1"  # noqa: S105 - a throwaway benchmark account
ANSWER_LIMIT_MS = 1_000  # the target (WeChat itself gives up at 5 s)
# Words in the filled messages' text, so a search matches some rows but not all.
WORDS = ["营业时间", "价格", "优惠", "地址", "你好", "退款", "发票", "会员"]
_SCRUBBED = ("DATABASE_", "CACHE_", "DJANGO_", "WECHAT_", "GUNICORN_", "WXSITE_", "FLOOR_")


# --- the database ----------------------------------------------------------------------------


def _psql(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True)


FILL_SQL = """
INSERT INTO replies_message (
    dedup_key, request_key, mode, account_id, to_user, openid, msg_type, event, event_key, msg_id,
    created_at, content, recognition, media_id, pic_url, latitude, longitude, label, title, url,
    raw_xml, decrypted_xml, received_at, handling_ms, reply_type, reply_summary, reply_xml,
    rule_id, rule_name
)
SELECT
    md5('dedup-' || g) || lpad(to_hex(g), 8, '0'),
    md5('request-' || g) || lpad(to_hex(g), 8, '0'),
    'plain',
    (SELECT id FROM accounts_account WHERE from_environment),
    %(account)s::text,
    'oBench' || lpad((g %% 50000)::text, 22, '0'),
    'text', '', '',
    (7000000000000000000 + g)::text,
    t.at - interval '1 second',
    text_of.content,
    '', '', '', NULL, NULL, '', '', '',
    '<xml><ToUserName><![CDATA[' || %(account)s::text || ']]></ToUserName>'
        || '<FromUserName><![CDATA[oBench' || lpad((g %% 50000)::text, 22, '0')
        || ']]></FromUserName><CreateTime>'
        || extract(epoch FROM t.at)::bigint || '</CreateTime><MsgType><![CDATA[text]]></MsgType>'
        || '<Content><![CDATA[' || text_of.content || ']]></Content><MsgId>'
        || (7000000000000000000 + g) || '</MsgId></xml>',
    '',
    t.at,
    1.5 + (g %% 7),
    CASE WHEN g %% 3 = 0 THEN '' ELSE 'text' END,
    CASE WHEN g %% 3 = 0 THEN '' ELSE 'auto reply ' || g END,
    CASE WHEN g %% 3 = 0 THEN ''
         ELSE '<xml><Content><![CDATA[auto reply ' || g || ']]></Content></xml>' END,
    NULL,
    ''
FROM generate_series(1, %(rows)s) AS g,
     LATERAL (SELECT now() - (g::bigint * %(spacing)s) * interval '1 millisecond' AS at) AS t,
     LATERAL (SELECT 'message ' || g || ' ' || (ARRAY[%(words)s])[1 + g %% %(nwords)s]
                     || ' from follower ' || (g %% 50000) AS content) AS text_of
"""


def create_database(name: str) -> str:
    url = pg_url(name)
    with _psql(pg_url("postgres")) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return url


def drop_database(name: str) -> None:
    with _psql(pg_url("postgres")) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fill_messages(url: str, rows: int) -> dict:
    """Fill replies_message with `rows` distinct text messages over the last ~80 days.

    The plain indexes are dropped during the INSERT and built again after (the same
    definitions, read from pg_indexes), which is several times faster than maintaining them row
    by row; the unique constraints stay, so dedup_key and request_key are checked as they go.
    """
    started = time.monotonic()
    with _psql(url) as db:
        not_null = {
            name
            for (name,) in db.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'replies_message' AND is_nullable = 'NO' "
                "AND column_default IS NULL AND is_identity = 'NO'"
            )
        }
        columns = set(re.findall(r"\b(\w+)\b", FILL_SQL.split("SELECT", 1)[0].split("(", 1)[1]))
        missing = not_null - columns
        if missing:
            raise SystemExit(f"fill_messages: NOT NULL columns without a value: {sorted(missing)}")
        indexes = db.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'replies_message' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint "
            "WHERE conrelid = 'replies_message'::regclass)"
        ).fetchall()
        for index_name, _ in indexes:
            db.execute(f'DROP INDEX "{index_name}"')
        spacing = max(1, int(80 * 86_400_000 / max(rows, 1)))  # ms between rows: ~80 days
        words = ", ".join("'" + word + "'" for word in WORDS)
        db.execute(
            FILL_SQL.replace("%(words)s", words).replace("%(nwords)s", str(len(WORDS))),
            {"account": ACCOUNT, "rows": rows, "spacing": spacing},
        )
        inserted = time.monotonic() - started
        for _, definition in indexes:
            db.execute(definition)
        db.execute("VACUUM ANALYZE replies_message")
        count = db.execute("SELECT count(*) FROM replies_message").fetchone()[0]
    return {
        "rows": count,
        "insert_s": inserted,
        "total_s": time.monotonic() - started,
        "indexes": len(indexes),
    }


# --- the two pools -----------------------------------------------------------------------------


def pool_env(database_url: str, spool_dir: Path) -> dict[str, str]:
    """The environment both pools read, as deploy/wxsite.env.example sets it (plain HTTP)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
    env.update(
        DJANGO_SETTINGS_MODULE="wxsite.settings",
        DJANGO_SECRET_KEY="bench-isolation-not-secret-" + "x" * 40,
        DJANGO_DEBUG="false",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_ADMIN_URL="admin/",
        DJANGO_LANGUAGE_CODE="zh-hans",
        DJANGO_TIME_ZONE="Asia/Shanghai",
        DJANGO_LOG_LEVEL="WARNING",
        DJANGO_ADMIN_STATEMENT_TIMEOUT_MS="15000",
        DJANGO_ADMIN_REQUIRE_2FA="off",
        DJANGO_HTTPS="false",  # no nginx in front: plain HTTP on loopback
        DATABASE_URL=database_url,
        DATABASE_CONN_MAX_AGE="600",
        DATABASE_CONNECT_TIMEOUT="2",
        WECHAT_TOKEN=TOKEN,
        WECHAT_APP_ID=APP_ID,
        WECHAT_ENCODING_AES_KEY=AES_KEY,
        WECHAT_SPOOL_DIR=str(spool_dir),
        WECHAT_RULES_MAX_STALENESS="1",
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass
class Pool:
    name: str  # endpoint or admin
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self) -> Pool:
        env = dict(self.env, WXSITE_POOL=self.name)
        env[f"GUNICORN_{self.name.upper()}_BIND"] = f"{HOST}:{self.port}"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wxsite.wsgi"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stop() reaches exactly these processes
            )
        path = "/healthz" if self.name == "endpoint" else "/admin/login/"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} pool exited at start: see {self.log_path}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                connection = http.client.HTTPConnection(HOST, self.port, timeout=5)
                connection.request("GET", path, headers={"Host": HOST})
                if connection.getresponse().status == 200:
                    return self
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} pool not answering {path} after 60 s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def log_lines(self, pattern: str) -> list[str]:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return [line for line in text.splitlines() if re.search(pattern, line)]


def start_pools(
    database_url: str,
    *,
    endpoint_port: int,
    admin_port: int,
    work: Path = WORK_DIR,
    admin_args: str = "",
) -> tuple[Pool, Pool]:
    """Start both pools on their ports; `work` holds their logs and the endpoint's spool.

    `admin_args`: gunicorn options over gunicorn.conf.py's for the admin pool only (given as
    GUNICORN_CMD_ARGS), e.g. "--worker-class sync --threads 1" to measure the sync workers."""
    env = pool_env(database_url, work / "isolation-spool")
    logs = work / "logs"
    endpoint = Pool("endpoint", endpoint_port, env, logs / "isolation-endpoint.log").start()
    try:
        admin_env = dict(env, GUNICORN_CMD_ARGS=admin_args) if admin_args else env
        admin = Pool("admin", admin_port, admin_env, logs / "isolation-admin.log").start()
    except BaseException:
        endpoint.stop()
        raise
    return endpoint, admin


def manage(database_url: str, *args: str, extra: dict[str, str] | None = None) -> None:
    env = pool_env(database_url, WORK_DIR / "isolation-spool")
    env.update(extra or {})
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, timeout=600)


def prepare(database: str, rows: int, *, log=print) -> tuple[str, dict]:
    """Create, migrate and fill the database; create the staff user. Return (url, fill)."""
    url = create_database(database)
    return url, populate(url, rows, log=log)


def populate(url: str, rows: int, *, log=print) -> dict:
    """Migrate the (empty) database at `url`, fill it with `rows` messages, add the staff user."""
    manage(url, "migrate", "--noinput", "-v", "0")
    fill = fill_messages(url, rows) if rows else {"rows": 0, "insert_s": 0, "total_s": 0}
    manage(
        url,
        "createsuperuser",
        "--noinput",
        "--username",
        ADMIN_USER,
        "--email",
        "bench@example.com",
        extra={"DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD},
    )
    log(
        f"filled {fill['rows']:,} rows in {fill['total_s']:.0f} s "
        f"(INSERT {fill['insert_s']:.0f} s, then indexes and ANALYZE)"
    )
    return fill


# --- CPU taken by other processes ----------------------------------------------------------------


def _stat_fields(pid: str) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


class OtherLoad:
    """The share of the machine's CPU that processes other than this run's took meanwhile.

    Ours: this process and all its descendants (both pools, the load generator; ticks of those
    that ended are counted through their parents' cutime/cstime) and the PostgreSQL backends of
    this run's database. The rest of the machine's busy time is "other load".
    """

    def __init__(self, database: str):
        self.marker = f" {database} "
        self.fraction: float | None = None

    def _snapshot(self) -> tuple[int, int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        total = sum(fields[:8])
        parents: dict[str, str] = {}
        stats: dict[str, list[str]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                stat = _stat_fields(entry.name)
                if stat:
                    stats[entry.name] = stat
                    parents[entry.name] = stat[1]
        ours = {str(os.getpid())}
        changed = True
        while changed:
            changed = False
            for pid, parent in parents.items():
                if parent in ours and pid not in ours:
                    ours.add(pid)
                    changed = True
        own = 0
        for pid, stat in stats.items():
            mine = pid in ours
            if not mine:
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                except OSError:
                    continue
                mine = self.marker.encode() in cmdline and cmdline.startswith(b"postgres:")
            if mine:
                own += sum(int(v) for v in stat[11:15])  # utime stime cutime cstime
        return total - idle, total, own

    def __enter__(self) -> OtherLoad:
        self.start = self._snapshot()
        return self

    def __exit__(self, *exc_info) -> None:
        busy, total, own = self._snapshot()
        elapsed = max(1, total - self.start[1])
        self.fraction = max(0.0, ((busy - self.start[0]) - (own - self.start[2])) / elapsed)
        self.own_fraction = max(0.0, (own - self.start[2]) / elapsed)


# --- the endpoint's load -------------------------------------------------------------------------


def signed_lines(count: int, first: int) -> list[str]:
    """`count` distinct signed text messages as "path?query\\tbody" lines (fresh timestamps)."""
    from replies.protocol import Credentials, decode_aes_key
    from replies.protocol.client import build_message_xml, sign_request

    credentials = Credentials(token=TOKEN, app_id=APP_ID, aes_keys=(decode_aes_key(AES_KEY),))
    now = int(time.time())
    msg_base = 8_000_000_000_000_000_000 + now * 100_000
    lines = []
    for number in range(first, first + count):
        openid = f"oLoad{number % 5000:023d}"
        xml = build_message_xml(
            msg_type="text",
            from_user=openid,
            to_user=ACCOUNT,
            create_time=now,
            Content=f"load message {now} {number} {WORDS[number % len(WORDS)]}",
            MsgId=msg_base + number,
        )
        query, body = sign_request(
            xml=xml,
            credentials=credentials,
            mode="plain",
            timestamp=str(now),
            nonce=f"{now}{number:09d}",
            openid=openid,
        )
        lines.append(f"/wechat/?{urlencode(query)}\t{body.decode('utf-8')}")
    return lines


async def _paced(port: int, requests: list[tuple[str, bytes]], rate: float, seconds: float):
    """Send request i at start + i / rate (open loop: a slow answer never delays the next)."""
    latencies: list[float] = []
    failures: list[str] = []
    started = time.monotonic()
    total = min(len(requests), int(rate * seconds))

    async def one(index: int) -> None:
        path, body = requests[index]
        scheduled = started + index / rate
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 10)
            writer.write(head + body)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), timeout=10)
            writer.close()
        except (OSError, TimeoutError) as error:
            failures.append(f"#{index}: {type(error).__name__}")
            return
        # From when it was due, so a generator falling behind is counted, not hidden.
        latencies.append((time.monotonic() - scheduled) * 1000)
        if not answer.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
            failures.append(f"#{index}: {answer[:40]!r}")

    tasks = []
    for index in range(total):
        delay = started + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(index)))
    await asyncio.gather(*tasks)
    return latencies, failures, time.monotonic() - started


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def paced_load(port: int, lines: list[str], *, rate: float, seconds: float) -> dict:
    requests = [(line.split("\t", 1)[0], line.split("\t", 1)[1].encode()) for line in lines]
    latencies, failures, elapsed = asyncio.run(_paced(port, requests, rate, seconds))
    return {
        "requests": len(latencies) + len(failures),
        "answered": len(latencies),
        "rps": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": _percentile(latencies, 0.50),
        "p99_ms": _percentile(latencies, 0.99),
        "max_ms": max(latencies, default=0.0),
        "mean_ms": statistics.fmean(latencies) if latencies else 0.0,
        "over_limit": sum(1 for value in latencies if value > ANSWER_LIMIT_MS),
        "failures": len(failures),
        "failure_samples": failures[:5],
        "latencies_ms": [round(value, 2) for value in latencies],
    }


def combine(results: list[dict]) -> dict:
    """Merge consecutive paced loads into one result (percentiles over all their messages)."""
    latencies = [value for result in results for value in result["latencies_ms"]]
    seconds = sum(result["requests"] / result["rps"] for result in results if result["rps"])
    return {
        "requests": sum(result["requests"] for result in results),
        "answered": len(latencies),
        "rps": len(latencies) / seconds if seconds else 0.0,
        "p50_ms": _percentile(latencies, 0.50),
        "p99_ms": _percentile(latencies, 0.99),
        "max_ms": max(latencies, default=0.0),
        "mean_ms": statistics.fmean(latencies) if latencies else 0.0,
        "over_limit": sum(1 for value in latencies if value > ANSWER_LIMIT_MS),
        "failures": sum(result["failures"] for result in results),
        "failure_samples": [s for result in results for s in result["failure_samples"]][:5],
    }


def wrk_load(port: int, lines: list[str], *, connections: int, seconds: float) -> dict:
    request_file = WORK_DIR / "requests" / f"isolation-wrk-{os.getpid()}.txt"
    request_file.parent.mkdir(parents=True, exist_ok=True)
    request_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = subprocess.run(
        [
            "wrk", "-t2", f"-c{connections}", f"-d{round(seconds)}s", "--timeout", "5s",
            "-s", str(ROOT / "bench" / "wrk_post.lua"), f"http://{HOST}:{port}",
            "--", str(request_file), "2",
        ],
        capture_output=True, text=True, check=False, timeout=seconds + 120,
    )  # fmt: skip
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            raw = json.loads(line.removeprefix("BENCH_JSON "))
            errors = sum(
                raw[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors")
            )
            return {
                "requests": raw["requests"],
                "answered": raw["requests"] - errors,
                "rps": raw["requests"] / (raw["duration_us"] / 1e6),
                "p50_ms": raw["p50_us"] / 1000,
                "p99_ms": raw["p99_us"] / 1000,
                "max_ms": raw["max_us"] / 1000,
                "mean_ms": raw["mean_us"] / 1000,
                "over_limit": None,  # wrk gives percentiles only
                "failures": errors + raw["timeouts"],
                "failure_samples": [],
                "reused": raw["reused"],
            }
    raise RuntimeError(f"wrk gave no result:\n{done.stdout}\n{done.stderr}")


def _load_child(args: list[str]) -> None:
    """Entry point of the load-generator process: `--load-child SPEC_JSON`."""
    spec = json.loads(args[0])
    lines = Path(spec["file"]).read_text(encoding="utf-8").splitlines()
    if spec["kind"] == "paced":
        result = paced_load(spec["port"], lines, rate=spec["rate"], seconds=spec["seconds"])
    else:
        result = wrk_load(
            spec["port"], lines, connections=spec["connections"], seconds=spec["seconds"]
        )
    print("LOAD_JSON " + json.dumps(result), flush=True)


_serial = [0]


def endpoint_load(port: int, *, kind: str, rate: float, connections: int, seconds: float) -> dict:
    """Sign fresh messages and load the endpoint from a separate process; return its numbers."""
    count = int(rate * seconds) + 10 if kind == "paced" else int(2_000 * seconds) + 2_000
    lines = signed_lines(count, _serial[0])
    _serial[0] += count
    path = WORK_DIR / "requests" / f"isolation-signed-{os.getpid()}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = {
        "kind": kind,
        "file": str(path),
        "port": port,
        "rate": rate,
        "connections": connections,
        "seconds": seconds,
    }
    done = subprocess.run(
        [sys.executable, __file__, "--load-child", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 180,
    )
    for line in done.stdout.splitlines():
        if line.startswith("LOAD_JSON "):
            return json.loads(line.removeprefix("LOAD_JSON "))
    raise RuntimeError(f"load generator failed:\n{done.stdout}\n{done.stderr}")


# --- a staff user's browser ----------------------------------------------------------------------


class Staff:
    """A logged-in admin session (session cookie via the login form and its csrftoken)."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.connection: http.client.HTTPConnection | None = None

    def _headers(self) -> dict[str, str]:
        headers = {"Host": HOST, "User-Agent": "Mozilla/5.0 (isolation bench)"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def _keep(self, response: http.client.HTTPResponse) -> None:
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]

    def request(self, method: str, path: str, body: bytes | None = None, headers=None, timeout=180):
        connection = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        self.connection = connection
        connection.request(method, path, body=body, headers={**self._headers(), **(headers or {})})
        response = connection.getresponse()
        self._keep(response)
        return response

    def login(self) -> None:
        response = self.request("GET", "/admin/login/")
        page = response.read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = urlencode(
            {
                "csrfmiddlewaretoken": token,
                "username": ADMIN_USER,
                "password": ADMIN_PASSWORD,
                "next": "/admin/",
            }
        ).encode()
        response = self.request(
            "POST",
            "/admin/login/?next=/admin/",
            body=form,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Referer": f"http://{HOST}:{self.port}/admin/login/",
            },
        )
        response.read()
        if response.status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"admin login failed: HTTP {response.status}")

    def fetch(self, path: str) -> dict:
        """GET `path`, read it all (64 KiB at a time, as a browser would); time it."""
        started = time.monotonic()
        size = 0
        try:
            response = self.request("GET", path)
            while True:
                chunk = response.read(65536)
                if not chunk:
                    break
                size += len(chunk)
            status = response.status
            error = ""
        except (OSError, http.client.HTTPException) as exc:
            status, error = 0, type(exc).__name__  # `size`: what came before it was cut
        finally:
            if self.connection is not None:
                self.connection.close()
        return {
            "path": path,
            "status": status,
            "seconds": time.monotonic() - started,
            "bytes": size,
            "error": error,
        }

    def abort(self) -> None:
        connection = self.connection
        if connection is not None and connection.sock is not None:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(2)


def heavy_pages(search: str) -> list[str]:
    """The heaviest admin pages, in the order a staff client cycles through them."""
    return [
        "/admin/replies/message/?" + urlencode({"q": search}),
        "/admin/replies/message/export.csv",
        "/admin/insights/report/?days=90",
        "/admin/insights/report/unanswered/?days=90",
        "/admin/insights/report/rules/?days=90",
        "/admin/insights/report/traffic/?days=90",
        "/admin/replies/message/export.csv?" + urlencode({"q": search}),
        "/admin/replies/message/export.csv",
    ]


@dataclass
class AdminWork:
    """`clients` staff sessions cycling through heavy_pages() until stop()."""

    port: int
    clients: int
    search: str
    results: list[dict] = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.staff = [Staff(self.port) for _ in range(self.clients)]
        for staff in self.staff:
            staff.login()
        self.threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.clients)
        ]

    def _run(self, index: int) -> None:
        pages = heavy_pages(self.search)
        step = index * 3  # the clients start at different pages: two exports overlap early
        while not self._stop.is_set():
            page = pages[step % len(pages)]
            step += 1
            result = self.staff[index].fetch(page)
            result["cut"] = self._stop.is_set()  # still running when the load ended
            with self._lock:
                self.results.append(result)

    def start(self) -> AdminWork:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        # Abort until every client has stopped: one may have opened its next page just before.
        deadline = time.monotonic() + 30
        while any(t.is_alive() for t in self.threads) and time.monotonic() < deadline:
            for staff in self.staff:
                staff.abort()
            for thread in self.threads:
                thread.join(timeout=0.1)

    def summary(self) -> dict:
        by_page: dict[str, list[dict]] = {}
        for result in self.results:
            by_page.setdefault(result["path"], []).append(result)
        pages = {}
        for path, items in by_page.items():
            done = [r for r in items if not r["cut"]]
            pages[path] = {
                "count": len(done),
                "running_at_end": len(items) - len(done),
                "statuses": sorted({r["status"] for r in done}),
                "median_s": statistics.median(r["seconds"] for r in done) if done else None,
                "max_s": max((r["seconds"] for r in done), default=None),
                "mb": max(r["bytes"] for r in items) / 1e6,
            }
        finished = [r for r in self.results if not r["cut"]]
        return {
            "finished": len(finished),
            "cut_at_end": len(self.results) - len(finished),
            "statuses": sorted({r["status"] for r in finished}),
            "pages": pages,
        }


# --- the export alone ---------------------------------------------------------------------------


def full_export(port: int, expected_rows: int) -> dict:
    """Download the whole export once; count its CSV lines and check the last one."""
    staff = Staff(port)
    staff.login()
    started = time.monotonic()
    first_byte = None
    records = 0
    fields_ok = True
    last_raw = b""
    status = 0
    error = ""
    size = 0
    header: list[str] = []
    try:
        response = staff.request("GET", "/admin/replies/message/export.csv", timeout=300)
        status = response.status
        tail = b""
        pending = b""
        decoder_rows = []
        width = None
        while True:
            chunk = response.read(1 << 20)
            if first_byte is None:
                first_byte = time.monotonic() - started
            if not chunk:
                break
            size += len(chunk)
            pending += chunk
            cut = pending.rfind(b"\r\n")
            if cut < 0:
                continue
            block, pending = pending[: cut + 2], pending[cut + 2 :]
            # Generated rows hold no line breaks inside a cell, so each CRLF ends a record.
            decoder_rows = list(csv.reader(io.StringIO(block.decode("utf-8-sig"), newline="")))
            if width is None and decoder_rows:
                header = decoder_rows[0]
                width = len(header)
            fields_ok = fields_ok and all(len(row) == width for row in decoder_rows)
            records += len(decoder_rows)
            tail = block[-400:]
        last_raw = (tail + pending)[-400:]
    except (OSError, http.client.HTTPException) as exc:
        error = type(exc).__name__ + (f": {exc}" if str(exc) else "")
    finally:
        if staff.connection is not None:
            staff.connection.close()
    seconds = time.monotonic() - started
    last_line = last_raw.rsplit(b"\r\n", 2)[-2] if last_raw.endswith(b"\r\n") else last_raw
    last_fields = next(csv.reader([last_line.decode("utf-8", "replace")]), [])
    return {
        "status": status,
        "error": error,
        "seconds": seconds,
        "first_byte_s": first_byte or 0.0,
        "mb": size / 1e6,
        "lines": records,
        "expected_lines": expected_rows + 1,
        "rows_per_s": max(0, records - 1) / seconds if seconds else 0.0,
        "complete_last_line": last_raw.endswith(b"\r\n") and len(last_fields) == len(header),
        "all_lines_complete": fields_ok and not pending_partial(last_raw),
        "last_line": last_line.decode("utf-8", "replace")[:160],
    }


def pending_partial(last_raw: bytes) -> bool:
    return bool(last_raw) and not last_raw.endswith(b"\r\n")


# --- the run ------------------------------------------------------------------------------------


def run(args) -> dict:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    info = machine_info()
    report: dict = {"machine": info, "args": vars(args).copy()}
    url, fill = prepare(args.database, args.rows)
    report["fill"] = fill
    endpoint = admin = None
    try:
        endpoint, admin = start_pools(
            url,
            endpoint_port=args.endpoint_port,
            admin_port=args.admin_port,
            admin_args=args.admin_args,
        )
        report["pools"] = {
            "endpoint": {"port": args.endpoint_port},
            "admin": {"port": args.admin_port},
        }
        # Warm-up: each endpoint worker builds its rule index on its first message.
        endpoint_load(args.endpoint_port, kind="paced", rate=args.rate, connections=0, seconds=3)

        phases = []
        if not args.skip_export:
            print("c. the full export alone …", flush=True)
            with _psql(url) as db:
                rows_now = db.execute("SELECT count(*) FROM replies_message").fetchone()[0]
            with OtherLoad(args.database) as other:
                export = full_export(args.admin_port, rows_now)
            export["other_load"] = other.fraction
            report["export"] = export
            print(json.dumps(export, indent=1), flush=True)

        if args.concurrent_exports:
            report["concurrent"] = exports_under_load(args, url)
            print(json.dumps(report["concurrent"], indent=1), flush=True)

        for kind in args.loadgen:
            for with_admin in (False, True):
                label = f"{'b' if with_admin else 'a'}. endpoint {kind}" + (
                    f" + {args.admin_clients} admin clients" if with_admin else " alone"
                )
                print(label, "…", flush=True)
                work = None
                if with_admin:
                    work = AdminWork(args.admin_port, args.admin_clients, args.search).start()
                    time.sleep(args.admin_head_start)  # the exports are streaming by now
                try:
                    with OtherLoad(args.database) as other:
                        result = endpoint_load(
                            args.endpoint_port,
                            kind=kind,
                            rate=args.rate,
                            connections=args.connections,
                            seconds=args.seconds,
                        )
                finally:
                    if work is not None:
                        work.stop()
                result.update(
                    phase=label,
                    kind=kind,
                    with_admin=with_admin,
                    other_load=other.fraction,
                    own_load=other.own_fraction,
                )
                result.pop("latencies_ms", None)
                if work is not None:
                    result["admin"] = work.summary()
                phases.append(result)
                print(json.dumps(result, indent=1, ensure_ascii=False), flush=True)
        report["phases"] = phases
        used = admin.log_lines(r"Using worker: ")
        report["admin_worker"] = used[0].rsplit(": ", 1)[1] if used else "?"
        report["worker_timeouts"] = {
            pool.name: pool.log_lines(r"WORKER TIMEOUT|SIGKILL|Worker .* was sent")
            for pool in (endpoint, admin)
        }
    finally:
        for pool in (admin, endpoint):
            if pool is not None:
                pool.stop()
        if not args.keep_db:
            drop_database(args.database)
    return report


def exports_under_load(args, url: str) -> dict:
    """d. `args.concurrent_exports` full exports at once, the paced load running until the
    last one ends: do they complete under the 120 s timeout, and does every message answer?"""
    print(f"d. {args.concurrent_exports} full exports at once + endpoint paced …", flush=True)
    with _psql(url) as db:
        before = db.execute("SELECT count(*) FROM replies_message").fetchone()[0]
    exports: list[dict] = []

    def one() -> None:
        exports.append(full_export(args.admin_port, before))

    threads = [threading.Thread(target=one, daemon=True) for _ in range(args.concurrent_exports)]
    loads = []
    with OtherLoad(args.database) as other:
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            loads.append(
                endpoint_load(
                    args.endpoint_port, kind="paced", rate=args.rate, connections=0, seconds=10
                )
            )
        for thread in threads:
            thread.join()
    with _psql(url) as db:
        after = db.execute("SELECT count(*) FROM replies_message").fetchone()[0]
    for export in exports:
        # The export reads one snapshot: the rows when its query started (messages kept
        # arriving meanwhile), so between `before` and `after` rows, plus the header.
        export["expected_lines"] = f"{before + 1:,}–{after + 1:,}"
        export["complete"] = (
            export["status"] == 200
            and before + 1 <= export["lines"] <= after + 1
            and export["complete_last_line"]
        )
    result = combine(loads)
    result.update(
        phase=f"d. endpoint paced + {args.concurrent_exports} full exports at once, until both end",
        kind="paced",
        with_admin=True,
        other_load=other.fraction,
        own_load=other.own_fraction,
        exports=exports,
    )
    return result


def _pct(value) -> str:
    return "—" if value is None else f"{value:.0%}"


def _ms(value) -> str:
    return "—" if value is None else f"{value:,.1f}"


def render(report: dict) -> str:
    info = report["machine"]
    args = report["args"]
    fill = report["fill"]
    out = [
        "# The admin cannot starve /wechat/: two pools under load",
        "",
        "Measured by `bench/isolation_bench.py` "
        f"(`--rows {args['rows']} --seconds {args['seconds']:g} --rate {args['rate']:g} "
        f"--admin-clients {args['admin_clients']}`), {info['date']}.",
        "",
        f"Machine: {info['cores']} cores {info['cpu']}, {info['memory']}, {info['os']}; Python "
        f"{info['python']}, Django {info['django']}, gunicorn {info['gunicorn']}, PostgreSQL "
        f"{info['postgresql']}, wrk {info['wrk'] or '—'}. Both pools and PostgreSQL share the 2 "
        "cores: the pools keep the admin from holding the endpoint's *workers*; they do not "
        "reserve CPU.",
        "",
        "Both pools run `gunicorn -c gunicorn.conf.py wxsite.wsgi` exactly as production "
        "(`WXSITE_POOL=endpoint`: 5 sync workers, 4 s timeout; `WXSITE_POOL=admin`: 2 "
        f"{report.get('admin_worker', '?')} workers"
        + (f" (`{args['admin_args']}`)" if args.get("admin_args") else "")
        + ", 120 s timeout), with the settings of deploy/wxsite.env.example "
        "(DJANGO_LOG_LEVEL=WARNING, 2FA off, plain HTTP on loopback). "
        f"Message table: {fill['rows']:,} rows (INSERT … SELECT generate_series in "
        f"{fill['insert_s']:.0f} s, indexes rebuilt and ANALYZE: {fill['total_s']:.0f} s in all).",
        "",
        "## Endpoint latency, alone and while staff hammer the admin",
        "",
        "`paced`: distinct signed text messages sent at a fixed rate, open loop (a late answer "
        "never delays the next message; latency counts from when the message was due), each on "
        "its own connection. `wrk`: as many as 8 connections can carry (saturation: the CPU is "
        f"the limit). Admin work: {args['admin_clients']} logged-in clients cycling through the "
        "message log searched, the full CSV export (twice per cycle, and once searched) and the "
        "four insight pages (90 days). Other load: CPU other processes on the machine took "
        "during the phase (of both cores).",
        "",
        "| phase | sent | req/s | p50 ms | p99 ms | max ms | > 1 s | failed | other load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for phase in [*report.get("phases", []), *filter(None, [report.get("concurrent")])]:
        over = "—" if phase["over_limit"] is None else f"{phase['over_limit']:,}"
        other = "—" if phase["other_load"] is None else f"{phase['other_load']:.0%}"
        out.append(
            f"| {phase['phase']} | {phase['requests']:,} | {phase['rps']:,.0f} | "
            f"{_ms(phase['p50_ms'])} | {_ms(phase['p99_ms'])} | {_ms(phase['max_ms'])} | {over} | "
            f"{phase['failures']:,} | {other} |"
        )
    pages = {}
    for phase in report.get("phases", []):
        for path, page in phase.get("admin", {}).get("pages", {}).items():
            pages.setdefault(path, []).append(page)
    if pages:
        out += [
            "",
            "Admin pages served meanwhile, over all b phases (served: finished inside a phase; "
            "running: still streaming when the endpoint's load ended, then cut; MB: the largest "
            "download, finished or not):",
            "",
            "| admin page | served | running at end | status | median s | max s | MB |",
            "|---|---:|---:|---|---:|---:|---:|",
        ]
        for path, items in pages.items():
            statuses = ", ".join(str(s) for s in sorted({s for p in items for s in p["statuses"]}))
            medians = [p["median_s"] for p in items if p["median_s"] is not None]
            maxima = [p["max_s"] for p in items if p["max_s"] is not None]
            out.append(
                f"| `{path}` | {sum(p['count'] for p in items)} | "
                f"{sum(p['running_at_end'] for p in items)} | {statuses or '—'} | "
                f"{_ms(statistics.median(medians) if medians else None)} | "
                f"{_ms(max(maxima) if maxima else None)} | {max(p['mb'] for p in items):.1f} |"
            )
    export = report.get("export")
    if export:
        verdict = (
            "complete"
            if export["status"] == 200
            and export["lines"] == export["expected_lines"]
            and export["complete_last_line"]
            else "INCOMPLETE"
        )
        other = "—" if export["other_load"] is None else f"{export['other_load']:.0%}"
        out += [
            "",
            "## The full export under the admin pool's production settings",
            "",
            "| rows | status | time s | first byte s | rows/s | MB | CSV lines (expected) "
            "| last line | result | other load |",
            "|---:|---:|---:|---:|---:|---:|---:|---|---|---:|",
            f"| {fill['rows']:,} | {export['status']} | {export['seconds']:.1f} | "
            f"{export['first_byte_s']:.1f} | {export['rows_per_s']:,.0f} | {export['mb']:.0f} | "
            f"{export['lines']:,} ({export['expected_lines']:,}) | "
            f"{'complete' if export['complete_last_line'] else 'cut'} | {verdict} | {other} |",
        ]
        for other_export in report.get("concurrent", {}).get("exports", []):
            out.append(
                f"| d: one of {len(report['concurrent']['exports'])} at once, paced load on | "
                f"{other_export['status']} | {other_export['seconds']:.1f} | "
                f"{other_export['first_byte_s']:.1f} | {other_export['rows_per_s']:,.0f} | "
                f"{other_export['mb']:.0f} | {other_export['lines']:,} "
                f"({other_export['expected_lines']}) | "
                f"{'complete' if other_export['complete_last_line'] else 'cut'} | "
                f"{'complete' if other_export['complete'] else 'INCOMPLETE'} | "
                f"{_pct(report['concurrent']['other_load'])} |"
            )
        if export["error"]:
            out.append(f"\nThe download ended with {export['error']}.")
    timeouts = report.get("worker_timeouts", {})
    out += [
        "",
        "Worker timeouts in the pools' logs: "
        + ", ".join(f"{name} {len(lines)}" for name, lines in timeouts.items())
        + ".",
        "",
    ]
    return "\n".join(out)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--load-child"]:
        _load_child(argv[1:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20, help="length of each load phase")
    parser.add_argument("--rate", type=float, default=200, help="paced messages per second")
    parser.add_argument("--connections", type=int, default=8, help="wrk's connections")
    parser.add_argument(
        "--loadgen",
        default="paced,wrk",
        type=lambda value: [v for v in value.split(",") if v],
        help="paced, wrk or both (paced,wrk)",
    )
    parser.add_argument("--admin-clients", type=int, default=3)
    parser.add_argument("--admin-head-start", type=float, default=3.0)
    parser.add_argument("--search", default="退款")
    parser.add_argument("--skip-export", action="store_true", help="leave out phase c")
    parser.add_argument(
        "--concurrent-exports",
        type=int,
        default=2,
        help="phase d: this many full exports at once under the endpoint's load (0: no phase d)",
    )
    parser.add_argument(
        "--admin-args",
        default="",
        help="gunicorn options for the admin pool over gunicorn.conf.py's, e.g. "
        '"--worker-class sync --threads 1"',
    )
    parser.add_argument("--database", default="bench_isolation")
    parser.add_argument("--endpoint-port", type=int, default=18401)
    parser.add_argument("--admin-port", type=int, default=18402)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS-isolation.md"))
    args = parser.parse_args(argv)
    report = run(args)
    text = render(report)
    print(text)
    (WORK_DIR / "isolation.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    if not args.no_write:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
