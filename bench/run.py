"""Run wxsite's benchmark: HTTP against a Django floor and the peers, in process, and the admin.

    .venv/bin/python bench/run.py            # the full run (about 15 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # a smoke run in under a minute (SQLite only)

Parts (``--parts``, all by default):

- ``inprocess``: µs per message of each protocol step, and the rule index at 200 / 10,000 /
  100,000 keywords (bench/inprocess.py, which reuses bench/match_bench.py).
- ``http``: every target of bench/http_bench.py under the same gunicorn settings
  (bench/gunicorn_conf.py: 2 × cores + 1 sync workers), driven by wrk (installed with apt-get
  when missing; a Python load generator otherwise) with 32 connections, in interleaved rounds.
- ``rebuild``: how long a worker takes to reload 100,000 keywords from the database and rebuild
  its index, on SQLite and PostgreSQL (bench/db_bench.py).
- ``admin``: the message-log admin at 1,000,000 rows on SQLite and PostgreSQL
  (bench/db_bench.py).

Writes bench/RESULTS.md and bench/results.json (``--quick``: bench/.work/quick/) and prints the
tables. PostgreSQL is reached at postgres://postgres@127.0.0.1:5432 (BENCH_PG_DSN); the script
creates and drops its own bench_* databases there. The peers are installed into
bench/.peers-venv from bench/requirements.txt.
"""

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import http_bench  # noqa: E402 - the path above makes `bench` importable
from bench.common import (  # noqa: E402
    BENCH_DIR,
    PEERS_VENV,
    ROOT,
    WORK_DIR,
    ForeignLoad,
    code_fingerprint,
    machine_busy,
    machine_info,
    pg_url,
    postgres_version,
    sqlite_url,
    wechat_env,
)
from bench.report import render_markdown  # noqa: E402

