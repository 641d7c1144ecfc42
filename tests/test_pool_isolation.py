"""The admin cannot starve /wechat/: both production pools, heavy admin work, signed messages.

Production runs two gunicorns from the same code (gunicorn.conf.py with WXSITE_POOL=endpoint
and WXSITE_POOL=admin). This test starts both exactly so, on free ports, against a fresh
PostgreSQL database of 50,000 messages (bench/isolation_bench.py's fill), keeps three logged-in
staff clients on the heaviest admin pages (the searched log, full CSV exports, the insights) and
meanwhile sends distinct signed text messages at a steady rate for 10 seconds: every message must
be answered (HTTP 200, stored) and the endpoint's p99 must stay under 1 s. About 30 s; CI's
PostgreSQL pass runs it, on SQLite it is skipped. bench/isolation_bench.py is the full-size
benchmark (1,000,000 rows).
"""

import contextlib

import psycopg
import pytest

from bench import isolation_bench as iso
from tests.live_server import _conninfo, _with_database, free_port, postgres_url

pytestmark = pytest.mark.skipif(
    postgres_url() is None,
    reason="needs PostgreSQL and gunicorn: run with DATABASE_URL=postgres://… (CI's 2nd pass)",
)

ROWS = 50_000
SECONDS = 10.0
RATE = 50.0  # signed messages per second, open loop
ADMIN_CLIENTS = 3


@pytest.fixture
def pools(tmp_path):
    """Both pools over a fresh database of ROWS messages; stopped and dropped afterwards."""
    base = postgres_url()
    name = f"wxsite_isolation_{free_port()}"
    url = _with_database(base, name)
    maintenance = _conninfo(_with_database(base, "postgres"))
    with psycopg.connect(maintenance, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    endpoint = admin_pool = None
    try:
        iso.populate(_conninfo(url), ROWS, log=lambda *_: None)
        endpoint, admin_pool = iso.start_pools(
            url, endpoint_port=free_port(), admin_port=free_port(), work=tmp_path
        )
        yield url, endpoint, admin_pool
    finally:
        for pool in (admin_pool, endpoint):
            if pool is not None:
                with contextlib.suppress(Exception):
                    pool.stop()
        with psycopg.connect(maintenance, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_heavy_admin_work_does_not_slow_signed_messages(pools):
    url, endpoint, admin_pool = pools
    # Each endpoint worker builds its rule index on its first message: warm them up first.
    iso.endpoint_load(endpoint.port, kind="paced", rate=RATE, connections=0, seconds=2)
    with psycopg.connect(_conninfo(url), autocommit=True) as db:
        before = db.execute("SELECT count(*) FROM replies_message").fetchone()[0]

    work = iso.AdminWork(admin_pool.port, ADMIN_CLIENTS, "退款").start()
    try:
        iso.time.sleep(1.0)  # the exports are streaming by now
        load = iso.endpoint_load(
            endpoint.port, kind="paced", rate=RATE, connections=0, seconds=SECONDS
        )
    finally:
        work.stop()
    admin = work.summary()

    with psycopg.connect(_conninfo(url), autocommit=True) as db:
        stored = db.execute("SELECT count(*) FROM replies_message").fetchone()[0] - before

    assert load["requests"] == int(RATE * SECONDS), load
    assert load["failures"] == 0, load["failure_samples"]
    assert stored == load["requests"], "every answered message is stored once"
    assert load["p99_ms"] < iso.ANSWER_LIMIT_MS, load
    # The admin really was busy meanwhile: pages served or still streaming, none failed.
    assert admin["finished"] + admin["cut_at_end"] >= ADMIN_CLIENTS, admin
    assert set(admin["statuses"]) <= {200}, admin
    exports = admin["pages"].get("/admin/replies/message/export.csv", {})
    assert exports.get("count", 0) + exports.get("running_at_end", 0) >= 1, admin
    assert not endpoint.log_lines(r"WORKER TIMEOUT"), "an endpoint worker was killed"
