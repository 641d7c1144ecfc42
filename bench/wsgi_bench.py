"""Time one worker's whole request path in process: the WSGI app called directly, no sockets.

    python bench/wsgi_bench.py --target wxsite-plain-small-postgresql [--env KEY=VALUE ...]
        [--requests 1000] [--passes 5] [--json PATH]

Everything a gunicorn worker does for a request except the socket work: Django's handler,
middleware, URL resolving, the view, the database round trips, the log line, the request
signals. Each pass sends `--requests` distinct signed messages of the target (as
bench/http_bench.py signs them) through the target's WSGI application; the result is the mean
per request of the best pass, so it measures the code path rather than whatever else the machine
was doing. The database is the target's own (prepared by bench/run.py or bench/profile_wxsite.py)
and is emptied first. One process per call: settings are read once, at import.

Use it to compare a change: the same target with and without an --env toggle, or the floor
against wxsite, gives CPU µs per request that wrk's req/s can be read against.
"""

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import http_bench  # noqa: E402 - the path above makes `bench` importable
from bench.common import ROOT, WORK_DIR  # noqa: E402


def environ_for(line: str) -> dict:
    """Return the WSGI environ gunicorn would build for one "path?query\\tbody" request line."""
    target, body = line.split("\t", 1)
    path, _, query = target.partition("?")
    payload = body.encode("utf-8")
    return {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_TYPE": "text/xml",
        "CONTENT_LENGTH": str(len(payload)),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(http_bench.PORT),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": f"127.0.0.1:{http_bench.PORT}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(payload),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def call(application, environ: dict) -> int:
    status_line = []

    def start_response(status, headers, exc_info=None):
        status_line.append(status)

    result = application(environ, start_response)
    try:
        for _chunk in result:
            pass
    finally:
        close = getattr(result, "close", None)
        if close:
            close()
    return int(status_line[0].split(" ", 1)[0])


def _database_backend_pid() -> int | None:
    """Return the PID of the PostgreSQL backend serving this process, if that is the database."""
    from django.db import connection

    if connection.vendor != "postgresql" or connection.connection is None:
        return None
    return connection.connection.info.backend_pid


def _ticks(pid: int | None) -> int:
    if pid is None:
        return 0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def measure(target: http_bench.Target, *, requests: int, passes: int) -> dict:
    """Return µs per request of the best pass, and every pass's figure.

    Three figures per pass: wall time (what one request waits, database round trips and the
    commit's disk flush included), this process's CPU time, and the CPU time of the PostgreSQL
    backend serving it (0 on SQLite, which runs inside this process).
    """
    os.environ.update(http_bench.server_env(target))
    module, _, attribute = target.app.partition(":")
    application = getattr(__import__(module, fromlist=["_"]), attribute or "application")
    if target.database:
        target.database.empty()
    batches = [
        [environ_for(line) for line in http_bench.make_request_lines(target, requests)]
        for _ in range(passes + 1)
    ]
    for environ in batches[0][:50]:  # warm-up: index build, first connection, lazy imports
        if call(application, environ) != 200:
            raise RuntimeError(f"{target.key}: warm-up request refused")
    backend = _database_backend_pid()
    tick = 1_000_000 / os.sysconf("SC_CLK_TCK")
    walls, cpus, db_cpus = [], [], []
    for batch in batches[1:]:
        failures = 0
        backend_before = _ticks(backend)
        cpu_before = time.process_time()
        started = time.perf_counter()
        for environ in batch:
            failures += call(application, environ) != 200
        walls.append((time.perf_counter() - started) / len(batch) * 1_000_000)
        cpus.append((time.process_time() - cpu_before) / len(batch) * 1_000_000)
        db_cpus.append((_ticks(backend) - backend_before) * tick / len(batch))
        if failures:
            raise RuntimeError(f"{target.key}: {failures} requests refused")
    settings = ("BENCH_", "DJANGO_LOG", "CACHE_URL", "DATABASE_CONN")
    return {
        "target": target.key,
        "env": {name: value for name, value in target.env.items() if name.startswith(settings)},
        "wall_us": round(min(walls), 1),
        "cpu_us": round(min(cpus), 1),
        "db_cpu_us": round(min(db_cpus), 1),
        "passes_wall_us": [round(value, 1) for value in walls],
        "requests": requests,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--env", action="append", default=[], help="extra KEY=VALUE setting")
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    targets = {target.key: target for target in http_bench.all_targets()}
    target = targets[args.target]
    extra = dict(item.split("=", 1) for item in args.env)
    target = http_bench.Target(**{**target.__dict__, "env": {**target.env, **extra}})
    os.chdir(ROOT)
    # The log line per message goes where gunicorn's stderr would: a file, not the terminal.
    log_path = WORK_DIR / "logs" / f"wsgi-{target.key}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a") as log:
        os.dup2(log.fileno(), 2)
        result = measure(target, requests=args.requests, passes=args.passes)
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