PARTS = ("inprocess", "http", "rebuild", "admin")
QUICK_TARGETS = (
    "floor",
    "floor-insert-sqlite",
    "wxsite-plain-small-sqlite",
    "wxsite-aes-small-sqlite",
    "wxsite-account-plain-small-sqlite",
)
PG_DATABASES = (
    "bench_floor",
    "bench_wxsite_small",
    "bench_wxsite_10k",
    "bench_wxsite_rules",
)
ADMIN_PG_DATABASE = "bench_wxsite_admin"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def python_env(**extra: str) -> dict[str, str]:
    """Return a clean environment for a wxsite subprocess: no stray settings of the caller's."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DATABASE_", "CACHE_URL", "DJANGO_", "WECHAT_", "FLOOR_"))
    }
    env.update(wechat_env())
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def run_python(args: list[str], env: dict[str, str], *, echo: bool = True) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    if echo and done.stdout.strip():
        print(done.stdout.rstrip(), flush=True)
    return done.stdout


# --- in process -------------------------------------------------------------------------------


def run_inprocess(*, quick: bool) -> dict:
    log("in process: protocol steps and rule matching")
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "inprocess.json"
        args = [str(BENCH_DIR / "inprocess.py"), "--json", str(out)]
        run_python([*args, "--quick"] if quick else args, python_env())
        return json.loads(out.read_text())


# --- databases --------------------------------------------------------------------------------


def recreate_pg_databases(names: list[str]) -> None:
    import psycopg

    with psycopg.connect(pg_url("postgres"), autocommit=True) as connection:
        for name in names:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}"')


def ensure_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(pg_url("postgres"), autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def prepare_http_databases(targets: list[http_bench.Target]) -> None:
    WORK_DIR.mkdir(exist_ok=True)
    engines = {t.database.engine for t in targets if t.database}
    if "postgresql" in engines:
        recreate_pg_databases([name for name in PG_DATABASES if name != "bench_wxsite_rules"])
    for name in ("floor.sqlite3", "wxsite-small.sqlite3", "wxsite-10k.sqlite3"):
        for suffix in ("", "-wal", "-shm"):
            (WORK_DIR / f"{name}{suffix}").unlink(missing_ok=True)
    migrated = set()
    for target in targets:
        database = target.database
        if database is None or database.url in migrated:
            continue
        migrated.add(database.url)
        if target.group == "floor":
            log(f"migrating the floor's database ({database.label})")
            run_python(
                ["-m", "django", "migrate", "--verbosity", "0"],
                python_env(
                    DJANGO_SETTINGS_MODULE="bench.floor.settings", FLOOR_DATABASE_URL=database.url
                ),
            )
        else:
            ruleset = "10k" if "-10k-" in target.key else "small"
            log(f"migrating wxsite's database, rule set {ruleset} ({database.label})")
            run_python(
                [str(BENCH_DIR / "prepare_wxsite.py"), "--ruleset", ruleset],
                python_env(DATABASE_URL=database.url),
            )
    # The bare floor never touches its database, but Django wants it to exist.
    floor_sqlite = sqlite_url("floor.sqlite3")
    if floor_sqlite not in migrated:
        run_python(
            ["-m", "django", "migrate", "--verbosity", "0"],
            python_env(
                DJANGO_SETTINGS_MODULE="bench.floor.settings", FLOOR_DATABASE_URL=floor_sqlite
            ),
        )


def ensure_peers_venv() -> None:
    """Create bench/.peers-venv and install bench/requirements.txt into it (once per change)."""
    requirements = BENCH_DIR / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    marker = PEERS_VENV / ".requirements.sha256"
    if marker.exists() and marker.read_text() == digest:
        return
    log("installing the peers into bench/.peers-venv")
    if not (PEERS_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    subprocess.run(
        [
            str(PEERS_VENV / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(requirements),
        ],
        check=True,
    )
    marker.write_text(digest)


# --- HTTP -------------------------------------------------------------------------------------


def _ours(cmdline: str) -> bool:
    """Return whether a process belongs to the round: see common.ForeignLoad."""
    if not cmdline:
        return True  # kernel threads: they move our loopback packets
    if "gunicorn_conf.py" in cmdline or "wrk_post.lua" in cmdline or "bench/run.py" in cmdline:
        return True
    if cmdline.startswith("postgres"):
        if "127.0.0.1(" in cmdline or "[local]" in cmdline:
            return " bench_" in cmdline
        return True  # WAL writer, checkpointer: busy with our writes
    return False


def wait_until_quiet(threshold: float, patience: float) -> float:
    """Wait (up to `patience` s) until others use under `threshold` of the CPU; return usage."""
    deadline = time.monotonic() + patience
    busy = machine_busy(1.0)
    while busy > threshold and time.monotonic() < deadline:
        log(f"machine {busy:.0%} busy with other work; waiting for it to calm down")
        time.sleep(4)
        busy = machine_busy(1.0)
    return busy


def measure_undisturbed(args, target: http_bench.Target, loadgen: str) -> dict:
    """Measure one round; measure it again if other work took the CPU; keep the quietest try."""
    attempts = []
    for attempt in range(1 + args.retries):
        idle = wait_until_quiet(args.quiet_threshold, args.quiet_patience)
        code = code_fingerprint()
        foreign = ForeignLoad(_ours)
        result = http_bench.measure_round(
            target,
            duration=args.duration,
            warmup=args.warmup,
            connections=http_bench.CONNECTIONS,
            loadgen=loadgen,
            monitor=foreign,
        )
        result["busy_before"] = round(idle, 3)
        result["foreign_cpu"] = None if foreign.fraction is None else round(foreign.fraction, 3)
        result["attempt"] = attempt + 1
        result["code"] = code
        result["measured_at"] = time.strftime("%H:%M:%S")
        log(
            f"  {result['rps']:,.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
            f"p99 {result['p99_ms']:.1f} ms, errors {result['errors']}, "
            f"other load {result['foreign_cpu'] or 0:.0%}"
        )
        attempts.append(result)
        if (result["foreign_cpu"] or 0) <= args.disturbed:
            break
        log(f"  disturbed by other work (> {args.disturbed:.0%} of the CPU)")
    return min(attempts, key=lambda tried: tried["foreign_cpu"] or 0)


def run_http(args, targets: list[http_bench.Target]) -> dict:
    loadgen = "wrk" if args.loadgen != "python" and http_bench.wrk_available() else "python"
    if args.loadgen == "wrk" and loadgen != "wrk":
        raise RuntimeError("wrk was asked for but cannot be installed")
    if loadgen == "python":
        log("wrk is not available: using the Python load generator (lower numbers)")
    if any(t.group == "peer" for t in targets):
        ensure_peers_venv()
    prepare_http_databases(targets)
    rounds: dict[str, list[dict]] = {t.key: [] for t in targets}
    failures: dict[str, list[str]] = {}
    for number in range(args.rounds):
        # Rotate the order each round so no target always runs first or last.
        shift = number % len(targets)
        for target in targets[shift:] + targets[:shift]:
            log(f"round {number + 1}/{args.rounds}: {target.label}")
            try:
                rounds[target.key].append(measure_undisturbed(args, target, loadgen))
            except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                # One broken target must not cost the other targets' numbers: say it and go on.
                log(f"  FAILED: {error}")
                failures.setdefault(target.key, []).append(str(error)[:2000])
    return {
        "loadgen": loadgen,
        "connections": http_bench.CONNECTIONS,
        "workers": os.cpu_count() * 2 + 1,
        "rounds": args.rounds,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "targets": [
            {
                "key": t.key,
                "label": t.label,
                "group": t.group,
                "engine": t.database.engine if t.database else "",
                "mode": t.mode,
                "rounds": rounds[t.key],
                "summary": http_bench.summarize_target(rounds[t.key]),
                "failures": failures.get(t.key, []),
            }
            for t in targets
            if rounds[t.key]
        ],
        "failed": {key: errors for key, errors in failures.items()},
    }


# --- database-bound parts ---------------------------------------------------------------------


def database_urls(*, quick: bool, pg_ok: bool, sqlite_name: str, pg_name: str) -> dict:
    urls = {"sqlite": sqlite_url(sqlite_name)}
    if not quick and pg_ok:
        urls["postgresql"] = pg_url(pg_name)
    return urls


def run_db_part(part: str, urls: dict[str, str], extra: list[str]) -> dict:
    results = {}
    for engine, url in urls.items():
        log(f"{part}: {engine}")
        if engine == "postgresql":
            ensure_pg_database(url.rsplit("/", 1)[1])
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch) / "db.json"
            run_python(
                [str(BENCH_DIR / "db_bench.py"), part, "--json", str(out), *extra],
                python_env(DATABASE_URL=url, DJANGO_ALLOWED_HOSTS="testserver,127.0.0.1"),
                echo=False,
            )
            results[engine] = json.loads(out.read_text())
    return results


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: < 60 s, SQLite only")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated parts to run")
    parser.add_argument("--targets", help="comma-separated HTTP target keys (default: all)")
    parser.add_argument("--rounds", type=int, help="HTTP rounds per target (3; quick 1)")
    parser.add_argument("--duration", type=float, help="seconds per HTTP round (10; quick 3)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per round (2; quick 1)")
    parser.add_argument("--rows", type=int, help="message-log rows (1,000,000; quick 20,000)")
    parser.add_argument("--keywords", type=int, help="rebuild keywords (100,000; quick 10,000)")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--quiet-threshold",
        type=float,
        default=0.25,
        help="before each round, wait while the machine is busier than this (0-1)",
    )
    parser.add_argument(
        "--disturbed",
        type=float,
        default=0.35,
        help="a round where other processes took more than this share of the CPU is redone",
    )
    parser.add_argument("--retries", type=int, help="redo a disturbed round at most this often")
    parser.add_argument(
        "--quiet-patience", type=float, help="seconds to wait for that at most (30; quick 5)"
    )
    parser.add_argument("--out-dir", type=Path, help="where RESULTS.md and results.json go")
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (1 if quick else 3)
    args.duration = args.duration or (3 if quick else 10)
    args.warmup = args.warmup or (1 if quick else 2)
    args.rows = args.rows or (20_000 if quick else 1_000_000)
    args.keywords = args.keywords or (10_000 if quick else 100_000)
    if args.retries is None:
        args.retries = 0 if quick else 1
    if args.quiet_patience is None:
        args.quiet_patience = 5 if quick else 30
    args.out_dir = args.out_dir or (WORK_DIR / "quick" if quick else BENCH_DIR)
    args.parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    return args


def select_targets(args, pg_ok: bool) -> tuple[list[http_bench.Target], list[str]]:
    """Return the HTTP targets to run and, for the report, the ones left out and why."""
    targets = http_bench.all_targets()
    skipped = []
    if args.targets:
        wanted = {key.strip() for key in args.targets.split(",")}
        unknown = wanted - {t.key for t in targets}
        if unknown:
            raise SystemExit(f"unknown targets: {', '.join(sorted(unknown))}")
        targets = [t for t in targets if t.key in wanted]
    elif args.quick:
        skipped += [f"{t.key}: not run in --quick" for t in targets if t.key not in QUICK_TARGETS]
        targets = [t for t in targets if t.key in QUICK_TARGETS]
    if not pg_ok:
        left_out = [t for t in targets if t.database and t.database.engine == "postgresql"]
        skipped += [f"{t.key}: PostgreSQL did not answer" for t in left_out]
        targets = [t for t in targets if t not in left_out]
    return targets, skipped


def main(argv: list[str] | None = None) -> int:
    # A SIGTERM unwinds like Ctrl-C, so the server of the current round is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse_args(argv)
    WORK_DIR.mkdir(exist_ok=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    pg_ok = bool(postgres_version())
    results: dict = {
        "machine": machine_info(),
        "quick": args.quick,
        "command": "bench/run.py" + (" --quick" if args.quick else ""),
        "not_run": [],
    }
    if not pg_ok:
        log("PostgreSQL does not answer: its targets are left out (and reported as such)")
    if args.quick:
        results["not_run"].append("PostgreSQL rebuild and admin: not run in --quick")
    for part in PARTS:
        if part not in args.parts:
            results["not_run"].append(f"{part}: not asked for (--parts)")
    if "inprocess" in args.parts:
        results["inprocess"] = run_inprocess(quick=args.quick)
    if "http" in args.parts:
        targets, skipped = select_targets(args, pg_ok)
        results["not_run"] += skipped
        results["http"] = run_http(args, targets)
    if "rebuild" in args.parts:
        urls = database_urls(
            quick=args.quick, pg_ok=pg_ok, sqlite_name="rules.sqlite3", pg_name="bench_wxsite_rules"
        )
        results["rebuild"] = run_db_part("rebuild", urls, ["--keywords", str(args.keywords)])
    if "admin" in args.parts:
        urls = database_urls(
            quick=args.quick,
            pg_ok=pg_ok,
            sqlite_name=f"admin-{args.rows}.sqlite3",
            pg_name=ADMIN_PG_DATABASE,
        )
        results["admin"] = run_db_part("admin", urls, ["--rows", str(args.rows)])
        results["admin_rows"] = args.rows
    if not pg_ok and not args.quick:
        results["not_run"].append("PostgreSQL rebuild and admin: PostgreSQL did not answer")
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    markdown = render_markdown(results)
    (args.out_dir / "results.json").write_text(
        json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (args.out_dir / "RESULTS.md").write_text(markdown, encoding="utf-8")
    print()
    print(markdown)
    log(f"done in {results['elapsed_s']:.0f} s: {args.out_dir / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
