"""The benchmark still runs: bench/run.py --quick, in-process part only (no gunicorn, no wrk).

The HTTP, rebuild and admin parts need servers, wrk and minutes; they are exercised by running
bench/run.py itself. What can break quietly in between — the protocol API the benchmark calls,
the signed requests it sends, the report it writes — is checked here in a few seconds.
"""

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl

from bench import http_bench
from bench.report import render_markdown
from replies.protocol import open_request

ROOT = Path(__file__).resolve().parent.parent


def test_quick_inprocess_run_writes_results(tmp_path):
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--parts", "inprocess", "--out-dir", tmp_path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    steps = {row["step"]: row["us"] for row in results["inprocess"]["steps"]}
    assert {"verify signature", "decrypt", "parse message", "render reply"} <= set(steps)
    assert all(us > 0 for us in steps.values())
    assert [row["keywords"] for row in results["inprocess"]["matching"]] == [200, 10_000, 100_000]
    # The parts left out are said so in the report, not dropped silently.
    markdown = (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    for part in ("http", "rebuild", "admin"):
        assert f"{part}: not asked for" in markdown
    assert "| verify signature | plain |" in markdown


def test_signed_requests_open_and_are_distinct():
    target = next(t for t in http_bench.all_targets() if t.key == "wxsite-aes-small-sqlite")
    lines = http_bench.make_request_lines(target, 20)
    msg_ids, nonces = set(), set()
    for line in lines:
        path, body = line.split("\t", 1)
        query = dict(parse_qsl(path.split("?", 1)[1]))
        opened = open_request(
            query=query,
            body=body.encode(),
            credentials=http_bench.CREDENTIALS,
            now=int(query["timestamp"]),
            window=300,
        )
        assert opened.mode == "aes"
        msg_ids.add(opened.message.msg_id)
        nonces.add(opened.nonce)
    assert len(msg_ids) == len(nonces) == 20


def test_report_renders_every_table():
    rounds = [
        {
            "rps": 1000.0,
            "p50_ms": 5.0,
            "p99_ms": 20.0,
            "requests": 10_000,
            "errors": 0,
            "reused": 0,
            "rows": 10_000,
            "foreign_cpu": 0.01,
        }
    ]
    summary = http_bench.summarize_target(rounds)

    def target(key, group, engine):
        return {
            "key": key,
            "label": key,
            "group": group,
            "engine": engine,
            "mode": "plain",
            "rounds": rounds,
            "summary": summary,
        }

    page = {
        "page": "list",
        "url": "/",
        "ms": 350.0,
        "ms_min": 340.0,
        "ms_max": 360.0,
        "rows_shown": 50,
        "queries": 4,
        "slowest_sql": "SELECT 1",
        "slowest_sql_ms": 300.0,
        "explain": "Seq Scan",
    }
    results = {
        "machine": {
            key: "x"
            for key in (
                "date",
                "cpu",
                "cores",
                "memory",
                "os",
                "python",
                "django",
                "lxml",
                "gunicorn",
                "postgresql",
                "sqlite",
                "wrk",
            )
        },
        "command": "bench/run.py",
        "not_run": [],
        "http": {
            "loadgen": "wrk",
            "connections": 32,
            "workers": 5,
            "rounds": 1,
            "duration_s": 10,
            "warmup_s": 2,
            "targets": [
                target("floor", "floor", ""),
                target("floor-insert-sqlite", "floor", "sqlite"),
                target("wxsite-plain-small-sqlite", "wxsite", "sqlite"),
                target("wxsite-aes-small-sqlite", "wxsite", "sqlite"),
            ],
        },
        "rebuild": {
            "sqlite": {
                "rebuild": {"rules": 10, "keywords": 100, "load_from_db_s": 0.1, "rebuild_s": 0.2}
            }
        },
        "admin": {"postgresql": {"pages": [page]}},
        "admin_rows": 1_000_000,
    }
    markdown = render_markdown(results)
    assert "| full path ≥ 0.8× floor + INSERT (SQLite) | 1.00× | met |" in markdown
    assert (
        "admin pages ≤ 300 ms at 1,000,000 rows (PostgreSQL) | slowest: list 350 ms | **missed**"
        in markdown
    )
    assert "EXPLAIN ANALYZE" in markdown


GROUP_WRITER_CHECK = """
import threading
import django
django.setup()
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from bench.floor.group_commit import GroupWriter
from bench.floor.models import FloorMessage

call_command("migrate", verbosity=0)
writer = GroupWriter(table=FloorMessage._meta.db_table, columns=("raw_xml", "received_at"))
field = FloorMessage._meta.get_field("received_at")
start = threading.Barrier(16)

def send(number):
    start.wait()
    for n in range(25):
        received_at = field.get_db_prep_save(timezone.now(), connection)
        writer.store((f"<xml>{number}-{n}</xml>", received_at))

threads = [threading.Thread(target=send, args=(number,)) for number in range(16)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
texts = list(FloorMessage.objects.values_list("raw_xml", flat=True))
assert len(set(texts)) == len(texts), "a row stored twice"
print(len(texts), writer.rows, writer.batches)
"""


def test_floor_group_writer_stores_every_row_of_concurrent_requests(tmp_path):
    """bench/floor/group_commit.py (issue 13's measured stretch): 16 threads of 25 rows each
    are all stored, once each, in fewer statements than rows."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "bench.floor.settings",
        "FLOOR_DATABASE_URL": f"sqlite:///{tmp_path / 'floor.sqlite3'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", GROUP_WRITER_CHECK],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    stored, rows, batches = map(int, done.stdout.split())
    assert stored == rows == 400
    assert batches < rows  # rows of concurrent requests shared statements
