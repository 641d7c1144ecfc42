"""Show where a wxsite worker's time goes under load: py-spy on gunicorn, summed by cause.

    .venv/bin/python bench/profile_wxsite.py [--target wxsite-plain-small-postgresql]
        [--duration 10] [--env CACHE_URL=redis://127.0.0.1:6379/0]

Serves one HTTP target of bench/http_bench.py exactly as bench/run.py does (same gunicorn, same
signed messages, same wrk load), samples every worker with py-spy (from bench/.peers-venv,
bench/requirements.txt) while wrk runs, then files each sample under the first cause that its
stack shows — gunicorn's own socket work, Django's request handling and middleware, and inside
the view each step: verify and parse, the rule-set version read, matching, rendering, the
INSERT, logging — and prints CPU µs per request for each. The raw stacks stay in
bench/.work/profile/ (load them in speedscope.app, or grep them).

Needs a quiet machine: py-spy samples what is running, and a process waiting for a CPU that
someone else holds counts as running.
"""

import argparse
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import http_bench  # noqa: E402 - the path above makes `bench` importable
from bench.common import PEERS_VENV, WORK_DIR  # noqa: E402

# (label, frame substrings): a sample goes to the first label one of whose substrings is in
# one of its frames. Inside-the-view causes come first, so that e.g. a new connection opened
# for the version read counts as the version read; "connection" then catches the rest.
VIEW_CAUSES = [
    ("rule-set version read (SELECT per message)", ["current_ruleset_version"]),
    ("INSERT of the message row", ["insert_message (replies/endpoint/storage.py", "Model.save ("]),
    ("spool look-ups (per message)", ["spooled_reply", "drain_spool_soon"]),
    ("verify, decrypt, parse (open_request)", ["open_request ("]),
    ("match (choose_reply, index)", ["choose_reply ("]),
    ("render reply", ["render_reply ("]),
    ("encrypt reply (seal_reply)", ["seal_reply ("]),
    (
        "build the row (keys, columns, Model())",
        ["dedup_key_for", "request_key_for", "columns_for", "Model.__init__"],
    ),
    ("log line (logging)", ["logging/__init__.py"]),
]
OUTSIDE_VIEW_CAUSES = [
    (
        "DB connection close/reset at request end (signals)",
        ["close_old_connections", "reset_queries"],
    ),
    ("Django: other request signals", ["Signal.send"]),
    ("middleware (before and after the view)", ["middleware", "Middleware"]),
    ("Django: request, URL resolving, response", ["django/"]),
]
# Cross-cutting: shown on their own, also counted inside the causes above.
ACROSS = [
    ("opening a DB connection", ["BaseDatabaseWrapper.connect ("]),
    ("DB health check (SELECT 1 before first use)", ["close_if_health_check_failed"]),
    ("all database calls (cursor execute)", ["CursorWrapper._execute ("]),
    ("lxml parsing and building", ["lxml", "_decode_and_parse", "render_reply ("]),
    ("logging", ["logging/__init__.py"]),
]


# The endpoint's view, as py-spy names its frame (function, then the file from the project root).
VIEW_FRAME = "wechat (replies/endpoint/views.py"


def classify(frames: list[str]) -> str:
    in_handler = any("WSGIHandler.__call__" in frame for frame in frames)
    if not in_handler:
        return "gunicorn: accept, read request, write answer, close"
    in_view = any(frame.startswith(VIEW_FRAME) for frame in frames)
    causes = VIEW_CAUSES if in_view else OUTSIDE_VIEW_CAUSES
    for label, needles in causes:
        if any(needle in frame for frame in frames for needle in needles):
            return label
    return "view: the rest" if in_view else "Django: the rest"


def summarize(raw: Path, *, requests: int, rate: int) -> tuple[list[tuple], list[tuple], int]:
    """Return (by cause, across causes, total samples) from py-spy's raw (collapsed) output."""
    by_cause: Counter = Counter()
    across: Counter = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        frames = [frame for frame in stack.split(";") if not frame.startswith("process ")]
        total += samples
        by_cause[classify(frames)] += samples
        for label, needles in ACROSS:
            if any(needle in frame for frame in frames for needle in needles):
                across[label] += samples

    def rows(counter):
        return [
            (label, samples / total, samples / rate / max(1, requests) * 1_000_000)
            for label, samples in counter.most_common()
        ]

    return rows(by_cause), rows(across), total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="wxsite-plain-small-postgresql")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--env", action="append", default=[], help="extra KEY=VALUE for the server")
    parser.add_argument("--no-prepare", action="store_true", help="reuse the prepared database")
    args = parser.parse_args(argv)

    from bench.run import ensure_peers_venv, prepare_http_databases

    targets = {target.key: target for target in http_bench.all_targets()}
    target = targets[args.target]
    extra = dict(item.split("=", 1) for item in args.env)
    if extra:
        target = http_bench.Target(**{**target.__dict__, "env": {**target.env, **extra}})
    ensure_peers_venv()
    if not args.no_prepare:
        prepare_http_databases([target])
    out_dir = WORK_DIR / "profile"
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / f"{target.key}.txt"
    if target.database:
        target.database.empty()
    with http_bench.Server(target) as server:
        http_bench.check_answer(target)
        warm = http_bench.run_load(
            target, duration=2, connections=http_bench.CONNECTIONS, loadgen="wrk", estimate_rps=3000
        )
        spy = subprocess.Popen(
            [
                str(PEERS_VENV / "bin" / "py-spy"),
                "record",
                "--pid",
                str(server.pid),
                "--subprocesses",
                "--nonblocking",
                "--rate",
                str(args.rate),
                "--duration",
                str(int(args.duration)),
                "--format",
                "raw",
                "--output",
                str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.5)  # py-spy attaches to every worker first
        result = http_bench.run_load(
            target,
            duration=args.duration,
            connections=http_bench.CONNECTIONS,
            loadgen="wrk",
            estimate_rps=max(warm["rps"], 200),
        )
        if spy.wait(timeout=args.duration + 60) != 0:
            raise RuntimeError(f"py-spy failed: {spy.stderr.read().decode()[-2000:]}")
    by_cause, across, total = summarize(raw, requests=result["requests"], rate=args.rate)
    print(
        f"{target.label}: {result['rps']:,.0f} req/s, p99 {result['p99_ms']:.1f} ms, "
        f"{total:,} samples at {args.rate}/s over {result['requests']:,} requests"
    )
    print("\n| where a worker's time goes | share | CPU µs per request |\n|---|---:|---:|")
    for label, share, micros in by_cause:
        print(f"| {label} | {share:.1%} | {micros:,.0f} |")
    print("\n| across those | share | CPU µs per request |\n|---|---:|---:|")
    for label, share, micros in across:
        print(f"| {label} | {share:.1%} | {micros:,.0f} |")
    print(f"\nraw stacks: {raw}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
