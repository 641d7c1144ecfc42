"""gunicorn settings for wxsite: `gunicorn -c gunicorn.conf.py wxsite.wsgi`.

Every value can be overridden from the environment (GUNICORN_*); see README.md, "Deploy".
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Sync workers: each request is a few milliseconds of CPU and one database write, so processes
# (not threads) use both cores fully and a persistent DB connection per worker is reused.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
# WeChat gives up after 5 s and retries; a request still running at 4 s is killed so the
# worker is free for the retry, which then finds or makes the stored row.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 4))
graceful_timeout = 10
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 10000))
max_requests_jitter = 1000
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
# %(M)s: request time in milliseconds.
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server):
    """Replay messages spooled during a database outage before the workers take traffic."""
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
