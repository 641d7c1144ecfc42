"""gunicorn settings for wxsite: `gunicorn -c gunicorn.conf.py wxsite.wsgi`.

WXSITE_POOL chooses what this gunicorn is for. In production two run from the same code, so
that a slow admin page (an export over a million rows) can never hold the workers WeChat's
messages need (deploy/nginx/wxsite.conf sends each path to its pool):

    pool      serves                      default bind     timeout  workers
    all       everything (serve.sh)       127.0.0.1:8000   4 s      2 x cores + 1, sync
    endpoint  /wechat/ and /healthz       127.0.0.1:8001   4 s      2 x cores + 1, sync
    admin     the admin                   127.0.0.1:8002   120 s    cores (at least 2) x 4 threads

A sync worker's timeout is a request's time limit. The admin's workers are threaded (gthread):
there the timeout replaces a worker that stops answering, while a long response (an export of
1,000,000 rows takes about a minute, two at once longer) streams to its end; the admin's
queries have their own limit (DJANGO_ADMIN_STATEMENT_TIMEOUT_MS). bench/isolation_bench.py
measures both pools together.

Each value can be overridden from the environment: GUNICORN_ENDPOINT_BIND, _WORKERS, _TIMEOUT
(and GUNICORN_ADMIN_…, GUNICORN_ALL_…) for one pool, then GUNICORN_BIND, GUNICORN_WORKERS,
GUNICORN_TIMEOUT for whichever pool runs. deploy/README.md has the whole deployment.
"""

import multiprocessing
import os

CORES = multiprocessing.cpu_count()
POOLS = {
    # WeChat gives up after 5 s and retries; a request still running at 4 s is killed so the
    # worker is free for the retry, which then finds or makes the stored row.
    "all": {"bind": "127.0.0.1:8000", "timeout": 4, "workers": CORES * 2 + 1},
    "endpoint": {"bind": "127.0.0.1:8001", "timeout": 4, "workers": CORES * 2 + 1},
    # Staff are few, but a CSV export or an insights page over 90 days takes seconds.
    "admin": {"bind": "127.0.0.1:8002", "timeout": 120, "workers": max(2, CORES)},
}
# Threads per admin worker: a sync worker streaming an export sends no heartbeat, so past the
# timeout the arbiter kills it mid-file (measured: a 1,000,000-row export under load, cut at
# 120 s); a gthread worker's main thread keeps beating while a request thread streams.
ADMIN_THREADS = 4
pool = os.environ.get("WXSITE_POOL", "all").strip().lower() or "all"
if pool not in POOLS:
    raise SystemExit(f"gunicorn.conf.py: WXSITE_POOL must be all, endpoint or admin, not {pool!r}")


def pool_setting(name: str) -> str:
    """Return GUNICORN_<POOL>_<NAME>, else GUNICORN_<NAME>, else this pool's default."""
    default = str(POOLS[pool][name.lower()])
    return os.environ.get(f"GUNICORN_{pool.upper()}_{name}") or os.environ.get(
        f"GUNICORN_{name}", default
    )


if pool == "endpoint":
    # No "SELECT 1" before each message: a connection the server dropped fails one INSERT,
    # the spool keeps that message, and Django reconnects on the next request. The admin pool
    # keeps the checks (an admin page has no spool to fall back on).
    os.environ.setdefault("DATABASE_CONN_HEALTH_CHECKS", "false")

proc_name = f"wxsite-{pool}"
bind = pool_setting("BIND")
# Sync workers: each request is a few milliseconds of CPU and one database write, so processes
# (not threads) use both cores fully and a persistent DB connection per worker is reused. The
# admin's are threaded (ADMIN_THREADS above): its requests are few but some stream for minutes.
workers = int(pool_setting("WORKERS"))
worker_class = "gthread" if pool == "admin" else "sync"
threads = ADMIN_THREADS if pool == "admin" else 1
timeout = int(pool_setting("TIMEOUT"))
graceful_timeout = 10
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 10000))
max_requests_jitter = 1000
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
# %(M)s: request time in milliseconds.
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn 25.1+ opens a control socket at ~/.gunicorn/gunicorn.ctl: one path for both pools, in
# a home the systemd units hide. systemctl reload (SIGHUP) and stop do what is needed.
control_socket_disable = True


def on_starting(server):
    """Replay messages spooled during a database outage before the workers take traffic."""
    if pool == "admin":
        return  # the spool is the endpoint's; its own pool replays it
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wxsite.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    try:
        call_command("replay_spool")
    except Exception:  # noqa: BLE001 - a database still down must not stop the server starting
        server.log.exception("replay_spool at start-up failed; workers will drain the spool later")
    finally:
        connections.close_all()  # never share a connection with the forked workers
