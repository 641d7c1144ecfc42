"""What every part of the benchmark shares: paths, the test account, statistics, the machine.

The benchmark plays WeChat's servers with WeChat's own published sample credentials (the
EncodingAESKey and AppID from the official sample code), so nothing here is a secret. Scratch
files (databases, request files, server logs, profiles) go to bench/.work/, which git ignores.
"""

import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
PEERS_VENV = BENCH_DIR / ".peers-venv"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOKEN = "benchtoken"  # noqa: S105 - a benchmark token, not a secret
APP_ID = "wx2c2769f8efd9abc2"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ACCOUNT = "gh_0123456789ab"
# A stored official account with the same credentials, answering at /wechat/<BENCH_SLUG>/: its
# secrets are encrypted with this benchmark-only Fernet key (base64 of 32 known bytes).
BENCH_SLUG = "bench"
SECRETS_KEY = "d3hzaXRlLWJlbmNoLW5vdC1hLXNlY3JldC1rZXktMzI="  # noqa: S105 - not a secret
# The keyword the small rule set answers, and what it answers with.
KEYWORD = "营业时间"
KEYWORD_REPLY = "每天 9:00-21:00 营业，欢迎光临。"

PG_DSN = os.environ.get("BENCH_PG_DSN", "postgres://postgres@127.0.0.1:5432")


def pg_url(database: str) -> str:
    """Return the DATABASE_URL of `database` on the benchmark's PostgreSQL server."""
    return f"{PG_DSN.rstrip('/')}/{database}"


def sqlite_url(name: str) -> str:
    """Return the DATABASE_URL of an SQLite file in bench/.work/."""
    return f"sqlite:///{WORK_DIR / name}"


def wechat_env() -> dict[str, str]:
    """Return the WECHAT_* settings every wxsite process of the benchmark runs with."""
    return {
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_APP_ID": APP_ID,
        "WECHAT_ENCODING_AES_KEY": AES_KEY,
        "WECHAT_SECRETS_KEYS": SECRETS_KEY,
        "DJANGO_SECRET_KEY": "bench-not-secret-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }


def summarize(values: list[float]) -> dict[str, float]:
    """Return the median, min and max of `values` (the rounds of one target)."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def median_range(summary: dict[str, float], fmt: str = "{:,.0f}") -> str:
    """Return "median (min–max)" for a table cell."""
    median = fmt.format(summary["median"])
    if summary["min"] == summary["max"]:
        return median
    return f"{median} ({fmt.format(summary['min'])}–{fmt.format(summary['max'])})"


def code_fingerprint() -> str:
    """Return a short hash of the project's code (wxsite/, replies/, gunicorn.conf.py).

    Recorded with every round: if someone edits the code while the benchmark runs, the rounds
    show it, and the report says the targets were not all measured on the same code.
    """
    import hashlib

    digest = hashlib.sha256()
    files = sorted([*ROOT.glob("wxsite/**/*.py"), *ROOT.glob("replies/**/*.py")])
    for path in [*files, ROOT / "gunicorn.conf.py"]:
        if path.is_file():
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _cpu_ticks() -> tuple[int, int]:
    """Return (busy, total) clock ticks of the whole machine so far, from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def _process_ticks(pid: str) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _process_cmdline(pid: str) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline")
            .read_bytes()
            .replace(b"\0", b" ")
            .decode("utf-8", "replace")
        )
    except OSError:
        return ""


class ForeignLoad:
    """Measure how much of the machine processes other than the benchmark's used meanwhile.

    The machine may be shared: a test suite started by someone else during a round takes CPU
    from the target. `ours(cmdline)` says which processes belong to the round (the target's
    gunicorn, the load generator, the PostgreSQL backends of its database); everything else
    busy on the machine is foreign. Linux only; elsewhere it reports nothing.
    """

    def __init__(self, ours):
        self.ours = ours
        self.available = Path("/proc/stat").exists()

    def _snapshot(self) -> tuple[int, int, int]:
        busy, total = _cpu_ticks()
        own = 0
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and self.ours(_process_cmdline(entry.name)):
                own += _process_ticks(entry.name)
        return busy, total, own

    def __enter__(self) -> "ForeignLoad":
        if self.available:
            self.start = self._snapshot()
        return self

    def __exit__(self, *exc_info) -> None:
        self.fraction = None
        if not self.available:
            return
        busy, total, own = self._snapshot()
        elapsed = max(1, total - self.start[1])
        # Processes of ours that ended meanwhile took their ticks with them (so `own` can only
        # be under-counted and the foreign share is an upper bound): measure while they run.
        foreign = (busy - self.start[0]) - (own - self.start[2])
        self.fraction = max(0.0, foreign / elapsed)


def machine_busy(seconds: float = 1.0) -> float:
    """Return the fraction of the machine's CPU that was busy over the next `seconds`."""
    import time

    busy_before, total_before = _cpu_ticks()
    time.sleep(seconds)
    busy_after, total_after = _cpu_ticks()
    return (busy_after - busy_before) / max(1, total_after - total_before)


def _command_output(args: list[str]) -> str:
    if not shutil.which(args[0]):
        return ""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (done.stdout or done.stderr).strip()


def postgres_version() -> str:
    """Return the PostgreSQL server's version, or "" when it does not answer."""
    try:
        import psycopg

        with psycopg.connect(pg_url("postgres"), connect_timeout=3) as connection:
            return connection.execute("SHOW server_version").fetchone()[0]
    except Exception:  # noqa: BLE001 - "not available" is an answer here
        return ""


def machine_info() -> dict[str, str]:
    """Describe the machine and the software versions the numbers were measured with."""
    import django
    import lxml.etree

    cpu = platform.processor() or platform.machine()
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    memory = ""
    try:
        meminfo = Path("/proc/meminfo").read_text()
        found = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.MULTILINE)
        memory = f"{int(found.group(1)) / 1024 / 1024:.1f} GiB" if found else ""
    except OSError:
        pass
    import sqlite3

    try:
        import gunicorn

        gunicorn_version = gunicorn.__version__
    except ImportError:
        gunicorn_version = ""
    wrk = _command_output(["wrk", "--version"]).split("[")[0].replace("wrk ", "").strip()
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "django": django.get_version(),
        "lxml": ".".join(map(str, lxml.etree.LXML_VERSION[:3])),
        "gunicorn": gunicorn_version,
        "postgresql": postgres_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": wrk,
    }
