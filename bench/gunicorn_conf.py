"""The one gunicorn setting every HTTP target of the benchmark runs with.

2 × cores + 1 sync workers (wxsite's own default in gunicorn.conf.py), no preload, no access
log (the benchmark measures the application; wxsite's own log line per message stays on, as in
production), no max_requests recycling during a round. `BENCH_BIND` and `BENCH_WORKERS` come
from bench/run.py; a target may set its own workers, worker class and threads.
"""

import multiprocessing
import os

bind = os.environ.get("BENCH_BIND", "127.0.0.1:18000")
workers = int(os.environ.get("BENCH_WORKERS") or multiprocessing.cpu_count() * 2 + 1)
# The group-commit targets (bench/floor/group_commit.py) need threads sharing a process:
# BENCH_WORKER_CLASS=gthread with BENCH_THREADS, set by those targets only.
worker_class = os.environ.get("BENCH_WORKER_CLASS", "sync")
threads = int(os.environ.get("BENCH_THREADS", "1"))
timeout = 30
graceful_timeout = 5
keepalive = 5
# BENCH_ACCESS_LOG=- turns gunicorn's access log on, to measure what it costs.
accesslog = os.environ.get("BENCH_ACCESS_LOG") or None
errorlog = "-"
loglevel = "warning"
