"""An edit made in one worker process is used by every other on its next message.

Real processes (not threads), sharing a database file — and, in the second case, Redis as
the shared cache — exactly as gunicorn workers do.
"""

import os
import subprocess
import sys
import time
from pathlib import Path
from uuid import uuid4

import pytest

from tests.conftest import require_redis

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 3



class Worker:
    def __init__(self, env):
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "rule_worker.py")],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def ask(self, line: str) -> str:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def stop(self):
        self.process.stdin.close()
        self.process.wait(timeout=10)


# The bound on how long a worker answers from its index before checking the version; the test
# waits it out after each edit (the guarantee is "within the bound", not "on the next message").
STALENESS = 0.2


def settle():
    time.sleep(STALENESS * 1.5)


@pytest.fixture
def worker_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CACHE_"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    env["WECHAT_RULES_MAX_STALENESS"] = str(STALENESS)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        env=env,
        cwd=ROOT,
        check=True,
    )
    return env


@pytest.fixture
def redis_prefix(worker_env):
    """Point the workers at Redis under a key prefix of their own; delete only those keys.

    Redis may be shared (other test runs, a developer's own site): never flush it.
    """
    require_redis()
    import redis

    prefix = f"wxsite-test-{uuid4().hex}"
    worker_env["CACHE_URL"] = "redis://127.0.0.1:6379/15"
    worker_env["CACHE_KEY_PREFIX"] = prefix
    client = redis.Redis(host="127.0.0.1", port=6379, db=15)
    yield prefix, client
    ours = list(client.scan_iter(match=f"{prefix}:*"))
    if ours:
        client.delete(*ours)
    client.close()


@pytest.mark.parametrize("cache", ["database", "redis"])
def test_edit_in_one_worker_reaches_the_others_within_the_staleness_bound(
    request, worker_env, cache
):
    redis_client = prefix = None
    if cache == "redis":
        prefix, redis_client = request.getfixturevalue("redis_prefix")
    workers = [Worker(worker_env) for _ in range(WORKERS)]
    try:
        if prefix:
            assert [w.ask("prefix") for w in workers] == [prefix] * WORKERS
        assert [w.ask("match hi") for w in workers] == ["-"] * WORKERS
        assert workers[0].ask("set hi v1") == "ok"
        settle()
        assert [w.ask("match hi") for w in workers] == ["v1"] * WORKERS
        assert workers[1].ask("set hi v2") == "ok"
        settle()
        assert [w.ask("match hi") for w in workers] == ["v2"] * WORKERS
        assert workers[2].ask("set bye ciao") == "ok"
        settle()
        assert [w.ask("match bye") for w in workers] == ["ciao"] * WORKERS
        if redis_client is not None:
            # The version went through Redis, under this run's prefix and no other.
            assert list(redis_client.scan_iter(match=f"{prefix}:*"))
    finally:
        for worker in workers:
            worker.stop()
